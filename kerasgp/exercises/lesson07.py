"""Lesson 07's exercises: ShuffleNetV2's channel shuffle by hand, and the stride-1 unit's data path in both
block orders."""
from __future__ import annotations

import numpy as np

from .core import Wrong, call, exercise


def _shuffled(channels: int, groups: int) -> list[int]:
    # ShuffleNet's shuffle: channels as (groups, C / groups), transposed, flattened.
    return np.arange(channels).reshape(groups, channels // groups).T.ravel().tolist()


@exercise("07.channel_shuffle")
def channel_shuffle(answer) -> str:
    """answer(x, groups) -> x with its channels (last axis, NHWC) shuffled across `groups` groups."""
    for channels, groups in ((8, 2), (12, 3), (12, 4), (6, 1)):
        # channel c of pixel p holds 1000 p + c: the channel order shows in the values, and so does a pixel mix-up
        x = (np.arange(channels) + 1000 * np.arange(2 * 3 * 3)[:, None]).reshape(2, 3, 3, channels).astype(np.float32)
        got = np.asarray(call(answer, x, groups))
        if got.shape != x.shape:
            raise Wrong(f"the shuffle keeps the shape {x.shape}; got {got.shape}")
        want = _shuffled(channels, groups)
        order = (got[0, 0, 0] % 1000).astype(int).tolist()
        if order != want:
            if order == list(range(channels)):
                why = " That is the input order: the reshape alone moves nothing, the transpose does."
            elif order == np.arange(channels).reshape(channels // groups, groups).T.ravel().tolist():
                why = (" That is the inverse shuffle: reshape the channels to (groups, C / groups), then swap "
                       "those two axes.")
            else:
                why = ""
            raise Wrong(f"channels 0..{channels - 1} in {groups} groups should come out as {want}; got {order}.{why}")
        if not np.array_equal(got, x[..., want]):
            raise Wrong("the channel order is right at the first pixel but values moved between pixels: only the "
                        "channel axis may move (reshape to (..., groups, C / groups), not (groups, ...))")
    return "right: reshape to (..., groups, C / groups), swap the last two axes, reshape back"


def shufflenet_unit_reference(x, branch, block_order: str):
    """The data path of a stride-1 ShuffleNetV2 unit around `branch` (1x1 -> dw 3x3 -> 1x1 in the network), as
    `shuffle_unit` wires it. torchvision: kept = the first C/2 channels, branch on the last C/2, concat
    [kept, branch], ChannelShuffle(2). megvii: kept = the even channels, branch on the odd ones, concat
    [kept, branch], no shuffle after it."""
    channels = x.shape[-1]
    if block_order == "megvii":
        return np.concatenate([x[..., 0::2], branch(x[..., 1::2])], axis=-1)
    half = channels // 2
    y = np.concatenate([x[..., :half], branch(x[..., half:])], axis=-1)
    return y[..., _shuffled(channels, 2)]


@exercise("07.shufflenet_unit")
def shufflenet_unit(answer) -> str:
    """answer(x, branch, block_order) -> the stride-1 unit's output, `branch` standing for its conv branch."""
    def branch(h):  # stands in for 1x1 -> dw 3x3 -> 1x1: keeps the width, adds 100, reverses the channel order
        return 100.0 + h[..., ::-1]

    def concat(*parts):
        return np.concatenate(parts, axis=-1)

    for channels, block_order in ((8, "torchvision"), (8, "megvii"), (12, "torchvision"), (12, "megvii"),
                                  (6, "torchvision")):
        # channel c of pixel p holds 1000 p + c: the channel order shows in the values, and so does a pixel mix-up
        x = (np.arange(channels) + 1000 * np.arange(2 * 3 * 3)[:, None]).reshape(2, 3, 3, channels).astype(np.float64)
        want = shufflenet_unit_reference(x, branch, block_order)
        got = np.asarray(call(answer, x.copy(), branch, block_order))
        case = f"{channels} channels, {block_order} order"
        if got.shape != x.shape:
            raise Wrong(f"{case}: a stride-1 unit keeps the shape {x.shape}; got {got.shape}")
        if np.allclose(got, want):
            continue
        half, shuffle = channels // 2, _shuffled(channels, 2)
        first, second, even, odd = x[..., :half], x[..., half:], x[..., 0::2], x[..., 1::2]
        if block_order == "torchvision":
            slips = [
                (concat(first, branch(second)), " The channel shuffle is missing: after the concatenation, "
                 "reshape the channels to (2, C/2), swap the two axes, flatten."),
                (concat(first, branch(second))[..., np.arange(channels).reshape(half, 2).T.ravel()],
                 " That is the inverse shuffle: reshape the channels to (2, C/2), not (C/2, 2), before swapping."),
                (concat(branch(second), first)[..., shuffle], " The kept half comes first in the concatenation, "
                 "then the branch's output ([kept, branch], as shuffle_unit concatenates)."),
                (concat(second, branch(first))[..., shuffle], " The branch runs on the second half (channels "
                 "C/2 to C - 1); the first half is kept."),
                (concat(branch(first), second)[..., shuffle], " The branch runs on the second half (channels "
                 "C/2 to C - 1); the first half is kept."),
                (shufflenet_unit_reference(x, branch, "megvii"), " That is megvii's order; torchvision's splits "
                 "into halves and shuffles after the concatenation."),
            ]
        else:
            slips = [
                (concat(even, branch(odd))[..., shuffle], " In megvii's order nothing is shuffled after the "
                 "concatenation: the even/odd split is the shuffle."),
                (concat(first, branch(second)), " Megvii's unit splits even/odd: kept = channels 0, 2, 4, ..., "
                 "the branch on channels 1, 3, 5, ..."),
                (shufflenet_unit_reference(x, branch, "torchvision"), " That is torchvision's order; megvii's "
                 "splits even/odd and has no shuffle after the concatenation."),
                (concat(odd, branch(even)), " The even channels are kept and the odd ones go through the branch."),
                (concat(branch(odd), even), " The kept channels come first in the concatenation, then the "
                 "branch's output ([kept, branch])."),
            ]
        why = next((words for slip, words in slips if np.allclose(got, slip)), "")
        order = np.round(got[0, 0, 0] % 1000).astype(int).tolist()
        want_order = np.round(want[0, 0, 0] % 1000).astype(int).tolist()
        if not why and order == want_order:
            why = (" The channel order is right at the first pixel but values moved between pixels: only the "
                   "channel axis may move.")
        raise Wrong(f"{case}: the output's channels should be {want_order} (input channel c holds c, the branch "
                    f"adds 100 and reverses its half's order); got {order}.{why}")
    return ("right: split, branch on one half, concat [kept, branch], then shuffle (torchvision) or the shuffle "
            "folded into an even/odd split (megvii)")
