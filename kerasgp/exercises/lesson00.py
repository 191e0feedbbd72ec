"""Lesson 00's exercises: the top-down crop's affine matrix by hand."""
from __future__ import annotations

import numpy as np

from .core import Wrong, call, exercise


def crop_matrix_reference(center, scale, output_size) -> np.ndarray:
    """(2, 3): image pixels -> crop pixels, the padded box (centre, (w, h)) onto an output of (W, H) pixels,
    the box centre onto the crop centre ((W - 1) / 2, (H - 1) / 2); no rotation, no flip."""
    (cx, cy), (sw, sh), (width, height) = center, scale, output_size
    sx, sy = width / sw, height / sh
    return np.array([[sx, 0.0, (width - 1) / 2 - sx * cx], [0.0, sy, (height - 1) / 2 - sy * cy]])


@exercise("00.crop_matrix")
def crop_matrix(answer) -> str:
    """answer(center (2,), scale (2,), output_size (W, H)) -> the (2, 3) image -> crop matrix."""
    for center, scale, size in (((320.0, 240.0), (200.0, 200.0), (128, 128)), ((57.5, 130.0), (90.0, 120.0), (96, 128)),
                                ((1000.0, 20.0), (640.0, 640.0), (256, 256))):
        want = crop_matrix_reference(center, scale, size)
        got = np.asarray(call(answer, np.array(center), np.array(scale), size), dtype=np.float64)
        case = f"centre {center}, scale {scale}, output {size}"
        if got.shape != (2, 3):
            raise Wrong(f"{case}: one 2 x 3 affine matrix; got shape {got.shape}")
        if np.allclose(got, want, atol=1e-6):
            continue
        if np.allclose(got[:, :2], want[:, :2]) and np.allclose(got[:, 2] - want[:, 2], 0.5):
            why = (" The crop's centre is ((W - 1) / 2, (H - 1) / 2): pixel centres run from 0 to W - 1, so the box's "
                   "corners land on -0.5 and W - 0.5.")
        elif np.allclose(np.diag(got[:, :2]), [scale[0] / size[0], scale[1] / size[1]]):
            why = " The scale maps box pixels to crop pixels: W / box width, not its inverse."
        elif np.allclose(got[:, :2], want[:, :2]):
            why = " The translation must bring the box centre to the crop centre: (W - 1) / 2 - s · cx."
        else:
            why = ""
        raise Wrong(f"{case}: the matrix is {np.round(want, 4).tolist()}; got {np.round(got, 4).tolist()}.{why}")
    return "right: s = W / box width, and the box centre lands on ((W - 1) / 2, (H - 1) / 2)"
