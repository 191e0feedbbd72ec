"""Named backbones in one table, after keras-hub's presets: a name gives the family that builds it, the options
that name fixes, the pretrained weights it can load and the input preprocessing those weights were trained on.

    backbones.get("shufflenet_v2_x0.5")                               # the family with width=0.5
    backbones.get("shufflenet_v2_x0.5", weights="shufflenet_v2_x0.5")  # and the ported ImageNet weights
    build_pose_model("mobilenet_v2", "mobilenet_v2")                   # ImageNet mean/std inside the model

Pure data: `weights` (porting, loading), `backbones` (building) and `pose` (preprocessing) all read it. Every
family takes `width` as its channel multiplier except QuadraNet, whose `width` is the first stage's channel
count C (its paper's and official code's parameter; the QuadraNet studies and search record it so).
"""
from __future__ import annotations

from dataclasses import dataclass, field

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "channel_order": "rgb"}
# Yolo-FastestV2 (where the 0.5x ShuffleNetV2 weights come from) feeds OpenCV's BGR / 255, no mean or
# std; the first BatchNorm's running statistics agree (lesson 07 measures it).
BGR_UNIT = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "channel_order": "bgr"}


@dataclass(frozen=True)
class Pretrained:
    """Pretrained weights: `source`, the data/manifest.json entry of the torch file; `options`, the
    architecture they need (a caller asking for another value is an error); `defaults`, the options the file's
    layout implies, which a caller may override (ShuffleNetV2 0.5x's file has no conv5)."""
    source: str
    options: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Preset:
    """family: the `backbones.REGISTRY` builder; options: what the name fixes; weights: the pretrained
    weights of that name, if any; preprocessing: the input the weights were trained on, which a from-scratch
    twin of the same name uses too, so that only the weights differ between the two."""
    family: str
    options: dict = field(default_factory=dict)
    weights: Pretrained | None = None
    preprocessing: dict = field(default_factory=lambda: IMAGENET)


PRESETS = {
    "shufflenet_v2_x0.5": Preset("shufflenet_v2", {"width": 0.5}, Pretrained(
        "shufflenet_v2_x0.5", {"width": 0.5, "block_order": "megvii", "padding": "symmetric"},
        {"include_conv5": False}), BGR_UNIT),
    **{f"shufflenet_v2_x{w}": Preset("shufflenet_v2", {"width": w}) for w in (1.0, 1.5, 2.0)},
    "mobilenet_v2": Preset("mobilenet_v2", {}, Pretrained("mobilenet_v2", {"width": 1.0, "padding": "symmetric"}),
                           IMAGENET),
    "vovnet_planned": Preset("vovnet", {"plan": "planned"}),  # only the last OSA of a stage has a transition
    # The official QuadraNet_tiny36_dw and QuadraNet_base_dw36 (C = 64 / 128, depths [3, 3, 27, 3]).
    "quadranet_tiny36": Preset("quadranet", {"width": 64, "depths": (3, 3, 27, 3)}),
    "quadranet_base36": Preset("quadranet", {"width": 128, "depths": (3, 3, 27, 3)}),
}


def pretrained() -> dict[str, Preset]:
    """The presets that come with pretrained weights, by name."""
    return {name: preset for name, preset in PRESETS.items() if preset.weights is not None}


def preset(name: str) -> Preset:
    """The preset `name`, or a ValueError naming the known ones."""
    if name not in PRESETS:
        raise ValueError(f"no preset named {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]


def preprocessing_for(backbone: str, weights: str | None = None) -> dict:
    """The input preprocessing of a pose model on `backbone` with `weights`: the weights' (or, from scratch, the
    backbone preset's), ImageNet's for a name without a preset."""
    found = PRESETS.get(weights or backbone)
    return found.preprocessing if found is not None else IMAGENET
