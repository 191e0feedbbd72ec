"""The measured-memory tool (kerasgp.analysis.memory): peak RSS of one pass, in a fresh process, on
whichever backend KERAS_BACKEND names. Four measuring processes in all (a few seconds each)."""
import json

import keras
import numpy as np
import pytest

from kerasgp.analysis import cost, peak_memory
from kerasgp.analysis.memory import PeakMemory, main

SIZE = 64


def _one_conv(channels, name):
    # One 3x3 conv at full resolution: its (64, 64, channels) output is nearly all the activation memory,
    # and its arithmetic is small, so the measuring process spends its time starting, not computing.
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="fc")(x), name=name)


@pytest.fixture(scope="module")
def narrow():
    return _one_conv(32, "narrow")


@pytest.fixture(scope="module")
def narrow_at_64(narrow):
    return peak_memory(narrow, 64)


def test_the_delta_of_a_training_step_grows_with_the_batch_size(narrow, narrow_at_64):
    small = peak_memory(narrow, 4)
    assert isinstance(small, PeakMemory) and small.training and small.batch_size == 4
    assert small.backend == narrow_at_64.backend == keras.backend.backend()
    assert narrow_at_64.delta_mb == pytest.approx(narrow_at_64.peak_mb - narrow_at_64.baseline_mb)
    # the 60 extra images' conv output alone is 60 * 64 * 64 * 32 float32 = 31.5 MB; training keeps it
    # (and its gradient) for the backward pass, so the delta must grow by at least that much
    one_map_mb = 60 * SIZE * SIZE * 32 * 4 / 1e6
    assert narrow_at_64.delta_mb - small.delta_mb > one_map_mb
    assert narrow_at_64.delta_mb > 2 * small.delta_mb


@pytest.mark.slow
def test_a_model_with_four_times_the_activations_takes_clearly_more_memory(narrow, narrow_at_64):
    wide = _one_conv(128, "wide")
    # activations: conv C maps + pool C + fc 4 (4 bytes each): all but the fc scale with C
    assert cost(wide).activation_bytes - 4 * 4 == 4 * (cost(narrow).activation_bytes - 4 * 4)
    measured = peak_memory(wide, 64)
    assert measured.model == "wide"
    assert measured.delta_mb > 2 * narrow_at_64.delta_mb


@pytest.mark.slow
def test_a_forward_pass_takes_less_than_a_training_step_of_the_same_batch(narrow, narrow_at_64):
    # Training keeps the conv output (and its gradient) for the backward pass; inference frees it after pooling.
    # (This is also the forward-only path of the measuring code, run where it runs: in a fresh process.)
    forward = peak_memory(narrow, 64, training=False)
    assert not forward.training and forward.batch_size == 64
    assert forward.peak_mb >= forward.baseline_mb > 0
    assert forward.delta_mb < narrow_at_64.delta_mb


def test_a_model_with_unknown_spatial_dimensions_needs_an_input_shape():
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 1)(inputs), name="open")
    with pytest.raises(ValueError, match=r"positive ints .* Pass input_shape=\(H, W, C\)"):
        peak_memory(model, 2)
    with pytest.raises(ValueError, match=r"does not match the model's \(None, None, 4\)|3 positive ints"):
        peak_memory(model, 2, input_shape=(8, 8))


def test_bad_arguments_raise_value_errors(narrow):
    with pytest.raises(ValueError, match="needs a keras.Model; got ndarray"):
        peak_memory(np.zeros(3), 2)
    for batch_size in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            peak_memory(narrow, batch_size)
    with pytest.raises(ValueError, match="training must be True or False"):
        peak_memory(narrow, 2, training="yes")
    with pytest.raises(ValueError, match="env must be a dict of environment variable names to string values"):
        peak_memory(narrow, 2, env={"OMP_NUM_THREADS": 1})
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        peak_memory(narrow, 2, timeout=0)
    with pytest.raises(ValueError, match=r"does not match the model's \(64, 64, 3\)"):
        peak_memory(narrow, 2, input_shape=(32, 32, 3))
    with pytest.raises(ValueError, match="has 1 inputs; got 2 input shapes"):
        peak_memory(narrow, 2, input_shape=[(64, 64, 3), (64, 64, 3)])


def test_the_command_line_rejects_a_batch_below_one(capsys):
    with pytest.raises(SystemExit):
        main(["model.keras", "--batch", "0", "--input-shapes", json.dumps([[8, 8, 3]])])
    assert "--batch must be >= 1, got 0" in capsys.readouterr().err
