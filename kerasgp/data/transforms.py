"""Top-down crop geometry: person box -> centre/scale -> affine crop, and the training augmentation.

Conventions (as mmpose's top-down pipeline, with UDP's pixel-centre rule): a box (x, y, w, h) is grown
to the input aspect ratio and padded by 1.25; the crop maps the box centre to the output's centre
((W - 1) / 2, (H - 1) / 2) and the box width to W pixels. Augmentation = random scale of the box,
rotation about its centre and horizontal flip (with left/right joints swapped), all folded into the
one affine matrix, so an image is resampled once.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def box_to_center_scale(bbox, aspect_ratio: float, padding: float = 1.25):
    """(x, y, w, h) -> centre (2,) and scale (2,) = padded (w, h) in pixels at the given w/h ratio."""
    x, y, w, h = (float(v) for v in bbox)
    if w <= 0 or h <= 0:
        raise ValueError(f"box {tuple(bbox)} has no area; expected w > 0 and h > 0")
    center = np.array([x + w * 0.5, y + h * 0.5], dtype=np.float32)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return center, np.array([w * padding, h * padding], dtype=np.float32)


def crop_matrices(centers, scales, output_size, rotations=None, flips=None) -> np.ndarray:
    """(B, 2, 3) affine matrices mapping source pixels to output pixels.

    centers, scales: (B, 2) source centre and (w, h) of the region to crop. output_size: (W, H).
    rotations: (B,) degrees, counter-clockwise in the image. flips: (B,) bool, mirror left-right.
    """
    centers = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    scales = np.asarray(scales, dtype=np.float64).reshape(-1, 2)
    batch = len(centers)
    width, height = output_size
    theta = np.deg2rad(np.zeros(batch) if rotations is None else np.asarray(rotations, dtype=np.float64))
    sign = np.where(np.zeros(batch, bool) if flips is None else np.asarray(flips, bool), -1.0, 1.0)
    sx, sy = width / scales[:, 0], height / scales[:, 1]
    cos, sin = np.cos(theta), np.sin(theta)
    # M = T(output centre) . Flip . Scale . Rotate . T(-centre); rotation is -theta in y-down pixels.
    m = np.empty((batch, 2, 3))
    m[:, 0, 0] = sign * sx * cos
    m[:, 0, 1] = sign * sx * sin
    m[:, 1, 0] = -sy * sin
    m[:, 1, 1] = sy * cos
    m[:, :, 2] = np.array([(width - 1) / 2, (height - 1) / 2]) - np.einsum("bij,bj->bi", m[:, :, :2], centers)
    return m.astype(np.float32)


def apply_affine(points, matrices) -> np.ndarray:
    """points (B, K, 2) through matrices (B, 2, 3) -> (B, K, 2)."""
    points = np.asarray(points, dtype=np.float32)
    return np.einsum("bij,bkj->bki", matrices[:, :, :2], points) + matrices[:, None, :, 2]


def invert_affine(matrices) -> np.ndarray:
    """Inverse of (B, 2, 3) affine matrices."""
    m = np.asarray(matrices, dtype=np.float64)
    inv_linear = np.linalg.inv(m[:, :, :2])
    out = np.concatenate([inv_linear, -np.einsum("bij,bj->bi", inv_linear, m[:, :, 2])[:, :, None]], axis=2)
    return out.astype(np.float32)


def compose_affine(outer, inner) -> np.ndarray:
    """outer . inner for (B, 2, 3) matrices (apply inner first)."""
    a = np.asarray(outer, dtype=np.float64)
    b = np.asarray(inner, dtype=np.float64)
    linear = np.einsum("bij,bjk->bik", a[:, :, :2], b[:, :, :2])
    shift = np.einsum("bij,bj->bi", a[:, :, :2], b[:, :, 2]) + a[:, :, 2]
    return np.concatenate([linear, shift[:, :, None]], axis=2).astype(np.float32)


def warp(image: np.ndarray, matrix: np.ndarray, output_size) -> np.ndarray:
    """Resample `image` through one (2, 3) matrix; pixels from outside the source are black."""
    return cv2.warpAffine(image, matrix, (int(output_size[0]), int(output_size[1])), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


@dataclass(frozen=True)
class Augment:
    """Training augmentation, mmpose's top-down defaults.

    flip: probability of a horizontal flip. scale: the box is scaled by a factor in [1 - scale,
    1 + scale]. rotation: degrees, drawn from [-rotation, rotation] with probability rotation_prob.
    """

    flip: float = 0.5
    scale: float = 0.25
    rotation: float = 30.0
    rotation_prob: float = 0.6

    def sample(self, rng: np.random.Generator, batch: int):
        """Per-sample (scale factor, rotation degrees, flip) for a batch."""
        scale = 1.0 + rng.uniform(-self.scale, self.scale, batch)
        rotation = rng.uniform(-self.rotation, self.rotation, batch) * (rng.random(batch) < self.rotation_prob)
        flip = rng.random(batch) < self.flip
        return scale, rotation, flip


def flip_joints(keypoints, weights, flips, flip_permutation) -> tuple[np.ndarray, np.ndarray]:
    """After a mirror, joint 'left wrist' sits where 'right wrist' was: permute the flipped samples."""
    keypoints, weights = keypoints.copy(), weights.copy()
    keypoints[flips] = keypoints[flips][:, flip_permutation]
    weights[flips] = weights[flips][:, flip_permutation]
    return keypoints, weights
