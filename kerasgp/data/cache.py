"""Decoded, cropped people cached on disk, so that training epochs never decode a JPEG again.

A cache holds, per person, a crop `margin` times larger than the padded box at `margin` times the
input size (160x160 for a 128x128 input): augmentation (scale, rotation) then resamples real pixels
from around the person instead of black borders. Arrays are plain `.npy` files, memory-mapped on load:

    images (N, Hc, Wc, 3) uint8 | keypoints (N, K, 2) float32, in crop pixels | visibility (N, K)
    to_crop (N, 2, 3) original image -> crop | head_size (N,) original pixels | index (N,) source index

A cache is keyed by the data set, its source files (size and mtime), the people it holds and the crop
settings; a change in any of them builds a new cache. Location: `$KERASGP_CACHE`, else ~/.cache/kerasgp.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .images import read_rgb
from .layouts import get_layout
from .records import PoseSet
from .transforms import apply_affine, box_to_center_scale, crop_matrices, warp

CACHE_VERSION = 2
ARRAYS = ("images", "keypoints", "visibility", "to_crop", "head_size", "index")


def cache_dir() -> Path:
    return Path(os.environ.get("KERASGP_CACHE", Path.home() / ".cache" / "kerasgp"))


@dataclass
class CropCache:
    name: str
    layout_name: str
    input_size: tuple[int, int]
    margin: float
    padding: float
    images: np.ndarray
    keypoints: np.ndarray
    visibility: np.ndarray
    to_crop: np.ndarray
    head_size: np.ndarray
    index: np.ndarray
    path: Path | None = None
    build_seconds: float | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def layout(self):
        return get_layout(self.layout_name)

    @property
    def crop_size(self) -> tuple[int, int]:
        return self.images.shape[2], self.images.shape[1]

    def __repr__(self) -> str:
        return (f"CropCache({self.name!r}, people={len(self)}, input={self.input_size}, "
                f"crop={self.crop_size}, margin={self.margin})")


def _key(poseset: PoseSet, input_size, margin, padding) -> str:
    """Hash of everything a cache holds: the source files, and the records as the loader made them
    (indices, keypoints, visibility, boxes, head sizes), so a change in a loader's rules rebuilds it."""
    stats = [(os.path.basename(p), os.path.getsize(p), int(os.path.getmtime(p))) for p in poseset.source_files]
    digest = hashlib.sha1()
    for r in poseset.records:
        digest.update(np.array([r.index, r.head_size], dtype=np.float64).tobytes())
        for array in (r.keypoints, r.visibility, r.bbox):
            digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
    payload = json.dumps([CACHE_VERSION, poseset.name, poseset.split, stats, list(input_size), margin, padding,
                          digest.hexdigest()])
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def build_cache(poseset: PoseSet, input_size=(128, 128), margin: float = 1.25, padding: float = 1.25,
                directory: str | Path | None = None, workers: int | None = None, progress: bool = True,
                rebuild: bool = False) -> CropCache:
    """Crop every person of `poseset` once and store the crops; reuse an existing cache with the same key."""
    input_size = (int(input_size[0]), int(input_size[1]))
    if len(poseset) == 0:
        raise ValueError(f"{poseset!r} holds no people to cache")
    if margin < 1.0:
        raise ValueError(f"margin {margin} < 1: the cached crop must hold at least the input crop")
    folder = Path(directory or cache_dir()) / f"{poseset.name}-{poseset.split or 'all'}-{input_size[0]}x{input_size[1]}-{_key(poseset, input_size, margin, padding)}"
    if folder.exists() and not rebuild:
        return load_cache(folder)
    start = time.perf_counter()
    crop_size = (int(round(input_size[0] * margin)), int(round(input_size[1] * margin)))
    records = poseset.records
    centers, scales = zip(*(box_to_center_scale(r.bbox, input_size[0] / input_size[1], padding) for r in records))
    to_crop = crop_matrices(np.stack(centers), np.stack(scales) * margin, crop_size)
    keypoints = apply_affine(np.stack([r.keypoints for r in records]), to_crop)

    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                       shape=(len(records), crop_size[1], crop_size[0], 3))

    def crop(i):
        images[i] = warp(read_rgb(records[i].image_path, records[i].index), to_crop[i], crop_size)

    from tqdm.auto import tqdm

    workers = workers or os.cpu_count() or 1
    try:
        with ThreadPoolExecutor(workers) as pool:  # OpenCV releases the GIL while decoding and warping
            for _ in tqdm(pool.map(crop, range(len(records))), total=len(records), disable=not progress,
                          desc=f"caching {poseset.name} crops at {input_size[0]}x{input_size[1]}", unit="img"):
                pass
        images.flush()
        del images
        arrays = {"keypoints": keypoints.astype(np.float32), "visibility": poseset.visibility(),
                  "to_crop": to_crop, "head_size": poseset.head_sizes(),
                  "index": np.array([r.index for r in records], dtype=np.int64)}
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
        meta = {"name": poseset.name, "split": poseset.split, "layout": poseset.layout.name,
                "input_size": list(input_size), "margin": margin, "padding": padding, "version": CACHE_VERSION,
                "build_seconds": time.perf_counter() - start}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # atomic: a half-written cache is never found
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return load_cache(folder)


def load_cache(folder: str | Path) -> CropCache:
    folder = Path(folder)
    meta_path = folder / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{folder}: not a kerasgp crop cache (no meta.json)")
    meta = json.loads(meta_path.read_text())
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r" if name == "images" else None) for name in ARRAYS}
    return CropCache(meta["name"], meta["layout"], tuple(meta["input_size"]), meta["margin"], meta["padding"],
                     path=folder, build_seconds=meta.get("build_seconds"), **arrays)
