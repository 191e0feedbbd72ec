"""Lesson 11's exercises: the cosine head's logits, and the presence target that BCE and QFL supervise."""
from __future__ import annotations

import numpy as np

from ..data.targets import target_weights
from .core import Wrong, call, exercise


def presence_reference(keypoints, visibility, input_size) -> np.ndarray:
    """(N, K) 1.0 where a joint is labelled and its centre lies on a pixel of the crop (0 .. W - 1, 0 .. H - 1):
    the training target's weight (`targets.target_weights`) as floats."""
    return target_weights(keypoints, visibility, input_size).astype(np.float32)


@exercise("11.presence")
def presence(answer) -> str:
    """answer(keypoints (N, K, 2) crop pixels, visibility (N, K), input_size (W, H)) -> (N, K) 0/1 targets."""
    size = (128, 96)
    keypoints = np.array([[[10.0, 10.0], [-0.5, 40.0], [127.0, 95.0], [127.5, 50.0], [60.0, 96.0], [64.0, 48.0]],
                          [[0.0, 0.0], [130.0, 20.0], [50.0, -3.0], [20.0, 95.4], [70.0, 30.0], [100.0, 90.0]]])
    visibility = np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 2]], dtype=np.float32)
    want = presence_reference(keypoints, visibility, size)
    got = np.asarray(call(answer, keypoints.copy(), visibility.copy(), size), dtype=np.float64)
    if got.shape != want.shape:
        raise Wrong(f"one target per joint, shape {want.shape}; got {got.shape}")
    if np.array_equal(got, want):
        return "right: 1 where the joint is labelled and on the crop's pixels (0 .. W - 1, 0 .. H - 1), else 0"
    person, joint = (int(v) for v in np.argwhere(got != want)[0])
    x, y = keypoints[person, joint]
    if np.array_equal(got, (visibility > 0).astype(float)):
        why = " A labelled joint that the crop cut away is not present in the crop: check x and y too."
    elif np.array_equal(got, presence_reference(keypoints, np.ones_like(visibility), size)):
        why = " An unlabelled joint (visibility 0) has no position to be present at."
    elif not (0 <= x <= size[0] - 1 and 0 <= y <= size[1] - 1) and got[person, joint] == 1:
        why = (f" Pixel centres run from 0 to W - 1 = {size[0] - 1} and H - 1 = {size[1] - 1}: a joint beyond them "
               "is outside the crop.")
    else:
        why = ""
    raise Wrong(f"person {person}, joint {joint} at ({x:g}, {y:g}), visibility {visibility[person, joint]:g}: "
                f"target {want[person, joint]:g}; got {got[person, joint]:g}.{why}")


def cosine_logits_reference(tokens, kernel, beta: float, epsilon: float = 1e-12) -> np.ndarray:
    """(N, d) tokens, (d, bins) kernel -> (N, bins) beta * cos(token, column j): `pose.CosineLinear`, whose
    squared norms are floored at epsilon (an all-zero token gets logits 0)."""
    tokens, kernel = np.asarray(tokens, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    unit_tokens = tokens / np.sqrt(np.maximum((tokens**2).sum(axis=-1, keepdims=True), epsilon))
    unit_columns = kernel / np.sqrt(np.maximum((kernel**2).sum(axis=0, keepdims=True), epsilon))
    return beta * unit_tokens @ unit_columns


@exercise("11.cosine_logits")
def cosine_logits(answer) -> str:
    """answer(tokens (N, d), kernel (d, bins), beta) -> (N, bins) logits beta * cos(token, w_j)."""
    rng = np.random.default_rng(11)
    zero_token = rng.normal(size=(3, 8))
    zero_token[1] = 0.0
    cases = [("3 tokens of 32 values, 10 bins, beta 15", rng.normal(size=(3, 32)), rng.normal(size=(32, 10)), 15.0),
             ("5 tokens of 16 values, 40 bins, beta 4", rng.normal(2.0, 1.0, size=(5, 16)),
              rng.normal(0.0, 3.0, size=(16, 40)), 4.0),
             ("an all-zero token (row 1), beta 15", zero_token, rng.normal(size=(8, 6)), 15.0)]
    for label, tokens, kernel, beta in cases:
        want = cosine_logits_reference(tokens, kernel, beta)
        with np.errstate(divide="ignore", invalid="ignore"):  # a 0 / 0 shows as nan, explained below
            got = np.asarray(call(answer, tokens.copy(), kernel.copy(), beta), dtype=np.float64)
        if got.shape != want.shape:
            why = " That is transposed: one row per token." if got.shape == want.shape[::-1] else ""
            raise Wrong(f"{label}: one logit per token and bin, shape {want.shape}; got {got.shape}.{why}")
        if np.allclose(got, want, atol=1e-6):
            continue
        if not np.isfinite(got).all():
            why = (" An all-zero token has no direction, and 0 / 0 is nan: floor its squared norm at 1e-12 before "
                   "the square root, as CosineLinear does, so that its cosine with every bin is 0."
                   if not np.isfinite(got[1]).all() and label.startswith("an all-zero") else "")
            raise Wrong(f"{label}: the logits hold nan or inf.{why}")
        unit_tokens = tokens / np.linalg.norm(tokens, axis=-1, keepdims=True)
        unit_columns = kernel / np.linalg.norm(kernel, axis=0, keepdims=True)
        if np.allclose(got, want / beta, atol=1e-6):
            why = (f" That is the cosine alone, in [−1, 1]: multiply by beta = {beta:g}. Without the scale the softmax "
                   "over many bins cannot get peaked (the next cells show how far).")
        elif np.allclose(got, beta * unit_tokens @ kernel, atol=1e-6):
            why = (" The weight vectors must be normalised too, each bin's column to length 1: with raw weights the "
                   "logits are not cosines and their scale drifts with the weights, which the trick removes.")
        elif np.allclose(got, beta * unit_tokens @ (kernel / np.linalg.norm(kernel, axis=1, keepdims=True)), atol=1e-6):
            why = (" The kernel is (d, bins): bin j's weight vector is column j, so take each column's norm (over "
                   "axis 0), not each row's.")
        elif np.allclose(got, beta * tokens @ unit_columns, atol=1e-6):
            why = " Normalise the token too, each row of tokens to length 1: the logit is beta · cos(t, w_j)."
        elif np.allclose(got, beta * (tokens / np.linalg.norm(tokens, axis=0, keepdims=True)) @ unit_columns,
                         atol=1e-6):
            why = " Each token is a row: normalise over its d values (the last axis), not over the tokens."
        else:
            why = ""
        raise Wrong(f"{label}: token 0's logit for bin 0 should be {want[0, 0]:.4f}; got {got[0, 0]:.4f}.{why}")
    return ("right: logits = beta · (t / |t|) · (w_j / |w_j|), bounded by ±beta, however large the weights grow")
