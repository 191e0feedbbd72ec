"""Lesson 08's exercises: XOR with one quadratic neuron, and QuadraNet's low-rank quadratic neuron by hand."""
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


XOR_POINTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])  # section 1's four inputs
XOR_LABELS = np.array([0, 1, 1, 0])


def xor_logits(a, b, c, bias) -> np.ndarray:
    """The rank-1 quadratic neuron's logit y = (a·x)(b·x) + c·x + bias at the four XOR points
    (QuadraticDense(1, rank=1) with kernel_a[0, :, 0] = a, kernel_b[0, :, 0] = b, kernel_c[:, 0] = c)."""
    return (XOR_POINTS @ a) * (XOR_POINTS @ b) + XOR_POINTS @ c + bias


def _vector(value, name: str, size: int) -> np.ndarray:
    try:
        vector = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise Wrong(f"{name} should be numbers; got {value!r}") from None
    if vector.size != size:
        what = "two numbers, one per input" if size == 2 else "one number"
        raise Wrong(f"{name} should hold {what}; got {vector.size}")
    if not np.isfinite(vector).all():
        raise Wrong(f"{name} holds a nan or an infinity: {vector.tolist()}")
    return vector


@exercise("08.xor_weights")
def xor_weights(answer) -> str:
    """answer() -> (a, b, c, bias) of one rank-1 quadratic neuron whose logit has XOR's signs at the four
    points: positive (p = σ(y) > 0.5, class 1) at (0, 1) and (1, 0), negative at (0, 0) and (1, 1)."""
    got = call(answer)
    try:
        a, b, c, bias = got
    except (TypeError, ValueError):
        raise Wrong(f"return four things, a, b, c (two numbers each) and the bias; got {got!r}") from None
    a, b, c = (_vector(v, name, 2) for v, name in ((a, "a"), (b, "b"), (c, "c")))
    bias = float(_vector(bias, "bias", 1)[0])
    logits = xor_logits(a, b, c, bias)
    wrong = [i for i in range(4) if not (logits[i] > 0 if XOR_LABELS[i] else logits[i] < 0)]
    if not wrong:
        return ("right: the x₁x₂ coefficient a₁b₂ + a₂b₁ is what lets one neuron bend its boundary around XOR; "
                "no line can")
    points = "; ".join(f"at ({XOR_POINTS[i, 0]:g}, {XOR_POINTS[i, 1]:g}) XOR is {XOR_LABELS[i]}, so the logit must be "
                       f"{'positive' if XOR_LABELS[i] else 'negative'} (p {'>' if XOR_LABELS[i] else '<'} 0.5); "
                       f"got {logits[i]:+.3f}" for i in wrong)
    coefficients = (f"bias {bias:+.3f}, x₁: c₁ + a₁b₁ = {c[0] + a[0] * b[0]:+.3f}, x₂: c₂ + a₂b₂ = "
                    f"{c[1] + a[1] * b[1]:+.3f}, x₁x₂: a₁b₂ + a₂b₁ = {a[0] * b[1] + a[1] * b[0]:+.3f}")
    if np.allclose(a, 0) or np.allclose(b, 0):
        why = (" With a = 0 or b = 0 the product (a·x)(b·x) vanishes and the neuron is linear, σ(c·x + bias): "
               "one straight line, and no line separates XOR (section 1). The x₁x₂ term has to come from a and b.")
    elif len(wrong) == 4:
        why = (" Every sign is flipped: that is XNOR. Class 1, (0, 1) and (1, 0), needs a positive logit, "
               "p = σ(y) > 0.5.")
    elif 0 in wrong:
        why = (" At (0, 0) every term but the bias vanishes: the bias alone sets that logit, and it must be "
               "negative (a logit of exactly 0 is p = 0.5, on the boundary).")
    elif wrong == [3]:
        why = (f" On {{0, 1}} x² = x, so at (1, 1) all four coefficients add up ({coefficients}): the x₁x₂ "
               "coefficient must be negative enough to outweigh the bias and both linear ones.")
    else:
        why = f" On {{0, 1}} x² = x, so the logit at the corners is a sum of four coefficients: {coefficients}."
    raise Wrong(f"{points}.{why}")
