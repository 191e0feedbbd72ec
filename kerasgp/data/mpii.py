"""MPII in the mmpose JSON form: a list of {image, joints (16x2), joints_vis, center, scale}.

Andriluka et al., "2D Human Pose Estimation: New Benchmark and State of the Art Analysis", CVPR 2014.
`scale` is the person height / 200 px. The person box follows mmpose's MPII convention: the centre is
moved 15*scale px down and the box is a square of side 200*scale (the pipeline then pads it by 1.25).

Head size (PCKh) uses MPII's head-box rule, 0.6 * the box diagonal, when the official head boxes are
given (`headboxes`: N x 2 x 2 from mpii_gt_val.mat's `headboxes_src`). The mmpose JSON has no head
boxes; then the upper-neck-head-top length is used and the report says so.
"""
from __future__ import annotations

import json
import os

import numpy as np

from .layouts import MPII16
from .records import LoadReport, PersonInstance, PoseSet, checked_person


def read_json(path: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: annotation file not found")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None


def head_size_from_headbox(headbox) -> float:
    """MPII's rule: 0.6 x the diagonal of the head box ((x1, y1), (x2, y2))."""
    box = np.asarray(headbox, dtype=np.float64).reshape(2, 2)
    return float(0.6 * np.linalg.norm(box[1] - box[0]))


def load_mpii(root: str, annotation: str = "test_mpii.json", image_dir: str = "", strict: bool = False,
              headboxes=None, name: str = "mpii-sample") -> PoseSet:
    path = os.path.join(root, annotation)
    items = read_json(path)
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of people, found {type(items).__name__}")
    report = LoadReport(source=name)
    records = []
    for index, item in enumerate(items):
        report.read += 1
        try:
            keypoints = np.asarray(item["joints"], dtype=np.float32)
            visibility = (np.asarray(item["joints_vis"], dtype=np.float32) > 0).astype(np.float32)
            center = np.asarray(item["center"], dtype=np.float32)
            scale = float(item["scale"])
            image_name = item["image"]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: person {index} lacks a valid field ({e}); each entry needs "
                             f"image, joints (16x2), joints_vis (16), center (2), scale") from None
        if keypoints.shape != (16, 2) or visibility.shape != (16,) or center.shape != (2,) or scale <= 0:
            raise ValueError(f"{path}: person {index} has joints {keypoints.shape}, joints_vis "
                             f"{visibility.shape}, center {center.shape}, scale {scale}; expected (16, 2), "
                             f"(16,), (2,), > 0")
        image_path = os.path.join(root, image_dir, image_name)
        size, visibility = checked_person(keypoints, visibility, image_path, index=index, strict=strict,
                                          report=report)
        if visibility is None:
            continue
        center = center + np.array([0.0, 15.0 * scale], dtype=np.float32)
        side = 200.0 * scale
        bbox = np.array([center[0] - side / 2, center[1] - side / 2, side, side], dtype=np.float32)
        if headboxes is not None:
            head_size = head_size_from_headbox(headboxes[index])
        else:
            neck, top = keypoints[MPII16.head_segment[0]], keypoints[MPII16.head_segment[1]]
            head_size = float(np.linalg.norm(neck - top))
            report.change("no MPII head box in the JSON: head size = upper-neck-head-top length")
        records.append(PersonInstance(image_path, keypoints, visibility, bbox, name, index, head_size, size))
    report.warn_if_anything()
    return PoseSet(name, records, MPII16, report, None, (path,))
