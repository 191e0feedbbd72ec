"""One table of named backbones: family, options, weights and preprocessing (kerasgp.presets)."""
import json
from pathlib import Path

import pytest

from kerasgp import backbones
from kerasgp.pose import build_pose_model
from kerasgp.presets import BGR_UNIT, IMAGENET, PRESETS, preprocessing_for, preset, pretrained

MANIFEST = json.loads((Path(__file__).parents[1] / "data" / "manifest.json").read_text())


def test_every_preset_names_a_family_and_every_pretrained_one_a_manifest_entry():
    assert all(p.family in backbones.REGISTRY for p in PRESETS.values())
    assert sorted(pretrained()) == ["mobilenet_v2", "shufflenet_v2_x0.5"]
    sources = {p.weights.source for p in pretrained().values()}
    assert sources <= set(MANIFEST), sources
    names = backbones.names()
    assert len(names) == len(set(names)) and set(PRESETS) <= set(names)


def test_a_preset_builds_its_family_with_its_options_and_a_callers_option_wins():
    assert backbones.get("shufflenet_v2_x1.5", input_shape=(64, 64, 3)).count_params() == \
        backbones.get("shufflenet_v2", width=1.5, input_shape=(64, 64, 3)).count_params()
    assert backbones.get("vovnet_planned", width=0.25, input_shape=(64, 64, 3)).count_params() == \
        backbones.get("vovnet", plan="planned", width=0.25, input_shape=(64, 64, 3)).count_params()
    with pytest.raises(ValueError, match="no preset named 'shufflenet_v3'"):
        preset("shufflenet_v3")


def test_every_width_multiplier_family_takes_width_and_mobilenets_scales_its_channels():
    half, full = (backbones.get("mobilenet_v2", width=w, input_shape=(64, 64, 3)) for w in (0.5, 1.0))
    assert half.output["stride16"].shape[-1] == full.output["stride16"].shape[-1] // 2
    assert full.name == "mobilenet_v2_1.0"  # the name int8 float-layer patterns use


def test_preprocessing_comes_from_the_weights_or_the_backbones_preset_else_imagenet():
    assert preprocessing_for("shufflenet_v2_x0.5", "shufflenet_v2_x0.5") is BGR_UNIT
    assert preprocessing_for("shufflenet_v2_x0.5") is BGR_UNIT  # the from-scratch twin reads what the weights read
    assert preprocessing_for("mobilenet_v2") is IMAGENET and preprocessing_for("elan_tiny") is IMAGENET
    model = build_pose_model("shufflenet_v2_x0.5", None, (64, 64), 14, "deeppose")
    assert model.get_layer("normalize").channel_order == "bgr"
    # ... and the pretrained file's layout (megvii block order, no conv5) is kept for the twin too
    assert "stage2_0_main_pw1" in {layer.name for layer in model.layers[2].layers}
