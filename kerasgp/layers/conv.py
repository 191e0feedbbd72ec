"""Conv + BN (+ activation) with torch-compatible padding: the building step of the backbones and of the
blocks in this folder (the floor below kerasgp.backbones)."""
from __future__ import annotations

import keras

# PyTorch's BatchNorm epsilon; Keras defaults to 1e-3, which breaks an exact port of torch weights.
BN_EPSILON = 1e-5
# Darknet's `leaky` (and YOLOv7's nn.LeakyReLU(0.1)) has slope 0.1; Keras' "leaky_relu" string means 0.2,
# so "leaky" and "leaky_relu" passed to conv_bn / activation_layer both mean slope 0.1 here.
DARKNET_LEAKY_SLOPE = 0.1
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


def activation_layer(x, activation: str | None, name: str):
    """None: x unchanged; "leaky"/"leaky_relu": LeakyReLU(0.1); any other string: that Keras activation."""
    if activation is None:
        return x
    if activation in ("leaky", "leaky_relu"):
        return keras.layers.LeakyReLU(negative_slope=DARKNET_LEAKY_SLOPE, name=f"{name}_leaky")(x)
    return keras.layers.Activation(activation, name=f"{name}_{activation}")(x)


def conv_bn(x, filters: int, kernel_size: int, stride: int = 1, *, name: str, padding: str = "same",
            activation: str | None = "relu", depthwise: bool = False):
    x, mode = pad(x, kernel_size, stride, padding, name)
    if depthwise:
        x = keras.layers.DepthwiseConv2D(kernel_size, stride, padding=mode, use_bias=False, name=name)(x)
    else:
        x = keras.layers.Conv2D(filters, kernel_size, stride, padding=mode, use_bias=False, name=name)(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.9, name=f"{name}_bn")(x)
    return activation_layer(x, activation or None, name)
