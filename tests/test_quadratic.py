"""QuadraNet's layers (kerasgp.layers.quadratic) against NumPy references, their .keras round trip in safe
mode, their parameter counts, their errors, and the XOR check (one quadratic neuron solves it)."""
import keras
import numpy as np
import pytest
from scipy.special import erf

from kerasgp.layers import LayerScale, QuadraticDense, QuadraticDepthwiseConv2D, quadra_block, quadratic_params


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _randomise(layer, rng):
    layer.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in layer.get_weights()])


def _dense_reference(x, kernel_a, kernel_b, kernel_c, bias):
    y = x @ kernel_c + bias
    for a, b in zip(kernel_a, kernel_b):  # one (inputs, units) pair per rank
        y = y + (x @ a) * (x @ b)
    return y


def _depthwise_reference(x, kernel, bias):
    # "same" zero padding for an odd kernel at stride 1; kernel (k, k, C, 1) as Keras stores it
    k = kernel.shape[0]
    padded = np.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
    out = np.zeros_like(x)
    for i in range(k):
        for j in range(k):
            out += padded[:, i:i + x.shape[1], j:j + x.shape[2], :] * kernel[i, j, :, 0]
    return out + bias


def _layer_norm(x, gamma, beta, epsilon=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def _gelu(x):  # exact (erf) GELU, as torch's nn.GELU() and keras' "gelu"
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


@pytest.mark.parametrize("rank", [1, 3])
def test_quadratic_dense_matches_the_low_rank_formula(rank):
    rng = np.random.default_rng(0)
    layer = QuadraticDense(4, rank=rank)
    x = rng.normal(size=(2, 3, 5)).astype("float32")  # acts on the last axis, like Dense
    layer.build(x.shape)
    _randomise(layer, rng)
    kernel_a, kernel_b, kernel_c, bias = layer.get_weights()
    assert kernel_a.shape == kernel_b.shape == (rank, 5, 4) and kernel_c.shape == (5, 4)
    assert np.allclose(_numpy(layer(x)), _dense_reference(x, kernel_a, kernel_b, kernel_c, bias), atol=1e-5)


def test_quadratic_dense_of_rank_one_is_a_quadratic_form_of_rank_one():
    # y = (a.x)(b.x) + c.x + bias = x^T (a b^T) x + c.x + bias: the full neuron with W_q = a b^T
    rng = np.random.default_rng(1)
    layer = QuadraticDense(1, rank=1)
    x = rng.normal(size=(6, 3)).astype("float32")
    layer.build(x.shape)
    _randomise(layer, rng)
    kernel_a, kernel_b, kernel_c, bias = layer.get_weights()
    quadratic_form = np.outer(kernel_a[0, :, 0], kernel_b[0, :, 0])
    want = np.einsum("ni,ij,nj->n", x, quadratic_form, x) + x @ kernel_c[:, 0] + bias
    assert np.allclose(_numpy(layer(x))[:, 0], want, atol=1e-5)


@pytest.mark.parametrize("kernel_size,use_bias", [(3, True), (5, False)])
def test_quadratic_depthwise_conv_is_the_product_of_two_depthwise_convs_plus_a_third(kernel_size, use_bias):
    rng = np.random.default_rng(2)
    layer = QuadraticDepthwiseConv2D(kernel_size, use_bias=use_bias)
    x = rng.normal(size=(2, 6, 7, 3)).astype("float32")
    layer.build(x.shape)
    _randomise(layer, rng)
    weights = layer.get_weights()
    if use_bias:
        kernels, biases = weights[0::2], weights[1::2]
    else:
        kernels, biases = weights, [np.zeros(3, "float32")] * 3
    a, b, c = (_depthwise_reference(x, k, bias) for k, bias in zip(kernels, biases))
    assert len(weights) == (6 if use_bias else 3)
    assert np.allclose(_numpy(layer(x)), a * b + c, atol=1e-4)


def test_valid_padding_shrinks_the_map_by_the_kernel_minus_one():
    layer = QuadraticDepthwiseConv2D(3, padding="valid")
    y = layer(np.ones((1, 6, 7, 2), "float32"))
    assert tuple(y.shape) == (1, 4, 5, 2) == layer.compute_output_shape((1, 6, 7, 2))


def test_layer_scale_multiplies_each_channel_by_its_gamma():
    layer = LayerScale(0.5)
    x = np.ones((1, 2, 2, 3), "float32")
    assert np.allclose(_numpy(layer(x)), 0.5)
    layer.set_weights([np.array([1.0, 2.0, 3.0], "float32")])
    assert np.allclose(_numpy(layer(x))[0, 0, 0], [1, 2, 3])


def _block_weights(model):
    return {layer.name: layer.get_weights() for layer in model.layers if layer.weights}


def test_quadra_block_matches_a_numpy_composition_of_its_two_residual_branches():
    rng = np.random.default_rng(3)
    inputs = keras.Input((5, 5, 4))
    model = keras.Model(inputs, quadra_block(inputs, kernel_size=3, expansion=2, layer_scale=0.5, name="qb"))
    for layer in model.layers:
        if layer.weights:
            _randomise(layer, rng)
    w = _block_weights(model)
    x = rng.normal(size=(2, 5, 5, 4)).astype("float32")

    y = _layer_norm(x, *w["qb_norm1"])
    k_a, b_a, k_b, b_b, k_c, b_c = w["qb_quadconv"]
    y = _depthwise_reference(y, k_a, b_a) * _depthwise_reference(y, k_b, b_b) + _depthwise_reference(y, k_c, b_c)
    x1 = x + y * w["qb_gamma1"][0]
    y = _layer_norm(x1, *w["qb_norm2"])
    kernel, bias = w["qb_pwconv1"]
    y = _gelu(y @ kernel[0, 0] + bias)  # a 1x1 conv is a matmul over channels
    kernel, bias = w["qb_pwconv2"]
    want = x1 + (y @ kernel[0, 0] + bias) * w["qb_gamma2"][0]
    assert w["qb_pwconv1"][0].shape == (1, 1, 4, 8)
    assert np.allclose(_numpy(model(x)), want, atol=1e-4)


@pytest.mark.parametrize("channels", [8, 24])
def test_quadra_block_has_8c2_plus_161c_parameters_at_kernel_7_expansion_4(channels):
    inputs = keras.Input((8, 8, channels))
    model = keras.Model(inputs, quadra_block(inputs))
    assert model.count_params() == 8 * channels ** 2 + 161 * channels


def test_quadra_block_without_layer_scale_has_no_gammas_and_batch_norm_variant_has_no_layer_norm():
    inputs = keras.Input((8, 8, 8))
    plain = keras.Model(inputs, quadra_block(inputs, layer_scale=None, norm="batch"))
    kinds = {type(layer).__name__ for layer in plain.layers}
    assert "LayerScale" not in kinds and "LayerNormalization" not in kinds
    assert "BatchNormalization" in kinds


@pytest.mark.parametrize("inputs,units,rank", [(5, 4, 1), (5, 4, 3), (32, 1, 2)])
def test_quadratic_params_counts_the_layer_and_the_full_neuron(inputs, units, rank):
    layer = QuadraticDense(units, rank=rank)
    layer.build((None, inputs))
    assert quadratic_params(inputs, units, rank) == layer.count_params()
    assert quadratic_params(inputs, units, rank, use_bias=False) == layer.count_params() - units
    # the full neuron: an inputs x inputs matrix per unit, + W_c + bias
    assert quadratic_params(inputs, units, rank, low_rank=False) == inputs * inputs * units + inputs * units + units


def test_the_low_rank_neuron_grows_linearly_where_the_full_one_grows_quadratically():
    low = [quadratic_params(n, 1, 1) for n in (64, 128)]
    full = [quadratic_params(n, 1, 1, low_rank=False) for n in (64, 128)]
    assert low[1] - 1 == 2 * (low[0] - 1)  # 3n + 1
    assert full[1] - 1 > 3.9 * (full[0] - 1)  # n^2 + n + 1


def test_layers_round_trip_through_a_keras_file_in_safe_mode(tmp_path):
    rng = np.random.default_rng(4)
    inputs = keras.Input((6, 6, 4))
    x = QuadraticDepthwiseConv2D(3, name="quadconv")(inputs)
    x = LayerScale(0.1, name="gamma")(x)
    x = quadra_block(x, kernel_size=5, expansion=2, norm="batch", name="block")
    x = QuadraticDense(3, rank=2, use_bias=False, name="dense")(x)
    model = keras.Model(inputs, x)
    for layer in model.layers:
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization):
            _randomise(layer, rng)
    model.save(tmp_path / "quadratic.keras")
    again = keras.saving.load_model(tmp_path / "quadratic.keras", safe_mode=True)
    data = rng.normal(size=(2, 6, 6, 4)).astype("float32")
    assert np.array_equal(_numpy(model(data)), _numpy(again(data)))
    assert again.get_layer("dense").get_config()["rank"] == 2
    assert again.get_layer("quadconv").get_config()["kernel_size"] == 3


