"""Target encoders for the three families of pose heads, and their plain decoders.

All work on a batch of keypoints in input-image pixels, shape (B, K, 2), with weights (B, K).
- Heatmaps (Tompson et al. 2014; SimpleBaseline, Xiao et al. 2018): a Gaussian per joint on a map
  `stride` times smaller than the input; sigma 2 on a 64x64 map, scaled with the map width.
- SimCC / SimDR (Li et al., "SimCC", ECCV 2022): two 1-D vectors per joint of length k*W and k*H
  (split ratio k) holding a Gaussian (sigma in bins; 6 at k = 2 as in the seed study).
- Coordinates for regression (DeepPose, RLE): x / W - 0.5 and y / H - 0.5, so the crop spans [-0.5, 0.5).
Keypoints map to heatmap cells with UDP's rule (Huang et al., CVPR 2020): pixel 0 -> cell 0 and pixel
W - 1 -> cell w - 1, so encoding and decoding are exact inverses.
"""
from __future__ import annotations

import numpy as np


def target_weights(keypoints, visibility, input_size) -> np.ndarray:
    """1 for a labelled joint inside the input crop, else 0 (a joint cropped away is no target)."""
    width, height = input_size
    x, y = keypoints[..., 0], keypoints[..., 1]
    inside = (x >= 0) & (y >= 0) & (x <= width - 1) & (y <= height - 1)
    return (np.asarray(visibility) > 0) & inside


def heatmap_size(input_size, stride: int = 4) -> tuple[int, int]:
    width, height = input_size
    if width % stride or height % stride:
        raise ValueError(f"input size {input_size} is not divisible by the heatmap stride {stride}")
    return width // stride, height // stride


def default_heatmap_sigma(map_width: int) -> float:
    """Sigma 2 on a 64-wide map, scaled with the map (1.0 on 32, 0.5 on 16)."""
    return 2.0 * map_width / 64.0


def heatmap_targets(keypoints, weights, input_size, stride: int = 4, sigma: float | None = None) -> np.ndarray:
    """(B, h, w, K) float32 Gaussians (peak 1); the map of a zero-weight joint is all zero."""
    keypoints = np.asarray(keypoints, dtype=np.float32)
    map_w, map_h = heatmap_size(input_size, stride)
    sigma = default_heatmap_sigma(map_w) if sigma is None else sigma
    mu_x = keypoints[..., 0] * (map_w - 1) / (input_size[0] - 1)
    mu_y = keypoints[..., 1] * (map_h - 1) / (input_size[1] - 1)
    # Separable: exp(-(dx^2 + dy^2) / 2s^2) = gx (B, K, w) outer gy (B, K, h).
    gx = np.exp(-((np.arange(map_w, dtype=np.float32) - mu_x[..., None]) ** 2) / (2 * sigma**2))
    gy = np.exp(-((np.arange(map_h, dtype=np.float32) - mu_y[..., None]) ** 2) / (2 * sigma**2))
    gy = gy * np.asarray(weights, dtype=np.float32)[..., None]
    return np.einsum("bkh,bkw->bhwk", gy, gx)


def simcc_targets(keypoints, weights, input_size, split_ratio: float = 2.0, sigma: float = 6.0,
                  normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """x (B, K, k*W) and y (B, K, k*H) 1-D Gaussians; each sums to 1 when `normalize` (a distribution
    for SA-SimDR's KL loss); zero for a zero-weight joint. sigma 0: one-hot labels (SimDR)."""
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0 bins (0: one-hot, SimDR); got {sigma}")
    keypoints = np.asarray(keypoints, dtype=np.float32)
    w = np.asarray(weights, dtype=np.float32)[..., None]
    out = []
    for axis, size in enumerate(input_size):
        bins = np.arange(int(round(size * split_ratio)), dtype=np.float32)
        if sigma == 0:  # SimDR: all mass on the nearest bin
            nearest = np.clip(np.rint(keypoints[..., axis] * split_ratio), 0, len(bins) - 1)
            g = (bins == nearest[..., None]).astype(np.float32)
        else:
            g = np.exp(-((bins - keypoints[..., axis, None] * split_ratio) ** 2) / (2 * sigma**2))
        if normalize:
            g = g / np.maximum(g.sum(axis=-1, keepdims=True), 1e-12)
        out.append(g * w)
    return out[0], out[1]


def coordinate_targets(keypoints, input_size) -> np.ndarray:
    """(B, K, 2) coordinates normalised to the crop: x / W - 0.5, y / H - 0.5."""
    return np.asarray(keypoints, dtype=np.float32) / np.asarray(input_size, dtype=np.float32) - 0.5


def decode_coordinates(coords, input_size) -> np.ndarray:
    return (np.asarray(coords, dtype=np.float32) + 0.5) * np.asarray(input_size, dtype=np.float32)


def decode_heatmaps(heatmaps, input_size) -> tuple[np.ndarray, np.ndarray]:
    """Argmax of (B, h, w, K) maps -> keypoints (B, K, 2) in input pixels, and the peak values (B, K).

    Plain argmax (no sub-pixel refinement): the error is at most half a cell, 0.5 (W - 1) / (w - 1)
    pixels under UDP's mapping (2.05 px at 128 -> 32).
    """
    heatmaps = np.asarray(heatmaps)
    batch, map_h, map_w, joints = heatmaps.shape
    flat = heatmaps.transpose(0, 3, 1, 2).reshape(batch, joints, -1)
    idx = flat.argmax(axis=-1)
    xy = np.stack([idx % map_w, idx // map_w], axis=-1).astype(np.float32)
    scale = np.array([(input_size[0] - 1) / (map_w - 1), (input_size[1] - 1) / (map_h - 1)], dtype=np.float32)
    return xy * scale, flat.max(axis=-1)


def peak_centre(vectors, axis: int = -1) -> np.ndarray:
    """Midway between the first and the last maximum along `axis`: argmax when the maximum is unique, the
    centre of a run of tied bins otherwise (int8 logits; see `kerasgp.pose.heads.peak_centre`)."""
    vectors = np.asarray(vectors)
    first = vectors.argmax(axis=axis)
    last = vectors.shape[axis] - 1 - np.flip(vectors, axis=axis).argmax(axis=axis)
    return (first + last) / 2.0


def decode_simcc(x_vectors, y_vectors, split_ratio: float = 2.0) -> np.ndarray:
    """Argmax of the two 1-D vectors (`peak_centre`: ties resolved to the centre of the run) -> (B, K, 2)
    input pixels."""
    x = peak_centre(x_vectors) / split_ratio
    y = peak_centre(y_vectors) / split_ratio
    return np.stack([x, y], axis=-1).astype(np.float32)
