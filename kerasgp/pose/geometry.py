"""DSNT's coordinate geometry (Nibali et al. 2018; dsntnn's conventions), shared by the DSNT head, its loss and
the targets: normalised units, where a crop or map spans [-1, 1] and cell centres sit at (2i + 1) / n - 1;
the spatial softmax; the expected coordinates of a map (`dsnt`); and dsntnn's target Gaussians."""
from __future__ import annotations

import numpy as np
from keras import ops

from .checks import check_rank, static_shape

DIVERGENCE_EPSILON = 1e-24  # dsntnn's guard inside the logs of its KL / JS divergences (and make_gauss' sum)


def dsnt_sigma(map_size: int, pixels: float = 1.0) -> float:
    """The target Gaussian's sigma in dsntnn's normalised units for `pixels` map pixels: 2 * pixels / size.

    dsntnn's normalised units span the map from -1 to 1, so one map pixel is 2 / size of them. dsntnn's
    usage guide sets `sigma = 2.0 / heatmaps.size(-1)`, one pixel (the DSNT paper's sigma_t = 1 px); on the
    seed's 8x8 map that is the "0.25" the seed study quotes, and 0.125 on a 16x16 map: "scaled to the map"."""
    if map_size < 1 or pixels <= 0:
        raise ValueError(f"dsnt_sigma needs map_size >= 1 and pixels > 0; got {map_size}, {pixels}")
    return 2.0 * pixels / map_size


def normalized_linspace(length: int) -> np.ndarray:
    """dsntnn's cell centres in normalised units: (2i + 1) / length - 1, e.g. [-0.75, -0.25, 0.25, 0.75]."""
    return ((2.0 * np.arange(length) + 1.0) / length - 1.0).astype("float32")


def normalized_coordinates(keypoints, input_size) -> np.ndarray:
    """(B, K, 2) input pixels -> dsntnn's normalised units, where the crop spans [-1, 1]:
    (2x + 1) / W - 1. Pixel centres line up with the cell centres of any map that divides the input."""
    size = np.asarray(input_size, dtype="float32")
    return ((2.0 * np.asarray(keypoints, dtype="float32") + 1.0) / size - 1.0).astype("float32")


def pixel_coordinates(coordinates, input_size) -> np.ndarray:
    """The inverse of `normalized_coordinates`: normalised units -> input pixels."""
    size = np.asarray(input_size, dtype="float32")
    return (((np.asarray(coordinates, dtype="float32") + 1.0) * size - 1.0) / 2.0).astype("float32")


def spatial_softmax(heatmap_logits):
    """(B, h, w, K) logits -> each joint's map as a distribution over its h * w cells (dsntnn's
    `flat_softmax`), through logsumexp over both axes so that no reshape is needed."""
    heatmap_logits = ops.convert_to_tensor(heatmap_logits)
    check_rank("heatmaps", heatmap_logits, 4, "(batch, height, width, joints)")
    return ops.exp(heatmap_logits - ops.logsumexp(heatmap_logits, axis=(1, 2), keepdims=True))


def dsnt(probabilities):
    """dsntnn's `dsnt`: the expected (x, y) of each joint's normalised map, (B, h, w, K) -> (B, K, 2), in
    normalised units ([-1, 1] across the map, cell centres at `normalized_linspace`)."""
    probabilities = ops.convert_to_tensor(probabilities)
    check_rank("heatmaps", probabilities, 4, "(batch, height, width, joints)")
    height, width = probabilities.shape[1], probabilities.shape[2]
    if height is None or width is None:
        raise ValueError(f"DSNT needs a fixed map size; got heatmaps of shape {static_shape(probabilities)}")
    xs = ops.convert_to_tensor(normalized_linspace(width)[None, :, None], dtype=probabilities.dtype)
    ys = ops.convert_to_tensor(normalized_linspace(height)[None, :, None], dtype=probabilities.dtype)
    x = ops.sum(ops.sum(probabilities, axis=1) * xs, axis=1)  # marginal over rows (B, w, K) -> (B, K)
    y = ops.sum(ops.sum(probabilities, axis=2) * ys, axis=1)  # marginal over columns (B, h, K) -> (B, K)
    return ops.stack([x, y], axis=-1)


def target_gaussians(coordinates, map_size, sigma: float):
    """dsntnn's `make_gauss`: (B, K, 2) centres in normalised units -> (B, h, w, K) Gaussians of std `sigma`
    (normalised units, both axes), each normalised to sum 1. map_size = (width, height)."""
    coordinates = ops.convert_to_tensor(coordinates)
    width, height = map_size
    xs = ops.convert_to_tensor(normalized_linspace(width), dtype=coordinates.dtype)
    ys = ops.convert_to_tensor(normalized_linspace(height), dtype=coordinates.dtype)
    scale = -0.5 / (sigma**2)
    gx = ops.exp(scale * ops.square(xs[None, None, :] - coordinates[..., 0:1]))  # (B, K, w)
    gy = ops.exp(scale * ops.square(ys[None, None, :] - coordinates[..., 1:2]))  # (B, K, h)
    gauss = gy[:, :, :, None] * gx[:, :, None, :]  # (B, K, h, w)
    gauss = gauss / (ops.sum(gauss, axis=(2, 3), keepdims=True) + DIVERGENCE_EPSILON)
    return ops.transpose(gauss, (0, 2, 3, 1))  # (B, h, w, K)
