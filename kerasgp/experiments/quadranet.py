"""QuadraNet's block comparison re-run on this machine (Xu, Chen et al., "QuadraNet", ASP-DAC 2024, arXiv
2311.17956, Table II: blocks of each type stacked into one network, compared by the intermediate states
they store, their memory and their throughput).

    python -m kerasgp quadranet-blocks --out results/quadranet.csv --batch 64 --size 14

The network (`block_stack`): a 4x4 stride-4 patchify stem + LayerNorm (QuadraNet's, HorNet's and ConvNeXt's
stem) on a (4·size)² RGB input, then `depth` (24) blocks of one type at `channels` (64) on a size x size
map, batch 64: the depth, width and batch chosen for the paper's comparison (Table II's own text
was not readable in the copies of the paper we had, so those three figures are unverified here; the
abstract's claim, up to 1.5x throughput and 30% less memory than the high-order baselines, is). The map
size is ours:
- 14 x 14 (the default) is stage 3 of a 224 input, the stage that holds most blocks in every compared
  network (Swin-T 6 of 12, HorNet-T 18 of 25, QuadraNet-tiny 27 of 36), and a multiple of Swin's window 7.
- 56 x 56 (stage 1) does not fit this 2-core, 23 GB machine at batch 64: the 24 window-attention blocks
  alone store about 17.5·C values per position each (`stored_for_backward`), 64·56²·24·17.5·64·4 bytes
  ≈ 22 GB, and TensorFlow's measured peak was 1.8x the count at 14x14; one training step would take
  about a minute (17 s at batch 16, measured).
- The ratios between blocks barely depend on the map size: every block's states are a fixed number of
  values per position (the window attention's logits and probabilities are heads·49 per position,
  whatever the map); what changes is the per-op overhead, larger in proportion on small maps.
Block types (`BLOCK_TYPES`): ConvNeXt's block ("conv", the baseline of every ratio), Swin's window
self-attention ("window_attention"), HorNet's gⁿConv ("gnconv", order 3), QuadraBlock ("quadra") and the
identity ("skip": the stem alone, the harness's floor).

Per block type, in one run and one process (the ratios `*_vs_conv` divide by the conv row):
- `layer_outputs`: elements of every layer output per sample, `kerasgp.analysis.cost` (what all
  intermediate tensors take if none were freed); the blocks are built from small layers, so the
  attention logits and probabilities are layer outputs and are counted.
- `stored_for_backward`: elements per sample of the tensors a training step keeps for its backward pass,
  counted from the graph by `stored_for_backward` (its docstring gives the rule per layer type);
  `stored_mb` = that x batch x 4 bytes.
- `peak_delta_mb`: the measured peak RSS one training step adds at `batch`, in a fresh process
  (`kerasgp.analysis.peak_memory`, SGD, MSE on the output map), and `peak_vs_stored` = measured / counted.
- `train_samples_per_s` / `infer_samples_per_s`: `train_on_batch` (SGD, MSE) and `predict_on_batch` at
  `batch` on this CPU with the backend's default threads, after `warmup` untimed calls (the first one
  traces/compiles); the blocks take turns, `rounds` rounds of `steps` timed calls each (`steps` in the
  CSV is the total per block), so a load that changes during the run weighs on all of them alike.
- `tflite_int8_ms`: the stack converted to full int8 (`kerasgp.deploy.convert`, calibrated on seeded
  uniform images) and timed at batch 1 with one thread (`kerasgp.deploy.bench.measure`, ai-edge-litert or
  tflite-runtime, named in `runtime`) with the XNNPACK delegate, the bench's default;
  `tflite_int8_builtin_ms` the same file with TFLite's builtin kernels alone. Both, because they disagree
  here on 7x7 depthwise convs: with ai-edge-litert 2.3.0 on this machine's x86 CPU, 24 int8 7x7 depthwise
  convs on a 14x14x64 map took 79 ms under XNNPACK against 2.4 ms with the builtin kernel (3x3: 0.20 ms
  and 5x5: 0.45 ms under XNNPACK; float32 7x7: 7.3 ms), so every 7x7 block (ConvNeXt, gⁿConv, QuadraBlock)
  is slowed by the delegate while the window attention is sped up by it. `tflite_float_ops` counts the
  ops the converter left in float; `tflite_note` says why a block did not convert, or what stayed float;
  a failure never drops the row.

The machine is shared: `load_start` / `load_end` (1-minute load average) frame every row, so a noisy row
can be seen and re-run. Figures are ratios within one run; absolute speeds depend on the machine.
"""
from __future__ import annotations

