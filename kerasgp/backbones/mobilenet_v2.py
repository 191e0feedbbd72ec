"""MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018,
Table 2), in torchvision's layout: a 3x3/2 stem of 32, seventeen inverted residual blocks
(t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1), and a final
1x1 conv of 1280; ReLU6 everywhere but the linear projections. Layer names follow torchvision's
`features.N` index (features_N_expand / _dw / _project), so the ported weights map one to one.

padding="symmetric" pads the stride-2 convs as torch does (Keras' own MobileNetV2 pads asymmetrically,
which shifts every feature map by a pixel against torch-trained weights).
Feature maps: stride2 (features.1), stride4 (.3), stride8 (.6), stride16 (.13), stride32 (.18, 1280-d).
"""
from __future__ import annotations

import keras

from .common import check_padding, classifier, conv_bn

SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
FEATURE_INDEX = {"stride2": 1, "stride4": 3, "stride8": 6, "stride16": 13, "stride32": 18}


def _make_divisible(value: float, divisor: int = 8) -> int:
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def inverted_residual(x, out_channels: int, stride: int, expansion: int, *, name: str, padding: str):
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = conv_bn(y, in_channels * expansion, 1, name=f"{name}_expand", activation="relu6")
    y = conv_bn(y, 0, 3, stride, name=f"{name}_dw", padding=padding, activation="relu6", depthwise=True)
    y = conv_bn(y, out_channels, 1, name=f"{name}_project", activation=None)
    if stride == 1 and in_channels == out_channels:
        y = keras.layers.Add(name=f"{name}_add")([x, y])
    return y


def mobilenet_v2(width: float = 1.0, input_shape=(None, None, 3), include_top: bool = False,
                 num_classes: int = 1000, padding: str = "same", name: str | None = None) -> keras.Model:
    check_padding(padding)
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    inputs = keras.Input(input_shape, name="image")
    x = conv_bn(inputs, _make_divisible(32 * width), 3, 2, name="features_0", padding=padding, activation="relu6")
    index, features = 1, {}
    for t, c, n, s in SETTINGS:
        for i in range(n):
            x = inverted_residual(x, _make_divisible(c * width), s if i == 0 else 1, t, name=f"features_{index}",
                                  padding=padding)
            index += 1
            _collect(features, index - 1, x)
    x = conv_bn(x, _make_divisible(1280 * max(1.0, width)), 1, name=f"features_{index}", activation="relu6")
    _collect(features, index, x)
    name = name or f"mobilenet_v2_{width}"
    if include_top:
        return keras.Model(inputs, classifier(keras.layers.Dropout(0.2, name="head_dropout")(x), num_classes), name=name)
    return keras.Model(inputs, features, name=name)


def _collect(features, index, x):
    for key, i in FEATURE_INDEX.items():
        if i == index:
            features[key] = x
