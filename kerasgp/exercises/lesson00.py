"""Lesson 00's exercises: the top-down crop's affine matrix by hand, and a crop's keypoints mirrored."""
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


def flip_keypoints_reference(keypoints, visibility, width, flip_pairs) -> tuple[np.ndarray, np.ndarray]:
    """A horizontal mirror of a crop W pixels wide, as the pipeline's flip (`crop_matrices(..., flips)` then
    `flip_joints`): x -> (W - 1) - x (pixel centres 0 .. W - 1), y kept; then each flip pair's two joints swap
    places, coordinates and visibility alike."""
    out = np.array(keypoints, dtype=np.float64)
    out[..., 0] = (width - 1) - out[..., 0]
    visibility = np.array(visibility)
    permutation = np.arange(len(out))
    for a, b in flip_pairs:
        permutation[a], permutation[b] = b, a
    return out[permutation], visibility[permutation]


def _flip_cases():
    rng = np.random.default_rng(0)
    lsp = ((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9))  # LSP-14, the lessons' layout
    coco = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))  # COCO-17
    for joints, pairs, width, height in ((14, lsp, 128, 128), (17, coco, 96, 128), (3, ((0, 2),), 10, 8)):
        keypoints = np.round(rng.uniform(0, [width - 1, height - 1], size=(joints, 2)), 2)
        visibility = np.ones(joints, np.float32)
        visibility[[a for a, _ in pairs[::2]]] = 0  # every other flip pair: one side seen, the other not
        yield f"{joints} joints in a {width}-pixel-wide crop", keypoints, visibility, width, pairs


@exercise("00.flip_keypoints")
def flip_keypoints(answer) -> str:
    """answer(keypoints (K, 2), visibility (K,), width W, flip_pairs) -> (keypoints, visibility) mirrored."""
    for case, keypoints, visibility, width, pairs in _flip_cases():
        want_points, want_visible = flip_keypoints_reference(keypoints, visibility, width, pairs)
        got = call(answer, keypoints.copy(), visibility.copy(), width, pairs)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Wrong(f"return two things, (keypoints, visibility); got {type(got).__name__}")
        points, visible = (np.asarray(v, dtype=np.float64) for v in got)
        if points.shape != keypoints.shape or visible.shape != visibility.shape:
            raise Wrong(f"{case}: keypoints keep their shape {keypoints.shape} and visibility {visibility.shape}; "
                        f"got {points.shape} and {visible.shape}")
        if not np.allclose(points, want_points, atol=1e-5):
            mirrored = keypoints.astype(np.float64)
            mirrored[:, 0] = (width - 1) - mirrored[:, 0]
            if np.allclose(points, mirrored, atol=1e-5):
                why = (" The coordinates are mirrored but the labels are not swapped: after a mirror the joint at "
                       "the left wrist's place looks like a right wrist, so each flip pair's two rows trade places.")
            elif np.allclose(points[:, 1], want_points[:, 1]) and np.allclose(points[:, 0] - want_points[:, 0], 1):
                why = (" Pixel centres run from 0 to W - 1, so the mirror is x -> (W - 1) - x; W - x moves every "
                       "joint one pixel to the right.")
            elif not np.allclose(points[:, 1], want_points[:, 1]):
                why = " A horizontal mirror leaves y as it is."
            elif (want_visible[~np.isclose(points, want_points, atol=1e-5).all(axis=1)] == 0).all():
                why = " Mirror every joint, visible or not, as the pipeline's crop matrix moves them all."
            else:
                why = ""
            j = int(np.flatnonzero(~np.isclose(points, want_points, atol=1e-5).all(axis=1))[0])
            raise Wrong(f"{case}: joint {j} should be at {np.round(want_points[j], 2).tolist()} after the mirror; "
                        f"got {np.round(points[j], 2).tolist()}.{why}")
        if not np.array_equal(visible, want_visible):
            why = (" The coordinates are right but the visibility stayed in place: a joint's flag belongs to it and "
                   "swaps with its coordinates." if np.array_equal(visible, visibility) else "")
            raise Wrong(f"{case}: the visibility after the mirror is {want_visible.astype(int).tolist()}; got "
                        f"{visible.astype(int).tolist()}.{why}")
    return "right: x -> (W - 1) - x, y kept, and each flip pair swaps its coordinates and its visibility"
