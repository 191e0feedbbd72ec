"""The papers' layers against NumPy references, and their .keras round trip (safe_mode=True)."""
import keras
import numpy as np
import pytest

from kerasgp.layers import ChannelShuffle, ChannelSplit
from kerasgp.pose import InputNormalization


def _shuffle_reference(x, groups):
    b, h, w, c = x.shape  # ShuffleNet's definition: reshape to (groups, c / groups), transpose, flatten
    return x.reshape(b, h, w, groups, c // groups).transpose(0, 1, 2, 4, 3).reshape(b, h, w, c)


@pytest.mark.parametrize("groups", [2, 3, 4])
def test_channel_shuffle_matches_the_reference(groups):
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 12)).astype("float32")
    y = keras.ops.convert_to_numpy(ChannelShuffle(groups)(x))
    assert np.array_equal(y, _shuffle_reference(x, groups))


def test_channel_shuffle_of_two_groups_interleaves_the_halves():
    x = np.arange(8, dtype="float32").reshape(1, 1, 1, 8)
    assert keras.ops.convert_to_numpy(ChannelShuffle(2)(x)).ravel().tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


def test_channel_split_halves_and_even_odd():
    x = np.arange(8, dtype="float32").reshape(1, 1, 1, 8)
    a, b = (keras.ops.convert_to_numpy(t).ravel().tolist() for t in ChannelSplit("halves")(x))
    assert (a, b) == ([0, 1, 2, 3], [4, 5, 6, 7])
    a, b = (keras.ops.convert_to_numpy(t).ravel().tolist() for t in ChannelSplit("even_odd")(x))
    assert (a, b) == ([0, 2, 4, 6], [1, 3, 5, 7])


def test_even_odd_split_is_a_shuffle_then_a_halves_split_of_the_shuffled_order():
    # megvii's split = torchvision's chunk applied after the inverse interleave: same pairs of channels
    x = np.random.default_rng(1).normal(size=(1, 2, 2, 8)).astype("float32")
    even, odd = ChannelSplit("even_odd")(x)
    assert np.array_equal(keras.ops.convert_to_numpy(even), x[..., 0::2])
    assert np.array_equal(keras.ops.convert_to_numpy(odd), x[..., 1::2])


def test_bad_channel_counts_are_errors():
    with pytest.raises(ValueError, match="divisible by groups=3"):
        ChannelShuffle(3)(np.zeros((1, 2, 2, 8), "float32"))
    with pytest.raises(ValueError, match="even, known channel count"):
        ChannelSplit()(np.zeros((1, 2, 2, 7), "float32"))
    with pytest.raises(ValueError, match="mode must be"):
        ChannelSplit("thirds")


def test_input_normalization_matches_numpy_and_reverses_channels_for_bgr():
    x = np.random.default_rng(2).uniform(size=(2, 4, 4, 3)).astype("float32")
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    y = keras.ops.convert_to_numpy(InputNormalization(mean, std)(x))
    assert np.allclose(y, (x - np.array(mean)) / np.array(std), atol=1e-6)
    y = keras.ops.convert_to_numpy(InputNormalization(channel_order="bgr")(x))
    assert np.array_equal(y, x[..., ::-1])
    with pytest.raises(ValueError, match="channel_order"):
        InputNormalization(channel_order="hsv")
    with pytest.raises(ValueError, match="expects 3 channels"):
        InputNormalization()(np.zeros((1, 2, 2, 4), "float32"))


def test_layers_round_trip_through_a_keras_file_in_safe_mode(tmp_path):
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Conv2D(8, 1)(InputNormalization(channel_order="bgr")(inputs))
    a, b = ChannelSplit("even_odd")(ChannelShuffle(2)(x))
    model = keras.Model(inputs, keras.layers.Concatenate()([b, a]))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(3).normal(size=(2, 4, 4, 3)).astype("float32")
    assert np.array_equal(keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(again(x)))


def test_scale_norm_matches_numpy_and_round_trips(tmp_path):
    from kerasgp.layers import ScaleNorm

    x = np.random.default_rng(4).normal(size=(2, 14, 64)).astype("float32") * 7
    y = keras.ops.convert_to_numpy(ScaleNorm()(x))
    reference = x / (np.linalg.norm(x, axis=-1, keepdims=True) / np.sqrt(64))
    assert np.allclose(y, reference, rtol=1e-5)
    assert np.allclose(np.sqrt((y**2).mean(-1)), 1.0, atol=1e-5)  # each token's RMS is g = 1
    inputs = keras.Input((14, 64))
    model = keras.Model(inputs, ScaleNorm()(inputs))
    model.save(tmp_path / "s.keras")
    again = keras.saving.load_model(tmp_path / "s.keras", safe_mode=True)
    assert np.allclose(keras.ops.convert_to_numpy(again(x)), y)
