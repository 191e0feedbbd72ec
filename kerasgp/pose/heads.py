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


def heatmap_head(features, num_joints: int, deconv_channels=(64, 64, 64), name: str = "heatmap"):
    """SimpleBaseline (Xiao et al., ECCV 2018): deconvolutions (4x4, stride 2, BN, ReLU) then a 1x1 conv to
    one heatmap per joint. The paper uses three deconvs of 256 channels (stride 32 -> 4); the workbook's
    light default is three of 64, the seed study's light form two deconvs [256, K]."""
    x = features
    for i, channels in enumerate(deconv_channels):
        x = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False,
                                         name=f"{name}_deconv{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"{name}_deconv{i + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"{name}_deconv{i + 1}_relu")(x)
    return keras.layers.Conv2D(num_joints, 1, name=f"{name}_maps")(x)
