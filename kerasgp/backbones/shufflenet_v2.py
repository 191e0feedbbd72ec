"""ShuffleNetV2 (Ma, Zhang, Zheng, Sun, "ShuffleNet V2: Practical Guidelines for Efficient CNN
Architecture Design", ECCV 2018; Table 5 for the widths, Fig. 3 (c)/(d) for the units).

Stem 3x3/2 conv (24) + 3x3/2 max pool, stages 2-4 of [4, 8, 4] units, final 1x1 conv (1024; 2048 at
2.0x). A stride-1 unit splits the channels in two, keeps one half and sends the other through
1x1 -> dw3x3 -> 1x1, concatenates, then shuffles; a stride-2 unit has no split, two branches.

block_order:
- "torchvision" (default): split into halves, concat, then ChannelShuffle(2) at the unit's end; branch
  widths = out/2 (torchvision.models.shufflenet_v2_x*, whose parameter counts the tests pin).
- "megvii": the original code (megvii-model/ShuffleNet-Series): a stride-1 unit splits channels
  even/odd at its start, which is the shuffle and the split in one op, with no shuffle after the
  concat; a stride-2 unit's projection branch keeps the input width and the main branch makes
  out - in channels. The pretrained 0.5x weights were trained in this order (at 0.5x the widths of both
  orders coincide).
padding: "same" (Keras) or "symmetric" (torch's rule for the stride-2 convs and the max pool; needed to
reproduce torch-trained weights exactly).

Feature maps returned (dict): stride4 (after the max pool), stride8/16/32 (stages 2/3/4) and conv5
(the final 1x1 conv, at stride 32) unless include_conv5=False.

Appendix variants (the paper's appendix figure "ShuffleNet v2 with residual / with SE", used for its
large models, Table 7/8):
- residual=True: in a stride-1 unit the branch's input half is added to the branch's output (an identity
  around 1x1 -> dw3x3 -> 1x1); stride-2 units have no residual (their shapes change).
- se=True: a squeeze-and-excitation module (Hu et al., SENet) on the branch output, before the concat,
  in every unit. The paper does not give the reduction ratio; we use 4, as megvii's ShuffleNetV2+ code
  does, with ReLU and a sigmoid gate (the "+" model's hard-sigmoid is not in the paper).
Both leave the default network (and its pinned parameter counts) untouched.
"""
from __future__ import annotations

import keras

from ..layers import ChannelShuffle, ChannelSplit
from .common import check_padding, classifier, conv_bn, pad

STAGE_CHANNELS = {0.5: (48, 96, 192), 1.0: (116, 232, 464), 1.5: (176, 352, 704), 2.0: (244, 488, 976)}
STAGE_REPEATS = (4, 8, 4)
BLOCK_ORDERS = ("torchvision", "megvii")


SE_REDUCTION = 4


def squeeze_excite(x, *, name: str, reduction: int = SE_REDUCTION):
    """SENet's channel gate: global pool -> 1x1 (C/r, ReLU) -> 1x1 (C, sigmoid) -> scale the input.

    Built from 1x1 convs on a (1, 1, C) map rather than Dense layers so the gate stays 4-D for TFLite."""
    channels = x.shape[-1]
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    gate = keras.layers.Conv2D(max(channels // reduction, 8), 1, activation="relu", name=f"{name}_reduce")(gate)
    gate = keras.layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_expand")(gate)
    return keras.layers.Multiply(name=f"{name}_scale")([x, gate])


def shuffle_unit(x, out_channels: int, stride: int, *, name: str, block_order: str = "torchvision",
                 padding: str = "same", se: bool = False, residual: bool = False):
    in_channels = x.shape[-1]
    if stride == 1:
        if in_channels != out_channels:
            raise ValueError(f"{name}: a stride-1 unit keeps its width; got {in_channels} -> {out_channels}")
        kept, main = ChannelSplit("even_odd" if block_order == "megvii" else "halves", name=f"{name}_split")(x)
        main_mid = main_out = out_channels // 2
    else:
        main = x
        if block_order == "megvii":
            proj_out, main_mid, main_out = in_channels, out_channels // 2, out_channels - in_channels
        else:
            proj_out = main_mid = main_out = out_channels // 2
        kept = conv_bn(x, in_channels, 3, stride, name=f"{name}_proj_dw", padding=padding, activation=None,
                       depthwise=True)
        kept = conv_bn(kept, proj_out, 1, name=f"{name}_proj_pw")
    branch_input = main
    main = conv_bn(main, main_mid, 1, name=f"{name}_main_pw1")
    main = conv_bn(main, main_mid, 3, stride, name=f"{name}_main_dw", padding=padding, activation=None,
                   depthwise=True)
    main = conv_bn(main, main_out, 1, name=f"{name}_main_pw2")
    if se:
        main = squeeze_excite(main, name=f"{name}_se")
    if residual and stride == 1:
        main = keras.layers.Add(name=f"{name}_residual")([main, branch_input])
    y = keras.layers.Concatenate(name=f"{name}_concat")([kept, main])
    if block_order == "torchvision":
        y = ChannelShuffle(2, name=f"{name}_shuffle")(y)
    return y


def shufflenet_v2(width: float = 1.0, input_shape=(None, None, 3), include_top: bool = False,
                  num_classes: int = 1000, include_conv5: bool = True, block_order: str = "torchvision",
                  padding: str = "same", se: bool = False, residual: bool = False,
                  name: str | None = None) -> keras.Model:
    """ShuffleNetV2 at `width` (0.5, 1.0, 1.5, 2.0): a Functional model with a dict of feature maps, or
    class logits when include_top. se / residual: the appendix variants (module docstring)."""
    if width not in STAGE_CHANNELS:
        raise ValueError(f"ShuffleNetV2 width must be one of {sorted(STAGE_CHANNELS)}, got {width}")
    if block_order not in BLOCK_ORDERS:
        raise ValueError(f"block_order must be one of {BLOCK_ORDERS}, got {block_order!r}")
    check_padding(padding)
    if include_top and not include_conv5:
        raise ValueError("include_top needs include_conv5: the classifier sits on the final 1x1 conv")
    inputs = keras.Input(input_shape, name="image")
    x = conv_bn(inputs, 24, 3, 2, name="stem_conv", padding=padding)
    x, mode = pad(x, 3, 2, padding, "stem_pool")
    x = keras.layers.MaxPool2D(3, 2, padding=mode, name="stem_pool")(x)
    features = {"stride4": x}
    for stage, (channels, repeats) in enumerate(zip(STAGE_CHANNELS[width], STAGE_REPEATS), start=2):
        for i in range(repeats):
            x = shuffle_unit(x, channels, 2 if i == 0 else 1, name=f"stage{stage}_{i}", block_order=block_order,
                             padding=padding, se=se, residual=residual)
        features[f"stride{2 ** (stage + 1)}"] = x
    if include_conv5:
        x = conv_bn(x, 2048 if width == 2.0 else 1024, 1, name="conv5")
        features["conv5"] = x
    name = name or f"{'se_' if se else ''}shufflenet_v2_x{width}{'_residual' if residual else ''}"
    if include_top:
        return keras.Model(inputs, classifier(x, num_classes), name=name)
    return keras.Model(inputs, features, name=name)