import datetime
import functools
import math
import os
import tempfile
from pathlib import Path

import numpy as np

from .. import results
from ..analysis import cost, peak_memory
from ..analysis.graph import functional_graph
from ..deploy import convert
from ..deploy.bench import interleaved_rounds, measure
from ..layers import quadra_block
from ..layers.attention import (
    AttentionContext,
    SplitHeads,
    WindowAttentionLogits,
    WindowPartition,
    WindowReverse,
    conv_block,
    gnconv_block,
    skip_block,
    window_attention_block,
)
from ..layers.partial import ChannelSlice
from ..layers.quadratic import LayerScale, QuadraticDense, QuadraticDepthwiseConv2D, norm_layer
from ..machine import describe
from ..results import write_csv

BLOCK_TYPES = ("conv", "window_attention", "gnconv", "quadra", "skip")
BASELINE = "conv"
DEPTH = 24
CHANNELS = 64
SIZE = 14
BATCH = 64
GNCONV_ORDER = 3
BYTES_PER_ELEMENT = 4
COLUMNS = ("block", "channels", "size", "input_size", "depth", "batch", "norm", "params", "macs", "layer_outputs",
           "stored_for_backward", "stored_mb", "peak_delta_mb", "peak_vs_stored", "layer_outputs_vs_conv",
           "stored_vs_conv", "peak_vs_conv", "train_samples_per_s", "infer_samples_per_s", "train_vs_conv",
           "infer_vs_conv", "tflite_int8_ms", "tflite_vs_conv", "tflite_int8_builtin_ms", "tflite_builtin_vs_conv",
           "tflite_float_ops", "tflite_note", "runtime", "xnnpack", "steps", "warmup", "tflite_runs", "load_start",
           "load_end", "backend", "keras", "commit",
           "cpu", "cores", "arch", "date")


def block_function(block: str, norm: str = "layer", gnconv_order: int = GNCONV_ORDER):
    """The functional helper for a block type, with the comparison's settings (7x7 kernels, expansion 4)."""
    functions = {"conv": functools.partial(conv_block, norm=norm),
                 "window_attention": functools.partial(window_attention_block, norm=norm),
                 "gnconv": functools.partial(gnconv_block, order=gnconv_order, norm=norm),
                 "quadra": functools.partial(quadra_block, norm=norm),
                 "skip": skip_block}
    if block not in functions:
        raise ValueError(f"unknown block type {block!r}; known: {list(functions)}")
    return functions[block]


def block_stack(block: str, channels: int = CHANNELS, size: int = SIZE, depth: int = DEPTH, norm: str = "layer",
                gnconv_order: int = GNCONV_ORDER, seed: int = 0):
    """Stem (4x4 stride-4 conv + norm) on a (4·size, 4·size, 3) input, then `depth` blocks of one type at
    `channels` on a size x size map; the output is the last map (B, size, size, channels)."""
    import keras

    for key, value in (("channels", channels), ("size", size), ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"block_stack: {key} must be an integer >= 1, got {value!r}")
    function = block_function(block, norm, gnconv_order)
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4 * size, 4 * size, 3), name="image")
    x = keras.layers.Conv2D(channels, 4, strides=4, name="stem")(inputs)
    x = norm_layer(norm, "stem_norm")(x)
    for i in range(depth):
        x = function(x, name=f"block{i}")
    return keras.Model(inputs, x, name=f"{block}_x{depth}_c{channels}_s{size}")


