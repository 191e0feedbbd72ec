"""LSPET and LSP: `joints.mat` and `images/imNNNN(N).jpg`, 14 joints in the LSP order (`LSP14`).

LSPET, Leeds Sports Pose Extended (Johnson & Everingham, "Learning effective human pose estimation from
inaccurate annotation", CVPR 2011): `joints` is 14 x 3 x N (x, y, visible flag); person n (0-based) is
image im{n+1:05d}.jpg. The public archive holds 10,000 people; the workbook's offline copy holds the first
8,000. An invisible joint has no position (it sits at a placeholder with one coordinate 0), so there is no
person box: the box is drawn around the visible joints. Head size for PCKh is the neck-head-top length
where both are visible, else NaN and the person is left out of PCKh (LSP's joints are MPII's less pelvis
and thorax, so no MPII head box exists here). Splits by person index: train = 0-5,999, val =
6,000-7,999, test = 8,000-9,999 (only in the 10,000-person file), all = everyone in the file.

LSP, Leeds Sports Pose (Johnson & Everingham, "Clustered pose and nonlinear appearance models for human
pose estimation", BMVC 2010): `joints` is 3 x 14 x 2,000 (x, y, occluded flag); person n is image
im{n+1:04d}.jpg. Both archives, lsp_dataset_original.zip (full-size images) and lsp_dataset.zip (rescaled
so the person is about 150 px tall), have this layout. The third row is 1 for an OCCLUDED joint, the
reverse of LSPET's flag, and an occluded joint's position is still annotated: public converters invert it
(`joints(3,:,:) = 1 - joints(3,:,:)` for lsp_dataset only, LSPET's flag used as is, in
shihenw/convolutional-pose-machines-release training/genJSON.m and bearpaw/pytorch-pose miscs/gen_lsp.m).
So every joint is a target (visibility 1) and counts in the standard protocol, PCK@0.2 of the torso (left
shoulder to right hip) over all 14 joints with train = images 1-1,000 and test = 1,001-2,000; PCKh uses the
neck-head-top length, defined for every person. The flag is kept as `LSPPerson.occluded` (`occlusion`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.io

from ..metrics import segment_length
from .images import image_size
from .layouts import LSP14
from .records import (LoadReport, PersonInstance, PoseSet, bbox_from_keypoints, check_keypoints_in_image,
                      checked_person)

# LSPET splits by person index (stop None: the end of the file). train and val are the records the lessons
# and committed results were made with; test exists only in the 10,000-person file.
SPLITS = {"train": (0, 6000), "val": (6000, 8000), "test": (8000, 10000), "all": (0, None)}
LSPET_PEOPLE = 10000
# LSP's standard protocol: the first 1,000 images train, the next 1,000 test.
LSP_SPLITS = {"train": (0, 1000), "test": (1000, 2000), "all": (0, None)}

_LSPET_LAYOUT = "LSPET: 14 x 3 x N (14 joints; x, y, visible flag; N people), load it as 'lspet' (load_lsp)"
_LSP_LAYOUT = "LSP: 3 x 14 x N (x, y, occluded flag; 14 joints; N people), load it as 'lsp' (load_lsp_original)"


@dataclass
class LSPPerson(PersonInstance):
    """A person of the original LSP. Every joint is annotated, so `visibility` is all 1; `occluded` (14,)
    float32 is the release's flag, 1 where the joint is occluded (its position is still annotated)."""

    occluded: np.ndarray | None = None


def occlusion(people: PoseSet) -> np.ndarray:
    """(N, 14) occluded flags of an LSP PoseSet (1 = occluded), as joints.mat gives them."""
    if not people.records or not all(isinstance(r, LSPPerson) for r in people.records):
        raise ValueError(f"{people!r}: occlusion flags exist for the original LSP only (load('lsp'))")
    return np.stack([r.occluded for r in people.records]).astype(np.float32)


