"""Computational blocks shared by the gradient-path backbones (plain, ResNet, PRN, CSP, Darknet).

Each is a Functional helper `block(x, channels, name, ...)` returning a tensor; `channels` is the block's
output width (for `dense_block`, its growth rate). They go inside a stage directly or through
`kerasgp.layers.csp_stage(x, block_fn, ...)`, which runs any of them on half of the stage's channels.

- `plain_block`: a stack of 3x3 conv-BN-ReLU, no shortcut (He et al., "Deep Residual Learning for Image
  Recognition", CVPR 2016, Sec. 4.1 "plain networks").
- `basic_block`, `bottleneck_block`: ResNet's two-3x3 and 1x1-3x3-1x1 units (He et al. 2016, Fig. 5), in
  torchvision's layout (stride on the 3x3, 1x1/s conv-BN projection when the shape changes, ReLU after the
  add), so `resnet` with basic blocks at width 1 has torchvision resnet18's parameter count. Options for the
  gradient-path experiments (Wang, Liao, Yeh, "Designing Network Design Strategies Through Gradient Path
  Analysis", 2022):
    residual="full" (ResNet), "masked" (PRN: the shortcut reaches only the first round(fraction * C)
    channels; a projection then makes only those channels), "asymmetric" (Darknet's shortcut: no projection,
    the input is added over the shared channels, a stride-s block samples every s-th pixel of it as darknet
    does);
    stop_gradient=None, "identity" (no gradient through the shortcut) or "block" (no gradient through the
    residual branch).
- `dense_block`: DenseNet's block (Huang et al., "Densely Connected Convolutional Networks", CVPR 2017,
  Sec. 3): each layer sees the concatenation of all earlier outputs and adds `growth_rate` channels.
  Simplified: conv-BN-ReLU (post-activation, as every block here) instead of DenseNet's BN-ReLU-conv.
- `darknet_unit`: Darknet53's residual unit, 1x1 conv then 3x3 conv and a linear shortcut (Redmon &
  Farhadi, "YOLOv3", 2018, Table 1; the `[shortcut] activation=linear` of yolov4.cfg).
"""
from __future__ import annotations

import keras

from ..layers.gradient import StopGradient
from ..layers.partial import AsymmetricResidual, MaskedResidual, masked_channels
from .common import activation_layer, conv_bn, scale_depth

conv_bn_act = conv_bn  # conv-BN-activation; "leaky" is Darknet's slope 0.1 (common.activation_layer)

RESIDUALS = ("full", "masked", "asymmetric")
STOP_GRADIENTS = (None, "identity", "block")


def scale_width(channels: int, width: float, divisor: int = 8) -> int:
    """channels * width rounded to the nearest multiple of `divisor` (at least `divisor`, and not more than
    10 % below the exact value: MobileNet's _make_divisible rule)."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    value = channels * width
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _check_options(residual: str, stop_gradient: str | None):
    if residual not in RESIDUALS:
        raise ValueError(f"residual must be one of {RESIDUALS}, got {residual!r}")
    if stop_gradient not in STOP_GRADIENTS:
        raise ValueError(f"stop_gradient must be one of {STOP_GRADIENTS}, got {stop_gradient!r}")


def _residual(x, y, channels: int, stride: int, *, name: str, residual: str, fraction: float,
              stop_gradient: str | None):
    """y (the residual branch, `channels` wide, already strided) plus x's shortcut, by the chosen rule."""
    if stop_gradient == "block":
        y = StopGradient(name=f"{name}_stop_block")(y)
    same_shape = stride == 1 and x.shape[-1] == channels
    if residual == "asymmetric":
        shortcut = x
        if stride > 1:
            # darknet's shortcut_cpu reads the larger map at i*stride: a 1x1 max pool of stride s does the same
            shortcut = keras.layers.MaxPool2D(1, stride, padding="same", name=f"{name}_subsample")(x)
        merge = AsymmetricResidual(name=f"{name}_add")
    elif same_shape:
        shortcut = x
        merge = (keras.layers.Add(name=f"{name}_add") if residual == "full"
                 else MaskedResidual(fraction, name=f"{name}_add"))
    else:
        # torchvision's downsample: 1x1/s conv + BN. PRN's masked version projects only the channels it adds to.
        width = channels if residual == "full" else masked_channels(channels, fraction)
        if width == 0:
            return y
        shortcut = conv_bn(x, width, 1, stride, name=f"{name}_projection", activation=None)
        merge = keras.layers.Add(name=f"{name}_add") if residual == "full" else AsymmetricResidual(name=f"{name}_add")
    if stop_gradient == "identity":
        shortcut = StopGradient(name=f"{name}_stop_identity")(shortcut)
    return merge([y, shortcut])


