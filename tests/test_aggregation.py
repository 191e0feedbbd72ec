"""ELAN (YOLOv7) and OSA (VoVNet) blocks: which outputs each concat picks, in which order, and the widths
the official cfgs give. The blocks are plain Keras layers, so the references are the blocks' own
intermediate outputs, concatenated with NumPy in the order the cfg names."""
import keras
import numpy as np
import pytest

from kerasgp.layers import elan_block, elan_tiny_block, elan_w_block, mp_downsample, osa_module
from kerasgp.backbones.common import DARKNET_LEAKY_SLOPE as LEAKY_SLOPE
from kerasgp.layers.aggregation import elan_concat_indices


def _block_model(block, in_channels=16, size=8, **kwargs):
    inputs = keras.Input((size, size, in_channels))
    return keras.Model(inputs, block(inputs, **kwargs))


def _outputs_of(model, names, x):
    """Run `x` and return the outputs of the named layers as NumPy arrays."""
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    return [keras.ops.convert_to_numpy(y) for y in probe(x)]


def _x(in_channels=16, size=8, seed=0):
    return np.random.default_rng(seed).normal(size=(2, size, size, in_channels)).astype("float32")


def _count(model, prefix, kernel_size=None):
    return sum(1 for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and layer.name.startswith(prefix)
               and (kernel_size is None or layer.kernel_size == (kernel_size, kernel_size)))


def test_elan_concat_picks_conv4_conv2_branch2_branch1_in_that_order():
    model = _block_model(elan_block, channels=8, name="e")
    x = _x()
    concat, *parts = _outputs_of(model, ["e_concat", "e_conv4_silu", "e_conv2_silu", "e_branch2_silu",
                                         "e_branch1_silu"], x)
    # yolov7.yaml: [[-1, -3, -5, -6], 1, Concat, [1]] over [branch1, branch2, conv1..conv4]
    assert np.array_equal(concat, np.concatenate(parts, axis=-1))


def test_elan_chain_is_fed_by_the_second_branch_and_both_branches_see_the_input():
    model = _block_model(elan_block, channels=8, name="e")
    assert model.get_layer("e_conv1").input.shape[-1] == 8  # branch2's width, not the input's 16
    assert model.get_layer("e_branch1").input.shape[-1] == model.get_layer("e_branch2").input.shape[-1] == 16


def test_elan_default_indices_are_the_cfgs_and_the_output_is_4c():
    assert elan_concat_indices(2) == (-1, -3, -5, -6)  # yolov7.yaml
    assert elan_concat_indices(3) == (-1, -3, -5, -7, -8)  # yolov7x.yaml
    model = _block_model(elan_block, channels=8, name="e")
    assert model.get_layer("e_concat").output.shape[-1] == 32
    assert model.output.shape[1:] == (8, 8, 32)  # 64-channel block -> 256 in the cfg
    explicit = _block_model(elan_block, channels=8, name="e", concat_indices=(-1, -3, -5, -6))
    assert explicit.count_params() == model.count_params()


def test_num_pairs_changes_the_chain_length_and_the_transition_tracks_the_concat():
    for num_pairs in (1, 2, 3):
        model = _block_model(elan_block, channels=8, name="e", num_pairs=num_pairs)
        assert _count(model, "e_conv", kernel_size=3) == 2 * num_pairs
        assert model.output.shape[-1] == 8 * (num_pairs + 2)  # 5c at three pairs: yolov7x's 64 -> 320
    model = _block_model(elan_block, channels=8, name="e", num_pairs=3, out_channels=24)
    assert model.output.shape[-1] == 24


def test_elan_explicit_indices_pick_those_outputs():
    model = _block_model(elan_block, channels=8, name="e", concat_indices=(-6, -1))
    concat, *parts = _outputs_of(model, ["e_concat", "e_branch1_silu", "e_conv4_silu"], _x())
    assert np.array_equal(concat, np.concatenate(parts, axis=-1))
    assert model.output.shape[-1] == 16


@pytest.mark.parametrize("indices,match", [((-1, -7), r"in \[-6, -1\]"), ((0, -1), r"in \[-6, -1\]"),
                                            ((), "negative indices"), ((-1, -1), "must not repeat")])
def test_bad_concat_indices_are_errors(indices, match):
    with pytest.raises(ValueError, match=match):
        _block_model(elan_block, channels=8, name="e", concat_indices=indices)


def test_bad_widths_are_errors():
    with pytest.raises(ValueError, match="num_pairs must be a positive integer, got 0"):
        _block_model(elan_block, channels=8, name="e", num_pairs=0)
    with pytest.raises(ValueError, match="channels must be a positive integer"):
        _block_model(mp_downsample, channels=0, name="m")


def test_elan_w_concatenates_every_output_with_half_width_convs():
    model = _block_model(elan_w_block, channels=16, name="w")
    names = ["w_concat"] + [f"w_conv{i}_silu" for i in (4, 3, 2, 1)] + ["w_branch2_silu", "w_branch1_silu"]
    concat, *parts = _outputs_of(model, names, _x())
    # yolov7.yaml head: [[-1, -2, -3, -4, -5, -6], 1, Concat, [1]]; 256-ch branches, 128-ch 3x3s, 256 out
    assert np.array_equal(concat, np.concatenate(parts, axis=-1))
    assert [p.shape[-1] for p in parts] == [8, 8, 8, 8, 16, 16]
    assert model.output.shape[-1] == 16


