"""Latency of a Keras model on this machine's CPU, batch 1: warm-up, then the median of timed calls.

The benchmarks report ratios between models timed in one run; a single number from here is
only comparable with numbers taken in the same process on the same machine.
"""
from __future__ import annotations

import functools

import numpy as np

from ..deploy.bench import interleaved_rounds


def keras_latency(model, runs: int = 30, warmup: int = 5, input_shape=None, seed: int = 0) -> dict:
    """Median and p90 ms of `model.predict_on_batch` on one random image.

    predict_on_batch runs the backend's compiled predict function (a tf.function on TensorFlow, a jitted
    function on JAX), so the figure is the model's cost, not Python's eager overhead. Threads: whatever
    the backend uses by default (all cores)."""
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0; got runs={runs}, warmup={warmup}")
    shape = tuple(input_shape or model.input_shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"{model.name}: the input shape {shape} has unknown dims; pass input_shape=(H, W, C)")
    image = np.random.default_rng(seed).uniform(0, 1, (1, *shape)).astype("float32")
    call = functools.partial(model.predict_on_batch, image)
    for _ in range(max(warmup, 1)):  # the first call traces/compiles
        call()
    times = interleaved_rounds({"model": call}, rounds=1, runs=runs)["model"][0] * 1000
    return {"median_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90)), "runs": runs}


def write_rows(rows, columns, out=None):
    """The rows of a timing run as a pandas DataFrame in `columns` order, also written to the CSV `out`
    (its folders made) when given."""
    from pathlib import Path

    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(columns))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
    return frame
