"""Lesson 09's exercises: the search's differentiable latency term, and the derived network's latency."""
from __future__ import annotations

import numpy as np

from .core import Wrong, call, exercise


def _softmax(logits, axis=-1):
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _logits_and_table(rng, positions: int, candidates: int, cheapest: float):
    """Random architecture logits and a latency table whose last candidate, "skip", costs nothing."""
    logits = rng.normal(0, 1.5, size=(positions, candidates))
    table = rng.uniform(cheapest, 3.0, size=(positions, candidates))
    table[:, -1] = 0.0
    return logits, table


def _number(got, what: str) -> float:
    try:
        return float(got)
    except (TypeError, ValueError):
        raise Wrong(f"return one number, {what}; got {type(got).__name__}") from None


@exercise("09.expected_latency")
def expected_latency(answer) -> str:
    """answer(logits (positions, candidates), table (positions, candidates)) -> E[latency], in the table's unit."""
    rng = np.random.default_rng(9)
    for positions, candidates in ((4, 4), (6, 5), (3, 7)):
        logits, table = _logits_and_table(rng, positions, candidates, cheapest=0.1)
        want = float((_softmax(logits) * table).sum())
        got = call(answer, logits.copy(), table.copy())
        got = _number(got, "the network's expected latency")
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


def derived_latency_reference(logits, table, fixed_ms: float) -> float:
    """The predicted latency of the derived network: the argmax candidate at every position (`derive_arch`),
    priced by the additive model, fixed + the chosen entries (`LatencyTable.predict`)."""
    logits, table = np.asarray(logits), np.asarray(table, dtype=np.float64)
    return float(fixed_ms + table[np.arange(len(table)), logits.argmax(axis=1)].sum())


@exercise("09.derived_latency")
def derived_latency(answer) -> str:
    """answer(logits (positions, candidates), table (positions, candidates) ms, fixed_ms) -> the derived
    network's predicted latency in ms."""
    rng = np.random.default_rng(90)
    for positions, candidates in ((4, 4), (10, 7), (6, 5)):
        logits, table = _logits_and_table(rng, positions, candidates, cheapest=0.05)
        fixed_ms = float(rng.uniform(0.5, 2.0))
        want = derived_latency_reference(logits, table, fixed_ms)
        got = call(answer, logits.copy(), table.copy(), fixed_ms)
        got = _number(got, "the derived network's latency in ms")
        if abs(got - want) < 1e-6 * max(1.0, abs(want)):
            continue
        case = f"{positions} positions x {candidates} candidates, fixed part {fixed_ms:.3f} ms"
        chosen = table[np.arange(positions), logits.argmax(axis=1)].sum()
        expected = float((_softmax(logits) * table).sum())
        if abs(got - chosen) < 1e-6:
            why = (" The fixed part (stem, norms, downsamplers: the all-skip network) runs in every network: add "
                   "fixed_ms to the blocks' entries.")
        elif abs(got - (fixed_ms + expected)) < 1e-6 or abs(got - expected) < 1e-6:
            why = (" That is the expected latency under softmax(α), the search's differentiable term. The derived "
                   "network is one architecture: at every position the candidate with the largest α.")
        elif positions == candidates and abs(
                got - fixed_ms - table[np.arange(positions), logits.argmax(axis=0)].sum()) < 1e-6:
            why = (" That takes the argmax over the positions (axis 0); each position chooses among its own "
                   "candidates, the argmax of its row (axis 1).")
        elif abs(got - fixed_ms - table[np.arange(positions), table.argmin(axis=1)].sum()) < 1e-6:
            why = (" That is the fastest network the table allows; the derived network follows α, whatever its "
                   "latency.")
        else:
            why = ""
        raise Wrong(f"{case}: the derived network's predicted latency is {want:.4f} ms; got {got:.4f}.{why}")
    return ("right: derive the argmax candidate at every position, then fixed + the sum of its table entries; a "
            "step function of α, with no gradient")
