"""Lesson 10's exercises: heatmap decoding and SimCC's soft-argmax by hand."""
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


def _decode_cells(maps, direction: float = 1.0, border: bool = True):
    """(h, w, K) maps -> (K,) x and y in cells: argmax (row-major, rows = y), then a quarter cell toward the
    higher neighbour (`direction` -1: toward the lower), none on a tie, none at the border when `border`."""
    maps = np.asarray(maps, dtype=np.float64)
    height, width, joints = maps.shape
    index = maps.reshape(height * width, joints).argmax(axis=0)
    px, py, k = index % width, index // width, np.arange(joints)
    dx = maps[py, np.minimum(px + 1, width - 1), k] - maps[py, np.maximum(px - 1, 0), k]
    dy = maps[np.minimum(py + 1, height - 1), px, k] - maps[np.maximum(py - 1, 0), px, k]
    shift_x, shift_y = direction * 0.25 * np.sign(dx), direction * 0.25 * np.sign(dy)
    if border:
        shift_x, shift_y = shift_x * ((px > 0) & (px < width - 1)), shift_y * ((py > 0) & (py < height - 1))
    return px + shift_x, py + shift_y


def _udp_scale(maps, input_size) -> np.ndarray:
    height, width = np.shape(maps)[:2]
    return np.array([(input_size[0] - 1) / (width - 1), (input_size[1] - 1) / (height - 1)])


def heatmap_decode_reference(maps, input_size) -> np.ndarray:
    """(h, w, K) heatmaps -> (K, 2) input pixels (x, y): `pose.decoding.decode_heatmaps` for one person
    (SimpleBaseline's argmax plus a quarter cell toward the higher neighbour; UDP's cell -> pixel scale)."""
    x, y = _decode_cells(maps)
    return np.stack([x, y], axis=-1) * _udp_scale(maps, input_size)


def _gaussian_maps(centres, map_size, sigma: float = 1.0) -> np.ndarray:
    """(h, w, K) Gaussians (peak 1) at (x, y) centres in cells, as `targets.heatmap_targets` draws them."""
    width, height = map_size
    centres = np.asarray(centres, dtype=np.float64)
    gx = np.exp(-((np.arange(width) - centres[:, :1]) ** 2) / (2 * sigma**2))  # (K, w)
    gy = np.exp(-((np.arange(height) - centres[:, 1:]) ** 2) / (2 * sigma**2))  # (K, h)
    return np.einsum("kh,kw->hwk", gy, gx)


def _within_a_quarter(xy, cx, cy) -> bool:
    """Whether every (x, y) in cells lies within a quarter cell of the cell (cx, cy)."""
    return bool((np.abs(xy[:, 0] - cx) <= 0.25 + 1e-4).all() and (np.abs(xy[:, 1] - cy) <= 0.25 + 1e-4).all())


