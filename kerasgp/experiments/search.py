"""Hardware-aware architecture search over QuadraNet blocks (QuadraNet's search, after ProxylessNAS).

QuadraNet (Xu, Chen et al., ASP-DAC 2024, arXiv 2311.17956) searches its networks ProxylessNAS-style
(Cai, Zhu, Han, "ProxylessNAS: Direct Neural Architecture Search on Target Task and Hardware", ICLR 2019):
at every block position of a fixed macro-architecture a choice among QuadraBlocks of kernel {3, 5, 7} and
expansion {2, 4}, or no block at all ("skip"), with the measured latency of each choice in the loss.
The pieces, small enough for a 2-core CPU:

1. `SearchSpace`: the macro (4x4 stride-4 stem, four stages [C, 2C, 4C, 8C], `positions` choices per
   stage, norm="batch", the deployable variant) and the candidates "k3e2" ... "k7e4", "skip".
2. `measure_lut`: the latency lookup table. Every candidate at every distinct position input shape is
   converted to its own TFLite int8 model and timed by `kerasgp.deploy.bench.measure` (1 thread);
   the fixed part (stem, norms, downsamples, the feature outputs) is timed as the all-"skip" network, so
   a network's predicted latency is fixed + the sum of its blocks' entries (`LatencyTable.predict`).
   `check_lut` compares that prediction with whole networks measured the same way.
3. `build_supernet` + `search`: every position holds all candidates and an `ArchitectureMix` with
   architecture logits alpha; the loss is the task's cross-entropy + lambda * E[latency] / reference,
   E[latency] = sum over positions of sum_j softmax(alpha)_j * LUT_j (ProxylessNAS Sec. 3.3.1: the
   expected latency of a mixed op is its candidates' latencies weighted by their path probabilities,
   summed over the mixed ops, added to the loss with a factor; we divide by the latency of the
   all-k7e4 blocks, so lambda is dimensionless). The paper's other form, the multiplicative
   ACC * (LAT / T)^w of MnasNet that ProxylessNAS uses for its REINFORCE variant, is not used here.
   The derived network takes the argmax candidate at every position (`derive_arch`).

Simplifications, and why:
- Mixture instead of binarised paths: ProxylessNAS samples one path per step (binary gates) to keep the
  memory of a large supernet at that of one network. Ours (10 positions x 6 blocks at C = 16) fits
  easily, and the softmax-weighted mixture of all 7 candidates (DARTS-style) gives every candidate and
  every alpha a gradient at every step, which matters when the whole search has a few hundred steps.
- Joint instead of alternating updates: ProxylessNAS alternates weight steps on the training set with
  alpha steps on a validation split. Keras' `fit` trains one set of variables with one optimiser on all
  three backends; toggling `trainable` to alternate would recompile the supernet each phase and put its
  BatchNorms in inference mode for the alpha steps. So weights and alpha are updated together on the
  training batches, with alpha's Adam step enlarged by `logit_scale` (alpha = logit_scale * theta, and
  Adam's step on theta does not depend on the gradient's scale: alpha moves logit_scale times faster).
- The task: the rotation proxy (`kerasgp.experiments.proxy.rotation_task`, see lesson 02), at a smaller
  image size than the LUT's 128x128 to stay within minutes. The LUT, the derived network and its
  latency are at the deployment size (128x128, as the pose bench).

What the table shows on this machine (results/quadranet_lut.csv, LiteRT 2.3.0 with XNNPACK, 1 thread): a
7x7 quadratic block costs ~40-80x a 5x5 one in int8. The cause is XNNPACK's int8 7x7 depthwise path: the
same 7x7 block built without the default delegate runs ~25x faster than with it (seen at 16x16x32:
~8 ms vs ~0.3 ms), while a 5x5 block is faster with XNNPACK. XNNPACK is what this runtime applies by
default, so the table keeps it; any lambda > 0 then drives the search away from the paper's 7x7 kernels. With Adam, alpha's step hardly depends on the size of its gradient, so
lambda mostly sets how early the latency term's direction outweighs the noisy task gradient: while the
blocks' layer scales are still ~1e-6 the task says little about alpha, and the latency term alone favours
"skip", most where the blocks are costliest (the early, large maps).
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

import keras
import numpy as np
from keras import ops

from .. import backbones
from ..backbones.quadranet import OFFICIAL_INITIALIZER, SKIP, quadranet
from ..deploy import convert, representative_crops
from ..deploy.bench import measure
from ..layers.quadratic import fresh_initializer, norm_layer, quadra_block
from ..machine import describe
from ..results import write_csv
from .proxy import rotation_task

# the space and the result file's reader live in a leaf module (studies.py reads the found network through it)
from .search_space import (  # noqa: F401
    CANDIDATES,
    SEARCH_PATH,
    SearchSpace,
    arch_string,
    flatten_arch,
    found_backbone_options,
    parse_candidate,
    read_search,
)

# The columns of the latency lookup table, in order.
LUT_COLUMNS = ("part", "candidate", "stage", "height", "width", "channels", "median_ms", "p90_ms", "runs",
               "threads", "runtime", "xnnpack", "machine", "cores", "arch", "date")
LUT_PATH = "results/quadranet_lut.csv"


# --------------------------------------------------------------------------------------------------------
# The latency lookup table


@dataclasses.dataclass
class LatencyTable:
    """fixed_ms: the all-skip network; blocks: {(stage, candidate): median ms}; runtime/threads/machine:
    where the figures come from (one LUT is valid for one runtime, thread count and machine)."""

    fixed_ms: float
    blocks: dict
    runtime: str = ""
    threads: int = 1
    machine: str = ""

    def matrix(self, space: SearchSpace) -> np.ndarray:
        """(num_positions, num_candidates) ms, rows in position order, columns in space.candidates order."""
        stages = space.stage_of_position()
        missing = sorted({(s, c) for s in set(stages) for c in space.candidates} - set(self.blocks))
        if missing:
            raise ValueError(f"the latency table has no entry for (stage, candidate) {missing[:6]}"
                             f"{' ...' if len(missing) > 6 else ''}; measure it with measure_lut for this space")
        return np.array([[self.blocks[(s, c)] for c in space.candidates] for s in stages], dtype=np.float64)

    def predict(self, arch, space: SearchSpace) -> float:
        """fixed + the sum of the chosen candidates' entries (ms)."""
        codes = flatten_arch(arch)
        space.arch(codes)  # checks the count and the codes
        matrix = self.matrix(space)
        index = [space.candidates.index(c) for c in codes]
        return float(self.fixed_ms + matrix[np.arange(len(codes)), index].sum())


