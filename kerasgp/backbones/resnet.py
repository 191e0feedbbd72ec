"""Plain networks, ResNet and PRN-ResNet: the layer-level baselines of the gradient-path lessons.

Layout: torchvision's ResNet (He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition",
CVPR 2016, Table 1): a 7x7/2 conv-BN-ReLU stem of 64 and a 3x3/2 max pool (stride 4), then four stages
of (64, 128, 256, 512) channels at strides 4, 8, 16, 32, the first unit of stages 2-4 carrying the stride.
- `plain`: the stages are stacks of 3x3 conv-BN-ReLU with no shortcut (the paper's "plain-18" when
  repeats are [2, 2, 2, 2] and two convs per unit).
- `resnet`: basic blocks [2, 2, 2, 2] at depth 1 (ResNet-18; width 1 with include_top has torchvision
  resnet18's 11,689,512 parameters), or block="bottleneck" with [3, 4, 6, 3] and stage outputs
  (256, 512, 1024, 2048) (ResNet-50, 25,557,032). Options for the gradient-path experiments: residual=
  "full" | "masked" | "asymmetric", fraction, stop_gradient=None | "identity" | "block" (see blocks.py).
- `prn_resnet`: ResNet with PRN's masked residual (Wang et al., "Enriching Variety of Layer-wise Learning
  Information by Gradient Combination", ICCVW 2019): the shortcut reaches only the first
  round(fraction * C) channels of every unit; downsampling units project only those channels.

Common signature (kerasgp.backbones registry): fn(width=1.0, depth=1.0, input_shape=(None, None, 3),
include_top=False, num_classes=1000, name=None, **family_options); `width` scales every channel count
(rounded to a multiple of 8), `depth` every stage's unit count (rounded half up, at least 1). Output: a
dict of feature maps "stride4" .. "stride32" (the stage outputs), or class logits with include_top.
"""
from __future__ import annotations

import keras

from .blocks import basic_block, bottleneck_block, conv_bn_act, plain_block, scale_depth, scale_width
from .common import backbone_model

STEM_CHANNELS = 64
STAGE_CHANNELS = {"basic": (64, 128, 256, 512), "bottleneck": (256, 512, 1024, 2048), "plain": (64, 128, 256, 512)}
STAGE_REPEATS = {"basic": (2, 2, 2, 2), "bottleneck": (3, 4, 6, 3), "plain": (2, 2, 2, 2)}


def stem(inputs, width: float, activation: str = "relu"):
    """torchvision's ResNet stem: 7x7/2 conv-BN-act and a 3x3/2 max pool (stride 4)."""
    x = conv_bn_act(inputs, scale_width(STEM_CHANNELS, width), 7, 2, name="stem_conv", activation=activation)
    return keras.layers.MaxPool2D(3, 2, padding="same", name="stem_pool")(x)


def _stage_repeats(block: str, depth: float, repeats) -> list[int]:
    repeats = STAGE_REPEATS[block] if repeats is None else tuple(repeats)
    if len(repeats) != 4 or min(repeats) < 1:
        raise ValueError(f"repeats must be four unit counts >= 1 (one per stage), got {repeats}")
    return [scale_depth(n, depth) for n in repeats]


def plain(width: float = 1.0, depth: float = 1.0, input_shape=(None, None, 3), include_top: bool = False,
          num_classes: int = 1000, name: str | None = None, *, repeats=None, layers_per_unit: int = 2) -> keras.Model:
    """ResNet's layout with every shortcut removed: stages of `repeats` units of `layers_per_unit` 3x3 convs."""
    inputs = keras.Input(input_shape, name="image")
    x = stem(inputs, width)
    features = {}
    for stage, (channels, units) in enumerate(zip(STAGE_CHANNELS["plain"], _stage_repeats("plain", depth, repeats)),
                                              start=1):
        for i in range(units):
            stride = 2 if stage > 1 and i == 0 else 1
            x = plain_block(x, scale_width(channels, width), f"stage{stage}_{i}", num_layers=layers_per_unit,
                            stride=stride)
        features[f"stride{2 ** (stage + 1)}"] = x
    return backbone_model(inputs, features, include_top, num_classes, name or f"plain_w{width}_d{depth}")


def resnet(width: float = 1.0, depth: float = 1.0, input_shape=(None, None, 3), include_top: bool = False,
           num_classes: int = 1000, name: str | None = None, *, block: str = "basic", repeats=None,
           residual: str = "full", fraction: float = 0.5, stop_gradient: str | None = None) -> keras.Model:
    """ResNet (torchvision layout) with the gradient-path options of blocks.basic_block/bottleneck_block."""
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
    unit = basic_block if block == "basic" else bottleneck_block
    inputs = keras.Input(input_shape, name="image")
    x = stem(inputs, width)
    features = {}
    for stage, (channels, units) in enumerate(zip(STAGE_CHANNELS[block], _stage_repeats(block, depth, repeats)),
                                              start=1):
        for i in range(units):
            stride = 2 if stage > 1 and i == 0 else 1
            x = unit(x, scale_width(channels, width), f"stage{stage}_{i}", stride=stride, residual=residual,
                     fraction=fraction, stop_gradient=stop_gradient)
        features[f"stride{2 ** (stage + 1)}"] = x
    default = f"resnet_{block}" if residual == "full" else f"resnet_{block}_{residual}"
    return backbone_model(inputs, features, include_top, num_classes, name or f"{default}_w{width}_d{depth}")


def prn_resnet(width: float = 1.0, depth: float = 1.0, input_shape=(None, None, 3), include_top: bool = False,
               num_classes: int = 1000, name: str | None = None, *, fraction: float = 0.5, block: str = "basic",
               repeats=None, stop_gradient: str | None = None) -> keras.Model:
    """PRN-ResNet: `resnet(residual="masked")`, the identity added to the first round(fraction * C) channels."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    return resnet(width, depth, input_shape, include_top, num_classes,
                  name or f"prn_resnet_{block}_f{fraction}_w{width}_d{depth}", block=block, repeats=repeats,
                  residual="masked", fraction=fraction, stop_gradient=stop_gradient)
