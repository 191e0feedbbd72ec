"""Pose heads: feature map -> a representation of the joints.

SimCC / SA-SimDR (Li et al., "SimCC: a Simple Coordinate Classification Perspective for Human Pose
Estimation", ECCV 2022): a 1x1 conv gives one map per joint, each map is flattened and two linear
layers (shared by all joints) give a vector of k*W bins for x and k*H bins for y. With Gaussian soft
targets (SA-SimDR) the loss is the cross-entropy to the target distribution (KL up to a constant).
"""
from __future__ import annotations

import keras

from ..layers import ScaleNorm


def simcc_head(features, num_joints: int, input_size, split_ratio: float = 2.0, dropout: float = 0.0,
               deconv_channels=(), token_norm: bool = True, name: str = "simcc"):
    """features (B, h, w, C) with static h, w -> [x logits (B, K, k*W), y logits (B, K, k*H)].

    deconv_channels: SimpleBaseline deconvolutions before the 1x1 conv. On a stride-32 map each joint
    gets only h*w values (16 at 128x128), one per 32-pixel cell, too coarse to place a joint inside a cell;
    two deconvs (stride 8, 256 values per joint) give the linear layers a map fine enough to read.
    token_norm: ScaleNorm on each joint's token before the linear layers (as RTMPose); without it the
    deconv form diverges (the loss climbs back above its start, measured on a fixed batch in the pose study)."""
    features = _deconvs(features, deconv_channels, name)
    _, height, width, _ = features.shape
    if height is None or width is None:
        raise ValueError("the SimCC head flattens the map, so the input size must be fixed (e.g. 128x128)")
    x = keras.layers.Conv2D(num_joints, 1, name=f"{name}_joint_maps")(features)
    x = keras.layers.Permute((3, 1, 2), name=f"{name}_joints_first")(x)  # (B, K, h, w)
    x = keras.layers.Reshape((num_joints, height * width), name=f"{name}_flatten")(x)  # (B, K, h*w)
    if token_norm:
        x = ScaleNorm(name=f"{name}_token_norm")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    bins_x, bins_y = int(round(input_size[0] * split_ratio)), int(round(input_size[1] * split_ratio))
    return [keras.layers.Dense(bins_x, name=f"{name}_x")(x), keras.layers.Dense(bins_y, name=f"{name}_y")(x)]


def _deconvs(x, channels_list, name: str):
    """SimpleBaseline's upsampling: per entry a 4x4 stride-2 transposed conv, BN, ReLU."""
    for i, channels in enumerate(channels_list):
        x = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False,
                                         name=f"{name}_deconv{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"{name}_deconv{i + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"{name}_deconv{i + 1}_relu")(x)
    return x


def heatmap_head(features, num_joints: int, deconv_channels=(64, 64, 64), name: str = "heatmap"):
    """SimpleBaseline (Xiao et al., ECCV 2018): deconvolutions (4x4, stride 2, BN, ReLU) then a 1x1 conv to
    one heatmap per joint. The paper uses three deconvs of 256 channels (stride 32 -> 4); the workbook's
    light default is three of 64, the seed study's light form two deconvs [256, K]."""
    return keras.layers.Conv2D(num_joints, 1, name=f"{name}_maps")(_deconvs(features, deconv_channels, name))
