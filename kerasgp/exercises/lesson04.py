"""Lesson 04's exercises: a CSP stage's split and fusion by hand."""
from __future__ import annotations

import numpy as np

from .core import Wrong, call, exercise


def csp_fusion_last_reference(x, part_ratio, block, transition):
    """Slice split (cross: the first C - round(part_ratio C) channels, half up), block and transition on the
    block part, then concat [block path, cross] (darknet's route order, as `csp_stage`)."""
    channels = x.shape[-1]
    block_width = int(part_ratio * channels + 0.5)
    cross, part = x[..., :channels - block_width], x[..., channels - block_width:]
    return np.concatenate([transition(block(part)), cross], axis=-1)


@exercise("04.csp_fusion_last")
def csp_fusion_last(answer) -> str:
    """answer(x, part_ratio, block, transition) -> the output of a fusion-last CSP stage (Fig. 3 (d))."""
    def block(part):  # stands in for the computational block: keeps the width, marks its channels
        return 100.0 + part

    def transition(y):  # stands in for the 1x1 transition: reverses the channel order, so its place shows
        return y[..., ::-1] * 2.0

    for channels, part_ratio in ((8, 0.5), (5, 0.4), (6, 0.5)):
        x = np.broadcast_to(np.arange(channels, dtype=np.float64), (1, 2, 2, channels)).copy()
        want = csp_fusion_last_reference(x, part_ratio, block, transition)
        got = np.asarray(call(answer, x.copy(), part_ratio, block, transition))
        case = f"{channels} channels, part_ratio {part_ratio}"
        if got.shape != want.shape:
            raise Wrong(f"{case}: the stage's output has {want.shape[-1]} channels (block path + cross part); got "
                        f"shape {got.shape}")
        if np.allclose(got, want):
            continue
        block_width = int(part_ratio * channels + 0.5)
        cross_width = channels - block_width
        order = got[0, 0, 0].tolist()
        if np.allclose(got[..., :cross_width], x[..., :cross_width]):
            why = " The block path comes first in the concatenation, then the cross part ([block, cross])."
        elif np.allclose(got, transition(np.concatenate([block(x[..., cross_width:]), x[..., :cross_width]], -1))):
            why = " That is fusion first: the transition ran after the concatenation, on the cross part too."
        elif np.allclose(got[..., -cross_width:], x[..., block_width:]):
            why = (f" The cross part is the first C - round(part_ratio × C) = {cross_width} channels, the block "
                   f"part the rest.")
        else:
            why = ""
        raise Wrong(f"{case}: the output's channels should be {np.round(want[0, 0, 0], 1).tolist()} (the input's "
                    f"channel c holds c); got {np.round(order, 1).tolist()}.{why}")
    return "right: cross = the first channels, block + transition on the rest, then concat [block path, cross]"
