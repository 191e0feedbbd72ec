"""Lesson 01's exercises: PCKh from its definition."""
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
