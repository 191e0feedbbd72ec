"""Pose heads: feature map -> a representation of the joints.

SimCC / SA-SimDR (Li et al., "SimCC: a Simple Coordinate Classification Perspective for Human Pose
Estimation", ECCV 2022): a 1x1 conv gives one map per joint, each map is flattened and two linear
layers (shared by all joints) give a vector of k*W bins for x and k*H bins for y. With Gaussian soft
targets (SA-SimDR) the loss is the cross-entropy to the target distribution (KL up to a constant).
"""
from __future__ import annotations

import keras


def simcc_head(features, num_joints: int, input_size, split_ratio: float = 2.0, dropout: float = 0.0,
               name: str = "simcc"):
    """features (B, h, w, C) with static h, w -> [x logits (B, K, k*W), y logits (B, K, k*H)]."""
    _, height, width, _ = features.shape
    if height is None or width is None:
        raise ValueError("the SimCC head flattens the map, so the input size must be fixed (e.g. 128x128)")
    x = keras.layers.Conv2D(num_joints, 1, name=f"{name}_joint_maps")(features)
    x = keras.layers.Permute((3, 1, 2), name=f"{name}_joints_first")(x)  # (B, K, h, w)
    x = keras.layers.Reshape((num_joints, height * width), name=f"{name}_flatten")(x)  # (B, K, h*w)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    bins_x, bins_y = int(round(input_size[0] * split_ratio)), int(round(input_size[1] * split_ratio))
    return [keras.layers.Dense(bins_x, name=f"{name}_x")(x), keras.layers.Dense(bins_y, name=f"{name}_y")(x)]
