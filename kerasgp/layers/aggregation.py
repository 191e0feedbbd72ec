"""Layer aggregation blocks: ELAN (YOLOv7) and OSA (VoVNet), as Functional helpers.

- ELAN, the network-level strategy of the gradient-path paper (Wang, Liao, Yeh, "Designing Network
  Design Strategies Through Gradient Path Analysis", 2022, Sec. 2.4): "stack in computational block", so
  that every layer of a deep block keeps a short gradient path to the block's output. YOLOv7 (Wang,
  Bochkovskiy, Liao, 2022, Fig. 2 (c) and Sec. 3.1) uses it as its backbone block; the exact wiring here is
  that of the official cfg files of WongKinYiu/yolov7 (cited per block below).
- OSA, "one-shot aggregation" (Lee, Hwang, Lee, Bae, Park, "An Energy and GPU-Computation Efficient
  Backbone Network for Real-Time Object Detection", CVPRW 2019, Sec. 3.2 and Fig. 2): a chain of 3x3
  convs whose outputs are all concatenated once, at the end, together with the block's input, then fused
  by one 1x1.

Every op here is an ordinary Keras layer (Conv2D, BatchNormalization, activations, Concatenate,
MaxPool2D, Add): nothing is novel, so there is no custom layer class, and a model built from these
helpers reloads from a `.keras` file with `safe_mode=True`. Layer names are `{name}_branch1`,
`{name}_branch2`, `{name}_conv{i}`, `{name}_concat`, `{name}_transition` (+ `_bn` and the activation), so
tests and the gradient-path tools can find each part by name.

Simplification: BatchNorm uses `conv_bn`'s settings (PyTorch's defaults), not YOLOv7's (eps 1e-3,
momentum 0.03, set by `initialize_weights` in the official utils/torch_utils.py); no YOLOv7 weights are
ported, so nothing depends on it.
"""
from __future__ import annotations

import keras

from .conv import conv_bn


def conv_bn_act(x, filters: int, kernel_size: int, stride: int = 1, *, name: str, activation: str | None = "silu",
                padding: str = "same"):
    """Conv (no bias) + BN + activation: YOLOv7's `Conv` module (models/common.py; SiLU by default) and
    VoVNet's conv3x3/conv1x1 (with ReLU). activation="leaky_relu" is LeakyReLU(0.1), YOLOv7-tiny's
    nn.LeakyReLU(0.1) (layers.conv.activation_layer)."""
    return conv_bn(x, filters, kernel_size, stride, name=name, padding=padding, activation=activation)


def _check_positive(name: str, **values):
    for key, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: {key} must be a positive integer, got {value!r}")


def elan_concat_indices(num_pairs: int) -> tuple[int, ...]:
    """YOLOv7's rule for which outputs an ELAN block concatenates, counted back from the last 3x3 conv
    over [branch1, branch2, conv1, ..., conv{2*num_pairs}]: the end of every 3x3 pair, then both 1x1
    branches. num_pairs=2 gives yolov7.yaml's [-1, -3, -5, -6]; num_pairs=3 gives yolov7x.yaml's
    [-1, -3, -5, -7, -8]."""
    _check_positive("elan_concat_indices", num_pairs=num_pairs)
    pair_ends = tuple(-(2 * i + 1) for i in range(num_pairs))
    return pair_ends + (-(2 * num_pairs + 1), -(2 * num_pairs + 2))


