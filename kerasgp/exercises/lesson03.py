"""Lesson 03's exercises: PRN's masked residual, backwards, and darknet's shortcut with a stride."""
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


def darknet_shortcut_reference(block_output, identity) -> np.ndarray:
    """Darknet's `shortcut` (src/blas.c, shortcut_cpu) with its weights at 1, as the package's asymmetric
    residual unit builds it (a 1x1 max pool of stride s, then `AsymmetricResidual`): the identity, s times
    larger in space, is read at every s-th pixel from (0, 0) and added to the block output over the first
    min(C_block, C_identity) channels; the output keeps the block output's shape."""
    stride = identity.shape[1] // block_output.shape[1]
    sampled = identity[:, ::stride, ::stride, :]
    shared = min(block_output.shape[-1], identity.shape[-1])
    out = np.array(block_output, dtype=np.float64)
    out[..., :shared] += sampled[..., :shared]
    return out


def _shortcut_cases():
    rng = np.random.default_rng(4)
    for size, stride, block_channels, identity_channels in ((4, 1, 6, 4), (4, 2, 8, 4), (3, 2, 4, 6), (2, 3, 5, 5),
                                                             (4, 2, 6, 6)):
        block_output = rng.integers(-9, 10, size=(2, size, size, block_channels)).astype(np.float32)
        identity = rng.integers(-9, 10, size=(2, size * stride, size * stride, identity_channels)).astype(np.float32)
        yield block_output, identity, stride


@exercise("03.darknet_shortcut")
def darknet_shortcut(answer) -> str:
    """answer(block_output (B, H, W, Cb), identity (B, sH, sW, Ci)) -> (B, H, W, Cb): darknet's shortcut."""
    for block_output, identity, stride in _shortcut_cases():
        want = darknet_shortcut_reference(block_output, identity)
        got = np.asarray(call(answer, block_output.copy(), identity.copy()), dtype=np.float64)
        cb, ci = block_output.shape[-1], identity.shape[-1]
        case = (f"block output {block_output.shape[1:]} + identity {identity.shape[1:]} (stride {stride}, "
                f"{cb} + {ci} channels)")
        if got.shape != want.shape:
            why = (" The output keeps the block's channels: the identity's extra channels are dropped, not passed on."
                   if got.shape[-1] == ci != cb else "")
            raise Wrong(f"{case}: the output has the block output's shape {want.shape}; got {got.shape}.{why}")
        if np.allclose(got, want, atol=1e-5):
            continue
        shared = min(cb, ci)
        cells = identity.reshape(identity.shape[0], block_output.shape[1], stride, block_output.shape[2], stride, ci)
        cropped = identity[:, :block_output.shape[1], :block_output.shape[2], :]
        as_if = {}
        for label, sample in (("averaged", cells.mean(axis=(2, 4))), ("maximum", cells.max(axis=(2, 4))),
                              ("cropped", cropped)):
            out = block_output.astype(np.float64)
            out[..., :shared] += sample[..., :shared]
            as_if[label] = out
        if stride > 1 and np.allclose(got, as_if["averaged"], atol=1e-5):
            why = (" That averages each s × s cell of the identity. Darknet samples it: one pixel per cell, the "
                   "top-left one (rows and columns 0, s, 2s, ...), as a 1×1 max pool of stride s does.")
        elif stride > 1 and np.allclose(got, as_if["maximum"], atol=1e-5):
            why = (" That is the maximum of each s × s cell, a pool of size s. A 1×1 pool of stride s looks at one "
                   "pixel per step: it reads pixel (s·i, s·j), the top-left one of each cell.")
        elif stride > 1 and np.allclose(got, as_if["cropped"], atol=1e-5):
            why = (" That crops the identity's top-left corner. Darknet samples the whole map: every s-th row and "
                   "column, from 0.")
        elif not np.allclose(got[..., shared:], block_output[..., shared:]):
            why = " The block output's channels past the shared ones pass unchanged."
        else:
            why = " Add the identity's first min(C_block, C_identity) channels to the block output's first ones."
        b, i, j = np.argwhere(~np.isclose(got, want, atol=1e-5).all(axis=-1))[0]
        raise Wrong(f"{case}: output pixel ({i}, {j}) of image {b} should be {want[b, i, j].astype(int).tolist()}; "
                    f"got {np.round(got[b, i, j], 3).tolist()}.{why}")
    return ("right: sample the identity at every s-th pixel from (0, 0), add it over the first min(C_block, "
            "C_identity) channels, keep the block output's shape")
