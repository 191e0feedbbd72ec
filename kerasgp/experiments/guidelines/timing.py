"""How the guideline networks are timed: Keras' compiled predict function or the converted `.tflite` with
one thread, the settings of a table column taking turns in interleaved rounds."""
from __future__ import annotations

import functools
import os
import platform
from pathlib import Path

import keras
import numpy as np

from ...deploy import convert
from ...deploy.bench import delegated, interleaved_rounds, load_runtime, make_interpreter, random_input
from ...machine import cpu_model

REPRESENTATIVE_SAMPLES = 8


def _keras_call(model, seed: int = 0):
    """(call, info): one batch-1 call of Keras' compiled predict function on `model` (a random image), and
    what the rows record about it."""
    backend = keras.backend.backend()
    image = np.random.default_rng(seed).uniform(0, 1, (1, *model.input_shape[1:])).astype("float32")
    # The backend's default intra-op threads: every core (TensorFlow, XLA on CPU and torch alike).
    info = {"threads": os.cpu_count(), "xnnpack": None, "device": None, "arch": None,
            "runtime_package": f"keras {keras.__version__} ({backend} {_package_version(backend)}, default threads)"}
    return functools.partial(model.predict_on_batch, image), info


def _tflite_call(model, mode: str, folder: Path, seed: int):
    """Convert `model` once (`kerasgp.deploy.convert`); (call, info): one invocation of the `.tflite` with one
    thread on a random input (the bench's interpreter, `kerasgp.deploy.bench.make_interpreter`)."""
    representative = None
    if mode == "int8":
        # Synthetic networks have no data: calibrate on seeded random-normal feature maps.
        shape = tuple(model.input_shape[1:])
        representative = np.random.default_rng(seed).normal(size=(REPRESENTATIVE_SAMPLES, *shape)).astype("float32")
    path = folder / f"{model.name}_{mode}.tflite"
    convert(model, mode=mode, representative=representative, out=path)
    module, runtime = load_runtime()
    interpreter = make_interpreter(path, 1, True, module)
    rng = np.random.default_rng(seed)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], random_input(detail, rng))
    info = {"threads": 1, "runtime_package": runtime, "xnnpack": delegated(interpreter), "device": cpu_model(),
            "arch": platform.machine()}
    return interpreter.invoke, info


def _interleaved(calls: dict, runs: int, warmup: int, rounds: int) -> dict:
    """Time every setting's call (label -> (call, info)) in `rounds` rounds of runs/rounds runs each, the
    settings taking turns (`kerasgp.deploy.bench.interleaved_rounds`), so a load that drifts over the minutes
    of a run (other processes on a shared machine) shifts all settings of a table alike instead of skewing
    their ratios. Returns, per label, its info with median_ms and p90_ms, the medians of the rounds' figures."""
    rounds = max(1, min(rounds, runs))
    per_round = max(1, runs // rounds)
    for call, _ in calls.values():
        for _ in range(max(warmup, 1)):  # the first call traces/compiles or prepares the interpreter
            call()
    seconds = interleaved_rounds({label: call for label, (call, _) in calls.items()}, rounds, per_round)
    return {label: {**info, **_round_medians(seconds[label] * 1000.0)} for label, (_, info) in calls.items()}


def _round_medians(ms) -> dict:
    """(rounds, runs) milliseconds -> the median over rounds of each round's median and p90, and the count."""
    return {"median_ms": float(np.median(np.median(ms, axis=1))),
            "p90_ms": float(np.median(np.percentile(ms, 90, axis=1))), "runs": int(ms.size)}


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    for candidate in (name, f"{name}-cpu", f"{name}_cpu"):
        try:
            return version(candidate)
        except PackageNotFoundError:
            continue
    return "unknown"
