"""Quadratic neurons and QuadraNet's block (Xu, Chen et al., "QuadraNet: Improving High-Order Neural
Interaction Efficiency with Hardware-Aware Quadratic Neural Networks", ASP-DAC 2024, arXiv 2311.17956).

- `QuadraticDense`: the paper's low-rank quadratic neuron (Sec. III-A). A full quadratic neuron computes
  y = xᵀ W_q x + W_c x + b, with an n×n matrix W_q per output (n² weights); the low-rank form factorises
  W_q into rank-r products, y = Σ_r (W_a,r x) ⊙ (W_b,r x) + W_c x + b, so the cost grows as (2r + 1)·n per
  output instead of n² + n (`quadratic_params`). One such neuron already holds a product of two inputs, so
  it separates XOR, which no single linear neuron can.
- `QuadraticDepthwiseConv2D`: the same neuron with depthwise convolutions (the official code's
  `QuadraConv_dw`): dw_a(x) ⊙ dw_b(x) + dw_c(x), three k×k depthwise filters, each with a bias in the
  official code (`get_dwconv(..., bias=True)`). Its output mixes every pair of pixels in a k×k window, a
  second-order spatial interaction at the price of three depthwise convs and one multiply.
- `LayerScale`: ConvNeXt's per-channel learnable gain gamma (init 1e-6) on a residual branch.
- `quadra_block`: QuadraBlock (the official `QuadraBlock1_dw`, paper Fig. 2): norm -> 7×7 quadratic dw
  conv -> layer scale -> residual; norm -> 1×1 expand (4C) -> GELU -> 1×1 (C) -> layer scale -> residual.

Differences from the official code, on purpose:
- The official `QuadraFC` gives each of its three linear maps a bias; `QuadraticDense` follows the paper's
  formula (one bias b, on the linear term): the biases of W_a and W_b only add terms that W_c x + b
  already spans, plus a constant. Its parameter count is therefore `quadratic_params(...)`, not 3 Linear's.
- The 1×1 convs are `Conv2D(kernel_size=1)` where the official code uses `nn.Linear` on channels-last
  tensors: the same weights and parameters, and a CONV_2D that TFLite runs in int8 (a Dense on a 4-D
  tensor becomes a reshape + FULLY_CONNECTED or a BATCH_MATMUL).
- `norm="batch"` swaps every LayerNorm for a BatchNorm: the deployable variant (a BatchNorm folds into
  the conv before it or becomes a MUL/ADD in TFLite; LayerNorm is no TFLite builtin and stays float).
  The official code has LayerNorm only; what the swap costs in accuracy is measured, not assumed.
"""
from __future__ import annotations

import math

import keras
from keras import ops

NORMS = ("layer", "batch")
# The official code's LayerNorm epsilon (ConvNeXt's); Keras' default is 1e-3.
LAYER_NORM_EPSILON = 1e-6
# PyTorch's BatchNorm epsilon and momentum (as kerasgp.backbones.common), for the deployable variant.
BATCH_NORM_EPSILON = 1e-5
BATCH_NORM_MOMENTUM = 0.9