def _joints_array(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: joints.mat not found")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:
        raise ValueError(f"{path}: not a readable MATLAB file ({e})") from None
    if "joints" not in mat:
        raise ValueError(f"{path}: no 'joints' array (found {sorted(k for k in mat if not k.startswith('__'))})")
    return np.asarray(mat["joints"], dtype=np.float64)


def _read_layout(path: str, rows: tuple[int, int], axes: tuple[int, int, int], expected: str, layouts: str,
                 other: str) -> np.ndarray:
    """joints.mat as (N, 14, 3), checked to be `rows` x N; the transposed rows are the other data set's layout."""
    joints = _joints_array(path)
    if joints.ndim != 3 or joints.shape[:2] != rows:
        hint = f" (that is the {other} layout)" if joints.ndim == 3 and joints.shape[:2] == rows[::-1] else ""
        raise ValueError(f"{path}: 'joints' has shape {joints.shape}; expected {expected}{hint}. Layouts: {layouts}")
    return joints.transpose(axes)


def read_joints_mat(path: str) -> np.ndarray:
    """(N, 14, 3) array of x, y, visible from an LSPET joints.mat (14 x 3 x N)."""
    return _read_layout(path, (14, 3), (2, 0, 1), "14 x 3 x N (14 LSP joints; x, y, visible flag; N people)",
                        f"{_LSPET_LAYOUT}; {_LSP_LAYOUT}", "LSP")


def read_lsp_joints_mat(path: str) -> np.ndarray:
    """(N, 14, 3) array of x, y, occluded from an original-LSP joints.mat (3 x 14 x N)."""
    return _read_layout(path, (3, 14), (2, 1, 0), "3 x 14 x N (x, y, occluded flag; 14 LSP joints; N people)",
                        f"{_LSP_LAYOUT}; {_LSPET_LAYOUT}", "LSPET")


def _split_range(split: str, splits: dict, people: int, mat_path: str, data: str) -> tuple[int, int]:
    if split not in splits:
        raise ValueError(f"unknown {data} split {split!r}; known: {sorted(splits)}")
    start, stop = splits[split]
    if start >= people:
        raise ValueError(f"{mat_path}: split {split!r} starts at person {start} but the file holds {people}")
    return start, people if stop is None else min(stop, people)


def load_lsp(root: str, split: str = "all", strict: bool = False, name: str = "lspet") -> PoseSet:
    """LSPET people of `split` ("train", "val", "test" or "all") from root/joints.mat and root/images.

    strict: raise on a visible joint outside its image instead of marking it invisible and reporting it.
    The test split needs the 10,000-person file; the 8,000-person copy raises a ValueError saying so."""
    mat_path = os.path.join(root, "joints.mat")
    joints = read_joints_mat(mat_path)
    if split == "test" and len(joints) < LSPET_PEOPLE:
        copy = " (the copy without the test people)" if len(joints) == 8000 else ""
        raise ValueError(
            f"{mat_path} holds {len(joints):,} people{copy}, so it has no LSPET test split (people 8,000-9,999). "
            f"Get the whole 10,000-person set with `python -m kerasgp data fetch lspet --force --dest DIR` and "
            f"set KERASGP_DATA=DIR (without --dest it goes to the project's data/, which the lookup searches first)")
    start, stop = _split_range(split, SPLITS, len(joints), mat_path, "LSPET")
    report = LoadReport(source=f"{name}[{split}]")
    head = LSP14.head_segment
    records = []
    for index in range(start, stop):
        report.read += 1
        path = os.path.join(root, "images", f"im{index + 1:05d}.jpg")
        keypoints = joints[index, :, :2].astype(np.float32)
        visibility = (joints[index, :, 2] > 0).astype(np.float32)
        size, visibility = checked_person(keypoints, visibility, path, index=index, strict=strict, report=report)
        if visibility is None:
            continue
        bbox = bbox_from_keypoints(keypoints, visibility)
        # An invisible LSPET joint is a placeholder, not a position: no head size unless both are visible.
        head_size = float(segment_length(keypoints[None], head, visibility[None])[0])
        records.append(PersonInstance(path, keypoints, visibility, bbox, name, index, head_size, size))
    report.warn_if_anything()
    return PoseSet(name, records, LSP14, report, split, (mat_path,))


def load_lsp_original(root: str, split: str = "all", strict: bool = False, name: str = "lsp") -> PoseSet:
    """Original-LSP people of `split` ("train" = images 1-1,000, "test" = 1,001-2,000, "all") from
    root/joints.mat (3 x 14 x N) and root/images/imNNNN.jpg, either archive.

    Every joint is a target (visibility 1), occluded or not, as the standard protocol scores them; the
    occluded flag is kept in `LSPPerson.occluded`. A joint outside its image is kept (it is annotated);
    strict: raise where a joint that is not occluded lies outside its image (an annotation error)."""
    mat_path = os.path.join(root, "joints.mat")
    joints = read_lsp_joints_mat(mat_path)
    _, stop = LSP_SPLITS.get(split, (0, None))
    if stop is not None and len(joints) < stop:
        # A partial test set would not be the benchmark's; say what is missing instead.
        raise ValueError(f"{mat_path} holds {len(joints):,} people; the LSP {split} split is images "
                         f"{LSP_SPLITS[split][0] + 1:,}-{stop:,}, so the file needs at least {stop:,} (LSP has 2,000)")
    start, stop = _split_range(split, LSP_SPLITS, len(joints), mat_path, "LSP")
    report = LoadReport(source=f"{name}[{split}]")
    everything = np.ones(LSP14.num_joints, dtype=np.float32)
    records = []
    for index in range(start, stop):
        report.read += 1
        path = os.path.join(root, "images", f"im{index + 1:04d}.jpg")
        keypoints = joints[index, :, :2].astype(np.float32)
        occluded = (joints[index, :, 2] > 0).astype(np.float32)
        size = image_size(path, index)
        if strict:
            check_keypoints_in_image(keypoints, 1.0 - occluded, size, path=path, index=index, strict=True,
                                     report=report)
        head_size = float(segment_length(keypoints[None], LSP14.head_segment, everything[None])[0])
        records.append(LSPPerson(path, keypoints, everything.copy(), bbox_from_keypoints(keypoints, everything),
                                 name, index, head_size, size, occluded=occluded))
    report.warn_if_anything()
    return PoseSet(name, records, LSP14, report, split, (mat_path,))