def test_tiny_block_concatenates_all_four_and_uses_leaky_relu_point_one():
    model = _block_model(elan_tiny_block, channels=8, name="t")
    concat, *parts = _outputs_of(model, ["t_concat", "t_conv2_leaky", "t_conv1_leaky", "t_branch2_leaky",
                                         "t_branch1_leaky"], _x())
    assert np.array_equal(concat, np.concatenate(parts, axis=-1))  # yolov7-tiny.yaml [-1, -2, -3, -4]
    assert model.output.shape[-1] == 16  # 32-channel block -> 64 in the cfg
    assert _count(model, "t_conv", kernel_size=3) == 2
    leaky = model.get_layer("t_transition_leaky")
    assert leaky.get_config()["negative_slope"] == pytest.approx(LEAKY_SLOPE) == pytest.approx(0.1)
    v = np.array([[[[-1.0] * 16]]], "float32")
    assert np.allclose(keras.ops.convert_to_numpy(leaky(v)), -0.1)


def test_tiny_block_num_convs_changes_the_chain():
    model = _block_model(elan_tiny_block, channels=8, name="t", num_convs=4)
    assert _count(model, "t_conv", kernel_size=3) == 4
    assert model.get_layer("t_concat").output.shape[-1] == 48 and model.output.shape[-1] == 24


def test_mp_downsample_halves_the_size_keeps_the_width_and_puts_the_strided_branch_first():
    model = _block_model(mp_downsample, in_channels=16, channels=8, name="m")
    assert model.output.shape[1:] == (4, 4, 16)  # the cfg's MP-1: 256 -> 128 + 128
    x = _x()
    concat, strided, pooled, pool = _outputs_of(model, ["m_concat", "m_conv2_silu", "m_pool_conv_silu", "m_pool"], x)
    assert np.array_equal(concat, np.concatenate([strided, pooled], axis=-1))  # [[-1, -3], 1, Concat, [1]]
    reference = x.reshape(2, 4, 2, 4, 2, 16).max(axis=(2, 4))  # MaxPool2d(kernel_size=2, stride=2)
    assert np.array_equal(pool, reference)
    assert model.get_layer("m_conv2").strides == (2, 2)


def test_mp_downsample_keeps_odd_sizes_consistent():
    model = _block_model(mp_downsample, in_channels=16, size=7, channels=8, name="m")
    assert model.output.shape[1:] == (4, 4, 16)


def test_osa_concatenates_the_input_and_every_layer_output_once():
    model = _block_model(osa_module, in_channels=16, stage_channels=8, concat_channels=24, layers_per_block=5,
                         name="o")
    x = _x()
    names = ["o_concat"] + [f"o_conv{i}_relu" for i in range(1, 6)]
    concat, *parts = _outputs_of(model, names, x)
    assert np.array_equal(concat, np.concatenate([x, *parts], axis=-1))  # input first, as _OSA_module
    assert concat.shape[-1] == 16 + 5 * 8 and model.output.shape[-1] == 24
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Concatenate)] == ["o_concat"]
    assert _count(model, "o_conv", kernel_size=3) == 5 and _count(model, "o_transition", kernel_size=1) == 1


def test_osa_without_transition_returns_the_concat():
    model = _block_model(osa_module, in_channels=16, stage_channels=8, concat_channels=24, layers_per_block=3,
                         transition=False, name="o")
    assert model.output.shape[-1] == 16 + 3 * 8
    assert _count(model, "o_transition") == 0
    x = _x()
    assert np.array_equal(keras.ops.convert_to_numpy(model(x))[..., :16], x)


def test_osa_residual_adds_the_input_and_checks_the_widths():
    model = _block_model(osa_module, in_channels=24, stage_channels=8, concat_channels=24, name="o", residual=True)
    x = _x(24)
    out, transition = _outputs_of(model, ["o_residual", "o_transition_relu"], x)
    assert np.allclose(out, transition + x, atol=1e-6)
    with pytest.raises(ValueError, match="input width to equal concat_channels=32, got 24"):
        _block_model(osa_module, in_channels=24, stage_channels=8, concat_channels=32, name="o", residual=True)
    with pytest.raises(ValueError, match="needs transition=True"):
        _block_model(osa_module, in_channels=24, stage_channels=8, concat_channels=24, name="o", residual=True,
                     transition=False)


def test_blocks_round_trip_through_a_keras_file_in_safe_mode(tmp_path):
    inputs = keras.Input((8, 8, 16))
    x = elan_block(inputs, 8, "e")
    x = mp_downsample(x, 16, "m")
    x = elan_tiny_block(x, 8, "t")
    x = elan_w_block(x, 16, "w")
    x = osa_module(x, 8, 16, 2, name="o")
    model = keras.Model(inputs, x)
    model.save(tmp_path / "blocks.keras")
    again = keras.saving.load_model(tmp_path / "blocks.keras", safe_mode=True)
    x = _x()
    assert np.array_equal(keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(again(x)))
