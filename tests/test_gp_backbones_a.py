"""Gradient-path backbones, part A (plain, ResNet, PRN-ResNet, CSP-ResNet, CSPDarknet53) and the blocks
they share: feature strides, multipliers, options, .keras round trips, and parameter counts pinned against
the reference implementations."""
import functools
import math

import keras
import numpy as np
import pytest

from conftest import input_gradient
from kerasgp import backbones
from kerasgp.backbones.blocks import basic_block, bottleneck_block, darknet_unit, scale_depth, scale_width

FAMILIES = ["plain", "resnet", "prn_resnet", "csp_resnet", "cspdarknet"]
SMALL = dict(width=0.25, depth=0.25, input_shape=(64, 64, 3))


@functools.cache
def _small(family, **options):
    """One small model per (family, options), shared by the tests that only read it (builds dominate)."""
    return backbones.get(family, **{**SMALL, **options})


def _params(model):
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _input_gradient(model, x):
    """d sum(model(x)) / dx in inference mode."""
    return input_gradient(lambda t: model(t, training=False), x)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_returns_feature_maps_at_strides_4_to_32(family):
    model = _small(family)
    assert {k: tuple(v.shape[1:3]) for k, v in model.output.items()} == {
        "stride4": (16, 16), "stride8": (8, 8), "stride16": (4, 4), "stride32": (2, 2)}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_round_trips_through_a_keras_file_in_safe_mode(family, tmp_path):
    model = _small(family)
    model.save(tmp_path / f"{family}.keras")
    again = keras.saving.load_model(tmp_path / f"{family}.keras", safe_mode=True)
    x = np.random.default_rng(0).normal(size=(1, 64, 64, 3)).astype("float32")
    first, second = model(x), again(x)
    assert all(np.array_equal(_np(first[k]), _np(second[k])) for k in first)


# Parameter counts do not depend on the backend; under JAX every new weight shape compiles its initializer
# (about 0.1-0.4 s each), which makes the full-width builds the slowest tests by far, so they skip JAX.
full_width = pytest.mark.skipif(keras.backend.backend() == "jax",
                                reason="backend-independent parameter count; full-width builds are slow under JAX")


@full_width
def test_resnet_at_width_1_has_torchvisions_resnet18_and_resnet50_parameter_counts():
    # torchvision.models.resnet18 / resnet50 (IMAGENET1K_V1 model cards): 11,689,512 and 25,557,032 parameters
    assert _params(backbones.get("resnet", include_top=True, input_shape=(224, 224, 3))) == 11_689_512
    resnet50 = backbones.get("resnet", block="bottleneck", include_top=True, input_shape=(224, 224, 3))
    assert _params(resnet50) == 25_557_032


def test_the_plain_network_is_resnet_without_its_shortcut_projections():
    plain, resnet = _small("plain"), _small("resnet")
    # the three downsampling units' 1x1 projections (conv + BN), at width 0.25: 16->32, 32->64, 64->128
    projections = sum(c_in * c_out + 2 * c_out for c_in, c_out in ((16, 32), (32, 64), (64, 128)))
    assert _params(plain) + projections == _params(resnet)
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)


@full_width
def test_cspdarknet53_with_a_classifier_has_the_yolov4_backbones_parameter_count():
    # our count for yolov4.cfg's backbone + a 1000-class head; timm reports 27.6 M for cspdarknet53
    model = backbones.get("cspdarknet", include_top=True, input_shape=(224, 224, 3))
    assert _params(model) == 27_642_184
    assert model.get_layer("stage1_cross").output.shape[-1] == 64  # stage 1 keeps 64 channels in both parts
    assert model.get_layer("stage3_cross").output.shape[-1] == 128  # later stages split 256 in halves


@pytest.mark.parametrize("family", FAMILIES)
def test_width_and_depth_multipliers_raise_the_parameter_count_monotonically(family):
    small = _params(_small(family))  # width 0.25, depth 0.25
    assert small < _params(_small(family, width=0.5)) and small < _params(_small(family, depth=0.75))


def test_multipliers_round_channels_to_multiples_of_8_and_units_to_at_least_one():
    assert [scale_width(64, w) for w in (0.25, 0.5, 0.75, 1.0, 1.5)] == [16, 32, 48, 64, 96]
    assert scale_width(116, 0.5) == 56 and scale_width(8, 0.1) == 8
    assert [scale_depth(8, d) for d in (0.1, 0.33, 0.5, 1.0)] == [1, 3, 4, 8]
    model = _small("resnet", width=0.5, depth=0.5)
    assert model.output["stride32"].shape[-1] == 256
    assert sum(layer.name.endswith("_add") for layer in model.layers) == 4  # one unit per stage


