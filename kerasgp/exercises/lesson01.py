"""Lesson 01's exercises: a Gaussian heatmap target, and PCKh from its definition."""
from __future__ import annotations

import numpy as np

from ..metrics import pckh as pckh_metric
from .core import Wrong, call, exercise


def pckh_reference(pred, gt, visible, head_size, threshold: float) -> float:
    """% of counted joints within threshold x head size; counted: visible, of a person with a head size > 0
    (`metrics.pckh`)."""
    return pckh_metric(pred, gt, visible, head_size, threshold).total


def _people(rng):
    gt = rng.uniform(0, 200, size=(40, 14, 2))
    head = rng.uniform(10, 40, size=40)
    head[[3, 17]] = np.nan  # no head size: these people are left out
    head[25] = 0.0  # neck and head top on one pixel: left out too
    visible = (rng.uniform(size=(40, 14)) > 0.2).astype(np.float32)
    pred = gt + rng.normal(scale=8.0, size=gt.shape)
    # joints 0-3 of person 0 exactly at the threshold, in exact binary numbers: they count as correct (<=)
    head[0] = 20.0
    gt[0, :4], pred[0, :4] = [100.0, 100.0], [110.0, 100.0]
    visible[0, :4] = 1
    return pred, gt, visible, head


@exercise("01.pckh")
def pckh(answer) -> str:
    """answer(pred, gt, visible, head_size, threshold) -> PCKh in %, one number."""
    pred, gt, visible, head = _people(np.random.default_rng(1))
    for threshold in (0.5, 0.1):
        want = pckh_reference(pred, gt, visible, head, threshold)
        got = call(answer, pred.copy(), gt.copy(), visible.copy(), head.copy(), threshold)
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise Wrong(f"return one number, the percentage; got {type(got).__name__}") from None
        if abs(got - want) < 1e-6:
            continue
        error = np.linalg.norm(pred - gt, axis=-1)
        counted = visible > 0
        with np.errstate(invalid="ignore"):
            hits = error <= threshold * head[:, None]
        all_people = 100.0 * (hits & counted).sum() / counted.sum()
        invisible_too = 100.0 * (hits & (np.isfinite(head) & (np.nan_to_num(head) > 0))[:, None]).sum() / (
            (np.isfinite(head) & (np.nan_to_num(head) > 0)).sum() * 14)
        strict = 100.0 * ((error < threshold * np.nan_to_num(head)[:, None]) & counted
                          & (np.isfinite(head) & (np.nan_to_num(head) > 0))[:, None]).sum() / (
            (counted & (np.isfinite(head) & (np.nan_to_num(head) > 0))[:, None]).sum())
        if abs(got - all_people) < 1e-6:
            why = (" People without a head size (NaN, or 0 where neck and head top share a pixel) must be left "
                   "out of the count, not scored as misses.")
        elif abs(got - invisible_too) < 1e-6:
            why = " Only visible joints count: an invisible joint has no position to be right or wrong about."
        elif abs(got - strict) < 1e-6 and threshold == 0.5:
            why = " A joint exactly at threshold × head size counts as correct: ≤, not <."
        elif 0 <= got <= 1:
            why = " Give a percentage, 0 to 100."
        else:
            why = " Count correct joints over counted joints, all people together (not a mean of per-person scores)."
        raise Wrong(f"PCKh@{threshold} of these 40 people is {want:.2f}; got {got:.2f}.{why}")
    return ("right: correct / counted, over the visible joints of the people with a head size; correct: error ≤ "
            "threshold × head size")


def gaussian_heatmap_reference(center, map_size, sigma: float) -> np.ndarray:
    """(h, w) target of one joint at `center` = (x, y) in map cells: exp(-((col - x)^2 + (row - y)^2) / (2
    sigma^2)), peak 1 at the joint (`targets.heatmap_targets`, once the keypoint is in cells)."""
    (x, y), (width, height) = center, map_size
    cols, rows = np.arange(width), np.arange(height)
    return np.exp(-((cols[None, :] - x) ** 2 + (rows[:, None] - y) ** 2) / (2 * sigma**2))


@exercise("01.gaussian_heatmap")
def gaussian_heatmap(answer) -> str:
    """answer(center (x, y) in cells, map_size (w, h), sigma) -> the (h, w) heatmap target of one joint."""
    for center, size, sigma in (((5.0, 3.0), (8, 6), 1.0), ((2.3, 7.6), (10, 12), 1.5), ((12.0, 4.0), (16, 16), 2.0),
                                ((20.25, 30.5), (32, 32), 1.0)):
        want = gaussian_heatmap_reference(center, size, sigma)
        got = np.asarray(call(answer, center, size, sigma), dtype=np.float64)
        case = f"joint at {center} on a {size[0]} x {size[1]} (w x h) map, sigma {sigma}"
        if got.shape != want.shape:
            if got.shape == want.shape[::-1]:
                raise Wrong(f"{case}: the map has h rows and w columns, shape {want.shape}; got {got.shape}. Rows are "
                            "y and columns x: map[y, x].")
            raise Wrong(f"{case}: the map has shape (h, w) = {want.shape}; got {got.shape}")
        if np.allclose(got, want, atol=1e-5):
            continue
        if np.allclose(got, gaussian_heatmap_reference(center[::-1], size, sigma), atol=1e-5):
            why = " x and y are swapped: rows are y and columns x, map[y, x]."
        elif np.allclose(got, want ** 2, atol=1e-5):
            why = " The Gaussian is exp(-d² / (2 sigma²)); without the 2 it is √2 times too narrow."
        elif np.allclose(got, want / want.sum(), rtol=1e-4, atol=1e-8):
            why = (" A heatmap target has its peak at 1, it is not normalised to sum 1 (SimCC's 1-D targets "
                   "are; heatmaps are regressed with a mean squared error).")
        else:
            why = ""
        row, col = np.unravel_index(np.argmax(np.abs(got - want)), want.shape)
        raise Wrong(f"{case}: cell (row {row}, column {col}) should hold {want[row, col]:.4f}; got {got[row, col]:.4f}."
                    f"{why}")
    return "right: exp(-((x' - x)² + (y' - y)²) / (2 sigma²)) over the cells (x', y'), peak 1, rows are y"
