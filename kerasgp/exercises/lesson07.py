"""Lesson 07's exercises: ShuffleNetV2's channel shuffle and split by hand."""
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
