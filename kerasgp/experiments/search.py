"""Hardware-aware architecture search over QuadraNet blocks (QuadraNet's search, after ProxylessNAS).

QuadraNet (Xu, Chen et al., ASP-DAC 2024, arXiv 2311.17956) searches its networks ProxylessNAS-style
(Cai, Zhu, Han, "ProxylessNAS: Direct Neural Architecture Search on Target Task and Hardware", ICLR 2019):
at every block position of a fixed macro-architecture a choice among QuadraBlocks of kernel {3, 5, 7} and
expansion {2, 4}, or no block at all ("skip"), with the measured latency of each choice in the loss.
The pieces, small enough for a 2-core CPU, each in its module (this one runs the search and re-exports
the others' names, which the lesson and the command line use as `search.NAME`):

1. `SearchSpace` (`search_space`): the macro (4x4 stride-4 stem, four stages [C, 2C, 4C, 8C], `positions` choices per
   stage, norm="batch", the deployable variant) and the candidates "k3e2" ... "k7e4", "skip".
2. `measure_lut` (`search_lut`): the latency lookup table. Every candidate at every distinct position input shape is
   converted to its own TFLite int8 model and timed by `kerasgp.deploy.bench.measure` (1 thread);
   the fixed part (stem, norms, downsamples, the feature outputs) is timed as the all-"skip" network, so
   a network's predicted latency is fixed + the sum of its blocks' entries (`LatencyTable.predict`).
   `check_lut` compares that prediction with whole networks measured the same way.
3. `build_supernet` (`supernet`) + `search` (here): every position holds all candidates and an `ArchitectureMix` with
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

What the table shows on this machine (results/quadranet_lut.csv, LiteRT 2.3.0 with XNNPACK, 1 thread): a 7x7
quadratic block costs ~40-80x a 5x5 one in int8. The cause is XNNPACK's int8 7x7 depthwise path: the same 7x7
block built without the default delegate runs ~25x faster than with it (seen at 16x16x32: ~8 ms vs ~0.3 ms),
while a 5x5 block is faster with XNNPACK. XNNPACK is what this runtime applies by default, so the table keeps
it; any lambda > 0 then drives the search away from the paper's 7x7 kernels. With Adam, alpha's step hardly
depends on the size of its gradient, so lambda mostly sets how early the latency term's direction outweighs
the noisy task gradient: while the blocks' layer scales are still ~1e-6 the task says little about alpha, and
the latency term alone favours "skip", most where the blocks are costliest (the early, large maps).
"""
from __future__ import annotations

import datetime
import tempfile
import time

import keras
import numpy as np

from ..backbones.quadranet import quadranet
from ..deploy import representative_crops
from ..machine import describe
from ..results import write_json
from .proxy import rotation_task

# The search's parts, re-exported: the lesson and the command line use them as `search.NAME`.
from .search_lut import (  # noqa: F401
    LUT_COLUMNS,
    LUT_PATH,
    LatencyTable,
    block_model,
    check_lut,
    convert_and_measure,
    measure_lut,
    measure_network,
    network,
    read_lut,
)
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
from .supernet import (  # noqa: F401
    ArchitectureMix,
    architecture_logits,
    build_supernet,
    derive_arch,
    expected_latency,
    mix_layers,
    softmax,
)


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
        write_json(result, out)
    return result



# --------------------------------------------------------------------------------------------------------
# Latency of hand designs


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
        write_json({"input_size": space.input_size, "designs": rows}, out)
    return rows
