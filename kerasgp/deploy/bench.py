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
           "mean_ms", "min_ms", "input_shape", "input_dtype", "model_bytes", "cpu", "cores", "arch", "os", "python",
           "rounds", "spread_pct", "load1", "busy")
ROUND_COLUMNS = ("rounds", "spread_pct", "load1", "busy")  # added later: older logs are rewritten with them
# A machine is "busy" when, in more than this share of the samples taken between timed blocks, another task
# was runnable beside this one: on a 2-core machine one such task takes a core from the model.
BUSY_SHARE = 0.25


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
    """Time `runs` invocations of `model_path` on random inputs after `warmup` untimed ones: one model, one
    round of `measure_rounds` (inputs set once before; only `invoke()` timed, wall-clock per invocation).
    Returns a row of COLUMNS (tag empty). xnnpack=False measures without the default delegate."""
    if runs < 1 or warmup < 0 or threads < 1:
        raise ValueError(f"need runs >= 1, warmup >= 0 and threads >= 1; got runs={runs}, warmup={warmup}, "
                         f"threads={threads}")
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .tflite file")
    row = measure_rounds([path], threads, rounds=1, runs=runs, warmup=warmup, xnnpack=xnnpack, seed=seed)[0]
    return {**row, "model": str(model_path)}


def other_runnable_tasks() -> int | None:
    """Tasks ready to run on this machine now, other than this one (Linux's /proc/stat procs_running), or
    None where that cannot be read."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("procs_running"):
                    return max(0, int(line.split()[1]) - 1)
    except (OSError, ValueError):
        pass
    return None


def load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def interleaved_rounds(calls: dict, rounds: int, runs: int, before=None) -> dict:
    """The one timer behind the workbook's latency figures (the bench, the studies, Keras latency, the guideline
    networks, QuadraNet's blocks): each of `calls` (name -> a function of no arguments, already warmed up) is
    called `runs` times per round, each call timed on its own (wall clock), in `rounds` rounds whose order is
    rotated every round, so that no call always follows the same one and a load that drifts over the minutes of
    a run weighs on all of them alike. before(name), if given, runs before each block of calls, untimed (the
    bench samples the machine's other tasks there). Returns name -> seconds, an array (rounds, runs)."""
    if rounds < 1 or runs < 1 or not calls:
        raise ValueError(f"need rounds >= 1, runs >= 1 and a call to time; got rounds={rounds}, runs={runs}, "
                         f"{len(calls)} calls")
    names = list(calls)
    seconds = {name: np.empty((rounds, runs)) for name in names}
    for r in range(rounds):
        for k in range(len(names)):
            name = names[(k + r) % len(names)]
            if before is not None:
                before(name)
            call, row = calls[name], seconds[name][r]
            for j in range(runs):
                start = time.perf_counter()
                call()
                row[j] = time.perf_counter() - start
    return seconds


def measure_rounds(models, threads: int = 1, rounds: int = 7, runs: int = 15, warmup: int = 10,
                   xnnpack: bool = True, seed: int = 0) -> list[dict]:
    """Time several `.tflite` models against each other in one process, in interleaved rounds.

    Every model gets its interpreter and `warmup` untimed invocations first; then each round times `runs`
    invocations of every model in turn (the order rotated each round, so no model always follows the same
    one). A model's `median_ms` is the median of its round medians and `spread_pct` the range of those
    round medians as a percentage of it: what a second run could plausibly give. Slow drifts of the machine
    (clock, temperature, a neighbour) fall on all models alike, so ratios between them hold better than any
    single figure. Between timed blocks the other runnable tasks are sampled: `busy` is True when another
    task was ready in more than BUSY_SHARE of the samples (the figures are then suspect: the bench and the
    studies say so); `load1` is the 1-minute load average at the start. Returns one row of COLUMNS per model."""
    if rounds < 1 or runs < 1 or warmup < 0 or threads < 1:
        raise ValueError(f"need rounds >= 1, runs >= 1, warmup >= 0 and threads >= 1; got rounds={rounds}, "
                         f"runs={runs}, warmup={warmup}, threads={threads}")
    paths = [Path(m) for m in models]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise FileNotFoundError(f"no such .tflite file(s): {missing or 'none given'}")
    load1 = load_average()
    module, runtime = load_runtime()
    rng = np.random.default_rng(seed)
    interpreters = []
    for path in paths:
        interpreter = make_interpreter(path, threads, xnnpack, module)
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], random_input(detail, rng))
        for _ in range(warmup):
            interpreter.invoke()
        interpreters.append(interpreter)
    others = []

    def sample(_):
        time.sleep(0.002)  # let this process's own pool threads settle before sampling the others
        others.append(other_runnable_tasks())

    seconds = interleaved_rounds({i: interpreter.invoke for i, interpreter in enumerate(interpreters)}, rounds, runs,
                                 before=sample)
    times = np.stack([seconds[i] for i in range(len(paths))]) * 1000.0
    seen = [o for o in others if o is not None]
    busy = bool(seen) and sum(o > 0 for o in seen) / len(seen) > BUSY_SHARE
    date = datetime.datetime.now().isoformat(timespec="seconds")
    rows = []
    for i, (path, interpreter) in enumerate(zip(paths, interpreters)):
        per_round = np.median(times[i], axis=1)
        median = float(np.median(per_round))
        inputs = interpreter.get_input_details()
        rows.append({
            "date": date, "model": str(path), "tag": "", "runtime": runtime, "xnnpack": delegated(interpreter),
            "threads": threads, "runs": rounds * runs, "warmup": warmup, "median_ms": round(median, 3),
            "p90_ms": round(float(np.percentile(times[i], 90)), 3), "mean_ms": round(float(times[i].mean()), 3),
            "min_ms": round(float(times[i].min()), 3),
            "input_shape": ";".join("x".join(str(int(d)) for d in x["shape"]) for x in inputs),
            "input_dtype": ";".join(np.dtype(x["dtype"]).name for x in inputs), "model_bytes": path.stat().st_size,
            "cpu": cpu_model(), "cores": os.cpu_count(), "arch": platform.machine(),
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "rounds": rounds, "spread_pct": round(float(np.ptp(per_round) / median * 100), 1), "load1": load1,
            "busy": busy,
        })
    return rows


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
        if tuple(header) == COLUMNS[:-len(ROUND_COLUMNS)]:
            _add_columns(path)  # a log from before the newer columns: rewritten with them, empty
        elif tuple(header) != COLUMNS:
            raise ValueError(f"{path} has the columns {header}, expected {list(COLUMNS)}; write to a new file")
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
        if new:
            writer.writeheader()
        writer.writerow(row)
    return path


def _add_columns(path: Path) -> None:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def format_row(row: dict) -> str:
    """The two lines `python -m kerasgp bench` prints."""
    return (f"{row['model']}: median {row['median_ms']:.2f} ms, p90 {row['p90_ms']:.2f} ms "
            f"({row['runs']} runs after {row['warmup']} warm-up, {row['threads']} thread(s), input "
            f"{row['input_shape']} {row['input_dtype']})\n"
            + (f"{row['rounds']} rounds: round medians span {row['spread_pct']}% of the median; load "
               f"average {row['load1']}{', BUSY: other tasks were running' if row['busy'] else ''}\n"
               if row.get("rounds") else "") +
            f"runtime {row['runtime']}, XNNPACK {'yes' if row['xnnpack'] else 'no'}; {row['cpu']} ({row['arch']}, "
            f"{row['os']})")
