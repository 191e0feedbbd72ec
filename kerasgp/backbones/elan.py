"""ELAN backbones of YOLOv7 (Wang, Bochkovskiy, Liao, "YOLOv7: Trainable bag-of-freebies sets new
state-of-the-art for real-time object detectors", 2022; Fig. 2 (c) for ELAN, Sec. 3.2 for compound scaling),
laid out as the official cfg files of WongKinYiu/yolov7 lay out their `backbone:` sections.

"elan" (cfg/training/yolov7.yaml, backbone layers 0-50), SiLU throughout:
  stem   Conv 32 3x3/1, Conv 64 3x3/2, Conv 64 3x3/1, Conv 128 3x3/2             (layers 0-3, stride 4)
  stage2 ELAN c=64  -> 256                                                      (layers 4-11,  stride4)
  stage3 MP-1 128+128 -> 256, ELAN c=128 -> 512                                 (layers 12-24, stride8)
  stage4 MP-1 256+256 -> 512, ELAN c=256 -> 1024                                (layers 25-37, stride16)
  stage5 MP-1 512+512 -> 1024, ELAN c=256 -> 1024                               (layers 38-50, stride32)
"elan_tiny" (cfg/training/yolov7-tiny.yaml, backbone layers 0-28), LeakyReLU(0.1) throughout:
  stem   Conv 32 3x3/2, Conv 64 3x3/2                                           (layers 0-1, stride 4)
  stage2 tiny ELAN c=32 -> 64                                                   (layers 2-7,   stride4)
  stage3-5 MaxPool 2x2/2, tiny ELAN c=64/128/256 -> 128/256/512                 (layers 8-28,  stride8/16/32)

width multiplies every channel count and rounds up to a multiple of 8 (the cfg parser's
`make_divisible(c * width_multiple, 8)`, a ceiling, in models/yolo.py; `divisor` changes the 8, which
lets a study at small widths land nearer a parameter budget); the MP-1 branches stay at half the
stage input, as in every YOLOv7 cfg. depth multiplies the 3x3 chain of each block: ELAN num_pairs =
max(1, round(2 * depth)) (depth 1.5 gives yolov7x.yaml's three pairs, whose concat [-1,-3,-5,-7,-8] and
5c transition follow from the same rule), tiny num_convs = max(1, round(2 * depth)). Simplification: the
cfgs themselves scale only the stem and MP widths from yolov7 to yolov7x; here width scales all of them
alike, so a study can match parameters with one number.

Feature maps returned (dict): stride4, stride8, stride16, stride32 (each stage's last block), or
ImageNet-style logits (global pool + dense on stride32) when include_top. The max pools pad "same" (equal
to the cfg's unpadded 2x2/2 pool on even sizes); padding="symmetric" pads the stride-2 3x3 convs as
torch does.
"""
from __future__ import annotations

import math

import keras

from ..layers.aggregation import conv_bn_act, elan_block, elan_tiny_block, mp_downsample
from .common import backbone_model, check_multipliers, check_padding, scale_depth

ELAN_STEM = (32, 64, 64, 128)
ELAN_STAGES = (64, 128, 256, 256)  # ELAN branch width c of stages 2-5 (yolov7.yaml layers 4, 17, 30, 43)
TINY_STEM = (32, 64)
TINY_STAGES = (32, 64, 128, 256)  # tiny block width c of stages 2-5 (yolov7-tiny.yaml layers 2, 9, 16, 23)


def scale_channels(channels: int, width: float, divisor: int = 8) -> int:
    """`channels * width` rounded up to a multiple of `divisor` (YOLOv5/v7's make_divisible)."""
    if not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"divisor must be a positive integer, got {divisor!r}")
    return max(divisor, math.ceil(channels * width / divisor) * divisor)


def elan(width: float = 1.0, depth: float = 1.0, input_shape=(None, None, 3), include_top: bool = False,
         num_classes: int = 1000, name: str | None = None, activation: str = "silu",
         padding: str = "same", divisor: int = 8) -> keras.Model:
    """YOLOv7's ELAN backbone (module docstring): a dict of stride4/8/16/32 feature maps, or logits."""
    check_multipliers(width, depth)
    check_padding(padding)
    num_pairs = scale_depth(2, depth)
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, (channels, stride) in enumerate(zip(ELAN_STEM, (1, 2, 1, 2)), start=1):
        x = conv_bn_act(x, scale_channels(channels, width, divisor), 3, stride, name=f"stem_conv{i}",
                        activation=activation, padding=padding)
    features = {}
    for stage, channels in enumerate(ELAN_STAGES, start=2):
        if stage > 2:
            x = mp_downsample(x, x.shape[-1] // 2, f"stage{stage}_mp", activation=activation, padding=padding)
        x = elan_block(x, scale_channels(channels, width, divisor), f"stage{stage}_elan", num_pairs=num_pairs,
                       activation=activation, padding=padding)
        features[f"stride{2 ** stage}"] = x
    return backbone_model(inputs, features, include_top, num_classes, name or f"elan_w{width}_d{depth}")


def elan_tiny(width: float = 1.0, depth: float = 1.0, input_shape=(None, None, 3), include_top: bool = False,
              num_classes: int = 1000, name: str | None = None, activation: str = "leaky_relu",
              padding: str = "same", divisor: int = 8) -> keras.Model:
    """YOLOv7-tiny's backbone (module docstring): a dict of stride4/8/16/32 feature maps, or logits."""
    check_multipliers(width, depth)
    check_padding(padding)
    num_convs = scale_depth(2, depth)
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, channels in enumerate(TINY_STEM, start=1):
        x = conv_bn_act(x, scale_channels(channels, width, divisor), 3, 2, name=f"stem_conv{i}",
                        activation=activation, padding=padding)
    features = {}
    for stage, channels in enumerate(TINY_STAGES, start=2):
        if stage > 2:
            x = keras.layers.MaxPool2D(2, 2, padding="same", name=f"stage{stage}_pool")(x)
        x = elan_tiny_block(x, scale_channels(channels, width, divisor), f"stage{stage}_elan", num_convs=num_convs,
                            activation=activation, padding=padding)
        features[f"stride{2 ** stage}"] = x
    return backbone_model(inputs, features, include_top, num_classes, name or f"elan_tiny_w{width}_d{depth}")
