"""How the guideline networks are timed: Keras' compiled predict function or the converted `.tflite` with
one thread, the settings of a table column taking turns in interleaved rounds."""
from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from ...deploy import convert
from ...deploy.bench import measure
from ..timing import keras_latency

REPRESENTATIVE_SAMPLES = 8


def _keras_timer(model):
    """A function (runs, warmup) -> timing dict for Keras' compiled predict function on `model`."""
    backend = keras.backend.backend()
    # The backend's default intra-op threads: every core (TensorFlow, XLA on CPU and torch alike).
    info = {"threads": os.cpu_count(), "xnnpack": None,
            "runtime_package": f"keras {keras.__version__} ({backend} {_package_version(backend)}, default threads)"}
    return lambda runs, warmup: {**keras_latency(model, runs=runs, warmup=warmup), **info}


def _tflite_timer(model, mode: str, folder: Path, seed: int):
    """Convert `model` once (`kerasgp.deploy.convert`); a function (runs, warmup) -> timing dict that times
    the `.tflite` with one thread (`kerasgp.deploy.bench.measure`)."""
    representative = None
    if mode == "int8":
        # Synthetic networks have no data: calibrate on seeded random-normal feature maps.
        shape = tuple(model.input_shape[1:])
        representative = np.random.default_rng(seed).normal(size=(REPRESENTATIVE_SAMPLES, *shape)).astype("float32")
    path = folder / f"{model.name}_{mode}.tflite"
    convert(model, mode=mode, representative=representative, out=path)

    def timer(runs, warmup):
        result = measure(str(path), threads=1, runs=runs, warmup=warmup)
        return {"median_ms": result["median_ms"], "p90_ms": result["p90_ms"], "threads": 1,
                "runtime_package": result["runtime"], "xnnpack": result["xnnpack"], "device": result["cpu"],
                "arch": result["arch"]}
    return timer


def _interleaved(timers: dict, runs: int, warmup: int, rounds: int) -> dict:
    """Time every timer in `rounds` rounds of runs/rounds runs each, the settings taking turns (the order
    reversed every other round), so a load that drifts over the minutes of a run (other processes on a
    shared machine) shifts all settings of a table alike instead of skewing their ratios. Returns, per
    key, the last round's dict with median_ms and p90_ms replaced by the medians of the rounds' figures."""
    rounds = max(1, min(rounds, runs))
    per_round = max(1, runs // rounds)
    results = {key: [] for key in timers}
    order = list(timers)
    for r in range(rounds):
        for key in (order if r % 2 == 0 else order[::-1]):
            # A full warm-up the first time; later rounds re-create an interpreter, which needs one call.
            results[key].append(timers[key](per_round, warmup if r == 0 else 1))
    return {key: {**parts[-1], "median_ms": float(np.median([p["median_ms"] for p in parts])),
                  "p90_ms": float(np.median([p["p90_ms"] for p in parts])), "runs": per_round * rounds}
            for key, parts in results.items()}


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    for candidate in (name, f"{name}-cpu", f"{name}_cpu"):
        try:
            return version(candidate)
        except PackageNotFoundError:
            continue
    return "unknown"