def quadratic_params(inputs: int, units: int, rank: int = 1, low_rank: bool = True, use_bias: bool = True) -> int:
    """Weights of `units` quadratic neurons on `inputs` features.

    low_rank=True: QuadraNet's factorised neuron, 2·rank·inputs·units (W_a, W_b) + inputs·units (W_c)
    (+ units biases), which is `QuadraticDense(units, rank).count_params()`.
    low_rank=False: the full quadratic neuron y = xᵀ W_q x + W_c x + b with a full (not symmetrised)
    inputs×inputs matrix per unit: inputs²·units + inputs·units (+ units).
    """
    for key, value in (("inputs", inputs), ("units", units), ("rank", rank)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be an integer >= 1, got {value!r}")
    quadratic = 2 * rank * inputs * units if low_rank else inputs * inputs * units
    return quadratic + inputs * units + (units if use_bias else 0)


@keras.saving.register_keras_serializable(package="kerasgp")
class QuadraticDense(keras.layers.Layer):
    """Low-rank quadratic neuron: y = Σ_r (x W_a,r) ⊙ (x W_b,r) + x W_c + b (QuadraNet Sec. III-A).

    Acts on the last axis like Dense. kernel_a and kernel_b have shape (rank, inputs, units), kernel_c
    (inputs, units). One bias only (see the module docstring for the official code's three).
    """

    def __init__(self, units: int, rank: int = 1, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        for key, value in (("units", units), ("rank", rank)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"QuadraticDense {key} must be an integer >= 1, got {value!r}")
        self.units = units
        self.rank = rank
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        inputs = input_shape[-1]
        if inputs is None:
            raise ValueError(f"QuadraticDense needs a known last dimension; got input shape {input_shape}")
        self.kernel_a = self.add_weight(name="kernel_a", shape=(self.rank, inputs, self.units),
                                        initializer=fresh_initializer(self.kernel_initializer))
        self.kernel_b = self.add_weight(name="kernel_b", shape=(self.rank, inputs, self.units),
                                        initializer=fresh_initializer(self.kernel_initializer))
        self.kernel_c = self.add_weight(name="kernel_c", shape=(inputs, self.units),
                                        initializer=fresh_initializer(self.kernel_initializer))
        self.bias = (self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer)
                     if self.use_bias else None)

    def call(self, x):
        y = ops.matmul(x, self.kernel_c)
        # rank is small (1 in the paper): one pair of matmuls per rank keeps every tensor at x's rank.
        for r in range(self.rank):
            y = y + ops.matmul(x, self.kernel_a[r]) * ops.matmul(x, self.kernel_b[r])
        if self.bias is not None:
            y = y + self.bias
        return y

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "rank": self.rank, "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


@keras.saving.register_keras_serializable(package="kerasgp")
class QuadraticDepthwiseConv2D(keras.layers.Layer):
    """Quadratic depthwise convolution: dw_a(x) ⊙ dw_b(x) + dw_c(x), stride 1 (official `QuadraConv_dw`).

    Three depthwise kernels (k, k, C, 1), each with its own bias when use_bias (as the official code).
    padding "same" equals torch's padding (k - 1) // 2 for odd k at stride 1.
    """

    def __init__(self, kernel_size: int = 7, use_bias: bool = True, padding: str = "same",
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(kernel_size, int) or kernel_size < 1:
            raise ValueError(f"kernel_size must be an integer >= 1, got {kernel_size!r}")
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        self.kernel_size = kernel_size
        self.use_bias = use_bias
        self.padding = padding
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"QuadraticDepthwiseConv2D expects (batch, height, width, channels) with known "
                             f"channels; got {input_shape}")
        channels = input_shape[-1]
        shape = (self.kernel_size, self.kernel_size, channels, 1)
        self.kernels, self.biases = [], []
        for part in ("a", "b", "c"):
            self.kernels.append(self.add_weight(name=f"kernel_{part}", shape=shape,
                                                initializer=fresh_initializer(self.kernel_initializer)))
            self.biases.append(self.add_weight(name=f"bias_{part}", shape=(channels,),
                                               initializer=self.bias_initializer) if self.use_bias else None)

    def macs(self, input_shapes, output_shapes) -> int:
        """kerasgp.analysis.cost's rule: three k x k depthwise convs (k² per output element each) and the
        product (one per output element; the adds are free by the papers' convention)."""
        outputs = math.prod(output_shapes)
        return 3 * outputs * self.kernel_size ** 2 + outputs

    def _depthwise(self, x, index):
        y = ops.depthwise_conv(x, self.kernels[index], strides=1, padding=self.padding)
        return y if self.biases[index] is None else y + self.biases[index]

    def call(self, x):
        return self._depthwise(x, 0) * self._depthwise(x, 1) + self._depthwise(x, 2)

    def compute_output_shape(self, input_shape):
        if self.padding == "same":
            return tuple(input_shape)
        batch, height, width, channels = input_shape
        shrink = self.kernel_size - 1
        return (batch, None if height is None else height - shrink, None if width is None else width - shrink,
                channels)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "use_bias": self.use_bias,
                "padding": self.padding,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


@keras.saving.register_keras_serializable(package="kerasgp")
class LayerScale(keras.layers.Layer):
    """Per-channel learnable gain gamma, initialised to `init_value` (ConvNeXt's layer scale; QuadraNet's
    official code puts one on each of the block's two residual branches, gamma1 and gamma2)."""

    def __init__(self, init_value: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(init_value, (int, float)) or init_value <= 0:
            raise ValueError(f"LayerScale init_value must be a number > 0, got {init_value!r}")
        self.init_value = float(init_value)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"LayerScale needs a known channel count; got input shape {input_shape}")
        self.gamma = self.add_weight(name="gamma", shape=(input_shape[-1],),
                                     initializer=keras.initializers.Constant(self.init_value))

    def call(self, x):
        return x * self.gamma

    def macs(self, input_shapes, output_shapes) -> int:
        """Element-wise, 0 multiply-accumulates (kerasgp.analysis.cost's convention for norms and scales)."""
        return 0

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "init_value": self.init_value}


