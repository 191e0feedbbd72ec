"""Lesson 04's exercises: a CSP stage's split and fusion by hand, and what the split saves."""
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


def csp_stage_macs_reference(h: int, w: int, c: int, units: int) -> tuple[int, int]:
    """MACs (multiply-accumulates of the convs, as `cost` counts them) of `units` ResNet basic units at c
    channels on an h x w map, and of the CSP stage around them (slice split in halves, the units on c/2
    channels, the block path's 1x1 transition c/2 -> c/2, the final 1x1 transition c -> c)."""
    half = c // 2
    plain = h * w * units * 2 * 9 * c * c
    csp = h * w * (units * 2 * 9 * half * half + half * half + c * c)
    return plain, csp


@exercise("04.csp_stage_macs")
def csp_stage_macs(answer) -> str:
    """answer(h, w, c, units) -> (MACs of the plain residual stage, MACs of its CSP stage)."""
    for h, w, c, units in ((32, 32, 64, 2), (8, 8, 128, 3), (7, 9, 32, 1), (16, 16, 48, 2)):
        plain, csp = want = csp_stage_macs_reference(h, w, c, units)
        got = call(answer, h, w, c, units)
        try:
            got_plain, got_csp = (int(v) for v in got)
        except (TypeError, ValueError):
            raise Wrong(f"return two numbers, (plain MACs, CSP MACs); got {got!r}") from None
        if (got_plain, got_csp) == want:
            continue
        case = f"h={h}, w={w}, c={c}, {units} unit(s)"
        half, pixels = c // 2, h * w
        block, transitions = pixels * units * 18 * half * half, pixels * (half * half + c * c)
        if got_plain != plain:
            if got_plain == 2 * plain:
                why = " A MAC is one multiply-add: count it once, not as two FLOPs."
            elif got_plain == plain // 2:
                why = " A basic unit has two 3×3 convs."
            else:
                why = " Each of the 2·units 3×3 convs costs 9·c·c MACs per output pixel."
            raise Wrong(f"{case}: the plain stage has {plain:,} MACs; got {got_plain!r}.{why}")
        if got_csp == 2 * csp:
            why = " A MAC is one multiply-add: count it once, not as two FLOPs."
        elif got_csp == block:
            why = (" That is the block alone: the CSP stage also pays its two 1×1 transitions, c/2 → c/2 on the "
                   "block path and c → c after the concatenation.")
        elif got_csp in (2 * block + transitions, 2 * block):
            why = (" The units' width follows the part: each 3×3 conv has c/2 inputs and c/2 outputs, "
                   "9·(c/2)² MACs per pixel, a quarter of 9·c², not a half.")
        elif got_csp == block + pixels * c * c:
            why = (" The CSP transition mode has a 1×1 transition on the block path too (c/2 → c/2), before the "
                   "concatenation; one transition after it alone is fusion first.")
        elif got_csp == block + pixels * half * half:
            why = " After the concatenation a second 1×1 transition maps the c channels back to c."
        else:
            why = (" Count the 3×3 convs of the units on c/2 channels and the two 1×1 transitions; the slices "
                   "cost nothing.")
        raise Wrong(f"{case}: the CSP stage has {csp:,} MACs; got {got_csp!r}.{why}")
    return ("right: plain 18·units·hw·c²; CSP 18·units·hw·(c/2)² + hw·((c/2)² + c²): the block costs a "
            "quarter, the transitions come on top")
