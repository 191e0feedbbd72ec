"""Shape checks and tensor conversion shared by the pose losses and their coordinate geometry: each names
the argument and the layout it expects, so a wrong shape fails with a sentence rather than deep in a kernel."""
from __future__ import annotations

import keras
from keras import ops


def static_shape(x) -> tuple:
    return tuple(x.shape)


def same_shape(name_true: str, y_true, name_pred: str, y_pred) -> None:
    a, b = static_shape(y_true), static_shape(y_pred)
    compatible = len(a) == len(b) and all(i is None or j is None or i == j for i, j in zip(a, b))
    if not compatible:
        raise ValueError(f"{name_true} and {name_pred} must have the same shape; got {a} and {b}")


def check_rank(name: str, x, rank: int, layout: str) -> None:
    if len(x.shape) != rank:
        raise ValueError(f"{name} must be {layout} (rank {rank}); got shape {static_shape(x)}")


def joint_weights(target_weight, joints_shape, dtype):
    """target_weight as a (B, K) tensor, checked against the (B, K) of the losses; None -> None."""
    if target_weight is None:
        return None
    target_weight = ops.cast(ops.convert_to_tensor(target_weight), dtype)  # bool weights (targets.py) too
    shape = static_shape(target_weight)
    expected = tuple(joints_shape)
    if len(shape) != 2 or any(i is not None and j is not None and i != j for i, j in zip(shape, expected)):
        raise ValueError(f"target_weight must be (batch, joints) = {expected}; got {shape}")
    return target_weight


def as_tensors(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    if "float" not in keras.backend.standardize_dtype(y_pred.dtype):
        y_pred = ops.cast(y_pred, keras.backend.floatx())
    return ops.convert_to_tensor(y_true, dtype=y_pred.dtype), y_pred
