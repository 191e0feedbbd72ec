"""LSP / LSPET: `joints.mat` (14 x 3 x N: x, y, visible flag) and `images/imNNNNN.jpg`.

Johnson & Everingham, "Learning effective human pose estimation from inaccurate annotation",
CVPR 2011. Person n (0-based) is image im{n+1:05d}.jpg. An invisible joint has no position (it sits at
a placeholder with one coordinate 0). There is no person box: the box is drawn around the visible
joints. Head size for PCKh is the neck-head-top length where both are visible, else NaN and the person
is left out of PCKh (LSP's joints are MPII's less pelvis and thorax, so no MPII head box exists here).

Splits are fixed by image index: train = the first 6,000 people, val = the next 2,000.
"""
from __future__ import annotations

import os

import numpy as np
import scipy.io

from ..metrics import segment_length
from .layouts import LSP14
from .records import LoadReport, PersonInstance, PoseSet, bbox_from_keypoints, checked_person

SPLITS = {"train": (0, 6000), "val": (6000, 8000), "all": (0, None)}


def read_joints_mat(path: str) -> np.ndarray:
    """(N, 14, 3) array of x, y, visible from an LSPET-style joints.mat (14 x 3 x N)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: joints.mat not found")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:
        raise ValueError(f"{path}: not a readable MATLAB file ({e})") from None
    if "joints" not in mat:
        raise ValueError(f"{path}: no 'joints' array (found {sorted(k for k in mat if not k.startswith('__'))})")
    joints = np.asarray(mat["joints"], dtype=np.float64)
    if joints.ndim != 3 or joints.shape[:2] != (14, 3):
        raise ValueError(f"{path}: 'joints' has shape {joints.shape}; expected 14 x 3 x N "
                         f"(14 LSP joints; x, y, visible flag; N people)")
    return joints.transpose(2, 0, 1)


def load_lsp(root: str, split: str = "all", strict: bool = False, name: str = "lspet") -> PoseSet:
    if split not in SPLITS:
        raise ValueError(f"unknown LSPET split {split!r}; known: {sorted(SPLITS)}")
    mat_path = os.path.join(root, "joints.mat")
    joints = read_joints_mat(mat_path)
    start, stop = SPLITS[split]
    stop = len(joints) if stop is None else min(stop, len(joints))
    if start >= len(joints):
        raise ValueError(f"{mat_path}: split {split!r} starts at person {start} but the file holds {len(joints)}")
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