def _saved_tensors(layer, output_elements: int) -> tuple[str, int]:
    """(which of the layer's tensors its backward reads: "inputs", "outputs" or "none"; extra elements it
    keeps inside), given its output's elements at batch 1."""
    import keras

    L = keras.layers
    if isinstance(layer, QuadraticDepthwiseConv2D):
        # the product dw_a(x) ⊙ dw_b(x): each factor's gradient needs the other factor, kept inside the layer
        return "inputs", 2 * output_elements
    if isinstance(layer, QuadraticDense):
        return "inputs", 2 * layer.rank * output_elements
    if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D, L.Dense, L.LayerNormalization, L.BatchNormalization,
                          L.Multiply, LayerScale, WindowAttentionLogits, AttentionContext)):
        return "inputs", 0  # weight gradients read the input; a product's gradients read the other factor
    if isinstance(layer, L.Activation):
        if layer.get_config()["activation"] == "softmax":
            return "outputs", 0
        return "inputs", 0  # GELU's derivative is a function of its input
    if isinstance(layer, L.Softmax):
        return "outputs", 0  # dsoftmax = s ⊙ (g - sum(g ⊙ s)): the probabilities
    if isinstance(layer, (L.Add, L.Rescaling, L.InputLayer, ChannelSlice, WindowPartition, WindowReverse,
                          SplitHeads, L.Reshape)):
        return "none", 0  # sums, constant scales and layout ops pass the gradient through
    raise ValueError(f"stored_for_backward has no rule for layer {layer.name!r} ({type(layer).__name__}); "
                     "add one to kerasgp.experiments.quadranet._saved_tensors")


def stored_for_backward(model) -> dict:
    """Elements per sample (batch 1) that one training step of `model` keeps for its backward pass.

    Counted from the Functional graph, replayed symbolically at batch 1 (so a window-token tensor of shape
    (B·windows, N, C) counts all its windows): a tensor is stored when some layer's gradient reads it, and
    counts once however many layers read it. The rule per layer type (`_saved_tensors`):
    - Conv2D, DepthwiseConv2D, Dense (the kernel's gradient reads the input), LayerNormalization and
      BatchNormalization (the input; their per-position mean and variance are not counted),
      Multiply, LayerScale, the attention's q kᵀ and attention x v (each factor's gradient reads the other),
      GELU (its derivative is a function of its input): their inputs;
    - Softmax: its output (the probabilities);
    - Add, Rescaling, ChannelSlice, the window partition/reverse and head split (layout): nothing;
    - QuadraticDepthwiseConv2D: its input, plus dw_a(x) and dw_b(x) held inside the layer (2 x output);
      QuadraticDense: its input, plus 2·rank products' factors.
    The model's input (the image) is not counted (as `cost` does not). A layer with no rule raises.
    What a backend really keeps can differ (fused kernels recompute, an optimiser prunes); measuring
    it is what `peak_memory` is for. Returns {"elements": int, "per_layer": {layer name: elements}}.
    """
    import keras

    graph = functional_graph(model)
    if graph is None:
        raise ValueError(f"stored_for_backward needs a Functional model; got {type(model).__name__}")
    specs = {id(ref): keras.KerasTensor((1,) + tuple(ref.shape[1:]), dtype=ref.dtype) for ref in graph.inputs}
    if any(d is None for spec in specs.values() for d in spec.shape):
        raise ValueError(f"stored_for_backward needs a model with a fixed input shape; got {model.input_shape}")
    model_inputs = set(specs)
    stored, per_layer = set(), {}
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            layer = node.operation
            if layer is None or node.is_input:
                continue
            args, kwargs = node.arguments.fill_in(specs)
            outputs = keras.tree.flatten(layer.compute_output_spec(*args, **kwargs))
            for ref, spec in zip(node.outputs, outputs):
                specs[id(ref)] = spec
            which, count = _saved_tensors(layer, math.prod(outputs[0].shape))
            for ref in {"inputs": list(node.input_tensors), "outputs": list(node.outputs), "none": []}[which]:
                if id(ref) in model_inputs or id(ref) in stored:
                    continue
                stored.add(id(ref))
                count += math.prod(specs[id(ref)].shape)
            per_layer[layer.name] = per_layer.get(layer.name, 0) + count
    return {"elements": int(sum(per_layer.values())), "per_layer": per_layer}


