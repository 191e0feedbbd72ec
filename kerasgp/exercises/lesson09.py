"""Lesson 09's exercises: the search's differentiable latency term."""
from __future__ import annotations

import numpy as np

from .core import Wrong, call, exercise


def _softmax(logits, axis=-1):
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


@exercise("09.expected_latency")
def expected_latency(answer) -> str:
    """answer(logits (positions, candidates), table (positions, candidates)) -> E[latency], in the table's unit."""
    rng = np.random.default_rng(9)
    for positions, candidates in ((4, 4), (6, 5), (3, 7)):
        logits = rng.normal(0, 1.5, size=(positions, candidates))
        table = rng.uniform(0.1, 3.0, size=(positions, candidates))
        table[:, -1] = 0.0  # "skip" costs nothing
        want = float((_softmax(logits) * table).sum())
        got = call(answer, logits.copy(), table.copy())
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise Wrong(f"return one number, the network's expected latency; got {type(got).__name__}") from None
        if abs(got - want) < 1e-6 * max(1.0, abs(want)):
            continue
        case = f"{positions} positions x {candidates} candidates"
        if abs(got - float((_softmax(logits.ravel()).reshape(logits.shape) * table).sum())) < 1e-6:
            why = " Each position has its own softmax over its candidates, not one over the whole table."
        elif abs(got - float((_softmax(logits, axis=0) * table).sum())) < 1e-6:
            why = " The softmax runs over the candidates (axis 1), not over the positions."
        elif abs(got - float(table[np.arange(positions), logits.argmax(axis=1)].sum())) < 1e-6:
            why = (" That is the latency of the argmax network: a hard choice has no gradient in the logits; the "
                   "search needs the expectation under softmax.")
        elif abs(got - want / positions) < 1e-6:
            why = " Sum over the positions: the network's latency adds up its blocks."
        else:
            why = ""
        raise Wrong(f"{case}: E[latency] = {want:.4f}; got {got:.4f}.{why}")
    return "right: E[latency] = Σ over positions of Σ_j softmax(α)_j · LUT_j, differentiable in α"