def read_lut(path=LUT_PATH, space: SearchSpace | None = None) -> LatencyTable:
    """Read and validate a LUT CSV written by `measure_lut`. With `space`, every (stage, candidate) the
    space needs must be there and the stage shapes must match the space's (else a ValueError)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no latency table; build it with `python -m kerasgp search lut` "
                                "(kerasgp.experiments.search.measure_lut)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        rows = list(reader)
    missing = [c for c in ("part", "candidate", "stage", "height", "width", "channels", "median_ms", "runtime",
                           "threads", "machine") if c not in header]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing}; a latency table has {list(LUT_COLUMNS)}")
    fixed, blocks, origins = [], {}, set()
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        try:
            ms = float(row["median_ms"])
            stage = int(row["stage"])
            shape = (int(row["height"]), int(row["width"]), int(row["channels"]))
        except (TypeError, ValueError):
            raise ValueError(f"{path} line {number}: median_ms, stage, height, width and channels must be numbers; "
                             f"got {row}") from None
        if not np.isfinite(ms) or ms < 0:
            raise ValueError(f"{path} line {number}: median_ms must be a finite number >= 0, got {row['median_ms']!r}")
        origins.add((row["runtime"], row["threads"], row["machine"]))
        if row["part"] == "fixed":
            fixed.append(ms)
        elif row["part"] == "block":
            parse_candidate(row["candidate"])
            key = (stage, row["candidate"])
            if key in blocks:
                raise ValueError(f"{path} line {number}: a second entry for stage {stage}, candidate "
                                 f"{row['candidate']!r}")
            if space is not None and 0 <= stage < 4 and shape != space.stage_shapes()[stage]:
                raise ValueError(f"{path} line {number}: stage {stage} was measured at {shape}; this space needs "
                                 f"{space.stage_shapes()[stage]} (another width or input size)")
            blocks[key] = ms
        else:
            raise ValueError(f"{path} line {number}: part must be 'fixed' or 'block', got {row['part']!r}")
    if len(fixed) != 1:
        raise ValueError(f"{path} must have exactly one 'fixed' row (the all-skip network); it has {len(fixed)}")
    if len(origins) != 1:
        raise ValueError(f"{path} mixes runtimes, thread counts or machines {sorted(origins)}; one table, one setting")
    runtime, threads, machine = origins.pop()
    table = LatencyTable(fixed[0], blocks, runtime, int(threads), machine)
    if space is not None:
        table.matrix(space)
    return table


def convert_and_measure(model, representative, threads: int, runs: int, warmup: int, folder) -> dict:
    path = Path(folder) / f"{model.name}.tflite"
    convert(model, mode="int8", representative=representative, num_samples=len(representative), out=path)
    return measure(str(path), threads=threads, runs=runs, warmup=warmup)


def block_model(code: str, shape, name: str | None = None):
    """One candidate as a standalone Keras model on a (H, W, C) input: what a LUT entry times."""
    kernel_size, expansion = parse_candidate(code)
    inputs = keras.Input(tuple(shape), name="features")
    outputs = quadra_block(inputs, kernel_size, expansion, norm="batch", name=code,
                           kernel_initializer=OFFICIAL_INITIALIZER)  # quadra_block draws each conv afresh
    return keras.Model(inputs, outputs, name=name or f"{code}_{'x'.join(map(str, shape))}")


def network(arch, space: SearchSpace, norm: str = "batch", input_size: int | None = None):
    """The QuadraNet backbone of `arch` in this space (a dict of the four stride maps)."""
    size = input_size or space.input_size
    return backbones.get("quadranet", width=space.width, arch=[list(stage) for stage in arch], norm=norm,
                         input_shape=(size, size, 3))


def measure_network(arch, space: SearchSpace, threads: int = 1, runs: int = 100, warmup: int = 10,
                    calibration: int = 32, norm: str = "batch") -> dict:
    """Convert the backbone of `arch` to TFLite int8 (calibrated on LSPET training crops) and time it."""
    crops = representative_crops(space.input_size, count=calibration)
    with tempfile.TemporaryDirectory(prefix="kerasgp-search-") as folder:
        row = convert_and_measure(network(arch, space, norm), crops, threads, runs, warmup, folder)
    keras.backend.clear_session()
    return row


def _lut_row(part, candidate, stage, shape, timed, machine, date) -> dict:
    return {"part": part, "candidate": candidate, "stage": stage, "height": shape[0], "width": shape[1],
            "channels": shape[2], "median_ms": timed["median_ms"], "p90_ms": timed["p90_ms"], "runs": timed["runs"],
            "threads": timed["threads"], "runtime": timed["runtime"], "xnnpack": timed["xnnpack"],
            "machine": machine["cpu"], "cores": machine["cores"], "arch": machine["arch"], "date": date}


def measure_lut(space: SearchSpace = SearchSpace(), threads: int = 1, runs: int = 100, warmup: int = 10,
                calibration: int = 32, out=LUT_PATH, progress: bool = True) -> list[dict]:
    """Time every non-skip candidate at every stage's input shape as a standalone TFLite int8 model
    (calibrated on standard-normal inputs: a block's latency does not depend on its values), and the
    fixed part as the all-skip network; "skip" costs 0 by definition. Writes the CSV `out`."""
    from tqdm.auto import tqdm

    machine, date = describe(), datetime.datetime.now().isoformat(timespec="seconds")
    rng = np.random.default_rng(0)
    jobs = [(s, shape, c) for s, shape in enumerate(space.stage_shapes()) for c in space.candidates if c != SKIP]
    rows = []
    fixed = measure_network(space.uniform(SKIP), space, threads, runs, warmup, calibration)
    rows.append(_lut_row("fixed", "all-skip", -1, (space.input_size, space.input_size, 3), fixed, machine, date))
    with tempfile.TemporaryDirectory(prefix="kerasgp-lut-") as folder:
        for stage, shape, code in tqdm(jobs, desc="latency table", unit="block", disable=not progress):
            samples = rng.standard_normal((calibration,) + shape).astype("float32")
            timed = convert_and_measure(block_model(code, shape), samples, threads, runs, warmup, folder)
            rows.append(_lut_row("block", code, stage, shape, timed, machine, date))
            keras.backend.clear_session()
    for stage, shape in enumerate(space.stage_shapes()):
        if SKIP in space.candidates:
            rows.append(_lut_row("block", SKIP, stage, shape, {**fixed, "median_ms": 0.0, "p90_ms": 0.0, "runs": 0},
                                 machine, date))
    if out:
        write_csv(rows, out, LUT_COLUMNS)
    return rows


def check_lut(archs: dict, space: SearchSpace = SearchSpace(), lut=LUT_PATH, threads: int = 1, runs: int = 100,
              warmup: int = 10, out="results/search_lut_check.json") -> list[dict]:
    """Predicted (fixed + sum of LUT entries) against measured latency for whole networks {name: arch}."""
    table = read_lut(lut, space) if not isinstance(lut, LatencyTable) else lut
    rows = []
    for name, arch in archs.items():
        predicted = table.predict(arch, space)
        measured = measure_network(arch, space, threads, runs, warmup)["median_ms"]
        rows.append({"name": name, "arch": arch_string(arch), "predicted_ms": round(predicted, 3),
                     "measured_ms": measured, "error_pct": round(100 * (predicted - measured) / measured, 1)})
    if out:
        _write_json({"space": space.to_dict(), "runtime": table.runtime, "threads": table.threads,
                     "machine": table.machine, "networks": rows,
                     "mean_abs_error_pct": round(float(np.mean([abs(r["error_pct"]) for r in rows])), 1)}, out)
    return rows


# --------------------------------------------------------------------------------------------------------
# The differentiable search


def softmax(logits, axis=-1) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def expected_latency(logits, lut_matrix) -> float:
    """E[latency] = sum over positions of sum_j softmax(alpha)_j * LUT_j (ProxylessNAS Sec. 3.3.1), in
    the LUT's unit; logits and lut_matrix are (positions, candidates)."""
    logits, lut_matrix = np.asarray(logits, dtype=np.float64), np.asarray(lut_matrix, dtype=np.float64)
    if logits.shape != lut_matrix.shape:
        raise ValueError(f"logits and the LUT matrix must have the same (positions, candidates) shape; got "
                         f"{logits.shape} and {lut_matrix.shape}")
    return float((softmax(logits) * lut_matrix).sum())


def derive_arch(logits, space: SearchSpace) -> list[list[str]]:
    """The derived network: the argmax candidate at every position, as per-stage lists."""
    logits = np.asarray(logits)
    if logits.shape != (space.num_positions, len(space.candidates)):
        raise ValueError(f"logits must be (positions, candidates) = {(space.num_positions, len(space.candidates))}; "
                         f"got {logits.shape}")
    return space.arch([space.candidates[i] for i in logits.argmax(axis=-1)])


@keras.saving.register_keras_serializable(package="kerasgp")
class ArchitectureMix(keras.layers.Layer):
    """A mixed operation (ProxylessNAS Sec. 3.1, DARTS' continuous relaxation): the inputs are the
    outputs of all candidates at one position; the output is sum_j softmax(alpha)_j * input_j.

    alpha = logit_scale * theta, theta the trainable variable (zeros: all candidates start equal);
    with Adam, alpha then moves logit_scale times faster than a plain weight (see the module
    docstring). latency: the candidates' LUT entries (ms); with latency_weight > 0 the layer adds
    latency_weight * sum_j p_j latency_j / latency_reference to the model's losses: its share of
    lambda * E[latency] / reference.
    """

    def __init__(self, latency=None, latency_weight: float = 0.0, latency_reference: float = 1.0,
                 logit_scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if latency_weight < 0 or latency_reference <= 0 or logit_scale <= 0:
            raise ValueError(f"need latency_weight >= 0, latency_reference > 0 and logit_scale > 0; got "
                             f"{latency_weight}, {latency_reference}, {logit_scale}")
        self.latency = None if latency is None else [float(v) for v in latency]
        self.latency_weight = float(latency_weight)
        self.latency_reference = float(latency_reference)
        self.logit_scale = float(logit_scale)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2 \
                or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"ArchitectureMix takes a list of at least 2 candidate outputs; got {input_shape}")
        shapes = {tuple(s[1:]) for s in input_shape}
        if len(shapes) != 1:
            raise ValueError(f"the candidates' outputs must have one shape; got {sorted(shapes, key=str)}")
        if self.latency is not None and len(self.latency) != len(input_shape):
            raise ValueError(f"latency has {len(self.latency)} entries for {len(input_shape)} candidates")
        self.theta = self.add_weight(name="theta", shape=(len(input_shape),), initializer="zeros")

    def logits(self):
        return self.theta * self.logit_scale

    def call(self, inputs):
        weights = ops.softmax(self.logits())
        if self.latency is not None and self.latency_weight > 0:
            latency = ops.convert_to_tensor(np.asarray(self.latency, dtype="float32"))
            self.add_loss(self.latency_weight * ops.sum(weights * latency) / self.latency_reference)
        out = weights[0] * inputs[0]
        for j in range(1, len(inputs)):
            out = out + weights[j] * inputs[j]
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "latency": self.latency, "latency_weight": self.latency_weight,
                "latency_reference": self.latency_reference, "logit_scale": self.logit_scale}


