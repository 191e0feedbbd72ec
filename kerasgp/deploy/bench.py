"""Latency of a `.tflite` model on this machine's CPU: `python -m kerasgp bench MODEL.tflite`.

This is the path that runs on a Raspberry Pi with nothing but numpy and an interpreter, so it imports
numpy, the standard library and the first interpreter it finds, in this order: `ai_edge_litert`
(LiteRT, the successor of tflite-runtime, with XNNPACK int8 kernels on x86 and ARM), `tflite_runtime`,
then `tensorflow.lite`. Never Keras: it must run on a board that has only numpy and an interpreter. (The CPU name comes from kerasgp.machine,
which imports only the standard library.)

XNNPACK detection: LiteRT applies its default delegate (XNNPACK, on a CPU build) inside
`allocate_tensors()`, and the delegated part of the graph then appears in the interpreter's node list as
a node whose op name is "DELEGATE". An interpreter created with `BUILTIN_WITHOUT_DEFAULT_DELEGATES` has no
such node, so `xnnpack` is True exactly when that node is there: what the runtime did with this model,
not what it was built to do (tflite-runtime 2.14 on x86 does not delegate an int8 model, for instance).
"""
from __future__ import annotations

import contextlib
import csv
import datetime
import importlib
import importlib.metadata
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ..machine import cpu_model

# (module that holds `Interpreter`, the package that ships it), in the order they are tried.
RUNTIMES = (("ai_edge_litert.interpreter", "ai-edge-litert"), ("tflite_runtime.interpreter", "tflite-runtime"),
            ("tensorflow.lite", "tensorflow"))
# The CSV's columns, in order; a row may leave some empty, never add others (a stable file to plot).
COLUMNS = ("date", "model", "tag", "runtime", "xnnpack", "threads", "runs", "warmup", "median_ms", "p90_ms",
           "mean_ms", "min_ms", "input_shape", "input_dtype", "model_bytes", "cpu", "cores", "arch", "os", "python")


def load_runtime(prefer: str | None = None):
    """(interpreter module, "package version") of the first runtime that imports; `prefer` = one of the
    module names of RUNTIMES, to pick a specific one (an ImportError if it is missing)."""
    candidates = [r for r in RUNTIMES if prefer in (None, r[0])]
    if not candidates:
        raise ValueError(f"unknown runtime {prefer!r}; expected one of {[r[0] for r in RUNTIMES]}")
    for module_name, package in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:  # tensorflow-cpu and friends ship the module
            version = getattr(module, "__version__", None) or _tensorflow_version()
        return module, f"{package} {version}"
    raise ImportError("no TFLite interpreter found: pip install ai-edge-litert (or tflite-runtime, or tensorflow)")


def _tensorflow_version() -> str:
    for package in ("tensorflow-cpu", "tensorflow", "tf-nightly"):
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    return "unknown"


def _op_resolver_types(module):
    # LiteRT and tflite-runtime keep OpResolverType next to Interpreter, tf.lite under experimental.
    return getattr(module, "OpResolverType", None) or module.experimental.OpResolverType


@contextlib.contextmanager
def native_output_to(target, fds=(2,)):
    """Point file descriptors `fds` at the open file `target` for the block. C++ runtimes print straight
    to the descriptors, past Python's sys.stdout/sys.stderr, so only this catches them."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in fds}
    try:
        for fd in saved:
            os.dup2(target.fileno(), fd)
        yield target
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def make_interpreter(model, threads: int = 1, xnnpack: bool = True, runtime=None):
    """An interpreter for `model` (a path or the flatbuffer's bytes), its tensors allocated (which is
    when the default delegate is applied). xnnpack=False builds it without the default delegate (the
    runtime's reference kernels)."""
    module = runtime or load_runtime()[0]
    resolver = _op_resolver_types(module)
    source = {"model_content": bytes(model)} if isinstance(model, (bytes, bytearray)) else {"model_path": str(model)}
    # The runtime logs "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." once per process, to fd 2:
    # a notebook would store it in whichever cell came first. XNNPACK has its own column, so drop the line.
    with open(os.devnull, "w") as devnull, native_output_to(devnull):
        interpreter = module.Interpreter(**source, num_threads=threads,
                                         experimental_op_resolver_type=resolver.AUTO if xnnpack
                                         else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    return interpreter


def delegated(interpreter) -> bool:
    """Whether a delegate took part of the graph (call after allocate_tensors; see the module docstring)."""
    return any(op["op_name"] == "DELEGATE" for op in interpreter._get_ops_details())


def random_input(detail: dict, rng) -> np.ndarray:
    """A random tensor for an input: uniform [0, 1) for float (the image range the pose models take),
    the whole range for integer types."""
    shape, dtype = tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.floating):
        return rng.uniform(0, 1, shape).astype(dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -128), min(info.max, 255), shape, endpoint=True).astype(dtype)


