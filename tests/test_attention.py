"""QuadraNet's comparison blocks (kerasgp.layers.attention) against NumPy references written the way the
official Swin and HorNet code computes them (5-D reshapes, explicit loops), and their .keras round trip."""
import keras
import numpy as np
import pytest
from scipy.special import erf

from kerasgp.layers.attention import (AttentionContext, SplitHeads, WindowAttentionLogits, WindowPartition,
                                      WindowReverse, conv_block, gnconv_block, gnconv_dims, relative_position_index,
                                      skip_block, window_attention_block)
from kerasgp.layers.quadratic import LAYER_NORM_EPSILON


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _partition_reference(x, ws):
    # Swin's window_partition: view(B, H/ws, ws, W/ws, ws, C).permute(0, 1, 3, 2, 4, 5), then tokens
    b, h, w, c = x.shape
    return x.reshape(b, h // ws, ws, w // ws, ws, c).transpose(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)


def _layer_norm(x, gamma, beta):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + LAYER_NORM_EPSILON) * gamma + beta


def _gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def _depthwise(x, kernel, bias):
    """'same' cross-correlation of each channel with its own k x k filter; kernel (k, k, C, 1)."""
    k = kernel.shape[0]
    pad = (k - 1) // 2
    padded = np.pad(x, ((0, 0), (pad, k - 1 - pad), (pad, k - 1 - pad), (0, 0)))
    out = np.zeros_like(x)
    for a in range(k):
        for b in range(k):
            out += padded[:, a:a + x.shape[1], b:b + x.shape[2], :] * kernel[a, b, :, 0]
    return out + bias


def _randomise(model, seed):
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        values = rng.normal(0, 0.3, weight.shape).astype("float32")
        weight.assign(np.abs(values) + 0.5 if "variance" in weight.path else values)


def _weights(model, name):
    return [_numpy(w) for w in model.get_layer(name).weights]


def _pointwise(x, model, name):
    kernel, bias = _weights(model, name)
    return x @ kernel.reshape(kernel.shape[-2], kernel.shape[-1]) + bias


def _mlp_reference(x, model, name):
    return _pointwise(_gelu(_pointwise(x, model, f"{name}_pwconv1")), model, f"{name}_pwconv2")


@pytest.mark.parametrize("window_size,height,width", [(2, 4, 6), (3, 6, 3), (7, 14, 7)])
def test_window_partition_matches_swin_and_window_reverse_undoes_it(window_size, height, width):
    x = np.random.default_rng(0).normal(size=(2, height, width, 5)).astype("float32")
    windows = _numpy(WindowPartition(window_size)(x))
    assert np.array_equal(windows, _partition_reference(x, window_size))
    back = _numpy(WindowReverse(window_size, height, width)(windows))
    assert np.array_equal(back, x)


def test_relative_position_index_is_swins_offset_table():
    ws = 3
    index = relative_position_index(ws)
    tokens = [(y, x) for y in range(ws) for x in range(ws)]
    expected = np.array([[(yi - yj + ws - 1) * (2 * ws - 1) + (xi - xj + ws - 1) for (yj, xj) in tokens]
                         for (yi, xi) in tokens])
    assert np.array_equal(index, expected)
    assert index.min() == 0 and index.max() == (2 * ws - 1) ** 2 - 1
    assert np.all(np.diag(index) == (ws - 1) * (2 * ws - 1) + ws - 1)  # offset (0, 0) for every token