def fresh_initializer(initializer):
    """A new instance of `initializer` for one weight. Keras 3 gives an unseeded initializer instance one
    fixed seed, so one instance drawn twice at the same shape returns the same values: W_a = W_b (and
    dw_a = dw_b = dw_c) at init, and the product's gradients keep them equal ever after."""
    initializer = keras.initializers.get(initializer)
    return initializer.__class__.from_config(initializer.get_config())


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def norm_layer(norm: str, name: str | None = None):
    """The official code's LayerNorm (eps 1e-6, over channels) or the deployable BatchNorm."""
    check_norm(norm)
    if norm == "layer":
        return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=name)
    return keras.layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, name=name)


def _named(name: str | None, suffix: str) -> str | None:
    return None if name is None else f"{name}_{suffix}"


def quadra_block(x, kernel_size: int = 7, expansion: int = 4, norm: str = "layer", layer_scale: float | None = 1e-6,
                 name: str | None = None, kernel_initializer="glorot_uniform"):
    """QuadraBlock on a (B, H, W, C) tensor, C = x.shape[-1] (official `QuadraBlock1_dw`, paper Fig. 2).

    Spatial mixing:  x = x + gamma1 · QuadraticDepthwiseConv2D(k)(norm1(x))
    Channel mixing:  x = x + gamma2 · Conv1x1(C)(GELU(Conv1x1(expansion·C)(norm2(x))))
    layer_scale: gamma's initial value; None or 0 drops both gammas (as the official code for <= 0).
    kernel_initializer: for the quadratic conv and the 1x1 convs (the official code draws every conv and
    linear weight from a truncated normal, std 0.02; `kerasgp.backbones.quadranet` passes that).
    Parameters: 8C² + 161C at k=7, expansion=4 (norms 2C + 2C, three dw filters 3(49C + C),
    1x1s 4C² + 4C + 4C² + C, gammas 2C).
    Drop path (stochastic depth, rate 0 by default in the official code) is left out.
    """
    check_norm(norm)
    if not isinstance(expansion, int) or expansion < 1:
        raise ValueError(f"expansion must be an integer >= 1, got {expansion!r}")
    if len(x.shape) != 4 or x.shape[-1] is None:
        raise ValueError(f"quadra_block expects a (batch, height, width, channels) tensor with known channels; "
                         f"got shape {x.shape}")
    if layer_scale is not None and layer_scale < 0:
        raise ValueError(f"layer_scale must be >= 0 or None, got {layer_scale!r}")
    channels = x.shape[-1]
    use_scale = bool(layer_scale)

    y = norm_layer(norm, _named(name, "norm1"))(x)
    y = QuadraticDepthwiseConv2D(kernel_size, kernel_initializer=fresh_initializer(kernel_initializer), name=_named(name, "quadconv"))(y)
    if use_scale:
        y = LayerScale(layer_scale, name=_named(name, "gamma1"))(y)
    x = keras.layers.Add(name=_named(name, "add1"))([x, y])

    y = norm_layer(norm, _named(name, "norm2"))(x)
    y = keras.layers.Conv2D(expansion * channels, 1, kernel_initializer=fresh_initializer(kernel_initializer),
                            name=_named(name, "pwconv1"))(y)
    y = keras.layers.Activation("gelu", name=_named(name, "gelu"))(y)
    y = keras.layers.Conv2D(channels, 1, kernel_initializer=fresh_initializer(kernel_initializer), name=_named(name, "pwconv2"))(y)
    if use_scale:
        y = LayerScale(layer_scale, name=_named(name, "gamma2"))(y)
    return keras.layers.Add(name=_named(name, "add2"))([x, y])
