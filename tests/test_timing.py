"""Keras CPU latency helper used by the runner and the benchmarks."""
import keras
import pytest

from kerasgp.experiments import keras_latency


def _tiny(shape=(16, 16, 3)):
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))


def test_latency_reports_median_not_above_p90():
    result = keras_latency(_tiny(), runs=5, warmup=1)
    assert result["runs"] == 5 and 0 < result["median_ms"] <= result["p90_ms"]


def test_unknown_input_dims_need_an_explicit_shape():
    model = _tiny((None, None, 3))
    with pytest.raises(ValueError, match="unknown dims"):
        keras_latency(model, runs=1)
    assert keras_latency(model, runs=2, input_shape=(8, 8, 3))["median_ms"] > 0


def test_bad_run_counts_are_refused():
    with pytest.raises(ValueError, match="runs must be >= 1"):
        keras_latency(_tiny(), runs=0)
