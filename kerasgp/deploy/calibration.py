"""The representative inputs that calibrate full-integer (int8) conversion: training crops of a pose data set
exactly as the models take them (`representative_crops`), or the caller's own array, `.npy` file or iterable."""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from ..data import DataWarning, build_cache, load
from ..data.pipeline import PoseBatches


def collect(representative, num_samples: int) -> np.ndarray:
    """The first `num_samples` representative inputs as one float32 array (N, ...)."""
    if isinstance(representative, (str, Path)):
        return np.asarray(np.load(representative)[:num_samples], dtype=np.float32)
    if isinstance(representative, np.ndarray):
        return np.asarray(representative[:num_samples], dtype=np.float32)
    parts, count = [], 0
    for item in representative:
        if isinstance(item, (tuple, list)):  # (inputs, targets[, weights]) as a Keras data set yields them
            item = item[0]
        item = np.asarray(item, dtype=np.float32)
        item = item[None] if item.ndim == 3 else item  # one image (H, W, C) or a batch (B, H, W, C)
        parts.append(item)
        count += len(item)
        if count >= num_samples:
            break
    if not parts:
        raise ValueError("the representative iterable yielded no inputs")
    return np.concatenate(parts)[:num_samples]


def samples(representative, num_samples: int, input_shape: tuple) -> np.ndarray:
    if isinstance(representative, str) and not representative.endswith(".npy"):
        height, width = input_shape[1:3]
        samples = representative_crops((width, height), count=num_samples, data=representative)
    else:
        samples = collect(representative, num_samples)
    if samples.ndim != len(input_shape) or samples.shape[1:] != input_shape[1:]:
        expected = ", ".join(map(str, input_shape[1:]))
        raise ValueError(f"representative inputs must have the model's input shape (N, {expected}); got {samples.shape}")
    if len(samples) == 0 or not np.isfinite(samples).all():
        raise ValueError(f"representative inputs must be finite and at least one; got {samples.shape}")
    return samples


def representative_crops(input_size, count: int = 200, data: str = "lspet", seed: int = 0) -> np.ndarray:
    """`count` people of the training split (LSPET's first 6,000; the whole set for the others), drawn with
    `seed`, as the pose models take them: centred crops, float32 RGB in [0, 1], (count, H, W, 3).

    input_size: an int or (width, height). The crops go through the crop cache (only the drawn people
    are decoded), so a second call is fast.
    """
    width, height = (input_size, input_size) if np.isscalar(input_size) else input_size
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the loader's report is not the point here
        people = load(data, split="train") if data == "lspet" else load(data)
    chosen = np.sort(np.random.default_rng(seed).choice(len(people), size=min(count, len(people)), replace=False))
    subset = dataclasses.replace(people, records=[people.records[i] for i in chosen],
                                 split=f"{people.split or 'all'}-representative{len(chosen)}-seed{seed}")
    cache = build_cache(subset, (int(width), int(height)), progress=False)
    return PoseBatches(cache, batch_size=len(cache), targets="coords").batch(0)["images"]
