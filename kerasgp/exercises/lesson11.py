"""Lesson 11's exercises: the presence target that BCE and QFL supervise."""
from __future__ import annotations

import numpy as np

from ..data.targets import target_weights
from .core import Wrong, call, exercise


def presence_reference(keypoints, visibility, input_size) -> np.ndarray:
    """(N, K) 1.0 where a joint is labelled and its centre lies on a pixel of the crop (0 .. W - 1, 0 .. H - 1):
    the training target's weight (`targets.target_weights`) as floats."""
    return target_weights(keypoints, visibility, input_size).astype(np.float32)


@exercise("11.presence")
def presence(answer) -> str:
    """answer(keypoints (N, K, 2) crop pixels, visibility (N, K), input_size (W, H)) -> (N, K) 0/1 targets."""
    size = (128, 96)
    keypoints = np.array([[[10.0, 10.0], [-0.5, 40.0], [127.0, 95.0], [127.5, 50.0], [60.0, 96.0], [64.0, 48.0]],
                          [[0.0, 0.0], [130.0, 20.0], [50.0, -3.0], [20.0, 95.4], [70.0, 30.0], [100.0, 90.0]]])
    visibility = np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 2]], dtype=np.float32)
    want = presence_reference(keypoints, visibility, size)
    got = np.asarray(call(answer, keypoints.copy(), visibility.copy(), size), dtype=np.float64)
    if got.shape != want.shape:
        raise Wrong(f"one target per joint, shape {want.shape}; got {got.shape}")
    if np.array_equal(got, want):
        return "right: 1 where the joint is labelled and on the crop's pixels (0 .. W - 1, 0 .. H - 1), else 0"
    person, joint = (int(v) for v in np.argwhere(got != want)[0])
    x, y = keypoints[person, joint]
    if np.array_equal(got, (visibility > 0).astype(float)):
        why = " A labelled joint that the crop cut away is not present in the crop: check x and y too."
    elif np.array_equal(got, presence_reference(keypoints, np.ones_like(visibility), size)):
        why = " An unlabelled joint (visibility 0) has no position to be present at."
    elif not (0 <= x <= size[0] - 1 and 0 <= y <= size[1] - 1) and got[person, joint] == 1:
        why = (f" Pixel centres run from 0 to W - 1 = {size[0] - 1} and H - 1 = {size[1] - 1}: a joint beyond them "
               "is outside the crop.")
    else:
        why = ""
    raise Wrong(f"person {person}, joint {joint} at ({x:g}, {y:g}), visibility {visibility[person, joint]:g}: "
                f"target {want[person, joint]:g}; got {got[person, joint]:g}.{why}")
