"""Measured memory: the peak resident memory one forward (+ backward) pass of a Keras model really takes.

The cost counter (`kerasgp.analysis.cost`) counts activation elements from the graph: what every layer
output would take if nothing were freed. A claim such as CSPNet's that its stage cuts memory (Wang, Liao,
Wu, Chen, Hsieh, Yeh, "CSPNet", CVPRW 2020, Sec. 1: reducing memory costs is one of its three aims) is
about what a framework actually holds, which also depends on which tensors the backend frees early and
which it keeps for the backward pass. `peak_memory` measures that, on the current backend.

How: the model is saved to a temporary `.keras` file and loaded by a fresh Python process
(`python -m kerasgp.analysis.memory PATH --batch B [--training]`, same KERAS_BACKEND), so the numbers are
not polluted by what the calling process (a notebook) allocated before. That process runs one warm-up
pass at batch 1 (which traces/compiles the function and, for training, creates the optimizer's state),
takes its resident set size as the baseline, runs the same pass once at batch B and reads the peak
resident set size reached during it. A training pass is one gradient step, `model.train_on_batch`, with
plain SGD (no optimizer slots) and mean squared error against random targets shaped like every output;
an inference pass is `model.predict_on_batch`.

Reading the peak. `resource.getrusage(RUSAGE_SELF).ru_maxrss` is the process's peak RSS since it
started, and it never goes down: the start-up (importing a backend, loading, the first compilation) can
peak higher than a moderate pass, and then the pass is invisible (seen on JAX and torch: deltas of 0).
So on Linux the peak mark is reset after the warm-up (writing "5" to /proc/self/clear_refs), the
baseline is the current RSS (`VmRSS`) and the peak is the kernel's new high-water mark (`VmHWM`), the
same counter ru_maxrss reads. Where that is not possible (not Linux) the baseline is ru_maxrss after
the warm-up and the peak ru_maxrss after the pass; `PeakMemory.method` says which.

What the figures include. RSS is all the process's resident memory: the framework's own code and
buffers, allocator caching (glibc, TensorFlow's and torch's CPU allocators keep freed blocks), compiler
and workspace memory (oneDNN scratch pads; the trace/compilation of the batch-B function, which
TensorFlow and JAX redo for a new batch size, is inside the delta), besides the activations. So
`delta_mb = peak_mb - baseline_mb` is an upper bound on the memory the batch-B pass added, dominated by
activations (and, when training, their gradients) once the batch is large; it is not an exact activation
count, and memory the warm-up left cached in an allocator can be reused by the pass without showing.
Compare models by ratios of deltas measured one after another on one machine, at a batch large enough
that activations dominate.

Repeatability. Which buffers are alive at the same moment depends on how the backend schedules
independent ops over its threads, so repeated measurements of one model differ. Seen on a 2-core CPU
(TensorFlow, training, batch 32, deltas of 150-300 MB): within about 3 % of each other with TensorFlow's
default oneDNN kernels, up to about 10 % with TF_ENABLE_ONEDNN_OPTS=0 (Eigen kernels), which also
gave deltas about a quarter larger. `env=` sets such variables for the measuring process alone.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile

from ..pose.estimator import load_keras

_MARKER = "kerasgp-peak-memory "


@dataclasses.dataclass(frozen=True)
class PeakMemory:
    """One measurement: peak RSS after the batch-1 warm-up (baseline) and after the batch-B pass, in MB
    (10**6 bytes), their difference, and what was measured."""

    baseline_mb: float
    peak_mb: float
    delta_mb: float
    batch_size: int
    backend: str
    training: bool
    model: str = ""
    method: str = "VmHWM"  # how the peak was read: "VmHWM" (reset after the warm-up) or "ru_maxrss"

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def peak_memory(model, batch_size: int, training: bool = True, *, input_shape=None, env: dict | None = None,
                timeout: float = 600.0) -> PeakMemory:
    """Measure the peak memory of one pass of `model` at `batch_size` in a fresh process (see the module
    docstring for what the figures include).

    training: True for one gradient step (forward + backward + SGD update), False for a forward pass.
    input_shape: the per-sample shape (H, W, C), needed when the model's input has `None` dimensions
    (a list of shapes for a model with several inputs). env: environment variables to set for the
    measuring process only (strings), e.g. {"TF_ENABLE_ONEDNN_OPTS": "1"} to measure TensorFlow's default
    oneDNN kernels from a notebook that turned them off; KERAS_BACKEND is always the caller's backend.
    timeout: seconds before the measuring process is stopped. Raises ValueError on bad arguments,
    RuntimeError when the measuring process fails.
    """
    import keras

    if not isinstance(model, keras.Model):
        raise ValueError(f"peak_memory needs a keras.Model; got {type(model).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(training, bool):
        raise ValueError(f"training must be True or False, got {training!r}")
    if env is not None and (not isinstance(env, dict) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in env.items())):
        raise ValueError(f"env must be a dict of environment variable names to string values, got {env!r}")
    if not timeout or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    shapes = _input_shapes(model, input_shape)
    backend = keras.backend.backend()
    with tempfile.TemporaryDirectory(prefix="kerasgp-memory-") as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        # `-c` rather than `-m kerasgp.analysis.memory`: the package __init__ already imports this module,
        # and runpy would warn about it on the measuring process's stderr.
        command = [sys.executable, "-c", "import sys; from kerasgp.analysis.memory import main; main(sys.argv[1:])",
                   path, "--batch", str(batch_size),
                   "--input-shapes", json.dumps(shapes)] + (["--training"] if training else [])
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {}), "KERAS_BACKEND": backend}
        try:
            done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(f"measuring {model.name!r} at batch {batch_size} took over {timeout} s") from error
    lines = [line for line in done.stdout.splitlines() if line.startswith(_MARKER)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the measuring process for {model.name!r} failed (exit {done.returncode}):\n"
                           f"{done.stderr[-2000:]}")
    values = json.loads(lines[-1][len(_MARKER):])
    return PeakMemory(baseline_mb=values["baseline_mb"], peak_mb=values["peak_mb"],
                      delta_mb=values["peak_mb"] - values["baseline_mb"], batch_size=batch_size, backend=backend,
                      training=training, model=model.name, method=values["method"])


def _input_shapes(model, input_shape) -> list[list[int]]:
    """The per-sample shape of every model input, as lists of ints (JSON for the measuring process)."""
    declared = [tuple(x.shape[1:]) for x in model.inputs]
    if input_shape is None:
        given = declared
    elif len(declared) == 1 and all(isinstance(d, int) and not isinstance(d, bool) for d in input_shape):
        given = [tuple(input_shape)]
    else:
        given = [tuple(shape) for shape in input_shape]
    if len(given) != len(declared):
        raise ValueError(f"{model.name} has {len(declared)} inputs; got {len(given)} input shapes: {input_shape}")
    for shape, own in zip(given, declared):
        if len(shape) != len(own) or any(d is None or not isinstance(d, int) or d < 1 for d in shape):
            raise ValueError(f"{model.name}: each input needs a per-sample shape of {len(own)} positive ints "
                             f"(the model declares {own}); got {shape}. Pass input_shape=(H, W, C) when the "
                             f"model was built with None dimensions")
        if any(d is not None and d != g for d, g in zip(own, shape)):
            raise ValueError(f"{model.name}: input shape {shape} does not match the model's {own}")
    return [list(shape) for shape in given]


def _status_mb(field: str) -> float | None:
    """A memory line of /proc/self/status (VmRSS, VmHWM) in MB; None where there is no /proc."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / 1e6  # the kernel writes kB (KiB)
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0, /proc/PID/clear_refs "5")."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return _status_mb("VmHWM") is not None
    except OSError:
        return False


