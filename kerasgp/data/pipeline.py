"""Batches for `model.fit` from a crop cache: augmentation, target encoding, any Keras backend.

`PoseBatches` is a `keras.utils.PyDataset`, which Keras 3 feeds to `fit` under TensorFlow, JAX and
PyTorch alike. Each batch is drawn from the cache (no JPEG decoding), warped once by one affine matrix
that holds crop, scale, rotation and flip, and encoded into the targets the head needs. Batches are a
pure function of (seed, epoch, batch index), so a run is reproducible with any number of workers.
"""
from __future__ import annotations

import math

import keras
import numpy as np

from . import targets as T
from .cache import CropCache
from .transforms import Augment, apply_affine, compose_affine, crop_matrices, flip_joints, invert_affine, warp

TARGETS = ("heatmap", "simcc", "coords")


class PoseBatches(keras.utils.PyDataset):
    """(images, targets) batches from a `CropCache`.

    targets: "heatmap" -> y (B, h, w, K); "simcc" -> y = (x (B, K, kW), y (B, K, kH));
    "coords" -> y (B, K, 2) in [-0.5, 0.5) and sample weights (B, K) from visibility; a tuple of names ->
    y a dict of those targets plus "target_weight" (B, K). Images are float32 RGB in [0, 1], (B, H, W, 3).
    augment: an `Augment`, True for the defaults, or None/False for plain centred crops (evaluation).
    drop_remainder: leave out the last, partial batch of an epoch (data-parallel training: every batch
    splits evenly over the devices). pydataset_kwargs: Keras' `workers`, `use_multiprocessing`,
    `max_queue_size`: batches made in parallel workers, still in order (each is a function of its index).
    """

    def __init__(self, cache: CropCache, batch_size: int = 32, targets="heatmap", augment=None,
                 shuffle: bool | None = None, seed: int = 0, indices=None, heatmap_stride: int = 4,
                 heatmap_sigma: float | None = None, simcc_split_ratio: float = 2.0, simcc_sigma: float = 6.0,
                 drop_remainder: bool = False, **pydataset_kwargs):
        super().__init__(**pydataset_kwargs)
        names = (targets,) if isinstance(targets, str) else tuple(targets)
        unknown = [t for t in names if t not in TARGETS]
        if unknown:
            raise ValueError(f"unknown target {unknown[0]!r}; expected one or more of {TARGETS}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.cache = cache
        self.targets = targets
        self.batch_size = batch_size
        self.drop_remainder = drop_remainder
        self.augment = Augment() if augment is True else (augment or None)
        self.shuffle = bool(self.augment) if shuffle is None else shuffle
        self.seed = seed
        self.indices = np.arange(len(cache)) if indices is None else np.asarray(indices)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= len(cache)):
            raise ValueError(f"indices must lie in [0, {len(cache)}), got {self.indices.min()}..{self.indices.max()}")
        if drop_remainder and len(self.indices) < batch_size:
            raise ValueError(f"drop_remainder with {len(self.indices)} people and a batch of {batch_size} leaves no "
                             "batch; use a smaller batch_size")
        self.heatmap_stride, self.heatmap_sigma = heatmap_stride, heatmap_sigma
        self.simcc_split_ratio, self.simcc_sigma = simcc_split_ratio, simcc_sigma
        if "heatmap" in names:
            T.heatmap_size(cache.input_size, heatmap_stride)  # fail now, not in the first batch
        self.epoch = 0
        self._flip_permutation = cache.layout.flip_permutation()

    def __len__(self) -> int:
        if self.drop_remainder:
            return len(self.indices) // self.batch_size
        return math.ceil(len(self.indices) / self.batch_size)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return self.indices
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.indices)

    def batch(self, i: int) -> dict:
        """Everything about batch i: images, keypoints (input pixels), weights, every target, and the
        matrices that map input pixels back to the original image (`to_original`)."""
        if not 0 <= i < len(self):
            raise IndexError(f"batch {i} out of range for {len(self)} batches")
        idx = self._order()[i * self.batch_size:(i + 1) * self.batch_size]
        cache, size = self.cache, self.cache.input_size
        n = len(idx)
        crop_w, crop_h = cache.crop_size
        center = np.tile([(crop_w - 1) / 2, (crop_h - 1) / 2], (n, 1))
        box = np.tile([crop_w / cache.margin, crop_h / cache.margin], (n, 1))
        if self.augment:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            scale, rotation, flips = self.augment.sample(rng, n)
            matrices = crop_matrices(center, box * scale[:, None], size, rotation, flips)
        else:
            flips = np.zeros(n, bool)
            matrices = crop_matrices(center, box, size)
        images = np.empty((n, size[1], size[0], 3), dtype=np.uint8)
        for j, k in enumerate(idx):
            images[j] = warp(cache.images[k], matrices[j], size)
        keypoints = apply_affine(cache.keypoints[idx], matrices)
        weights = T.target_weights(keypoints, cache.visibility[idx], size).astype(np.float32)
        keypoints, weights = flip_joints(keypoints, weights, flips, self._flip_permutation)
        out = {"images": images.astype(np.float32) * np.float32(1 / 255), "keypoints": keypoints,
               "target_weight": weights, "index": idx,
               "to_original": invert_affine(compose_affine(matrices, cache.to_crop[idx]))}
        names = (self.targets,) if isinstance(self.targets, str) else self.targets
        if "heatmap" in names:
            out["heatmap"] = T.heatmap_targets(keypoints, weights, size, self.heatmap_stride, self.heatmap_sigma)
        if "simcc" in names:
            out["simcc"] = T.simcc_targets(keypoints, weights, size, self.simcc_split_ratio, self.simcc_sigma)
        if "coords" in names:
            out["coords"] = T.coordinate_targets(keypoints, size)
        return out

    def __getitem__(self, i: int):
        b = self.batch(i)
        if isinstance(self.targets, str):
            if self.targets == "coords":
                return b["images"], b["coords"], b["target_weight"]
            return b["images"], b[self.targets]
        return b["images"], {**{t: b[t] for t in self.targets}, "target_weight": b["target_weight"]}