def _timed_calls(models: dict, batch: int, steps: int, rounds: int, warmup: int, training: bool,
                 seed: int = 0) -> dict:
    """Samples per second of train_on_batch (SGD, MSE) or predict_on_batch at `batch` for each model,
    taking turns (`deploy.bench.interleaved_rounds`): in each of `rounds` rounds every model runs `steps` timed
    calls, so that a load that changes during the run (the machine is shared) weighs on every block alike."""
    import keras

    rng = np.random.default_rng(seed)
    calls = {}
    for key, model in models.items():
        images = rng.uniform(0, 1, (batch, *model.input_shape[1:])).astype("float32")
        if training:
            targets = rng.normal(size=(batch, *model.output_shape[1:])).astype("float32")
            model.compile(keras.optimizers.SGD(1e-3), "mse")
            calls[key] = functools.partial(model.train_on_batch, images, targets)
        else:
            calls[key] = functools.partial(model.predict_on_batch, images)
        for _ in range(max(warmup, 1)):  # the first call traces/compiles
            calls[key]()
    seconds = interleaved_rounds(calls, rounds, steps)  # the order rotated every round
    return {key: batch * steps * rounds / float(elapsed.sum()) for key, elapsed in seconds.items()}


def _tflite(model, runs: int, warmup: int, calibration: int, folder: str) -> dict:
    """Full-int8 conversion and one-thread latency at batch 1, with the XNNPACK delegate (the bench's
    default) and with TFLite's builtin kernels alone; never raises for a block that fails."""
    images = np.random.default_rng(0).uniform(0, 1, (calibration, *model.input_shape[1:])).astype("float32")
    path = Path(folder) / f"{model.name}_int8.tflite"
    empty = {"tflite_int8_ms": None, "tflite_int8_builtin_ms": None, "runtime": "", "xnnpack": ""}
    try:
        conversion = convert(model, mode="int8", representative=images, num_samples=calibration, out=path)
    except Exception as error:  # the converter's failure is the finding: record it, keep the row
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return {**empty, "tflite_float_ops": None, "tflite_note": f"conversion failed: {first[:300]}"}
    float_ops = conversion.op_report.get("float_ops", [])
    try:
        delegated = measure(str(path), threads=1, runs=runs, warmup=warmup)
        builtin = measure(str(path), threads=1, runs=runs, warmup=warmup, xnnpack=False)
    except Exception as error:  # e.g. an op the interpreter cannot prepare: a run-time failure
        return {**empty, "tflite_float_ops": len(float_ops),
                "tflite_note": f"converted, but failed at run time: {str(error).strip()[:300]}"}
    if float_ops:
        kinds = sorted({line.split()[1] for line in float_ops if len(line.split()) > 1})
        note = f"converted; {len(float_ops)} ops left in float ({', '.join(kinds[:6])})"
    else:
        note = "converted; every op int8"
    return {"tflite_int8_ms": delegated["median_ms"], "tflite_int8_builtin_ms": builtin["median_ms"],
            "tflite_float_ops": len(float_ops), "tflite_note": note, "runtime": delegated["runtime"],
            "xnnpack": delegated["xnnpack"]}


def _static_row(model, block: str, channels: int, size: int, depth: int, batch: int, norm: str, memory: bool,
                tflite: bool, tflite_runs: int, warmup: int, calibration: int) -> dict:
    """Everything but the throughputs: counts, the measured peak memory and the TFLite figures."""
    report = cost(model)
    stored = stored_for_backward(model)["elements"]
    row = {"block": block, "channels": channels, "size": size, "input_size": 4 * size, "depth": depth,
           "batch": batch, "norm": norm, "params": report.params, "macs": report.macs,
           "layer_outputs": report.activations, "stored_for_backward": stored,
           "stored_mb": round(stored * batch * BYTES_PER_ELEMENT / 1e6, 1)}
    if memory:
        measured = peak_memory(model, batch, training=True)
        row["peak_delta_mb"] = round(measured.delta_mb, 1)
        row["peak_vs_stored"] = round(measured.delta_mb / row["stored_mb"], 3) if row["stored_mb"] else None
    if tflite:
        with tempfile.TemporaryDirectory(prefix="kerasgp-quadranet-") as folder:
            row.update(_tflite(model, tflite_runs, max(1, warmup), calibration, folder))
    return row


