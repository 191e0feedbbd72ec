"""Pose metrics: PCKh (MPII), PCK@0.2 torso (LSP) and COCO OKS AP/AR through pycocotools.

PCKh@a (Andriluka et al. 2014): a joint is correct when its error is below a x the person's head size.
MPII's head size is 0.6 x the head-box diagonal (`kerasgp.data.mpii.head_size_from_headbox`); LSP has
no head box, so the neck-head-top length is used (its joints are MPII's less pelvis and thorax). The
total is pooled over every visible joint (MPII's joint-count weighting). People without a head size
(NaN, or <= 0 where two joints share a pixel) are left out of the count, and the result says how many.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np


@dataclass
class PCKResult:
    """total: % correct over all counted joints; per_joint: % per joint name (NaN where none counted)."""

    total: float
    per_joint: dict
    counted: int
    threshold: float
    people_without_norm: int = 0
    name: str = "PCK"

    def __str__(self) -> str:
        joints = "  ".join(f"{k} {v:.1f}" for k, v in self.per_joint.items())
        extra = f", {self.people_without_norm} people without a normaliser left out" if self.people_without_norm else ""
        return f"{self.name}@{self.threshold}: {self.total:.2f} over {self.counted} joints{extra}\n{joints}"


def _check(pred, gt, visible):
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    visible = np.asarray(visible) > 0
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be (N, K, 2)")
    if visible.shape != gt.shape[:2]:
        raise ValueError(f"visible {visible.shape} must be (N, K) = {gt.shape[:2]}")
    return pred, gt, visible


def pck(pred, gt, visible, norm, threshold: float, joint_names=None, exclude=(), name: str = "PCK") -> PCKResult:
    """Percentage of joints with ||pred - gt|| <= threshold x norm (norm: (N,) per person)."""
    pred, gt, visible = _check(pred, gt, visible)
    norm = np.asarray(norm, dtype=np.float64).reshape(-1)
    if norm.shape[0] != gt.shape[0]:
        raise ValueError(f"norm has {norm.shape[0]} values for {gt.shape[0]} people")
    has_norm = np.isfinite(norm) & (norm > 0)
    counted = visible & has_norm[:, None]
    for j in exclude:
        counted[:, j] = False
    error = np.linalg.norm(pred - gt, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        correct = (error <= threshold * norm[:, None]) & counted
    names = joint_names or [f"joint_{j}" for j in range(gt.shape[1])]
    per_joint = {}
    for j, joint in enumerate(names):
        n = counted[:, j].sum()
        per_joint[joint] = float(100.0 * correct[:, j].sum() / n) if n else float("nan")
    total_n = counted.sum()
    total = float(100.0 * correct.sum() / total_n) if total_n else float("nan")
    return PCKResult(total, per_joint, int(total_n), threshold, int((~has_norm).sum()), name)


def pckh(pred, gt, visible, head_size, threshold: float = 0.5, joint_names=None, exclude=()) -> PCKResult:
    """PCKh@threshold with per-person head sizes (N,). For MPII-16 pass exclude=(6, 7) (pelvis, thorax)
    to match the official total."""
    return pck(pred, gt, visible, head_size, threshold, joint_names, exclude, name="PCKh")


def segment_length(gt, segment, visible) -> np.ndarray:
    """Length of a joint segment per person; NaN where either end is not visible (an invisible LSPET
    joint is a placeholder, not a position)."""
    gt = np.asarray(gt, dtype=np.float64)
    a, b = segment
    size = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
    visible = np.asarray(visible) > 0
    size[~(visible[:, a] & visible[:, b])] = np.nan
    return size


def head_size_from_joints(gt, head_segment, visible) -> np.ndarray:
    """LSP's PCKh normaliser: the neck-head-top length (layout.head_segment)."""
    return segment_length(gt, head_segment, visible)


def torso_size(gt, torso_segment, visible) -> np.ndarray:
    """LSP's PCK normaliser: distance left shoulder - right hip (layout.torso_segment)."""
    return segment_length(gt, torso_segment, visible)


def pck_torso(pred, gt, visible, torso_segment, threshold: float = 0.2, joint_names=None) -> PCKResult:
    """PCK@threshold x torso; people whose torso joints are not both visible are left out (and counted)."""
    return pck(pred, gt, visible, torso_size(gt, torso_segment, visible), threshold, joint_names)


def oks(pred, gt, visible, area, sigmas) -> np.ndarray:
    """Object keypoint similarity per person (COCO): mean over labelled joints of exp(-d^2 / (2 s^2 k^2)),
    s^2 = area, k = 2 sigma. NaN for a person with no labelled joint."""
    pred, gt, visible = _check(pred, gt, visible)
    k2 = (2 * np.asarray(sigmas, dtype=np.float64)) ** 2
    d2 = ((pred - gt) ** 2).sum(-1)
    e = d2 / (k2[None] * (np.asarray(area, dtype=np.float64)[:, None] + np.spacing(1)) * 2)
    sim = np.exp(-e) * visible
    with np.errstate(invalid="ignore"):
        return sim.sum(1) / visible.sum(1)


COCO_STATS = ("AP", "AP50", "AP75", "AP_medium", "AP_large", "AR", "AR50", "AR75", "AR_medium", "AR_large")


def coco_keypoint_ap(coco_gt, predictions, image_ids=None) -> dict:
    """COCO keypoint AP/AR through pycocotools' COCOeval.

    coco_gt: a pycocotools COCO object (`kerasgp.data.coco.coco_api(path)` reads one from a keypoint JSON).
    predictions: list of {"image_id", "category_id": 1, "keypoints": [x, y, score] * 17, "score"}. Returns the
    ten standard stats.
    """
    from pycocotools.cocoeval import COCOeval  # here, not at the top: only COCO's metric needs pycocotools

    if not hasattr(coco_gt, "loadRes"):
        raise TypeError(f"coco_gt must be a pycocotools COCO object, got {type(coco_gt).__name__}; "
                        "kerasgp.data.coco.coco_api(path) reads one from a COCO keypoint JSON")
    if not predictions:
        raise ValueError("no predictions to evaluate")
    for i, p in enumerate(predictions):
        if len(p.get("keypoints", ())) != 51:
            raise ValueError(f"prediction {i} has {len(p.get('keypoints', ()))} keypoint values; expected 51")
    with contextlib.redirect_stdout(io.StringIO()):  # COCOeval prints its progress and table
        coco_dt = coco_gt.loadRes(list(predictions))
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        if image_ids is not None:
            evaluator.params.imgIds = list(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(zip(COCO_STATS, (float(s) for s in evaluator.stats)))