def test_bad_arguments_are_errors_that_say_what_was_expected():
    with pytest.raises(ValueError, match="rank must be an integer >= 1"):
        QuadraticDense(4, rank=0)
    with pytest.raises(ValueError, match="units must be an integer >= 1"):
        QuadraticDense(0)
    with pytest.raises(ValueError, match="kernel_size must be"):
        QuadraticDepthwiseConv2D(0)
    with pytest.raises(ValueError, match="padding must be"):
        QuadraticDepthwiseConv2D(3, padding="causal")
    with pytest.raises(ValueError, match="expects \\(batch, height, width, channels\\)"):
        QuadraticDepthwiseConv2D(3)(np.zeros((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match="init_value must be a number > 0"):
        LayerScale(-1.0)
    with pytest.raises(ValueError, match="rank must be an integer >= 1"):
        quadratic_params(8, 4, rank=0)
    inputs = keras.Input((8, 8, 4))
    with pytest.raises(ValueError, match="norm must be one of"):
        quadra_block(inputs, norm="group")
    with pytest.raises(ValueError, match="expansion must be"):
        quadra_block(inputs, expansion=0)
    with pytest.raises(ValueError, match="expects a \\(batch, height, width, channels\\) tensor"):
        quadra_block(keras.Input((8, 4)))


_XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32")
_XOR_Y = np.array([[0], [1], [1], [0]], "float32")


def _fit_xor(neuron, steps=200):
    """One neuron + sigmoid, full-batch Adam on the four XOR points; returns the accuracy."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Activation("sigmoid")(neuron(inputs)))
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", metrics=["binary_accuracy"])
    # `steps` full batches in one epoch (each batch is exactly the four points: batch_size 4, no shuffle),
    # which avoids one epoch's overhead per step.
    model.fit(np.tile(_XOR_X, (steps, 1)), np.tile(_XOR_Y, (steps, 1)), batch_size=4, epochs=1, shuffle=False,
              verbose=0)
    return float(np.mean((_numpy(model(_XOR_X)) > 0.5) == (_XOR_Y > 0.5)))


def test_one_quadratic_neuron_solves_xor():
    # (a.x)(b.x) holds the product x1*x2, and XOR = x1 + x2 - 2 x1 x2
    assert _fit_xor(QuadraticDense(1)) == 1.0


def test_one_linear_neuron_cannot_solve_xor():
    # No line separates XOR: classifying all four points needs b < 0 and w1 + w2 + b < 0 (the zeros) but
    # w1 + b > 0 and w2 + b > 0 (the ones); summing each pair gives w1 + w2 + 2b < 0 and > 0. So any linear
    # classifier gets at most 3 of the 4 points right, whatever its training.
    assert _fit_xor(keras.layers.Dense(1)) <= 0.75


def test_the_factors_of_each_product_start_from_different_weights():
    # Keras 3 gives an unseeded initializer instance one fixed seed: drawn twice at one shape it returns the
    # same values, and W_a = W_b (or dw_a = dw_b) would stay equal through training (equal gradients).
    keras.utils.set_random_seed(0)
    dense = QuadraticDense(3, kernel_initializer=keras.initializers.GlorotUniform())
    dense.build((None, 5))
    a, b, c = (_numpy(w) for w in (dense.kernel_a, dense.kernel_b, dense.kernel_c))
    assert not np.allclose(a, b) and not np.allclose(a[0], c)
    conv = QuadraticDepthwiseConv2D(3, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02))
    conv.build((None, 8, 8, 4))
    kernels = [_numpy(k) for k in conv.kernels]
    assert not np.allclose(kernels[0], kernels[1]) and not np.allclose(kernels[0], kernels[2])
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, quadra_block(quadra_block(inputs, 3, 2, name="b1"), 3, 2, name="b2"))
    first, second = (_numpy(model.get_layer(f"{n}_quadconv").kernels[0]) for n in ("b1", "b2"))
    assert not np.allclose(first, second)