def _with_ratios(rows: list[dict]) -> list[dict]:
    """Each figure divided by the conv row's (same channels): < 1 stores less / runs slower (samples/s) /
    is faster (a TFLite latency)."""
    pairs = (("layer_outputs", "layer_outputs_vs_conv"), ("stored_for_backward", "stored_vs_conv"),
             ("peak_delta_mb", "peak_vs_conv"), ("train_samples_per_s", "train_vs_conv"),
             ("infer_samples_per_s", "infer_vs_conv"), ("tflite_int8_ms", "tflite_vs_conv"),
             ("tflite_int8_builtin_ms", "tflite_builtin_vs_conv"))
    for row in rows:
        base = next((r for r in rows if r["block"] == BASELINE and r["channels"] == row["channels"]), None)
        for key, ratio in pairs:
            value, reference = row.get(key), None if base is None else base.get(key)
            row[ratio] = round(value / reference, 3) if value is not None and reference else None
    return rows


def compare_blocks(blocks=BLOCK_TYPES, channels=(CHANNELS,), size: int = SIZE, depth: int = DEPTH,
                   batch: int = BATCH, norm: str = "layer", steps: int = 1, rounds: int = 3, warmup: int = 1,
                   tflite_runs: int = 10, calibration: int = 4, memory: bool = True, tflite: bool = True,
                   out=None, progress: bool = True) -> list[dict]:
    """Measure every block type (and channel count) in one run; returns one dict per row (COLUMNS), with
    the ratios to the conv block of the same width. out: a CSV to write (overwritten).

    First, block by block: the counts, the peak memory of a training step (a fresh process each) and the
    TFLite int8 latencies (batch 1, one thread, with and without XNNPACK). Then the Keras throughputs,
    with every block's model built and the blocks taking turns (`rounds` rounds of `steps` timed calls
    each, after `warmup` untimed ones), so that the ratios of one run share the machine's load."""
    import keras
    from tqdm.auto import tqdm

    blocks, channels = tuple(blocks), tuple(int(c) for c in channels)
    if not blocks or not channels:
        raise ValueError(f"need at least one block type and one channel count; got {blocks}, {channels}")
    for block in blocks:
        block_function(block)  # an unknown name fails before any measurement
    for key, value in (("batch", batch), ("steps", steps), ("rounds", rounds), ("tflite_runs", tflite_runs),
                       ("calibration", calibration)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be an integer >= 1, got {value!r}")
    machine, commit = describe(), results.commit()
    jobs = [(block, width) for width in channels for block in blocks]
    rows, models = {}, {}
    bar = tqdm(total=len(jobs) + 2, desc=f"Table II blocks x{depth} at {size}^2, batch {batch}", unit="step",
               disable=not progress)
    for block, width in jobs:
        bar.set_postfix_str(f"{block} c{width}: memory, TFLite")
        load = os.getloadavg()[0]
        models[block, width] = model = block_stack(block, width, size, depth, norm)
        rows[block, width] = row = _static_row(model, block, width, size, depth, batch, norm, memory, tflite,
                                               tflite_runs, warmup, calibration)
        row.update({"load_start": round(load, 2), "load_end": round(os.getloadavg()[0], 2)})
        bar.update(1)
    for training, key in ((True, "train_samples_per_s"), (False, "infer_samples_per_s")):
        bar.set_postfix_str(f"{'training' if training else 'inference'} throughput, blocks taking turns")
        load = os.getloadavg()[0]
        for job, value in _timed_calls(models, batch, steps, rounds, warmup, training).items():
            rows[job][key] = round(value, 2)
            rows[job]["load_start"] = min(rows[job]["load_start"], round(load, 2))
        bar.update(1)
    bar.close()
    date, end_load = datetime.datetime.now().isoformat(timespec="seconds"), round(os.getloadavg()[0], 2)
    result = []
    for job in jobs:
        row = rows[job]
        row.update({"steps": steps * rounds, "warmup": warmup, "tflite_runs": tflite_runs if tflite else None,
                    "load_end": max(row["load_end"], end_load), "backend": keras.backend.backend(),
                    "keras": keras.__version__, "commit": commit, "cpu": machine["cpu"], "cores": machine["cores"],
                    "arch": machine["arch"], "date": date})
        result.append(row)
    del models
    keras.backend.clear_session()
    result = _with_ratios(result)
    if out:
        _write(result, out)
    return result


def _write(rows: list[dict], out) -> None:
    write_csv(rows, out, COLUMNS, extrasaction="ignore")
