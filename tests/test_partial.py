"""PRN's partial residuals, the stop-gradient layer and CSPNet's stage (kerasgp.layers.partial, .gradient)
against NumPy references, on whichever backend KERAS_BACKEND names."""
import math

import keras
import numpy as np
import pytest

from conftest import input_gradient as gradient
from kerasgp.backbones.blocks import basic_block, dense_block, repeat
from kerasgp.layers import AsymmetricResidual, ChannelSlice, MaskedResidual, StopGradient, csp_stage


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _masked_reference(block, identity, k):
    out = block.copy()
    out[..., :k] += identity[..., :k]
    return out


def _darknet_shortcut_reference(block, identity):
    """darknet's shortcut_cpu, loop for loop: out = copy(block); out[k] += add[k] for k < min(c1, c2)."""
    out = block.copy()
    for k in range(min(block.shape[-1], identity.shape[-1])):
        out[..., k] = out[..., k] + identity[..., k]
    return out


@pytest.mark.parametrize("fraction,k", [(0.0, 0), (0.25, 2), (0.5, 4), (1.0, 8)])
def test_masked_residual_adds_the_identity_to_the_first_fraction_of_channels(fraction, k):
    rng = np.random.default_rng(0)
    block, identity = (rng.normal(size=(2, 3, 4, 8)).astype("float32") for _ in range(2))
    y = _np(MaskedResidual(fraction)([block, identity]))
    assert np.allclose(y, _masked_reference(block, identity, k), atol=1e-6)
    assert np.array_equal(y[..., k:], block[..., k:])  # the unmasked channels carry F(x) alone


def test_masked_residual_takes_an_exact_channel_count_and_rounds_fractions_half_up():
    rng = np.random.default_rng(1)
    block, identity = (rng.normal(size=(1, 2, 2, 5)).astype("float32") for _ in range(2))
    assert np.allclose(_np(MaskedResidual(channels=1)([block, identity])), _masked_reference(block, identity, 1))
    assert np.allclose(_np(MaskedResidual(0.5)([block, identity])), _masked_reference(block, identity, 3))  # 2.5 -> 3


def test_masked_residual_passes_gradient_to_the_identity_only_on_its_masked_channels():
    block = np.random.default_rng(2).normal(size=(1, 2, 2, 6)).astype("float32")
    layer = MaskedResidual(0.5)
    grad = gradient(lambda identity: layer([keras.ops.convert_to_tensor(block), identity]),
                    np.ones((1, 2, 2, 6), "float32"))
    assert np.array_equal(grad, np.broadcast_to(np.array([1, 1, 1, 0, 0, 0], "float32"), grad.shape))


def test_masked_residual_rejects_bad_arguments():
    with pytest.raises(ValueError, match="not both"):
        MaskedResidual(0.5, channels=2)
    with pytest.raises(ValueError, match=r"fraction must lie in \[0, 1\]"):
        MaskedResidual(1.5)
    with pytest.raises(ValueError, match="same channels; got 8 and 4"):
        MaskedResidual()([np.zeros((1, 2, 2, 8), "float32"), np.zeros((1, 2, 2, 4), "float32")])
    with pytest.raises(ValueError, match=r"masked channel count must lie in \[0, 8\]"):
        MaskedResidual(channels=9)([np.zeros((1, 2, 2, 8), "float32")] * 2)


@pytest.mark.parametrize("block_channels,identity_channels", [(8, 5), (5, 8), (6, 6)])
def test_asymmetric_residual_follows_darknets_shortcut_rule(block_channels, identity_channels):
    rng = np.random.default_rng(3)
    block = rng.normal(size=(2, 3, 3, block_channels)).astype("float32")
    identity = rng.normal(size=(2, 3, 3, identity_channels)).astype("float32")
    y = _np(AsymmetricResidual()([block, identity]))
    assert y.shape == block.shape  # the output keeps the block's channels, whichever side is wider
    assert np.allclose(y, _darknet_shortcut_reference(block, identity), atol=1e-6)


def test_asymmetric_residual_needs_equal_spatial_sizes_and_two_inputs():
    with pytest.raises(ValueError, match="same spatial size"):
        AsymmetricResidual()([np.zeros((1, 4, 4, 8), "float32"), np.zeros((1, 2, 2, 8), "float32")])
    with pytest.raises(ValueError, match=r"takes a list \[block_output, identity\]"):
        AsymmetricResidual()(np.zeros((1, 4, 4, 8), "float32"))


def test_stop_gradient_is_the_identity_forward_and_blocks_the_gradient():
    x = np.random.default_rng(4).normal(size=(2, 3, 3, 4)).astype("float32")
    layer = StopGradient()
    assert np.array_equal(_np(layer(x)), x)
    # d/dx sum(x^2 + 3 * stop(x)) = 2x: the stopped term adds nothing, the other path still flows
    grad = gradient(lambda t: t * t + 3.0 * layer(t), x)
    assert np.allclose(grad, 2 * x, atol=1e-6)


def test_channel_slice_matches_numpy_slicing():
    x = np.arange(10, dtype="float32").reshape(1, 1, 1, 10)
    assert _np(ChannelSlice(0, 4)(x)).ravel().tolist() == [0, 1, 2, 3]
    assert _np(ChannelSlice(4)(x)).ravel().tolist() == [4, 5, 6, 7, 8, 9]
    with pytest.raises(ValueError, match="at least 12; got 10"):
        ChannelSlice(2, 12)(x)
    with pytest.raises(ValueError, match="0 <= start < stop"):
        ChannelSlice(3, 3)