@exercise("10.heatmap_decode")
def heatmap_decode(answer) -> str:
    """answer(heatmaps (h, w, joints), input_size (W, H)) -> (joints, 2) keypoints (x, y) in input pixels."""
    rng = np.random.default_rng(100)
    # (x, y) in cells on a 16 x 12 map: shifts right/up, a tie, the left border, the bottom border, a corner
    centres = [(5.3, 7.6), (10.0, 3.0), (0.2, 4.4), (12.7, 11.0), (15.0, 0.0)]
    cases = [("Gaussian maps, 16 columns x 12 rows, for a 128 x 96 input", _gaussian_maps(centres, (16, 12)),
              (128, 96)),
             ("random maps, 7 columns x 9 rows, for a 64 x 80 input", rng.normal(size=(9, 7, 6)), (64, 80)),
             ("the lesson's 16 x 16 maps at 128 x 128, noisy Gaussians",
              _gaussian_maps(rng.uniform(0.5, 14.5, size=(14, 2)), (16, 16), 0.5)
              + 0.01 * rng.normal(size=(16, 16, 14)), (128, 128))]
    for label, maps, size in cases:
        want = heatmap_decode_reference(maps, size)
        got = np.asarray(call(answer, maps.copy(), size), dtype=np.float64)
        joints = maps.shape[-1]
        if got.shape != want.shape:
            why = " One row per joint, with x and y in its two columns." if got.shape == (2, joints) else ""
            raise Wrong(f"{label}: the keypoints have shape {want.shape}; got {got.shape}.{why}")
        if np.allclose(got, want, atol=1e-4):
            continue
        height, width = maps.shape[:2]
        scale = _udp_scale(maps, size)
        x, y = _decode_cells(maps)
        index = maps.reshape(height * width, joints).argmax(axis=0)
        cells = np.stack([index % width, index // width], -1)
        joint = int(np.argwhere(np.abs(got - want).max(axis=1) > 1e-4)[0, 0])
        message = (f"{label}: joint {joint} peaks at column {cells[joint, 0]}, row {cells[joint, 1]} and decodes to "
                   f"({want[joint, 0]:.3f}, {want[joint, 1]:.3f}) px; got ({got[joint, 0]:.3f}, {got[joint, 1]:.3f}).")
        in_cells = got / scale
        border = (cells[:, 0] == 0) | (cells[:, 0] == width - 1) | (cells[:, 1] == 0) | (cells[:, 1] == height - 1)
        ties = ((x == cells[:, 0]) & (cells[:, 0] > 0) & (cells[:, 0] < width - 1)) \
            | ((y == cells[:, 1]) & (cells[:, 1] > 0) & (cells[:, 1] < height - 1))  # interior, equal neighbours
        wrong_joints = np.abs(got - want).max(axis=1) > 1e-4
        if any(np.allclose(got, np.stack([y * scale[a], x * scale[b]], -1), atol=1e-4) for a, b in ((0, 1), (1, 0))):
            why = (" x and y are swapped: the map's rows are y and its columns x, so x = column · (W − 1)/(w − 1) and "
                   "y = row · (H − 1)/(h − 1).")
        elif any(np.allclose(got, np.stack([x, y], -1) * stride + offset, atol=1e-4)
                 for stride in (np.array([size[0] / width, size[1] / height]),) for offset in (0.0, stride / 2 - 0.5)):
            why = (" The cells sit (W − 1)/(w − 1) input pixels apart, UDP's rule (pixel 0 is cell 0 and pixel W − 1 "
                   "the last cell, as the targets are drawn), not W / w.")
        elif not _within_a_quarter(in_cells, cells[:, 0], cells[:, 1]):
            if height != width and _within_a_quarter(in_cells, index % height, index // height):
                why = (f" That unravels the flat index with the map's height ({height}); rows are {width} cells "
                       f"long, so column = index % {width} and row = index // {width}.")
            else:
                why = " Start from the cell with the largest value of the joint's own map (argmax over its h·w cells)."
        elif np.allclose(got, cells * scale, atol=1e-4):
            why = (" That is the plain argmax: SimpleBaseline's decoder then moves a quarter cell toward the higher "
                   "of the two neighbours, along x and along y.")
        elif np.allclose(got, np.stack(_decode_cells(maps, direction=-1.0), -1) * scale, atol=1e-4):
            why = (" The shift goes the wrong way: a quarter cell toward the higher neighbour, where the true peak "
                   "lies, not toward the lower.")
        elif wrong_joints[~border].sum() == 0:
            why = (" The joints that differ peak on the map's border, where one neighbour is missing: no shift "
                   "there (and an index of −1 would read the opposite border).")
        elif wrong_joints[~ties].sum() == 0:
            why = " When the two neighbours are equal there is no shift: the sign of their difference is 0."
        else:
            why = ""
        raise Wrong(message + why)
    return ("right: argmax (row = index // w, column = index % w), a quarter cell toward the higher neighbour "
            "(none at the border or on a tie), times (W − 1)/(w − 1)")
