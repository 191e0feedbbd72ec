"""VoVNet (Lee, Hwang, Lee, Bae, Park, "An Energy and GPU-Computation Efficient Backbone Network for
Real-Time Object Detection", CVPRW 2019, Sec. 3.3), with the channel configs of the reference code
(stigma0617/VoVNet.pytorch, models_vovnet/vovnet.py):

  stem    3x3/2 64, 3x3/1 64, 3x3/2 128 (conv + BN + ReLU)                              -> stride 4
  stage2  OSA modules                                                                   -> stride4
  stage3-5 MaxPool 3x3/2, OSA modules                                                   -> stride8/16/32
  variant   stage_channels        concat_channels        OSA modules per stage
  "27_slim" (64, 80, 96, 112)     (128, 256, 384, 512)   (1, 1, 1, 1)
  "39"      (128, 160, 192, 224)  (256, 512, 768, 1024)  (1, 1, 2, 2)
  "57"      (128, 160, 192, 224)  (256, 512, 768, 1024)  (1, 1, 4, 3)
Five 3x3 convs per OSA module (layers_per_block) in every variant.

plan (the gradient-path paper's VoVNet experiment, Wang, Liao, Yeh 2022: transitions per OSA vs only at
the end of a stage):
- "per_module" (VoVNet as published): every OSA module ends in its own 1x1 transition to concat_channels.
- "planned": only the last OSA module of each stage has a transition; the modules before it pass their
  whole concat on. Channel counts stay consistent because an OSA module accepts any input width: in a
  stage of n modules, module k (1-based) takes in + (k - 1) * 5 * stage_channels channels, and the last
  module's transition maps its concat back to concat_channels, so every stage still outputs
  concat_channels and the next stage is unchanged. Only the number of 1x1 transitions differs (4 instead
  of the sum of the module counts); the first 3x3 of a module after an untransitioned one is wider, so the
  parameter counts differ too. With one module per stage (27_slim) both plans are the same network.
residual=True (plan "per_module" only) adds the identity the reference code puts on every module after a
stage's first (VoVNetV2's residual); the CVPRW paper has none, hence the default False.

width multiplies every channel count, rounded up to a multiple of 8; depth multiplies the number of OSA
modules per stage (rounded half up, at least 1). Max pools pad "same", which equals the reference code's
ceil_mode=True pool on even sizes; padding="symmetric" pads the stride-2 stem convs as torch does.
Feature maps returned (dict): stride4 (stage 2), stride8, stride16, stride32, or ImageNet logits
(global pool + dense on stride32, as the reference classifier) when include_top.
"""
from __future__ import annotations

import keras

from ..layers.aggregation import conv_bn_act, osa_module
from .common import backbone_model, check_multipliers, check_padding, scale_depth
from .elan import scale_channels

STEM = (64, 64, 128)
VARIANTS = {
    "27_slim": {"stage_channels": (64, 80, 96, 112), "concat_channels": (128, 256, 384, 512), "blocks": (1, 1, 1, 1)},
    "39": {"stage_channels": (128, 160, 192, 224), "concat_channels": (256, 512, 768, 1024), "blocks": (1, 1, 2, 2)},
    "57": {"stage_channels": (128, 160, 192, 224), "concat_channels": (256, 512, 768, 1024), "blocks": (1, 1, 4, 3)},
}
PLANS = ("per_module", "planned")


def vovnet(width: float = 1.0, depth: float = 1.0, input_shape=(None, None, 3), include_top: bool = False,
           num_classes: int = 1000, name: str | None = None, variant: str = "39", plan: str = "per_module",
           layers_per_block: int = 5, residual: bool = False, padding: str = "same") -> keras.Model:
    """VoVNet `variant` with transitions per `plan` (module docstring): a dict of stride4/8/16/32 feature
    maps, or logits."""
    check_multipliers(width, depth)
    check_padding(padding)
    if variant not in VARIANTS:
        raise ValueError(f"VoVNet variant must be one of {sorted(VARIANTS)}, got {variant!r}")
    if plan not in PLANS:
        raise ValueError(f"plan must be one of {PLANS}, got {plan!r}")
    if residual and plan == "planned":
        raise ValueError("residual=True needs plan='per_module': a planned stage's modules before the last "
                         "have no transition, so their input and output widths differ")
    config = VARIANTS[variant]
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for i, (channels, stride) in enumerate(zip(STEM, (2, 1, 2)), start=1):
        x = conv_bn_act(x, scale_channels(channels, width), 3, stride, name=f"stem_conv{i}", activation="relu",
                        padding=padding)
    features = {}
    for stage, (stage_channels, concat_channels, blocks) in enumerate(
            zip(config["stage_channels"], config["concat_channels"], config["blocks"]), start=2):
        if stage > 2:
            x = keras.layers.MaxPool2D(3, 2, padding="same", name=f"stage{stage}_pool")(x)
        stage_channels, concat_channels = scale_channels(stage_channels, width), scale_channels(concat_channels, width)
        blocks = scale_depth(blocks, depth)
        for block in range(1, blocks + 1):
            last = block == blocks
            x = osa_module(x, stage_channels, concat_channels, layers_per_block,
                           transition=last or plan == "per_module", name=f"stage{stage}_osa{block}",
                           residual=residual and block > 1, padding=padding)
        features[f"stride{2 ** stage}"] = x
    suffix = "" if plan == "per_module" else "_planned"
    name = name or f"vovnet{variant}{suffix}_w{width}_d{depth}"
    return backbone_model(inputs, features, include_top, num_classes, name)
