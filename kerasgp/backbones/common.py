"""Building blocks shared by the backbones: conv + BN (+ activation) with torch-compatible padding."""
from __future__ import annotations

import keras

# PyTorch's BatchNorm epsilon; Keras defaults to 1e-3, which breaks an exact port of torch weights.
BN_EPSILON = 1e-5
PADDINGS = ("same", "symmetric")


def check_padding(padding: str) -> None:
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")


def pad(x, kernel_size: int, stride: int, padding: str, name: str):
    """Explicit symmetric padding for strided convs when `padding="symmetric"` (torch's rule).

    Keras' "same" pads a stride-2 3x3 conv on an even input by (0, 1), torch by (1, 1): the outputs
    shift by one pixel, so weights trained in torch need the torch rule to give the same features.
    """
    if padding == "symmetric" and stride > 1 and kernel_size > 1:
        return keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x), "valid"
    return x, "same"


def conv_bn(x, filters: int, kernel_size: int, stride: int = 1, *, name: str, padding: str = "same",
            activation: str | None = "relu", depthwise: bool = False):
    x, mode = pad(x, kernel_size, stride, padding, name)
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel_size, stride, padding=mode, use_bias=False, name=name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel_size, stride, padding=mode, use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.9, name=f"{name}_bn")(x)
    if activation:
        x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def classifier(x, num_classes: int, name: str = "head"):
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    return keras.layers.Dense(num_classes, name=f"{name}_fc")(x)