def test_split_heads_and_attention_match_swins_five_d_layout():
    rng = np.random.default_rng(1)
    windows, tokens, heads, head_dim = 3, 4, 2, 5
    qkv = rng.normal(size=(windows, tokens, 3 * heads * head_dim)).astype("float32")
    q, k, v = (_numpy(t) for t in SplitHeads(heads)(qkv))
    # Swin: qkv.reshape(B_, N, 3, heads, d).permute(2, 0, 3, 1, 4)
    reference = qkv.reshape(windows, tokens, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
    for ours, theirs in zip((q, k, v), reference):
        assert np.array_equal(ours, theirs)
    logits_layer = WindowAttentionLogits(heads, window_size=2)
    logits = _numpy(logits_layer(q, k))
    table = _numpy(logits_layer.bias_table)
    bias = table[relative_position_index(2).reshape(-1)].reshape(tokens, tokens, heads).transpose(2, 0, 1)
    expected = (q * head_dim ** -0.5) @ k.transpose(0, 1, 3, 2) + bias[None]
    assert np.allclose(logits, expected, atol=1e-5)
    attention = np.exp(expected) / np.exp(expected).sum(-1, keepdims=True)
    context = _numpy(AttentionContext()(attention.astype("float32"), v))
    assert np.allclose(context, (attention @ v).transpose(0, 2, 1, 3).reshape(windows, tokens, heads * head_dim),
                       atol=1e-5)


def test_window_attention_block_matches_a_numpy_swin_block():
    channels, heads, ws, size = 8, 2, 2, 4
    inputs = keras.Input((size, size, channels))
    model = keras.Model(inputs, window_attention_block(inputs, window_size=ws, num_heads=heads, name="b"))
    _randomise(model, 2)
    x = np.random.default_rng(3).normal(size=(2, size, size, channels)).astype("float32")

    y = _partition_reference(_layer_norm(x, *_weights(model, "b_norm1")), ws)  # (B·windows, N, C)
    qkv_kernel, qkv_bias = _weights(model, "b_qkv")
    q, k, v = (y @ qkv_kernel + qkv_bias).reshape(len(y), ws * ws, 3, heads, -1).transpose(2, 0, 3, 1, 4)
    table = _weights(model, "b_logits")[0]
    bias = table[relative_position_index(ws).reshape(-1)].reshape(ws * ws, ws * ws, heads).transpose(2, 0, 1)
    logits = (q * (channels // heads) ** -0.5) @ k.transpose(0, 1, 3, 2) + bias
    attention = np.exp(logits - logits.max(-1, keepdims=True))
    attention /= attention.sum(-1, keepdims=True)
    y = (attention @ v).transpose(0, 2, 1, 3).reshape(len(y), ws * ws, channels)
    proj_kernel, proj_bias = _weights(model, "b_proj")
    y = (y @ proj_kernel + proj_bias).reshape(2, size // ws, size // ws, ws, ws, channels)
    y = y.transpose(0, 1, 3, 2, 4, 5).reshape(x.shape)  # Swin's window_reverse
    x1 = x + y
    expected = x1 + _mlp_reference(_layer_norm(x1, *_weights(model, "b_norm2")), model, "b")
    assert np.allclose(_numpy(model(x)), expected, atol=1e-4)


def test_gnconv_block_matches_the_official_recursion():
    channels, order, kernel, size = 8, 3, 3, 5
    inputs = keras.Input((size, size, channels))
    model = keras.Model(inputs, gnconv_block(inputs, order=order, kernel_size=kernel, name="b"))
    _randomise(model, 4)
    x = np.random.default_rng(5).normal(size=(2, size, size, channels)).astype("float32")

    dims = gnconv_dims(channels, order)
    assert dims == [2, 4, 8]
    fused = _pointwise(_layer_norm(x, *_weights(model, "b_norm1")), model, "b_proj_in")  # (B, H, W, 2C)
    pwa, abc = fused[..., :dims[0]], fused[..., dims[0]:]
    dw_abc = _depthwise(abc, *_weights(model, "b_dwconv")) * (1 / 3)
    dw_list = np.split(dw_abc, np.cumsum(dims)[:-1], axis=-1)
    p = pwa * dw_list[0]
    for i in range(order - 1):
        p = _pointwise(p, model, f"b_pws{i}") * dw_list[i + 1]
    x1 = x + _weights(model, "b_gamma1")[0] * _pointwise(p, model, "b_proj_out")
    mlp = _mlp_reference(_layer_norm(x1, *_weights(model, "b_norm2")), model, "b")
    expected = x1 + _weights(model, "b_gamma2")[0] * mlp
    assert np.allclose(_numpy(model(x)), expected, atol=1e-4)


def test_conv_block_matches_convnext():
    channels, kernel, size = 6, 3, 4
    inputs = keras.Input((size, size, channels))
    model = keras.Model(inputs, conv_block(inputs, kernel_size=kernel, name="b"))
    _randomise(model, 6)
    x = np.random.default_rng(7).normal(size=(2, size, size, channels)).astype("float32")
    y = _layer_norm(_depthwise(x, *_weights(model, "b_dwconv")), *_weights(model, "b_norm"))
    expected = x + _weights(model, "b_gamma")[0] * _mlp_reference(y, model, "b")
    assert np.allclose(_numpy(model(x)), expected, atol=1e-4)


def test_parameter_counts_follow_the_docstring_formulas():
    channels = 96  # Swin-T's width: 3 heads of 32
    inputs = keras.Input((7, 7, channels))
    heads = channels // 32
    window = keras.Model(inputs, window_attention_block(inputs))
    assert window.count_params() == 12 * channels ** 2 + 13 * channels + 13 ** 2 * heads
    conv = keras.Model(inputs, conv_block(inputs))
    assert conv.count_params() == 8 * channels ** 2 + 58 * channels


def test_skip_block_is_the_identity_and_takes_any_block_arguments():
    inputs = keras.Input((7, 7, 16))
    assert skip_block(inputs, kernel_size=5, expansion=2, name="s") is inputs


def test_bad_shapes_are_errors_that_say_what_was_expected():
    with pytest.raises(ValueError, match="multiples of the window size 7"):
        window_attention_block(keras.Input((10, 14, 32)))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        window_attention_block(keras.Input((7, 7, 30)), num_heads=4)
    with pytest.raises(ValueError, match="divisible by 2\\^\\(order-1\\) = 4"):
        gnconv_block(keras.Input((7, 7, 6)), order=3)
    with pytest.raises(ValueError, match="norm must be one of"):
        conv_block(keras.Input((7, 7, 8)), norm="group")
    with pytest.raises(ValueError, match="\\(batch, height, width, channels\\)"):
        conv_block(keras.Input((7, 8)))


def test_blocks_round_trip_through_a_keras_file_in_safe_mode(tmp_path):
    inputs = keras.Input((7, 7, 16))
    x = window_attention_block(inputs, name="w")
    x = gnconv_block(x, order=4, name="g")
    x = conv_block(x, norm="batch", name="c")
    model = keras.Model(inputs, skip_block(x))
    _randomise(model, 8)
    model.save(tmp_path / "blocks.keras")
    again = keras.saving.load_model(tmp_path / "blocks.keras", safe_mode=True)
    x = np.random.default_rng(9).normal(size=(2, 7, 7, 16)).astype("float32")
    assert np.allclose(_numpy(model(x)), _numpy(again(x)), atol=1e-6)
