"""Lesson 12's exercises: TFLite's int8 schemes by hand."""
from __future__ import annotations

import numpy as np

from .core import Wrong, call, exercise


def _affine_reference(lo: float, hi: float) -> tuple[float, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)  # the range must hold 0, so that zero padding stays exact
    scale = (hi - lo) / 255.0
    return scale, int(np.clip(np.round(-128 - lo / scale), -128, 127))


@exercise("12.affine_quantise")
def affine_quantise(answer) -> str:
    """answer(x, lo, hi) -> (q int8, scale, zero_point): the activation scheme of section 1."""
    x = np.linspace(-3.0, 5.0, 41, dtype=np.float32)
    for lo, hi in ((0.0, 1.0), (-2.0, 4.0), (0.5, 2.0), (-3.0, -1.0)):
        result = call(answer, x, lo, hi)
        if not (isinstance(result, tuple) and len(result) == 3):
            raise Wrong(f"return three things, (q, scale, zero_point); got {type(result).__name__}")
        q, scale, zero_point = result
        q = np.asarray(q)
        want_scale, want_zero = _affine_reference(lo, hi)
        if q.shape != x.shape or q.dtype != np.int8:
            raise Wrong(f"q must be an int8 array of x's shape {x.shape}; got {q.dtype} {q.shape}")
        if not np.isclose(float(scale), want_scale, rtol=1e-5):
            hint = (" The range must hold 0 (zero padding must stay exact): widen [lo, hi] to include it first."
                    if lo > 0 or hi < 0 else " 256 levels, q from -128 to 127: 255 steps between them.")
            raise Wrong(f"for lo={lo}, hi={hi} the scale should be {want_scale:.6g}; got {float(scale):.6g}.{hint}")
        if int(zero_point) != zero_point or int(zero_point) != want_zero:
            raise Wrong(f"for lo={lo}, hi={hi} the zero point should be the integer {want_zero} (the q of x = 0, "
                        f"round(-128 - lo / scale)); got {zero_point!r}")
        want_q = np.clip(np.round(x / want_scale) + want_zero, -128, 127).astype(np.int8)
        bad = np.flatnonzero(q != want_q)
        if bad.size:
            i = bad[0]
            why = (" Values outside the range must clip to -128 or 127 before the cast to int8 (a cast wraps)."
                   if not (-128 <= np.round(x[i] / want_scale) + want_zero <= 127) else "")
            raise Wrong(f"x = {x[i]:.2f} (lo={lo}, hi={hi}) should give q = {want_q[i]}; got {q[i]}.{why}")
    return "right: q = clip(round(x / s) + z, -128, 127), s = (max(hi, 0) - min(lo, 0)) / 255, and 0.0 is exact"


@exercise("12.int8_dot")
def int8_dot(answer) -> str:
    """answer(q_x, scale_x, zero_x, q_w, scale_w) -> the real value of sum(x * w) computed from the integers:
    scale_x * scale_w * sum((q_x - zero_x) * q_w), accumulated in int32 (section 1's convolution)."""
    rng = np.random.default_rng(1)
    for length, zero_x in ((4, 0), (16, -128), (64, 3), (2048, -128)):
        small = 4 if length == 4 else 128  # the first case stays far from any overflow
        q_x = rng.integers(-small, small, size=length).astype(np.int8)
        q_w = rng.integers(-small + 1, small, size=length).astype(np.int8)
        if length == 2048:  # the largest products, added up: an int8 or int16 sum overflows
            q_x[:], q_w[:] = 127, 127
        scale_x, scale_w = 0.02, 0.005
        want = scale_x * scale_w * float(np.sum((q_x.astype(np.int64) - zero_x) * q_w.astype(np.int64)))
        got = call(answer, q_x, scale_x, zero_x, q_w, scale_w)
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise Wrong(f"return one number, the real-valued dot product; got {type(got).__name__}") from None
        if np.isclose(got, want, rtol=1e-6):
            continue
        without_zero = scale_x * scale_w * float(np.sum(q_x.astype(np.int64) * q_w.astype(np.int64)))
        if np.isclose(got, without_zero, rtol=1e-6) and zero_x != 0:
            why = " Subtract the input's zero point first: x = scale_x * (q_x - zero_x); weights have none."
        elif length > 4:
            why = (" q_x - zero_x, the products and their sum overflow int8 (and the sum int16): cast to int32 "
                   "before subtracting and multiplying, as int8 kernels accumulate in int32.")
        else:
            why = " Multiply the integer sum by both scales once, at the end."
        raise Wrong(f"{length} values (zero point {zero_x}): the dot product is {want:.6g}; got {got:.6g}.{why}")
    return "right: sum((q_x - z_x) * q_w) in int32, then one multiplication by scale_x * scale_w"