def plain_block(x, channels: int, name: str, *, num_layers: int = 2, stride: int = 1, activation: str = "relu"):
    """`num_layers` 3x3 conv-BN-act; the first one carries the stride."""
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    for i in range(num_layers):
        x = conv_bn_act(x, channels, 3, stride if i == 0 else 1, name=f"{name}_conv{i + 1}", activation=activation)
    return x


def basic_block(x, channels: int, name: str, *, stride: int = 1, residual: str = "full", fraction: float = 0.5,
                stop_gradient: str | None = None, activation: str = "relu"):
    """ResNet's basic unit: 3x3/s conv-BN-act, 3x3 conv-BN, + shortcut, act."""
    _check_options(residual, stop_gradient)
    y = conv_bn_act(x, channels, 3, stride, name=f"{name}_conv1", activation=activation)
    y = conv_bn(y, channels, 3, name=f"{name}_conv2", activation=None)
    y = _residual(x, y, channels, stride, name=name, residual=residual, fraction=fraction, stop_gradient=stop_gradient)
    return activation_layer(y, activation, f"{name}_out")


def bottleneck_block(x, channels: int, name: str, *, stride: int = 1, expansion: int = 4, residual: str = "full",
                     fraction: float = 0.5, stop_gradient: str | None = None, activation: str = "relu"):
    """ResNet's bottleneck unit with `channels` outputs: 1x1 (channels / expansion), 3x3/s, 1x1 (channels),
    + shortcut, act (torchvision's ResNet v1.5: the stride on the 3x3)."""
    _check_options(residual, stop_gradient)
    if channels % expansion:
        raise ValueError(f"{name}: bottleneck output channels must be divisible by expansion={expansion}; "
                         f"got {channels}")
    inner = channels // expansion
    y = conv_bn_act(x, inner, 1, name=f"{name}_conv1", activation=activation)
    y = conv_bn_act(y, inner, 3, stride, name=f"{name}_conv2", activation=activation)
    y = conv_bn(y, channels, 1, name=f"{name}_conv3", activation=None)
    y = _residual(x, y, channels, stride, name=name, residual=residual, fraction=fraction, stop_gradient=stop_gradient)
    return activation_layer(y, activation, f"{name}_out")


def dense_block(x, growth_rate: int, name: str, *, num_layers: int = 4, bottleneck_width: int | None = None,
                activation: str = "relu"):
    """DenseNet block: `num_layers` layers of 3x3 conv-BN-act (`growth_rate` outputs each, preceded by a 1x1
    of `bottleneck_width` outputs when given: DenseNet-BC uses 4 * growth_rate), each fed the concatenation
    of the block input and every earlier layer's output. Output: C_in + num_layers * growth_rate channels."""
    if num_layers < 1 or growth_rate < 1:
        raise ValueError(f"dense_block needs num_layers >= 1 and growth_rate >= 1; got {num_layers}, {growth_rate}")
    for i in range(num_layers):
        y = x
        if bottleneck_width:
            y = conv_bn_act(y, bottleneck_width, 1, name=f"{name}_layer{i + 1}_bottleneck", activation=activation)
        y = conv_bn_act(y, growth_rate, 3, name=f"{name}_layer{i + 1}", activation=activation)
        x = keras.layers.Concatenate(name=f"{name}_layer{i + 1}_concat")([x, y])  # (B, H, W, C_in + (i+1)k)
    return x


def darknet_unit(x, channels: int, name: str, *, hidden_channels: int | None = None, activation: str = "leaky"):
    """Darknet residual unit: 1x1 conv-BN-act (hidden_channels, default channels), 3x3 conv-BN-act
    (channels), linear shortcut from the input. Unequal widths add by Darknet's own rule
    (AsymmetricResidual) rather than failing."""
    y = conv_bn_act(x, hidden_channels or channels, 1, name=f"{name}_conv1", activation=activation)
    y = conv_bn_act(y, channels, 3, name=f"{name}_conv2", activation=activation)
    if x.shape[-1] == channels:
        return keras.layers.Add(name=f"{name}_add")([y, x])
    return AsymmetricResidual(name=f"{name}_add")([y, x])


def repeat(block: str, repeats: int, channels: int | None = None, **options):
    """A `block_fn(x, name)` for csp_stage: `repeats` units of `block` ("plain", "basic", "bottleneck",
    "darknet"), `channels` wide (default: the part's own width, so the units keep their shape)."""
    functions = {"plain": plain_block, "basic": basic_block, "bottleneck": bottleneck_block, "darknet": darknet_unit}
    if block not in functions:
        raise ValueError(f"block must be one of {sorted(functions)}, got {block!r}")

    def block_fn(x, name):
        width = channels or x.shape[-1]
        for i in range(repeats):
            x = functions[block](x, width, f"{name}{i}", **options)
        return x

    return block_fn
