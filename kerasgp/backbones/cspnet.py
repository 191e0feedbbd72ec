"""CSP backbones: CSP-ResNet and CSPDarknet53 (Wang, Liao, Wu, Chen, Hsieh, Yeh, "CSPNet: A New Backbone
that can Enhance Learning Capability of CNN", CVPRW 2020), the stage-level design of the gradient-path
lessons. Every stage is `kerasgp.layers.csp_stage` around a stack of units; split ("conv" | "slice"),
transition ("csp" | "fusion_first" | "fusion_last") and part_ratio are options of the whole network.

- `csp_resnet`: ResNet's stem (7x7/2 conv + 3x3/2 max pool) and stage widths, each stage a CSP stage
  around `repeats` ResNet units (basic [2, 2, 2, 2] by default, or bottleneck [3, 4, 6, 3]) that keep the
  width of their part. Stages 2-4 start with a 3x3/2 conv-BN-ReLU to the stage width (as CSPResNet does),
  so the units inside carry no stride and no projection.
- `cspdarknet`: CSPDarknet53 as in the official yolov4.cfg backbone (Bochkovskiy, Wang, Liao, "YOLOv4",
  2020, which uses it with Mish): a 3x3/1 conv of 32, then five stages [1, 2, 8, 8, 4] of (64, 128, 256,
  512, 1024) channels, each a 3x3/2 conv then a CSP stage of Darknet residual units (1x1 then 3x3). Stage 1
  splits into two parts of 64 with units 1x1 32 -> 3x3 64; stages 2-5 split into halves with units whose
  1x1 and 3x3 both keep the half width. Activation: Mish by default (the YOLOv4 backbone);
  activation="leaky" gives Darknet's LeakyReLU(0.1) of the original CSPNet cfg. On TFLite (int8 included)
  Mish = x tanh(softplus(x)) becomes five element-wise ops (EXP, ADD, LOG, TANH, MUL) after each conv, where
  "leaky" is one op or is fused: worth measuring before a CPU deployment (ShuffleNetV2's G4). With split="slice" stage 1
  slices its 64 channels into 32 + 32 like every other stage (the official (64, 64) needs the conv split).
  The feature dict starts at stride 4 (stage 2) like every backbone here; stage 1 sits at stride 2.

Common signature: fn(width=1.0, depth=1.0, input_shape=(None, None, 3), include_top=False,
num_classes=1000, name=None, **family_options), as in resnet.py.
"""
from __future__ import annotations

import keras

from ..layers.partial import csp_stage
from .blocks import conv_bn_act, repeat, scale_depth, scale_width
from .resnet import STAGE_CHANNELS as RESNET_STAGE_CHANNELS
from .resnet import STAGE_REPEATS as RESNET_STAGE_REPEATS
from .common import backbone_model
from .resnet import stem

DARKNET_STEM_CHANNELS = 32
DARKNET_STAGE_CHANNELS = (64, 128, 256, 512, 1024)
DARKNET_STAGE_REPEATS = (1, 2, 8, 8, 4)


def _repeats(default, depth: float, repeats, count: int) -> list[int]:
    repeats = default if repeats is None else tuple(repeats)
    if len(repeats) != count or min(repeats) < 1:
        raise ValueError(f"repeats must be {count} unit counts >= 1 (one per stage), got {repeats}")
    return [scale_depth(n, depth) for n in repeats]


def csp_resnet(width: float = 1.0, depth: float = 1.0, input_shape=(None, None, 3), include_top: bool = False,
               num_classes: int = 1000, name: str | None = None, *, block: str = "basic", repeats=None,
               split: str = "conv", transition: str = "csp", part_ratio: float = 0.5) -> keras.Model:
    """CSP-ResNet: ResNet stages wrapped in CSP stages (see the module docstring)."""
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"block must be 'basic' or 'bottleneck', got {block!r}")
    inputs = keras.Input(input_shape, name="image")
    x = stem(inputs, width)
    features = {}
    for stage, (channels, units) in enumerate(
            zip(RESNET_STAGE_CHANNELS[block], _repeats(RESNET_STAGE_REPEATS[block], depth, repeats, 4)), start=1):
        channels = scale_width(channels, width)
        if stage > 1:
            x = conv_bn_act(x, channels, 3, 2, name=f"stage{stage}_down")
        x = csp_stage(x, repeat(block, units), channels, name=f"stage{stage}", split=split, transition=transition,
                      part_ratio=part_ratio)
        features[f"stride{2 ** (stage + 1)}"] = x
    return backbone_model(inputs, features, include_top, num_classes,
                          name or f"csp_resnet_{block}_{split}_{transition}_w{width}_d{depth}")


def cspdarknet(width: float = 1.0, depth: float = 1.0, input_shape=(None, None, 3), include_top: bool = False,
               num_classes: int = 1000, name: str | None = None, *, activation: str = "mish", repeats=None,
               split: str = "conv", transition: str = "csp", part_ratio: float = 0.5) -> keras.Model:
    """CSPDarknet53 (yolov4.cfg backbone; see the module docstring)."""
    inputs = keras.Input(input_shape, name="image")
    x = conv_bn_act(inputs, scale_width(DARKNET_STEM_CHANNELS, width), 3, name="stem_conv", activation=activation)
    features = {}
    for stage, (channels, units) in enumerate(
            zip(DARKNET_STAGE_CHANNELS, _repeats(DARKNET_STAGE_REPEATS, depth, repeats, 5)), start=1):
        channels = scale_width(channels, width)
        x = conv_bn_act(x, channels, 3, 2, name=f"stage{stage}_down", activation=activation)
        options = dict(name=f"stage{stage}", split=split, transition=transition, part_ratio=part_ratio,
                       activation=activation)
        if stage == 1 and split == "conv":
            # yolov4.cfg's first stage: both parts keep all 64 channels, units 1x1 32 -> 3x3 64
            block_fn = repeat("darknet", units, hidden_channels=channels // 2, activation=activation)
            x = csp_stage(x, block_fn, channels, part_channels=(channels, channels), **options)
        else:
            x = csp_stage(x, repeat("darknet", units, activation=activation), channels, **options)
        if stage > 1:
            features[f"stride{2 ** stage}"] = x
    return backbone_model(inputs, features, include_top, num_classes,
                          name or f"cspdarknet_{split}_{transition}_w{width}_d{depth}")