def _aggregate(x, *, name: str, branch_channels: int, chain_channels: int, num_convs: int,
               concat_indices, out_channels: int | None, activation, padding: str, out_fraction: float = 1.0):
    """The ELAN family's skeleton: two 1x1 branches of the input, a chain of 3x3 convs fed by the second
    branch, a concat of the outputs picked by `concat_indices` (negative, counted over [branch1, branch2,
    conv1, ..., conv_n] as the cfg's `from` indices are), and a 1x1 transition to `out_channels`
    (default: the concat's width times `out_fraction`)."""
    num_outputs = 2 + num_convs
    indices = tuple(concat_indices)
    if not indices or any(not isinstance(i, int) or not -num_outputs <= i <= -1 for i in indices):
        raise ValueError(f"{name}: concat_indices must be negative indices in [-{num_outputs}, -1] over the "
                         f"{num_outputs} outputs (2 branches + {num_convs} convs), got {indices}")
    if len(set(indices)) != len(indices):
        raise ValueError(f"{name}: concat_indices must not repeat an output, got {indices}")
    outputs = [conv_bn_act(x, branch_channels, 1, name=f"{name}_branch1", activation=activation),
               conv_bn_act(x, branch_channels, 1, name=f"{name}_branch2", activation=activation)]
    y = outputs[-1]
    for i in range(1, num_convs + 1):
        y = conv_bn_act(y, chain_channels, 3, name=f"{name}_conv{i}", activation=activation, padding=padding)
        outputs.append(y)
    picked = [outputs[i] for i in indices]
    y = keras.layers.Concatenate(name=f"{name}_concat")(picked)
    if out_channels is None:
        out_channels = int(y.shape[-1] * out_fraction)
    return conv_bn_act(y, out_channels, 1, name=f"{name}_transition", activation=activation)


def elan_block(x, channels: int, name: str, num_pairs: int = 2, concat_indices=None, out_channels: int | None = None,
               activation: str | None = "silu", padding: str = "same"):
    """YOLOv7's backbone ELAN block (yolov7.yaml backbone, e.g. layers 4-11): two 1x1 branches of
    `channels` (c) from the input, a chain of `2 * num_pairs` 3x3 convs of c fed by the second branch,
    concat of the outputs at `concat_indices`, 1x1 transition.

    concat_indices: None follows YOLOv7's rule (`elan_concat_indices`): (-1, -3, -5, -6) for the cfg's
    num_pairs=2, i.e. [conv4, conv2, branch2, branch1] in the cfg's order. An explicit tuple is checked
    against the number of outputs.
    out_channels: None = the concat's width, which is 4c at num_pairs=2 (yolov7.yaml: 64 -> 256,
    128 -> 512, 256 -> 1024) and 5c at num_pairs=3 (yolov7x.yaml: 64 -> 320): YOLOv7's compound scaling
    (Sec. 3.2) widens the transition with the deeper block.
    """
    _check_positive(name, channels=channels, num_pairs=num_pairs)
    indices = elan_concat_indices(num_pairs) if concat_indices is None else concat_indices
    return _aggregate(x, name=name, branch_channels=channels, chain_channels=channels, num_convs=2 * num_pairs,
                      concat_indices=indices, out_channels=out_channels, activation=activation, padding=padding)


def elan_w_block(x, channels: int, name: str, num_pairs: int = 2, hidden_channels: int | None = None,
                 out_channels: int | None = None, activation: str | None = "silu", padding: str = "same"):
    """YOLOv7's head block, "ELAN-W" (yolov7.yaml head, e.g. layers 56-63): two 1x1 branches of
    `channels` (c), a chain of `2 * num_pairs` 3x3 convs of `hidden_channels` (default c/2), concat of
    every output ([-1, -2, -3, -4, -5, -6] in the cfg), 1x1 transition to `out_channels` (default c:
    the cfg's 256-channel branches, 128-channel 3x3s, 1024-channel concat and 256-channel output)."""
    hidden_channels = channels // 2 if hidden_channels is None else hidden_channels
    _check_positive(name, channels=channels, num_pairs=num_pairs, hidden_channels=hidden_channels)
    num_convs = 2 * num_pairs
    return _aggregate(x, name=name, branch_channels=channels, chain_channels=hidden_channels, num_convs=num_convs,
                      concat_indices=tuple(range(-1, -num_convs - 3, -1)),
                      out_channels=channels if out_channels is None else out_channels,
                      activation=activation, padding=padding)