def _stem(x, width: int, init):
    """kerasgp.backbones.quadranet's stem (4x4 stride-4 conv + norm), norm="batch", same layer names."""
    x = keras.layers.Conv2D(width, 4, strides=4, kernel_initializer=fresh_initializer(init), name="stem_conv")(x)
    return norm_layer("batch", "stem_norm")(x)


def _downsample(x, channels: int, stage: int, init):
    """kerasgp.backbones.quadranet's downsampler between stages (norm + 2x2 stride-2 conv); stage from 2."""
    x = norm_layer("batch", f"down{stage}_norm")(x)
    return keras.layers.Conv2D(channels, 2, strides=2, kernel_initializer=fresh_initializer(init),
                               name=f"down{stage}_conv")(x)


def build_supernet(space: SearchSpace, lut: LatencyTable | None = None, latency_weight: float = 0.0,
                   logit_scale: float = 1.0, num_classes: int = 4, image_size: int | None = None,
                   name: str = "quadranet_supernet", kernel_initializer=None):
    """The over-parameterised network: at every position all candidates (QuadraBlocks, norm="batch";
    skip = the position's input) joined by an ArchitectureMix named "stage{s}_pos{i}_mix" (s from 1, as
    the backbone's stages); a pooled linear classifier on the last stage. With `lut`, each mix adds its share of
    latency_weight * E[latency] / (the all-k7e4 blocks' latency) to the losses. kernel_initializer: of the
    blocks' convs, default the backbone's (the official truncated normal)."""
    # One fresh instance per weight (quadra_block copies its own): an unseeded Keras initializer instance
    # has one fixed seed, so a shared one would draw equal weights for equal shapes.
    init = kernel_initializer or OFFICIAL_INITIALIZER
    size = image_size or space.input_size
    matrix = lut.matrix(space) if lut is not None else None
    reference = 1.0
    if matrix is not None:
        heaviest = space.candidates.index("k7e4") if "k7e4" in space.candidates else int(matrix[0].argmax())
        reference = float(matrix[:, heaviest].sum()) or 1.0
    inputs = keras.Input((size, size, 3), name="image")
    x = _stem(inputs, space.width, init)
    position = 0
    for stage, count in enumerate(space.positions):
        if stage:
            x = _downsample(x, space.width * 2 ** stage, stage + 1, init)
        for index in range(count):
            outputs = []
            for code in space.candidates:
                if code == SKIP:
                    outputs.append(x)
                else:
                    kernel_size, expansion = parse_candidate(code)
                    outputs.append(quadra_block(x, kernel_size, expansion, norm="batch", kernel_initializer=init,
                                                name=f"stage{stage + 1}_pos{index}_{code}"))
            latency = None if matrix is None else matrix[position].tolist()
            x = ArchitectureMix(latency, latency_weight, reference, logit_scale,
                                name=f"stage{stage + 1}_pos{index}_mix")(outputs)
            position += 1
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def mix_layers(model) -> list:
    return [layer for layer in model.layers if isinstance(layer, ArchitectureMix)]


