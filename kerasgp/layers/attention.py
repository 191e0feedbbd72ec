"""The blocks QuadraNet is compared with (Xu, Chen et al., "QuadraNet", ASP-DAC 2024, arXiv 2311.17956,
Sec. II and the block comparison of Table II), each a functional helper with `quadra_block`'s signature
`block(x, ..., name=None) -> tensor` on a (B, H, W, C) tensor, built from small Keras layers so that
`kerasgp.analysis.cost` sees every intermediate tensor (the attention matrix included) as a layer output.

- `window_attention_block`: Swin Transformer's block (Liu et al., "Swin Transformer", ICCV 2021, Sec. 3.1,
  Fig. 3 (b), official `SwinTransformerBlock` / `WindowAttention`): LayerNorm -> window multi-head
  self-attention (window 7, relative position bias, qkv with bias, head dim 32 as Swin-T) -> residual;
  LayerNorm -> MLP (ratio 4, GELU) -> residual.
- `gnconv_block`: HorNet's block (Rao et al., "HorNet", NeurIPS 2022, Sec. 3.1, Eq. 3.3-3.4, official
  `Block` / `gnconv`): LayerNorm -> recursive gated conv gⁿConv (1x1 to 2C, one 7x7 depthwise conv over
  the C·(2 - 2^(1-n)) gating channels scaled by s = 1/3, then p_{k+1} = (W_k p_k) ⊙ q_k for k < n, 1x1
  out) -> layer scale -> residual; LayerNorm -> MLP -> layer scale -> residual.
- `conv_block`: ConvNeXt's block (Liu et al., "A ConvNet for the 2020s", CVPR 2022, Fig. 4, official
  `Block`): 7x7 depthwise conv -> LayerNorm -> 1x1 to 4C -> GELU -> 1x1 to C -> layer scale -> residual.
- `skip_block`: the identity (no block at that position; the "skip" choice of the architecture search).

The layers of the window attention, each at most 4-D so that the block converts to TFLite (a 5-D or 6-D
transpose, as Swin's `window_partition` and `qkv.reshape(B, N, 3, heads, d).permute(2, 0, 3, 1, 4)` write
it, fails at run time on TFLite, as a 5-D channel shuffle does):
`WindowPartition` / `WindowReverse` (non-overlapping ws x ws windows), `SplitHeads` (qkv -> q, k, v per
head), `WindowAttentionLogits` (q kᵀ / sqrt(d) + relative position bias) and `AttentionContext`
(softmax(·) v, heads merged back).

Simplifications, all said here once:
- Windows are never shifted: Swin alternates regular (W-MSA) and shifted (SW-MSA) windows; the shift is a
  cyclic roll of the map plus a constant mask on the logits of the shifted blocks, which changes no tensor
  size (what Table II's comparison is about) but needs a roll that TFLite has no builtin for.
- H and W must be multiples of the window size (Swin pads the map instead); a ValueError says so.
- Drop path (stochastic depth) and dropout are left out of every block (rate 0 at inference and in the
  efficiency comparison).
- 1x1 convs / Linear layers are `Conv2D(kernel_size=1)` on 4-D maps (the same weights as the official
  `nn.Linear` on channels-last tensors; a CONV_2D that TFLite runs in int8), as `quadra_block` does; inside
  the attention, where the tensors are tokens (B·windows, N, C), they are `Dense` as in Swin.
- HorNet's LayerNorm "channels_first" is LayerNormalization over the channel axis of an NHWC map (the same
  normalisation). Its gⁿConv scale s multiplies the depthwise conv's output, as the official code does.
- `norm="batch"` swaps every LayerNorm for a BatchNorm (as `quadra_block`'s deployable variant); the
  papers' blocks use LayerNorm.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from .partial import ChannelSlice
from .quadratic import LayerScale, _named, check_norm, norm_layer

# Swin-T's head dimension (embed 96, heads 3, 6, 12, 24): the default number of heads is C / 32.
SWIN_HEAD_DIM = 32
# HorNet's gⁿConv scale s = 1/3 in every published configuration (hornet_tiny_7x7 ... hornet_large_gf).
HORNET_SCALE = 1.0 / 3.0


def _check_map(x, block: str) -> int:
    if len(x.shape) != 4 or x.shape[-1] is None:
        raise ValueError(f"{block} expects a (batch, height, width, channels) tensor with known channels; "
                         f"got shape {x.shape}")
    return x.shape[-1]


def _check_positive_int(block: str, **values) -> None:
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{block}: {key} must be an integer >= 1, got {value!r}")


def relative_position_index(window_size: int) -> np.ndarray:
    """Swin's relative_position_index (N, N), N = ws²: for tokens i, j of a window, the row of the bias
    table holding the bias for their offset (dy, dx), (dy + ws - 1) * (2 ws - 1) + (dx + ws - 1)."""
    coords = np.stack(np.meshgrid(np.arange(window_size), np.arange(window_size), indexing="ij"))  # (2, ws, ws)
    flat = coords.reshape(2, -1)  # (2, N), row-major: token t = y * ws + x
    relative = (flat[:, :, None] - flat[:, None, :]).transpose(1, 2, 0) + (window_size - 1)  # (N, N, 2)
    return (relative[..., 0] * (2 * window_size - 1) + relative[..., 1]).astype("int32")


@keras.saving.register_keras_serializable(package="kerasgp")
class WindowPartition(keras.layers.Layer):
    """(B, H, W, C) -> (B · H/ws · W/ws, ws², C): non-overlapping ws x ws windows, row-major inside a window
    and over windows (Swin's `window_partition`, then flattened to tokens), with 4-D reshapes only."""

    def __init__(self, window_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("WindowPartition", window_size=window_size)
        self.window_size = window_size

    def build(self, input_shape):
        _check_window_grid(input_shape, self.window_size, "WindowPartition")

    def call(self, x):
        ws = self.window_size
        _, height, width, channels = x.shape
        # (B·H/ws, ws, W/ws, ws·C): rows grouped by window row; (W, C) -> (W/ws, ws·C) keeps memory order
        y = ops.reshape(x, (-1, ws, width // ws, ws * channels))
        y = ops.transpose(y, (0, 2, 1, 3))  # (B·H/ws, W/ws, ws, ws·C): one window's rows together
        return ops.reshape(y, (-1, ws * ws, channels))  # (B·H/ws·W/ws, ws², C)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        windows = (height // self.window_size) * (width // self.window_size)
        return (None if batch is None else batch * windows, self.window_size ** 2, channels)

    def get_config(self):
        return {**super().get_config(), "window_size": self.window_size}


@keras.saving.register_keras_serializable(package="kerasgp")
class WindowReverse(keras.layers.Layer):
    """(B · H/ws · W/ws, ws², C) -> (B, H, W, C): the inverse of `WindowPartition` (Swin's
    `window_reverse`); the map's height and width are part of the layer (the tokens do not carry them)."""

    def __init__(self, window_size: int = 7, height: int = 7, width: int = 7, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("WindowReverse", window_size=window_size, height=height, width=width)
        _check_window_grid((None, height, width, None), window_size, "WindowReverse")
        self.window_size = window_size
        self.height = height
        self.width = width

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] != self.window_size ** 2 or input_shape[-1] is None:
            raise ValueError(f"WindowReverse(window_size={self.window_size}) expects tokens (windows, "
                             f"{self.window_size ** 2}, channels); got {input_shape}")

    def call(self, x):
        ws = self.window_size
        channels = x.shape[-1]
        y = ops.reshape(x, (-1, self.width // ws, ws, ws * channels))  # (B·H/ws, W/ws, ws, ws·C)
        y = ops.transpose(y, (0, 2, 1, 3))  # (B·H/ws, ws, W/ws, ws·C)
        return ops.reshape(y, (-1, self.height, self.width, channels))

    def compute_output_shape(self, input_shape):
        windows = (self.height // self.window_size) * (self.width // self.window_size)
        batch = None if input_shape[0] is None else input_shape[0] // windows
        return (batch, self.height, self.width, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "window_size": self.window_size, "height": self.height,
                "width": self.width}


def _check_window_grid(shape, window_size: int, layer: str) -> None:
    if len(shape) != 4:
        raise ValueError(f"{layer} expects (batch, height, width, channels); got {shape}")
    height, width = shape[1], shape[2]
    if height is None or width is None or height % window_size or width % window_size:
        raise ValueError(f"{layer}: height and width must be known multiples of the window size {window_size} "
                         f"(Swin pads the map; this implementation does not); got {height} x {width}")


@keras.saving.register_keras_serializable(package="kerasgp")
class SplitHeads(keras.layers.Layer):
    """qkv tokens (B', N, 3C) -> q, k, v, each (B', heads, N, C/heads). The 3C axis is read in Swin's order
    (3, heads, head_dim), i.e. `qkv.reshape(B', N, 3, heads, d).permute(2, 0, 3, 1, 4)`, here with 4-D ops."""

    def __init__(self, num_heads: int = 2, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("SplitHeads", num_heads=num_heads)
        self.num_heads = num_heads

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None or input_shape[-1] % (3 * self.num_heads):
            raise ValueError(f"SplitHeads({self.num_heads}) expects (windows, tokens, 3·C) with 3·C divisible by "
                             f"3·num_heads = {3 * self.num_heads}; got {input_shape}")

    def call(self, qkv):
        heads, tokens = self.num_heads, qkv.shape[1]
        head_dim = qkv.shape[-1] // (3 * heads)
        y = ops.reshape(qkv, (-1, tokens, 3 * heads, head_dim))  # (B', N, 3·heads, d)
        y = ops.transpose(y, (0, 2, 1, 3))  # (B', 3·heads, N, d)
        return y[:, :heads], y[:, heads:2 * heads], y[:, 2 * heads:]

    def compute_output_shape(self, input_shape):
        batch, tokens, channels = input_shape
        shape = (batch, self.num_heads, tokens, channels // (3 * self.num_heads))
        return shape, shape, shape

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads}


@keras.saving.register_keras_serializable(package="kerasgp")
class WindowAttentionLogits(keras.layers.Layer):
    """Attention logits of window self-attention with Swin's relative position bias:
    q kᵀ · d^-1/2 + B[index] for q, k of shape (B', heads, N, d), N = ws² -> (B', heads, N, N).

    The learned table has (2 ws - 1)² rows (one per relative offset) and one column per head, initialised
    from a truncated normal with std 0.02 (Swin's `relative_position_bias_table`). Swin scales q before the
    product; scaling the product is the same arithmetic."""

    def __init__(self, num_heads: int = 2, window_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("WindowAttentionLogits", num_heads=num_heads, window_size=window_size)
        self.num_heads = num_heads
        self.window_size = window_size

    def build(self, q_shape, k_shape):
        tokens = self.window_size ** 2
        expected = (self.num_heads, tokens)
        for label, shape in (("q", q_shape), ("k", k_shape)):
            if len(shape) != 4 or tuple(shape[1:3]) != expected or shape[-1] is None:
                raise ValueError(f"WindowAttentionLogits expects {label} of shape (windows, {self.num_heads}, "
                                 f"{tokens}, head_dim); got {shape}")
        self.bias_table = self.add_weight(name="relative_position_bias_table",
                                          shape=((2 * self.window_size - 1) ** 2, self.num_heads),
                                          initializer=keras.initializers.TruncatedNormal(stddev=0.02))
        self.index = relative_position_index(self.window_size).reshape(-1)  # a constant, not a weight

    def call(self, q, k):
        tokens = self.window_size ** 2
        logits = ops.matmul(q, ops.transpose(k, (0, 1, 3, 2))) * (q.shape[-1] ** -0.5)  # (B', heads, N, N)
        bias = ops.take(self.bias_table, self.index, axis=0)  # (N·N, heads)
        bias = ops.transpose(ops.reshape(bias, (tokens, tokens, self.num_heads)), (2, 0, 1))  # (heads, N, N)
        return logits + bias[None]

    def compute_output_shape(self, q_shape, k_shape):
        return (q_shape[0], self.num_heads, q_shape[2], k_shape[2])

    def macs(self, input_shapes, output_shapes) -> int:
        """q kᵀ: head_dim multiply-adds per logit (kerasgp.analysis.cost's convention; the bias add is free)."""
        return math.prod(output_shapes) * input_shapes[0][-1]

    def get_config(self):
        return {**super().get_config(), "num_heads": self.num_heads, "window_size": self.window_size}


@keras.saving.register_keras_serializable(package="kerasgp")
class AttentionContext(keras.layers.Layer):
    """attention (B', heads, N, N) x v (B', heads, N, d) -> (B', N, heads·d), heads merged back in Swin's
    order (`(attn @ v).transpose(1, 2).reshape(B', N, C)`)."""

    def call(self, attention, v):
        y = ops.matmul(attention, v)  # (B', heads, N, d)
        y = ops.transpose(y, (0, 2, 1, 3))  # (B', N, heads, d)
        return ops.reshape(y, (-1, y.shape[1], y.shape[2] * y.shape[3]))

    def compute_output_shape(self, attention_shape, v_shape):
        return (v_shape[0], v_shape[2], v_shape[1] * v_shape[3])

    def macs(self, input_shapes, output_shapes) -> int:
        """attention x v: N (keys) multiply-adds per output element."""
        return math.prod(output_shapes) * input_shapes[0][-1]


def _mlp(x, channels: int, expansion: int, name: str | None, kernel_initializer):
    """The channel-mixing MLP every block shares: 1x1 to expansion·C, GELU, 1x1 back to C."""
    y = keras.layers.Conv2D(expansion * channels, 1, kernel_initializer=kernel_initializer,
                            name=_named(name, "pwconv1"))(x)
    y = keras.layers.Activation("gelu", name=_named(name, "gelu"))(y)
    return keras.layers.Conv2D(channels, 1, kernel_initializer=kernel_initializer, name=_named(name, "pwconv2"))(y)


def window_attention_block(x, window_size: int = 7, num_heads: int | None = None, expansion: int = 4,
                           norm: str = "layer", name: str | None = None, kernel_initializer="glorot_uniform"):
    """Swin's block with regular (unshifted) windows on a (B, H, W, C) map (see the module docstring).

        x = x + proj(attention(norm1(x)))          attention within each ws x ws window, per head:
        x = x + MLP(norm2(x))                      softmax(q kᵀ / sqrt(d) + B) v

    num_heads: default C / 32 (Swin-T's head dimension 32), at least 1. expansion: the MLP ratio (4).
    Swin has no layer scale. Parameters: 12C² + 13C + (2ws - 1)²·heads (qkv 3C² + 3C, proj C² + C,
    MLP 8C² + 5C, two norms 4C, bias table).
    """
    channels = _check_map(x, "window_attention_block")
    check_norm(norm)
    num_heads = max(1, channels // SWIN_HEAD_DIM) if num_heads is None else num_heads
    _check_positive_int("window_attention_block", window_size=window_size, num_heads=num_heads, expansion=expansion)
    if channels % num_heads:
        raise ValueError(f"window_attention_block: channels ({channels}) must be divisible by num_heads "
                         f"({num_heads})")
    _check_window_grid(x.shape, window_size, "window_attention_block")
    height, width = x.shape[1], x.shape[2]

    y = norm_layer(norm, _named(name, "norm1"))(x)
    y = WindowPartition(window_size, name=_named(name, "partition"))(y)  # (B·windows, N, C)
    y = keras.layers.Dense(3 * channels, kernel_initializer=kernel_initializer, name=_named(name, "qkv"))(y)
    q, k, v = SplitHeads(num_heads, name=_named(name, "heads"))(y)
    logits = WindowAttentionLogits(num_heads, window_size, name=_named(name, "logits"))(q, k)
    attention = keras.layers.Softmax(axis=-1, name=_named(name, "softmax"))(logits)
    y = AttentionContext(name=_named(name, "context"))(attention, v)  # (B·windows, N, C)
    y = keras.layers.Dense(channels, kernel_initializer=kernel_initializer, name=_named(name, "proj"))(y)
    y = WindowReverse(window_size, height, width, name=_named(name, "reverse"))(y)
    x = keras.layers.Add(name=_named(name, "add1"))([x, y])

    y = norm_layer(norm, _named(name, "norm2"))(x)
    y = _mlp(y, channels, expansion, name, kernel_initializer)
    return keras.layers.Add(name=_named(name, "add2"))([x, y])


def gnconv_dims(channels: int, order: int) -> list[int]:
    """HorNet's channel widths of the recursion, C / 2^(n-1), ..., C / 2, C (official `gnconv.dims`)."""
    _check_positive_int("gnconv", channels=channels, order=order)
    if channels % 2 ** (order - 1):
        raise ValueError(f"gnconv of order {order} needs channels divisible by 2^(order-1) = {2 ** (order - 1)}; "
                         f"got {channels}")
    return [channels // 2 ** i for i in range(order)][::-1]


def gnconv_block(x, order: int = 3, kernel_size: int = 7, scale: float = HORNET_SCALE, expansion: int = 4,
                 norm: str = "layer", layer_scale: float | None = 1e-6, name: str | None = None,
                 kernel_initializer="glorot_uniform"):
    """HorNet's block with gⁿConv of order n on a (B, H, W, C) map (see the module docstring).

    gⁿConv (official `gnconv.forward`), dims = C/2^(n-1), ..., C:
        p_0, q = split(proj_in(x), (dims[0], sum(dims)))     1x1 conv to 2C
        q_0, ..., q_{n-1} = split(s · dwconv_kxk(q), dims)   one depthwise conv over all gates
        p_1 = p_0 ⊙ q_0;  p_{k+1} = pws_k(p_k) ⊙ q_k          the recursion: each step waits for the last
        out = proj_out(p_n)                                  1x1 conv to C
    Block: x = x + gamma1 · gⁿConv(norm1(x)); x = x + gamma2 · MLP(norm2(x)).
    HorNet-T uses orders 2, 3, 4, 5 in its four stages; here one order for the whole stack (default 3).
    """
    channels = _check_map(x, "gnconv_block")
    check_norm(norm)
    _check_positive_int("gnconv_block", kernel_size=kernel_size, expansion=expansion)
    dims = gnconv_dims(channels, order)
    if layer_scale is not None and layer_scale < 0:
        raise ValueError(f"layer_scale must be >= 0 or None, got {layer_scale!r}")

    y = norm_layer(norm, _named(name, "norm1"))(x)
    y = keras.layers.Conv2D(2 * channels, 1, kernel_initializer=kernel_initializer, name=_named(name, "proj_in"))(y)
    p = ChannelSlice(0, dims[0], name=_named(name, "pwa"))(y)
    gates = ChannelSlice(dims[0], None, name=_named(name, "abc"))(y)
    gates = keras.layers.DepthwiseConv2D(kernel_size, padding="same", depthwise_initializer=kernel_initializer,
                                         name=_named(name, "dwconv"))(gates)
    gates = keras.layers.Rescaling(scale, name=_named(name, "dwscale"))(gates)
    start = 0
    for i, width in enumerate(dims):
        gate = ChannelSlice(start, start + width, name=_named(name, f"gate{i}"))(gates)
        start += width
        if i > 0:
            p = keras.layers.Conv2D(width, 1, kernel_initializer=kernel_initializer,
                                    name=_named(name, f"pws{i - 1}"))(p)
        p = keras.layers.Multiply(name=_named(name, f"gated{i}"))([p, gate])
    y = keras.layers.Conv2D(channels, 1, kernel_initializer=kernel_initializer, name=_named(name, "proj_out"))(p)
    if layer_scale:
        y = LayerScale(layer_scale, name=_named(name, "gamma1"))(y)
    x = keras.layers.Add(name=_named(name, "add1"))([x, y])

    y = norm_layer(norm, _named(name, "norm2"))(x)
    y = _mlp(y, channels, expansion, name, kernel_initializer)
    if layer_scale:
        y = LayerScale(layer_scale, name=_named(name, "gamma2"))(y)
    return keras.layers.Add(name=_named(name, "add2"))([x, y])


def conv_block(x, kernel_size: int = 7, expansion: int = 4, norm: str = "layer", layer_scale: float | None = 1e-6,
               name: str | None = None, kernel_initializer="glorot_uniform"):
    """ConvNeXt's block on a (B, H, W, C) map: x + gamma · Conv1x1(C)(GELU(Conv1x1(4C)(norm(dwconv_7x7(x))))).

    One norm, one layer scale and one residual (ConvNeXt), where QuadraBlock and HorNet's block have two
    of each. Parameters: 8C² + 58C at k=7 (dw 49C + C, norm 2C, 1x1s 8C² + 5C, gamma C)."""
    channels = _check_map(x, "conv_block")
    check_norm(norm)
    _check_positive_int("conv_block", kernel_size=kernel_size, expansion=expansion)
    if layer_scale is not None and layer_scale < 0:
        raise ValueError(f"layer_scale must be >= 0 or None, got {layer_scale!r}")
    y = keras.layers.DepthwiseConv2D(kernel_size, padding="same", depthwise_initializer=kernel_initializer,
                                     name=_named(name, "dwconv"))(x)
    y = norm_layer(norm, _named(name, "norm"))(y)
    y = _mlp(y, channels, expansion, name, kernel_initializer)
    if layer_scale:
        y = LayerScale(layer_scale, name=_named(name, "gamma"))(y)
    return keras.layers.Add(name=_named(name, "add"))([x, y])


def skip_block(x, name: str | None = None, **unused):
    """The identity: no block at this position (ProxylessNAS's and QuadraNet's search's "skip" choice).
    Takes and ignores the other blocks' keyword arguments so any block name can be swapped for it."""
    _check_map(x, "skip_block")
    return x


BLOCKS = {"conv": conv_block, "window_attention": window_attention_block, "gnconv": gnconv_block,
          "skip": skip_block}
