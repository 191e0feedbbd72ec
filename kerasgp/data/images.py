"""Image reading with errors that name the file and the person it belongs to."""
from __future__ import annotations

import os

import cv2
import numpy as np
from PIL import Image

cv2.setNumThreads(1)  # the pipeline parallelises across samples; nested OpenCV threads only contend


def image_size(path: str, index: int | None = None) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    _require(path, index)
    try:
        with Image.open(path) as im:
            return im.size
    except Exception as e:  # PIL raises several types for a bad file
        raise ValueError(f"{path}{_who(index)}: not a readable image ({e})") from None


def read_rgb(path: str, index: int | None = None) -> np.ndarray:
    """Decode an image to (H, W, 3) uint8 RGB."""
    _require(path, index)
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError(f"{path}{_who(index)}: not a readable image (decoding failed)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _require(path: str, index: int | None) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}{_who(index)}: image file not found")


def _who(index: int | None) -> str:
    return "" if index is None else f" (person {index})"
