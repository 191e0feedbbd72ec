"""What the backbones share: depth and width checks, the classifier and the registry's output convention."""
from __future__ import annotations

import keras

# the conv helpers live one floor down, in kerasgp.layers; the backbones import them from here too
from ..layers.conv import (BN_EPSILON, DARKNET_LEAKY_SLOPE, PADDINGS, activation_layer, check_padding,  # noqa: F401
                           conv_bn, pad)


def scale_depth(repeats: int, depth: float) -> int:
    """repeats * depth rounded half up, at least 1."""
    if depth <= 0:
        raise ValueError(f"depth must be > 0, got {depth}")
    return max(1, int(repeats * depth + 0.5))


def check_multipliers(width, depth) -> None:
    for key, value in (("width", width), ("depth", depth)):
        if not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{key} must be a positive number, got {value!r}")


def classifier(x, num_classes: int, name: str = "head"):
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    return keras.layers.Dense(num_classes, name=f"{name}_fc")(x)


def backbone_model(inputs, features: dict, include_top: bool, num_classes: int, name: str) -> keras.Model:
    """The registry's output convention: the dict of feature maps, or the logits of a pooled classifier
    on the stride-32 map."""
    if include_top:
        return keras.Model(inputs, classifier(features["stride32"], num_classes), name=name)
    return keras.Model(inputs, features, name=name)
