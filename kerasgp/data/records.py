"""One record type for a person instance, and the report a loader returns with its records."""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .images import image_size
from .layouts import JointLayout


class DataWarning(UserWarning):
    """A loader skipped people or changed labels; the message says how many and why."""


@dataclass
class PersonInstance:
    """One annotated person, in the coordinates of its original image.

    keypoints: (K, 2) float32 pixel coordinates (x, y). visibility: (K,) float32, 1 where the joint
    is labelled and usable as a target, 0 otherwise. bbox: (x, y, w, h) of the person. head_size: the
    PCKh normaliser in pixels (NaN where the annotation does not define one). index: the person's
    position in its source file, so an error or a prediction can always be traced back.
    """

    image_path: str
    keypoints: np.ndarray
    visibility: np.ndarray
    bbox: np.ndarray
    dataset: str
    index: int
    head_size: float = float("nan")
    image_size: tuple[int, int] | None = None  # (width, height)
    image_id: int | None = None  # COCO image id, for OKS evaluation
    area: float | None = None  # COCO segment area (the OKS scale)
    annotation_id: int | None = None  # COCO annotation id


@dataclass
class LoadReport:
    """What a loader did with its source: people read, skipped (with reasons), labels changed."""

    source: str
    read: int = 0
    skipped: Counter = field(default_factory=Counter)
    changed: Counter = field(default_factory=Counter)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] += n

    def change(self, reason: str, n: int = 1) -> None:
        self.changed[reason] += n

    @property
    def kept(self) -> int:
        return self.read - sum(self.skipped.values())

    def __str__(self) -> str:
        lines = [f"{self.source}: read {self.read} people, kept {self.kept}"]
        lines += [f"  skipped {n}: {reason}" for reason, n in sorted(self.skipped.items())]
        lines += [f"  changed {n}: {reason}" for reason, n in sorted(self.changed.items())]
        return "\n".join(lines)

    def warn_if_anything(self) -> None:
        # Nothing is lost silently: any skip or label change is a warning that names counts and reasons.
        if self.skipped or self.changed:
            warnings.warn(str(self), DataWarning, stacklevel=3)


@dataclass
class PoseSet:
    """The people of one data set (or split), with their joint layout and the loader's report."""

    name: str
    records: list[PersonInstance]
    layout: JointLayout
    report: LoadReport
    split: str | None = None
    source_files: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> PersonInstance:
        return self.records[i]

    def __repr__(self) -> str:
        split = f", split={self.split!r}" if self.split else ""
        return f"PoseSet({self.name!r}{split}, people={len(self)}, layout={self.layout.name})"

    def keypoints(self) -> np.ndarray:
        return np.stack([r.keypoints for r in self.records]).astype(np.float32)

    def visibility(self) -> np.ndarray:
        return np.stack([r.visibility for r in self.records]).astype(np.float32)

    def head_sizes(self) -> np.ndarray:
        return np.array([r.head_size for r in self.records], dtype=np.float32)


def check_keypoints_in_image(keypoints, visibility, image_size, *, path, index, strict, report,
                             tolerance: float = 0.0):
    """Visible joints outside their image: mark invisible and count (default) or raise (strict).

    Real LSPET holds six visible joints up to 1.2 px outside the image (annotation noise); invisible
    joints outside are normal (their position is a guess) and are left alone.
    """
    width, height = image_size
    x, y = keypoints[:, 0], keypoints[:, 1]
    outside = (x < -tolerance) | (y < -tolerance) | (x > width - 1 + tolerance) | (y > height - 1 + tolerance)
    bad = np.flatnonzero(outside & (visibility > 0))
    if bad.size == 0:
        return visibility
    if strict:
        joint = int(bad[0])
        raise ValueError(
            f"{path}: person {index}, joint {joint} is visible at ({x[joint]:.1f}, {y[joint]:.1f}), "
            f"outside the {width}x{height} image")
    visibility = visibility.copy()
    visibility[bad] = 0.0
    report.change("visible joint outside its image, marked invisible", int(bad.size))
    return visibility


def checked_person(keypoints, visibility, image_path, *, index, strict, report):
    """The image size and the visibility after `check_keypoints_in_image`; visibility is None (and the
    skip counted) when no joint is left visible."""
    size = image_size(image_path, index)
    visibility = check_keypoints_in_image(keypoints, visibility, size, path=image_path, index=index,
                                          strict=strict, report=report)
    if not visibility.any():
        report.skip("no visible joint")
        return size, None
    return size, visibility


def bbox_from_keypoints(keypoints, visibility) -> np.ndarray | None:
    """(x, y, w, h) around the visible joints. In LSPET an invisible joint carries no position: all
    13,511 of them sit at placeholders with one coordinate exactly 0, such as (0, -26) or (-53, 0)."""
    usable = visibility > 0
    if not usable.any():
        return None
    pts = keypoints[usable]
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return np.array([x0, y0, max(x1 - x0, 1.0), max(y1 - y0, 1.0)], dtype=np.float32)
