"""RealNVP (RLE's flow) against a NumPy re-implementation of mmpose's, its initialisation, invertibility,
normalisation and .keras round trip (safe_mode=True)."""
import math

import keras
import numpy as np
import pytest

from conftest import input_gradient
from kerasgp.pose import RealNVP


def _weights(flow) -> dict:
    return {w.name: keras.ops.convert_to_numpy(w).astype("float64") for w in flow.weights}


def _randomize(flow, scale=0.1, seed=0):
    """Weights far from the near-identity initialisation, so that the reference comparison means something."""
    rng = np.random.default_rng(seed)
    flow.set_weights([rng.normal(scale=scale, size=w.shape).astype("float32") for w in flow.get_weights()])


def _reference_net(weights, net, coupling, x):
    for index in (1, 2, 3):
        x = x @ weights[f"{net}_kernel_{index}"][coupling] + weights[f"{net}_bias_{index}"][coupling]
        if index < 3:
            x = np.where(x > 0, x, 0.01 * x)  # torch.nn.LeakyReLU()
    return np.tanh(x) if net == "scale" else x


def _reference_log_prob(weights, x, num_couplings=6):
    """mmpose's RealNVP.log_prob: backward_p (couplings in reverse), then the standard normal prior."""
    masks = np.array([[0, 1], [1, 0]] * (num_couplings // 2), dtype="float64")
    z, log_det = x.astype("float64"), np.zeros(x.shape[:-1])
    for i in reversed(range(num_couplings)):
        kept = masks[i] * z
        s = _reference_net(weights, "scale", i, kept) * (1 - masks[i])
        t = _reference_net(weights, "translation", i, kept) * (1 - masks[i])
        z = (1 - masks[i]) * (z - t) * np.exp(-s) + kept
        log_det -= s.sum(-1)
    return -0.5 * (z**2).sum(-1) - math.log(2 * math.pi) + log_det


# Shapes repeat across tests on purpose: JAX compiles each eager op once per shape.
POINTS = (64, 2)
JOINTS = (3, 14, 2)


def _standard_normal_log_density(x):
    return -0.5 * (x.astype("float64") ** 2).sum(-1) - math.log(2 * math.pi)


def test_log_prob_matches_the_numpy_reference_with_the_same_weights():
    flow = RealNVP()
    x = np.random.default_rng(1).normal(size=JOINTS).astype("float32")
    flow(x)
    _randomize(flow)
    got = keras.ops.convert_to_numpy(flow(x))
    assert got.shape == (3, 14)
    reference = _reference_log_prob(_weights(flow), x)
    assert np.abs(reference - _standard_normal_log_density(x)).max() > 0.5  # the weights do change the density
    np.testing.assert_allclose(got, reference, rtol=1e-5, atol=1e-5)


def test_the_flow_has_six_couplings_of_64_hidden_units_with_masks_alternating():
    flow = RealNVP()
    flow(np.zeros((1, 2), "float32"))
    shapes = {w.name: tuple(w.shape) for w in flow.weights}
    assert shapes["scale_kernel_1"] == (6, 2, 64) and shapes["scale_kernel_2"] == (6, 64, 64)
    assert shapes["translation_kernel_3"] == (6, 64, 2) and shapes["translation_bias_3"] == (6, 2)
    assert len(shapes) == 12
    assert flow.masks.tolist() == [[0, 1], [1, 0]] * 3


def test_initialisation_is_xavier_gain_001_and_torch_biases_so_the_flow_starts_near_the_identity():
    flow = RealNVP()  # the bounds below hold for any draw, so no seed
    x = np.random.default_rng(2).uniform(-1, 1, size=POINTS).astype("float32")
    log_prob = keras.ops.convert_to_numpy(flow(x))
    weights = _weights(flow)
    for net in ("scale", "translation"):
        for index, (fan_in, fan_out) in enumerate([(2, 64), (64, 64), (64, 2)], start=1):
            slack = 1 + 1e-6  # the limits are rounded to float32
            assert np.abs(weights[f"{net}_kernel_{index}"]).max() <= 0.01 * math.sqrt(6 / (fan_in + fan_out)) * slack
            assert np.abs(weights[f"{net}_bias_{index}"]).max() <= slack / math.sqrt(fan_in)
            assert np.abs(weights[f"{net}_kernel_{index}"]).max() > 0.005 * math.sqrt(6 / (fan_in + fan_out))
    # Each coupling's nets output about their last bias, |b| <= 1/8: three shifts of at most 1/8 and three
    # scales exp(+-1/8) per coordinate, so z stays within ~0.55 of x on [-1, 1]^2 and |log det| <= 6/8.
    z, log_det = (keras.ops.convert_to_numpy(t) for t in RealNVP.to_latent(flow, x))
    assert np.abs(z - x).max() < 0.6
    assert np.abs(log_det).max() < 0.76
    assert np.abs(log_prob - _standard_normal_log_density(x)).max() < 1.5
    # ... and a flow with unit-gain weights is nowhere near that: the small gain is what makes the start easy
    _randomize(flow, scale=1.0)
    assert np.abs(keras.ops.convert_to_numpy(flow(x)) - _standard_normal_log_density(x)).max() > 1.5


def test_to_data_then_to_latent_returns_the_input():
    flow = RealNVP()
    z = np.random.default_rng(4).normal(size=POINTS).astype("float32")
    flow(z)
    _randomize(flow, seed=5)
    x = flow.to_data(z)
    assert np.abs(keras.ops.convert_to_numpy(x) - z).max() > 0.1  # the map is not the identity
    back, _ = flow.to_latent(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back), z, atol=1e-5)


def test_the_density_integrates_to_one():
    # A wrong log-determinant would still pass the inverse test; a density that integrates to 1 needs it right.
    flow = RealNVP()
    grid = np.linspace(-8, 8, 161, dtype="float32")
    xx, yy = np.meshgrid(grid, grid)
    points = np.stack([xx.ravel(), yy.ravel()], -1)
    flow(points[:1])
    _randomize(flow, scale=0.15, seed=6)
    density = np.exp(keras.ops.convert_to_numpy(flow(points)).astype("float64"))
    assert abs(density.sum() * (grid[1] - grid[0]) ** 2 - 1.0) < 0.01


def test_gradients_of_log_prob_are_finite():
    flow = RealNVP()
    x = np.random.default_rng(7).normal(size=POINTS).astype("float32")
    flow(x)
    _randomize(flow, seed=8)
    gradient = input_gradient(flow, x)
    assert gradient.shape == POINTS and np.isfinite(gradient).all() and np.abs(gradient).max() > 0


def test_the_flow_round_trips_through_a_keras_file_in_safe_mode(tmp_path):
    inputs = keras.Input((14, 2))
    model = keras.Model(inputs, RealNVP(name="flow")(inputs))
    _randomize(model.get_layer("flow"), seed=9)
    model.save(tmp_path / "flow.keras")
    again = keras.saving.load_model(tmp_path / "flow.keras", safe_mode=True)
    small = RealNVP.from_config(RealNVP(num_couplings=4, hidden_units=16).get_config())
    assert (small.num_couplings, small.hidden_units, small.masks.shape) == (4, 16, (4, 2))
    x = np.random.default_rng(10).normal(size=JOINTS).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(x)), keras.ops.convert_to_numpy(model(x)))


def test_points_that_are_not_2d_are_an_error():
    with pytest.raises(ValueError, match=r"expected input shape \(\.\.\., 2\)"):
        RealNVP()(np.zeros((64, 3), "float32"))
    with pytest.raises(ValueError, match="num_couplings >= 1"):
        RealNVP(num_couplings=0)