def _csp_model(split, transition, block_fn, channels=16, out_channels=32, name="csp", **options):
    inputs = keras.Input((8, 8, channels))
    return keras.Model(inputs, csp_stage(inputs, block_fn, out_channels, name=name, split=split,
                                         transition=transition, **options))


@pytest.mark.parametrize("split", ["conv", "slice"])
@pytest.mark.parametrize("transition", ["csp", "fusion_first", "fusion_last"])
def test_csp_stage_builds_every_transition_with_the_requested_width(split, transition):
    model = _csp_model(split, transition, repeat("basic", 1))
    assert model.output.shape[-1] == 32
    names = [layer.name for layer in model.layers]
    assert ("csp_block_transition" in names) == (transition in ("csp", "fusion_last"))
    assert ("csp_transition" in names) == (transition in ("csp", "fusion_first"))
    # fusion last: nothing after the concatenation; the other two end on a transition after it
    assert (model.layers[-1].name == "csp_concat") == (transition == "fusion_last")
    assert ("csp_part" in names) and (isinstance(model.get_layer("csp_part"), ChannelSlice) == (split == "slice"))
    block_input = model.get_layer("csp_block0_conv1").input
    assert block_input.shape[-1] == (8 if split == "slice" else 16)  # half of the input / of out_channels


def test_csp_stage_with_a_conv_split_can_set_both_part_widths():
    model = _csp_model("conv", "csp", repeat("darknet", 1, hidden_channels=8), channels=16, out_channels=16,
                       part_channels=(16, 16))
    assert model.get_layer("csp_cross").output.shape[-1] == 16
    assert model.get_layer("csp_concat").output.shape[-1] == 32
    assert model.output.shape[-1] == 16


def _kernel_params(model, prefix):
    return sum(math.prod(layer.kernel.shape) for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D) and layer.name.startswith(prefix))


def _conv_macs(model, prefix):
    # multiply-accumulates of the convs: kernel size x output positions (batch 1)
    return sum(math.prod(layer.kernel.shape) * math.prod(layer.output.shape[1:3]) for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D) and layer.name.startswith(prefix))


def test_a_half_split_halves_the_input_side_cost_of_a_dense_block():
    channels, growth, layers = 32, 8, 3
    inputs = keras.Input((8, 8, channels))
    full = keras.Model(inputs, dense_block(inputs, growth, "dense", num_layers=layers))
    half = _csp_model("slice", "fusion_first", lambda x, name: dense_block(x, growth, name, num_layers=layers),
                      channels=channels, out_channels=channels)  # fusion first: no transition inside "csp_block*"
    full_params, half_params = _kernel_params(full, "dense"), _kernel_params(half, "csp_block")
    # layer i's 3x3 kernel is 9 * (C_in + i * growth) * growth: the C_in part halves, the growth part stays
    assert full_params - half_params == 9 * growth * layers * channels // 2
    assert _kernel_params(half, "csp_block_layer1") * 2 == _kernel_params(full, "dense_layer1")
    assert _conv_macs(half, "csp_block_layer1") * 2 == _conv_macs(full, "dense_layer1")


def test_a_half_split_quarters_each_conv_of_a_residual_block_that_keeps_its_parts_width():
    inputs = keras.Input((8, 8, 32))
    full = keras.Model(inputs, repeat("basic", 2)(inputs, "res"))
    half = _csp_model("slice", "fusion_first", repeat("basic", 2), channels=32, out_channels=32)
    assert _kernel_params(half, "csp_block") * 4 == _kernel_params(full, "res")
    assert _conv_macs(half, "csp_block") * 4 == _conv_macs(full, "res")


def test_csp_stage_rejects_bad_options():
    block = repeat("basic", 1)
    with pytest.raises(ValueError, match="split must be one of"):
        _csp_model("halves", "csp", block)
    with pytest.raises(ValueError, match="transition must be one of"):
        _csp_model("conv", "fusion_middle", block)
    with pytest.raises(ValueError, match=r"part_ratio .* must lie in \(0, 1\)"):
        _csp_model("conv", "csp", block, part_ratio=1.0)
    with pytest.raises(ValueError, match="part_channels only applies to split='conv'"):
        _csp_model("slice", "csp", block, part_channels=(8, 8))
    with pytest.raises(ValueError, match="fusion_last needs out_channels > the cross part's 8 channels"):
        _csp_model("slice", "fusion_last", block, out_channels=8)


def test_partial_layers_round_trip_through_a_keras_file_in_safe_mode(tmp_path):
    inputs = keras.Input((6, 6, 8))
    x = basic_block(inputs, 8, "prn", residual="masked", stop_gradient="identity")
    x = basic_block(x, 12, "dark", residual="asymmetric", stop_gradient="block")
    x = csp_stage(x, repeat("basic", 1, residual="masked", fraction=0.25), 16, name="csp", split="slice",
                  transition="fusion_last")
    model = keras.Model(inputs, x)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"MaskedResidual", "AsymmetricResidual", "StopGradient", "ChannelSlice"} <= kinds
    model.save(tmp_path / "partial.keras")
    again = keras.saving.load_model(tmp_path / "partial.keras", safe_mode=True)
    x = np.random.default_rng(5).normal(size=(2, 6, 6, 8)).astype("float32")
    assert np.array_equal(_np(model(x)), _np(again(x)))
    assert again.get_layer("csp_block0_add").get_config()["fraction"] == 0.25