def architecture_logits(model) -> np.ndarray:
    """(positions, candidates) alpha of a supernet, positions in network order."""
    layers = mix_layers(model)
    if not layers:
        raise ValueError(f"{model.name!r} has no ArchitectureMix layers; build it with build_supernet")
    return np.stack([ops.convert_to_numpy(layer.logits()) for layer in layers])


def _write_json(data, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def search(space: SearchSpace = SearchSpace(), lut=LUT_PATH, latency_weight: float = 0.5, epochs: int = 5,
           people: int = 512, image_size: int = 64, batch_size: int = 32, learning_rate: float = 2e-3,
           logit_scale: float = 10.0, seed: int = 0, measure: bool = True, threads: int = 1,
           out=SEARCH_PATH, progress: bool = True, steps_per_epoch: int | None = None, task=None,
           kernel_initializer=None) -> dict:
    """Run the search; return (and write to `out`) the derived arch, alpha, lambda and the latencies:
    expected_latency_ms (E[latency] of the blocks at the final alpha, the fixed part excluded),
    predicted_ms (fixed + the derived arch's LUT entries) and measured_ms (the derived backbone timed).

    The supernet trains jointly (weights and alpha, one Adam) on the rotation proxy: `people` LSPET
    training crops at image_size^2, each in 4 rotations. loss = cross-entropy + latency_weight *
    E[latency] / (all-k7e4 blocks' latency). measure: convert and time the derived network (else
    measured_ms is None). task: (images, labels) to use instead of the rotation proxy; kernel_initializer:
    see build_supernet (both for the tests: JAX compiles a truncated normal per weight shape).
    """
    table = read_lut(lut, space) if not isinstance(lut, LatencyTable) else lut
    matrix = table.matrix(space)
    images, labels = task if task is not None else rotation_task("train", count=people, size=image_size)
    keras.utils.set_random_seed(seed)
    model = build_supernet(space, table, latency_weight, logit_scale, image_size=images.shape[1],
                           kernel_initializer=kernel_initializer)
    model.compile(keras.optimizers.Adam(learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  # TensorFlow's XLA takes minutes to compile 60 blocks while its graph mode starts at once;
                  # JAX without jit dispatches (and compiles) op by op, far slower than one jitted step.
                  jit_compile=False if keras.backend.backend() == "tensorflow" else "auto")
    order = np.random.default_rng(seed).permutation(len(images))  # fit's shuffle keeps batches mixed too
    start = time.perf_counter()
    history = model.fit(images[order], labels[order], batch_size=batch_size, epochs=epochs,
                        verbose=2 if progress else 0, steps_per_epoch=steps_per_epoch, shuffle=True)
    seconds = time.perf_counter() - start
    logits = architecture_logits(model)
    arch = derive_arch(logits, space)
    predicted = table.predict(arch, space)
    measured = measure_network(arch, space, threads=threads)["median_ms"] if measure else None
    reference = float(matrix[:, space.candidates.index("k7e4")].sum()) if "k7e4" in space.candidates else None
    result = {
        "arch": arch, "arch_string": arch_string(arch), "space": space.to_dict(),
        "alpha": np.round(logits, 4).tolist(), "probabilities": np.round(softmax(logits), 4).tolist(),
        "latency_weight": latency_weight, "latency_form": "loss = CE + latency_weight * E[latency] / reference_ms, "
        "E[latency] = sum_positions sum_j softmax(alpha)_j * LUT_j (ProxylessNAS Sec. 3.3.1, additive)",
        "reference_ms": reference, "expected_latency_ms": round(expected_latency(logits, matrix), 3),
        "fixed_ms": table.fixed_ms, "predicted_ms": round(predicted, 3), "measured_ms": measured,
        "lut": str(lut) if not isinstance(lut, LatencyTable) else None, "runtime": table.runtime,
        "threads": table.threads, "machine": table.machine,
        "task": {"name": "rotation proxy" if task is None else "given", "people": people if task is None else None,
                 "images": int(len(images)), "image_size": int(images.shape[1])},
        "training": {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate,
                     "logit_scale": logit_scale, "seed": seed, "updates": "joint (weights and alpha, one Adam)",
                     "mixture": "softmax-weighted sum of all candidates", "seconds": round(seconds, 1),
                     "loss": [round(float(v), 4) for v in history.history["loss"]],
                     "accuracy": [round(float(v), 4) for v in history.history["accuracy"]]},
        "backend": keras.backend.backend(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
        **{k: v for k, v in describe().items() if k in ("cpu", "cores")},
    }
    if out:
        _write_json(result, out)
    return result


# --------------------------------------------------------------------------------------------------------
# Latency of hand designs and of a study's pose models


# Uniform k7e4 QuadraNets (the paper's block everywhere) made shallower or narrower: the candidates measured
# to choose the study's hand-designed rows (`python -m kerasgp search hand`).
HAND_DESIGNS = {f"shallow_{''.join(map(str, d))}": {"width": 16, "depths": d, "norm": "batch"}
                for d in [(0, 0, 0, 1), (0, 0, 1, 0), (0, 0, 0, 2), (0, 0, 1, 1), (1, 1, 1, 1)]}
HAND_DESIGNS.update({f"narrow_w{w}": {"width": w, "depths": (2, 2, 4, 2), "norm": "batch"} for w in (1, 2, 4)})
# A designer who knows the 7x7 penalty: uniform 3x3 / 5x5 blocks (expansion 2) at several depths.
HAND_DESIGNS.update({f"k{k}e2_{''.join(map(str, d))}": {"width": 16, "depths": d, "kernel_size": k, "expansion": 2,
                                                        "norm": "batch"}
                     for k in (3, 5) for d in [(2, 2, 4, 2), (1, 1, 2, 1), (0, 0, 4, 2), (0, 1, 2, 1)]})


def hand_design_latency(designs: dict = HAND_DESIGNS, space: SearchSpace = SearchSpace(), threads: int = 1,
                        runs: int = 100, out="results/search_hand.json") -> list[dict]:
    """Measure uniform hand designs {name: backbone options for "quadranet"} (int8, 1 thread): to
    choose the ones whose latency matches the found network's."""
    crops = representative_crops(space.input_size, count=32)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kerasgp-hand-") as folder:
        for name, options in designs.items():
            model = quadranet(input_shape=(space.input_size, space.input_size, 3), name=name, **options)
            timed = convert_and_measure(model, crops, threads, runs, 10, folder)
            rows.append({"name": name, "options": options, "params": model.count_params(),
                         "median_ms": timed["median_ms"], "p90_ms": timed["p90_ms"], "runtime": timed["runtime"],
                         "threads": threads})
            keras.backend.clear_session()
    if out:
        _write_json({"input_size": space.input_size, "designs": rows}, out)
    return rows