def _max_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6  # macOS: bytes, Linux: KiB


def _measure(path: str, batch_size: int, shapes: list[list[int]] | None, training: bool) -> dict:
    """Runs in the fresh process: load, warm up at batch 1, baseline, one pass at batch B, peak.
    shapes: per-sample input shapes; None for the model's own."""
    import gc

    import keras
    import numpy as np

    model = load_keras(path)
    shapes = _input_shapes(model, None) if shapes is None else shapes
    rng = np.random.default_rng(0)

    def batch(size):
        inputs = [rng.uniform(0, 1, (size, *shape)).astype("float32") for shape in shapes]
        return inputs[0] if len(inputs) == 1 else inputs

    if training:
        model.compile(keras.optimizers.SGD(1e-3), "mse")

        def step(size):
            # one random target per output, in the outputs' own structure (a backbone returns a dict)
            targets = keras.tree.map_structure(
                lambda output: rng.normal(size=(size, *output.shape[1:])).astype("float32"), model.output)
            model.train_on_batch(batch(size), targets)
    else:
        def step(size):
            model.predict_on_batch(batch(size))

    step(1)
    gc.collect()
    # Where the kernel lets us, the peak mark restarts from the current RSS, so a transient peak of the
    # start-up (imports, loading, the first compilation) cannot hide the pass; else ru_maxrss, which
    # never goes down, and the baseline is the peak so far.
    if _reset_peak():
        baseline, method = _status_mb("VmRSS"), "VmHWM"
    else:
        baseline, method = _max_rss_mb(), "ru_maxrss"
    step(batch_size)
    peak = _status_mb("VmHWM") if method == "VmHWM" else _max_rss_mb()
    return {"baseline_mb": baseline, "peak_mb": peak, "method": method}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kerasgp.analysis.memory",
                                     description="Peak RSS of one pass of a saved Keras model (see peak_memory).")
    parser.add_argument("path", help="a .keras file")
    parser.add_argument("--batch", type=int, required=True, help="batch size of the measured pass")
    parser.add_argument("--input-shapes", default=None,
                        help="JSON list of per-sample input shapes, e.g. [[64, 64, 3]] (default: the model's)")
    parser.add_argument("--training", action="store_true", help="one train_on_batch step instead of a forward pass")
    args = parser.parse_args(argv)
    if args.batch < 1:
        parser.error(f"--batch must be >= 1, got {args.batch}")
    shapes = json.loads(args.input_shapes) if args.input_shapes else None
    print(_MARKER + json.dumps(_measure(args.path, args.batch, shapes, args.training)), flush=True)


if __name__ == "__main__":
    main()
