"""Keras CPU latency helper used by the runner and the benchmarks."""
import keras
import numpy as np
import pytest

from kerasgp.deploy import bench
from kerasgp.deploy.bench import interleaved_rounds
from kerasgp.experiments import keras_latency


def _tiny(shape=(16, 16, 3)):
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Conv2D(4, 3)(inputs))


class _Counting:
    """Stands in for a model: counts predict_on_batch calls and checks the image it is given."""

    def __init__(self, input_shape=(None, 4, 4, 3), image_shape=(1, 4, 4, 3)):
        self.input_shape, self.image_shape, self.name, self.calls = input_shape, image_shape, "counting", 0

    def predict_on_batch(self, image):
        assert image.shape == self.image_shape and image.dtype == np.float32, image.shape
        self.calls += 1


def test_warm_up_calls_are_not_timed_and_the_median_and_p90_are_of_the_timed_calls(monkeypatch):
    durations_ms = [5.0, 1.0, 3.0, 2.0, 40.0]
    # perf_counter is read at each call's start and stop: 0, 5 ms, 5 ms, 6 ms, 6 ms, 9 ms, ...
    steps = [0.0] + [step for d in durations_ms for step in (d / 1000, 0.0)][:-1]
    ticks = iter(np.cumsum(steps))
    monkeypatch.setattr(bench.time, "perf_counter", lambda: float(next(ticks)))  # the shared timer's clock
    model = _Counting()
    result = keras_latency(model, runs=5, warmup=2)
    assert model.calls == 2 + 5
    assert result["runs"] == 5
    assert result["median_ms"] == pytest.approx(3.0)
    assert result["p90_ms"] == pytest.approx(np.percentile(durations_ms, 90))  # 25.6: the slow call shows here


def test_a_real_model_is_timed_after_a_warm_up_that_traces_it():
    result = keras_latency(_tiny(), runs=5, warmup=1)
    assert result["runs"] == 5 and 0 < result["median_ms"] <= result["p90_ms"]


def test_unknown_input_dims_need_an_explicit_shape():
    with pytest.raises(ValueError, match="unknown dims"):
        keras_latency(_tiny((None, None, 3)), runs=1)
    model = _Counting(input_shape=(None, None, None, 3), image_shape=(1, 8, 6, 3))
    with pytest.raises(ValueError, match="unknown dims"):
        keras_latency(model, runs=1)
    assert keras_latency(model, runs=2, warmup=0, input_shape=(8, 6, 3))["runs"] == 2
    assert model.calls == 1 + 2  # the first call traces, so at least one warm-up runs


def test_bad_run_counts_are_refused():
    with pytest.raises(ValueError, match="runs must be >= 1"):
        keras_latency(_tiny(), runs=0)


def test_the_shared_timer_times_every_call_in_rotated_rounds_and_refuses_an_empty_run():
    order = []
    seconds = interleaved_rounds({name: (lambda name=name: order.append(name)) for name in "abc"}, rounds=3, runs=2,
                                 before=lambda name: order.append(name.upper()))
    assert order == ["A", "a", "a", "B", "b", "b", "C", "c", "c",  # round 0, then the order rotated by one
                     "B", "b", "b", "C", "c", "c", "A", "a", "a",
                     "C", "c", "c", "A", "a", "a", "B", "b", "b"]
    assert all(value.shape == (3, 2) and (value >= 0).all() for value in seconds.values())
    with pytest.raises(ValueError, match="rounds >= 1"):
        interleaved_rounds({"a": lambda: None}, rounds=0, runs=1)
    with pytest.raises(ValueError, match="a call to time"):
        interleaved_rounds({}, rounds=1, runs=1)