def elan_tiny_block(x, channels: int, name: str, num_convs: int = 2, out_channels: int | None = None,
                    activation: str | None = "leaky_relu", padding: str = "same"):
    """YOLOv7-tiny's block (yolov7-tiny.yaml backbone, e.g. layers 2-7): two 1x1 branches of `channels`
    (c), a chain of `num_convs` 3x3 convs of c (2 in the cfg), concat of every output ([-1, -2, -3, -4]:
    [conv2, conv1, branch2, branch1]), 1x1 transition, LeakyReLU(0.1) throughout.

    out_channels: None = half the concat's width, which is the cfg's 2c at num_convs=2 (32 -> 64 ...
    256 -> 512). The cfg has no deeper tiny block; keeping the transition at half the concat when
    num_convs changes follows YOLOv7's rule that the transition tracks the concat (Sec. 3.2)."""
    _check_positive(name, channels=channels, num_convs=num_convs)
    return _aggregate(x, name=name, branch_channels=channels, chain_channels=channels, num_convs=num_convs,
                      concat_indices=tuple(range(-1, -num_convs - 3, -1)), out_channels=out_channels,
                      activation=activation, padding=padding, out_fraction=0.5)


def mp_downsample(x, channels: int, name: str, activation: str | None = "silu", padding: str = "same"):
    """YOLOv7's downsampling transition between backbone stages, often called MP-1 (yolov7.yaml, e.g.
    layers 12-16): branch 1 = MaxPool 2x2/2 (the `MP` module of models/common.py) + 1x1 conv of
    `channels`; branch 2 = 1x1 conv of `channels` + 3x3/2 conv of `channels`; concat in the cfg's order
    [-1, -3] = [branch 2, branch 1]. Output: H/2 x W/2 x 2*channels (the cfg uses channels = input / 2,
    so the width is kept: 256 -> 256, 512 -> 512, 1024 -> 1024).

    The max pool pads "same": on even sizes (YOLOv7 needs multiples of 32) it equals torch's unpadded
    2x2/2 pool, and on odd sizes it gives ceil(H/2) like the 3x3/2 conv, so the two branches still concat.
    """
    _check_positive(name, channels=channels)
    pooled = keras.layers.MaxPool2D(2, 2, padding="same", name=f"{name}_pool")(x)
    pooled = conv_bn_act(pooled, channels, 1, name=f"{name}_pool_conv", activation=activation)
    strided = conv_bn_act(x, channels, 1, name=f"{name}_conv1", activation=activation)
    strided = conv_bn_act(strided, channels, 3, 2, name=f"{name}_conv2", activation=activation, padding=padding)
    return keras.layers.Concatenate(name=f"{name}_concat")([strided, pooled])


def osa_module(x, stage_channels: int, concat_channels: int, layers_per_block: int = 5, transition: bool = True,
               *, name: str, residual: bool = False, activation: str | None = "relu", padding: str = "same"):
    """VoVNet's one-shot aggregation module (Lee et al. 2019, Sec. 3.2; `_OSA_module` of
    stigma0617/VoVNet.pytorch): `layers_per_block` chained 3x3 convs of `stage_channels`, one concat of
    [input, conv1, ..., conv_L] (input first, as in the reference code), then a 1x1 transition of
    `concat_channels` (conv + BN + ReLU).

    transition=False returns the concat itself (input + L * stage_channels channels): the gradient-path
    paper's "planned" VoVNet keeps only the last transition of each stage, so the modules before it pass
    their concat on.
    residual=True adds the input to the transition's output (the identity that the reference code puts on
    every OSA module after a stage's first, and VoVNetV2 keeps); it needs transition=True and an input of
    `concat_channels` channels. The CVPRW 2019 paper's OSA has no identity, hence the default False.
    """
    _check_positive(name, stage_channels=stage_channels, concat_channels=concat_channels,
                    layers_per_block=layers_per_block)
    if residual and not transition:
        raise ValueError(f"{name}: residual=True adds the input to the 1x1 transition's output; it needs "
                         "transition=True")
    if residual and x.shape[-1] != concat_channels:
        raise ValueError(f"{name}: residual=True needs the input width to equal concat_channels="
                         f"{concat_channels}, got {x.shape[-1]}")
    outputs = [x]
    y = x
    for i in range(1, layers_per_block + 1):
        y = conv_bn_act(y, stage_channels, 3, name=f"{name}_conv{i}", activation=activation, padding=padding)
        outputs.append(y)
    y = keras.layers.Concatenate(name=f"{name}_concat")(outputs)
    if not transition:
        return y
    y = conv_bn_act(y, concat_channels, 1, name=f"{name}_transition", activation=activation)
    if residual:
        y = keras.layers.Add(name=f"{name}_residual")([y, x])
    return y
