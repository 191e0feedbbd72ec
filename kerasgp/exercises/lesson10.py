"""Lesson 10's exercises: SimCC's soft-argmax decoding by hand."""
from __future__ import annotations

import numpy as np

from .core import Wrong, call, exercise


def simcc_soft_argmax_reference(logits, split_ratio: float) -> np.ndarray:
    """(J, bins) SimCC logits -> (J,) input pixels: the expected bin under softmax, over k bins per pixel."""
    logits = np.asarray(logits, dtype=np.float64)
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return (p * np.arange(logits.shape[-1])).sum(axis=-1) / split_ratio


@exercise("10.simcc_soft_argmax")
def simcc_soft_argmax(answer) -> str:
    """answer(logits (J, bins), split_ratio) -> (J,) coordinates in input pixels."""
    rng = np.random.default_rng(10)
    bins = np.arange(256)
    cases = [("smooth logits", -((bins - rng.uniform(40, 200, size=(3, 1))) ** 2) / 200.0, 2.0),
             ("a split ratio of 3", -((bins[:192] - rng.uniform(20, 170, size=(2, 1))) ** 2) / 50.0, 3.0),
             ("large logits (a confident head)", 800.0 - 0.5 * np.abs(bins - rng.uniform(30, 220, size=(2, 1))), 2.0)]
    for label, logits, split_ratio in cases:
        want = simcc_soft_argmax_reference(logits, split_ratio)
        got = np.asarray(call(answer, logits.copy(), split_ratio), dtype=np.float64)
        if got.shape != want.shape:
            raise Wrong(f"{label}: one coordinate per joint, shape {want.shape}; got {got.shape}. The softmax and "
                        f"the expectation run over the bins, the last axis")
        if np.allclose(got, want, atol=1e-3):
            continue
        if not np.isfinite(got).all():
            why = (" exp() of large logits overflows to inf, and inf / inf is nan: subtract each row's maximum "
                   "before exp() (the softmax does not change).")
        elif np.allclose(got, want * split_ratio, atol=1e-3):
            why = f" That is in bins; there are {split_ratio:g} bins per input pixel, so divide by the split ratio."
        elif np.allclose(got, np.argmax(logits, axis=-1) / split_ratio, atol=1e-3) and label != cases[2][0]:
            why = " That is argmax: soft-argmax is the expectation of the bin position under the softmax."
        else:
            why = ""
        raise Wrong(f"{label}: joint 0 should decode to {want[0]:.3f} px; got {got.flat[0]:.3f}.{why}")
    return "right: softmax over the bins (its maximum subtracted first), the expected bin, divided by the split ratio"
