"""Lesson 03's exercises: PRN's masked residual, backwards."""
from __future__ import annotations

import numpy as np

from .core import Wrong, call, exercise


def shared_channels(channels: int, fraction: float) -> int:
    """The channels a masked residual's identity reaches: fraction x C, rounded half up (lesson 03)."""
    return int(fraction * channels + 0.5)


@exercise("03.masked_residual_gradient")
def masked_residual_gradient(answer) -> str:
    """answer(upstream, fraction) -> the gradient reaching the identity through y = block + mask * identity."""
    rng = np.random.default_rng(3)
    for channels, fraction in ((8, 0.5), (6, 0.25), (5, 1.0), (7, 0.0), (10, 0.35)):
        upstream = rng.normal(size=(2, 3, 3, channels)).astype(np.float32)
        shared = shared_channels(channels, fraction)
        want = upstream.copy()
        want[..., shared:] = 0.0
        got = np.asarray(call(answer, upstream, fraction))
        case = f"{channels} channels, fraction {fraction}"
        if got.shape != upstream.shape:
            raise Wrong(f"{case}: the identity's gradient has the identity's shape {upstream.shape}; got {got.shape}")
        if np.allclose(got, want, atol=1e-6):
            continue
        reached = [int(c) for c in np.flatnonzero(np.abs(got).reshape(-1, channels).max(axis=0) > 0)]
        if np.allclose(got, upstream) and shared < channels:
            why = " That is ResNet's add: every channel gets the gradient. The mask stops it on the others."
        elif reached and reached[0] > 0:
            why = " The identity feeds the first channels, 0 .. c - 1."
        elif len(reached) != shared:
            why = f" c = fraction x C rounded half up: {fraction} x {channels} -> {shared}."
        else:
            why = " On the channels it reaches, the gradient passes unchanged (the add's derivative is 1)."
        raise Wrong(f"{case}: the identity should get the upstream gradient on channels 0..{shared - 1} and zero "
                    f"on the rest; yours is non-zero on {reached}.{why}")
    return "right: the upstream gradient on the first c = round(fraction x C) channels, zero on the others"
