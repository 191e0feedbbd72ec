"""Lesson 08's exercises: QuadraNet's low-rank quadratic neuron by hand."""
from __future__ import annotations

import numpy as np

from .core import Wrong, call, exercise


@exercise("08.quadratic_neuron")
def quadratic_neuron(answer) -> str:
    """answer(x (N, n), a (r, n), b (r, n), c (n,), bias) -> (N,): sum_r (a_r.x)(b_r.x) + c.x + bias."""
    rng = np.random.default_rng(8)
    for rank, n in ((1, 2), (3, 6), (2, 5)):
        x = rng.normal(size=(7, n))
        a, b = rng.normal(size=(rank, n)), rng.normal(size=(rank, n))
        c, bias = rng.normal(size=n), float(rng.normal())
        w_q = a.T @ b  # sum_r a_r b_r^T: the n x n matrix the neuron never forms
        want = np.einsum("ni,ij,nj->n", x, w_q, x) + x @ c + bias
        got = np.asarray(call(answer, x, a, b, c, bias), dtype=np.float64)
        if got.shape != want.shape:
            raise Wrong(f"one output per input row: shape {want.shape}; got {got.shape}")
        if np.allclose(got, want, atol=1e-8):
            continue
        case = f"rank {rank}, {n} inputs"
        summed_first = ((x @ a.sum(0)) * (x @ b.sum(0))) + x @ c + bias
        if rank > 1 and np.allclose(got, summed_first):
            why = (" Summing the projections before multiplying, (Σ a_r·x)(Σ b_r·x), adds cross terms a_r·x b_s·x: "
                   "multiply each pair, then sum over r.")
        elif np.allclose(got, want - x @ c):
            why = " The linear term W_c x is part of the neuron too."
        elif np.allclose(got, (x * x) @ (a * b).sum(0) + x @ c + bias):
            why = " (a·x)(b·x) multiplies two dot products; an element-wise product a⊙b⊙x⊙x keeps only the squares."
        else:
            why = ""
        raise Wrong(f"{case}: the first output should be {want[0]:.4f}; got {got[0]:.4f}.{why}")
    return "right: y = Σ_r (a_r·x)(b_r·x) + c·x + b, the rank-r form xᵀ(Σ_r a_r b_rᵀ)x without the n×n matrix"