def test_prn_resnet_masks_half_of_each_shortcut_and_projects_only_those_channels():
    resnet, prn = _small("resnet"), _small("prn_resnet")
    assert type(prn.get_layer("stage1_0_add")).__name__ == "MaskedResidual"
    assert type(prn.get_layer("stage2_0_add")).__name__ == "AsymmetricResidual"
    projection = "stage2_0_projection"
    assert prn.get_layer(projection).output.shape[-1] * 2 == resnet.get_layer(projection).output.shape[-1]
    full = _small("prn_resnet", fraction=1.0)
    assert _params(prn) < _params(full) == _params(resnet)  # fraction 1 is ResNet's residual


def test_asymmetric_resnet_needs_no_projection():
    model = _small("resnet", residual="asymmetric")
    names = [layer.name for layer in model.layers]
    assert not any(name.endswith("_projection") for name in names)
    assert "stage2_0_subsample" in names  # darknet's stride sampling of the wider map


def _unit_model(stop_gradient, channels=8):
    inputs = keras.Input((5, 5, channels))
    return keras.Model(inputs, basic_block(inputs, channels, "unit", stop_gradient=stop_gradient))


def test_a_unit_with_its_block_stopped_passes_gradient_through_the_identity_only():
    x = np.random.default_rng(1).normal(size=(1, 5, 5, 8)).astype("float32")
    model = _unit_model("block")
    y = _np(model(x, training=False))
    # y = relu(stop(F(x)) + x): d sum(y) / dx is 1 where the output is positive, 0 elsewhere
    assert np.array_equal(_input_gradient(model, x), (y > 0).astype("float32"))
    unstopped = _unit_model(None)
    unstopped.set_weights(model.get_weights())
    assert not np.allclose(_input_gradient(unstopped, x), (y > 0).astype("float32"))
    stopped_identity = _unit_model("identity")
    stopped_identity.set_weights(model.get_weights())
    assert np.allclose(_input_gradient(stopped_identity, x) + (y > 0), _input_gradient(unstopped, x), atol=1e-5)


def test_csp_resnet_and_cspdarknet_take_every_split_and_transition():
    for split in ("conv", "slice"):
        for transition in ("csp", "fusion_first", "fusion_last"):
            model = _small("csp_resnet", split=split, transition=transition)
            assert model.output["stride32"].shape[-1] == 128
    dark = _small("cspdarknet", split="slice", transition="fusion_first", activation="leaky")
    assert dark.output["stride32"].shape[-1] == 256
    leaky = [layer for layer in dark.layers if isinstance(layer, keras.layers.LeakyReLU)]
    assert leaky and all(abs(layer.negative_slope - 0.1) < 1e-7 for layer in leaky)  # darknet's slope


def test_cspdarknet_uses_mish_by_default():
    model = _small("cspdarknet")
    activations = {layer.get_config()["activation"] for layer in model.layers
                   if isinstance(layer, keras.layers.Activation)}
    assert activations == {"mish"}


def test_blocks_have_the_widths_and_shortcuts_of_their_papers():
    inputs = keras.Input((8, 8, 16))
    y = bottleneck_block(inputs, 64, "bottleneck", stride=2)
    assert tuple(y.shape[1:]) == (4, 4, 64)
    model = keras.Model(inputs, y)
    assert model.get_layer("bottleneck_conv1").output.shape[-1] == 16  # 64 / expansion 4
    y = darknet_unit(inputs, 24, "dark", hidden_channels=8)  # 16 -> 24: darknet adds over the shared 16
    assert y.shape[-1] == 24
    assert type(keras.Model(inputs, y).get_layer("dark_add")).__name__ == "AsymmetricResidual"


def test_bad_family_options_are_errors_that_name_the_choices():
    with pytest.raises(ValueError, match="block must be 'basic' or 'bottleneck'"):
        backbones.get("resnet", block="dense")
    with pytest.raises(ValueError, match="residual must be one of"):
        backbones.get("resnet", residual="half", **SMALL)
    with pytest.raises(ValueError, match="stop_gradient must be one of"):
        backbones.get("resnet", stop_gradient="both", **SMALL)
    with pytest.raises(ValueError, match="repeats must be 5 unit counts"):
        backbones.get("cspdarknet", repeats=(1, 2, 8, 8))
    with pytest.raises(ValueError, match="width must be > 0"):
        backbones.get("plain", width=0)
    with pytest.raises(ValueError, match="split must be one of"):
        backbones.get("csp_resnet", split="halves", **SMALL)