def measure(model_path, threads: int = 1, runs: int = 100, warmup: int = 10, xnnpack: bool = True,
            seed: int = 0) -> dict:
    """Time `runs` invocations of `model_path` on random inputs after `warmup` untimed ones.

    Only `invoke()` is timed (inputs are set once before); the figures are wall-clock per invocation.
    Returns a row of COLUMNS (tag empty). xnnpack=False measures without the default delegate.
    """
    if runs < 1 or warmup < 0 or threads < 1:
        raise ValueError(f"need runs >= 1, warmup >= 0 and threads >= 1; got runs={runs}, warmup={warmup}, "
                         f"threads={threads}")
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .tflite file")
    module, runtime = load_runtime()
    interpreter = make_interpreter(path, threads, xnnpack, module)
    rng = np.random.default_rng(seed)
    inputs = interpreter.get_input_details()
    for detail in inputs:
        interpreter.set_tensor(detail["index"], random_input(detail, rng))
    for _ in range(warmup):
        interpreter.invoke()
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        interpreter.invoke()
        times[i] = time.perf_counter() - start
    times *= 1000.0
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "model": str(model_path), "tag": "",
        "runtime": runtime, "xnnpack": delegated(interpreter), "threads": threads, "runs": runs, "warmup": warmup,
        "median_ms": round(float(np.median(times)), 3), "p90_ms": round(float(np.percentile(times, 90)), 3),
        "mean_ms": round(float(times.mean()), 3), "min_ms": round(float(times.min()), 3),
        "input_shape": ";".join("x".join(str(int(d)) for d in x["shape"]) for x in inputs),
        "input_dtype": ";".join(np.dtype(x["dtype"]).name for x in inputs), "model_bytes": path.stat().st_size,
        "cpu": cpu_model(), "cores": os.cpu_count(), "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
    }


def append_csv(row: dict, path="results/latency.csv", tag: str | None = None) -> Path:
    """Append `row` to the CSV at `path` (its folders made if missing), writing the header when the file
    is new. Columns are COLUMNS; a file with another header is an error rather than a misaligned table."""
    unknown = sorted(set(row) - set(COLUMNS))
    if unknown:
        raise ValueError(f"latency rows have the columns {list(COLUMNS)}; got unknown keys {unknown}")
    row = {**row, "tag": tag} if tag is not None else row
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
        if tuple(header) != COLUMNS:
            raise ValueError(f"{path} has the columns {header}, expected {list(COLUMNS)}; write to a new file")
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
        if new:
            writer.writeheader()
        writer.writerow(row)
    return path


def format_row(row: dict) -> str:
    """The two lines `python -m kerasgp bench` prints."""
    return (f"{row['model']}: median {row['median_ms']:.2f} ms, p90 {row['p90_ms']:.2f} ms "
            f"({row['runs']} runs after {row['warmup']} warm-up, {row['threads']} thread(s), input "
            f"{row['input_shape']} {row['input_dtype']})\n"
            f"runtime {row['runtime']}, XNNPACK {'yes' if row['xnnpack'] else 'no'}; {row['cpu']} ({row['arch']}, "
            f"{row['os']})")
