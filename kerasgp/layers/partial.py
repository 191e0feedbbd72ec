"""Partial connections: PRN's residuals over part of the channels, and CSPNet's cross-stage partial stage.

Layer level (Wang, Liao, Chen, Hsieh, "Enriching Variety of Layer-wise Learning Information by
Gradient Combination", ICCVW 2019 = PRN, partial residual networks; revisited in Wang, Liao, Yeh,
"Designing Network Design Strategies Through Gradient Path Analysis", 2022, as its
layer-level strategy):
- `MaskedResidual`: the identity is added to only the first k channels of the block's output; the other
  channels carry F(x) alone, so their weights receive gradient only through the block (a different
  gradient timestamp and source than the masked-in channels).
- `AsymmetricResidual`: Darknet's `shortcut` rule, which lets a residual add two tensors whose channel
  counts differ: the sum runs over the shared channels min(Ca, Cb) and the output keeps the block's
  channels. Source: darknet `src/shortcut_layer.c` `forward_shortcut_layer` (copies the previous layer's
  output, then calls) `src/blas.c` `shortcut_cpu`, whose loop runs `for k < minc` with
  `minc = min(c1, c2)` and does `out[out_index] = s1*out[out_index] + s2*add[add_index]`
  (`out += add` in older versions); `out` has the previous (block) layer's `out_c` channels
  (pjreddie/darknet and AlexeyAB/darknet alike).

Stage level (Wang, Liao, Wu, Chen, Hsieh, Yeh, "CSPNet: A New Backbone that can Enhance Learning
Capability of CNN", CVPRW 2020, Sec. 3.1 and Fig. 3):
- `csp_stage`: split the stage input in two parts, run the computational block on one part only, and let
  the other cross the stage to a concatenation; transition layers "csp" (Fig. 3 (b), partial transition at
  both ends), "fusion_first" (Fig. 3 (c)) or "fusion_last" (Fig. 3 (d)).
- `ChannelSlice`: the parameter-free split (a serialisable layer, not a Lambda).
"""
from __future__ import annotations

from typing import Callable

import keras
from keras import ops

from .conv import conv_bn

SPLITS = ("conv", "slice")
TRANSITIONS = ("csp", "fusion_first", "fusion_last")


def round_half_up(value: float) -> int:
    """Python's round() rounds halves to even (round(2.5) == 2); channel counts here round 2.5 up to 3."""
    return int(value + 0.5)


def masked_channels(channels: int, fraction: float | None = None, count: int | None = None) -> int:
    """How many leading channels get the identity: `count` if given, else round(fraction * channels)."""
    if count is not None:
        if not 0 <= count <= channels:
            raise ValueError(f"masked channel count must lie in [0, {channels}], got {count}")
        return count
    return round_half_up(fraction * channels)


def _add_over_first(block_output, identity, shared: int):
    """block_output with identity[..., :shared] added on its first `shared` channels."""
    if shared == 0:
        return block_output
    total = block_output.shape[-1]
    head = block_output[..., :shared] + identity[..., :shared]
    if shared == total:
        return head
    return ops.concatenate([head, block_output[..., shared:]], axis=-1)


def _two_shapes(layer_name: str, input_shape):
    if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or not isinstance(
            input_shape[0], (list, tuple)):
        raise ValueError(f"{layer_name} takes a list [block_output, identity]; got input shape {input_shape}")
    block_shape, identity_shape = (tuple(s) for s in input_shape)
    if block_shape[-1] is None or identity_shape[-1] is None:
        raise ValueError(f"{layer_name} needs known channel counts; got {block_shape} and {identity_shape}")
    if len(block_shape) != len(identity_shape) or any(
            a is not None and b is not None and a != b for a, b in zip(block_shape[1:-1], identity_shape[1:-1])):
        raise ValueError(f"{layer_name} adds tensors of the same spatial size; got block output {block_shape} "
                         f"and identity {identity_shape}")
    return block_shape, identity_shape


@keras.saving.register_keras_serializable(package="kerasgp")
class MaskedResidual(keras.layers.Layer):
    """PRN's masked residual: y[..., :k] = F(x)[..., :k] + x[..., :k], y[..., k:] = F(x)[..., k:].

    Call on [block_output, identity] of the same shape. k = `channels` if given, else
    round(fraction * C) rounded half up (fraction defaults to 0.5). fraction=1 is the ResNet residual,
    fraction=0 no residual at all. Written with a slice and a concatenation instead of a 0/1 mask so the
    unmasked channels cost no addition.
    """

    def __init__(self, fraction: float | None = None, channels: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if fraction is not None and channels is not None:
            raise ValueError(f"give fraction or channels, not both; got fraction={fraction}, channels={channels}")
        if fraction is None and channels is None:
            fraction = 0.5
        if fraction is not None and not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
        if channels is not None and channels < 0:
            raise ValueError(f"channels must be >= 0, got {channels}")
        self.fraction = fraction
        self.channels = channels

    def build(self, input_shape):
        block_shape, identity_shape = _two_shapes("MaskedResidual", input_shape)
        if block_shape[-1] != identity_shape[-1]:
            raise ValueError(f"MaskedResidual needs the block output and the identity to have the same channels; "
                             f"got {block_shape[-1]} and {identity_shape[-1]} (AsymmetricResidual adds unequal ones)")
        self.shared = masked_channels(block_shape[-1], self.fraction, self.channels)

    def call(self, inputs):
        block_output, identity = inputs
        return _add_over_first(block_output, identity, self.shared)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "fraction": self.fraction, "channels": self.channels}


@keras.saving.register_keras_serializable(package="kerasgp")
class AsymmetricResidual(keras.layers.Layer):
    """Darknet's `shortcut` between tensors of different widths: call on [block_output, identity];
    y = block_output with identity added on the first min(C_block, C_identity) channels, so y has the
    block output's channels (extra identity channels are dropped, extra block channels pass alone).

    Simplified from darknet: its weights s1, s2 are fixed at 1 here, and darknet's spatial resampling
    (sampling every stride-th pixel when the sizes differ) is left to the caller (a 1x1 max pool of
    stride s samples exactly those pixels); this layer needs equal spatial sizes.
    """

    def build(self, input_shape):
        block_shape, identity_shape = _two_shapes("AsymmetricResidual", input_shape)
        self.shared = min(block_shape[-1], identity_shape[-1])

    def call(self, inputs):
        block_output, identity = inputs
        return _add_over_first(block_output, identity, self.shared)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])


@keras.saving.register_keras_serializable(package="kerasgp")
class ChannelSlice(keras.layers.Layer):
    """Channels [start, stop) of the input (stop=None: to the end); CSPNet's parameter-free split."""

    def __init__(self, start: int = 0, stop: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if start < 0 or (stop is not None and stop <= start):
            raise ValueError(f"ChannelSlice needs 0 <= start < stop; got start={start}, stop={stop}")
        self.start = start
        self.stop = stop

    def build(self, input_shape):
        channels = input_shape[-1]
        needed = self.start + 1 if self.stop is None else self.stop
        if channels is None or channels < needed:
            raise ValueError(f"ChannelSlice({self.start}, {self.stop}) needs a known channel count of at least "
                             f"{needed}; got {channels}")

    def call(self, x):
        return x[..., self.start:self.stop]

    def compute_output_shape(self, input_shape):
        stop = input_shape[-1] if self.stop is None else self.stop
        return tuple(input_shape[:-1]) + (stop - self.start,)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


def csp_stage(x, block_fn: Callable, out_channels: int, *, name: str, split: str = "conv",
              transition: str = "csp", part_ratio: float = 0.5, part_channels: tuple[int, int] | None = None,
              activation: str | None = "relu"):
    """CSPNet's cross-stage partial stage around any computational block (CSPNet Sec. 3.1, Fig. 3).

    x -> (cross part, block part); block part -> `block_fn(part, f"{name}_block")`; the two meet in a
    concatenation [block path, cross part] (darknet's `route` order in the official CSPDarknet53 cfg).

    split:
      "conv"  - two 1x1 conv-BN-act, one per part, as in the official CSPDarknet53 (yolov4.cfg: a 1x1
                conv, `route -2`, another 1x1 conv); the block part gets round(part_ratio * out_channels)
                channels and the cross part the rest, unless `part_channels=(block, cross)` sets both
                (CSPDarknet53's first stage uses (64, 64) for 64 output channels).
      "slice" - channel slicing of x (no weights): the cross part is the first C - round(part_ratio * C)
                channels, the block part the rest, as in the paper's x0 = [x0', x0''].
    transition (1x1 conv-BN-act layers):
      "csp"          - Fig. 3 (b): 1x1 transition on the block path (keeping its width), concat, 1x1
                       transition to out_channels (transitions at both ends: the official CSPDarknet53).
      "fusion_first" - Fig. 3 (c): concat, then one 1x1 transition to out_channels (the paper: the two
                       parts meet before the transition, so much gradient information is reused).
      "fusion_last"  - Fig. 3 (d): 1x1 transition on the block path to out_channels - cross channels, then
                       concat, nothing after it (the paper: the gradient flow is truncated, so
                       gradient information is not reused).
    With part_ratio=0.5 the block sees half the stage's channels: a block whose layers scale with their
    input width (a dense layer with a fixed growth rate) costs half as much on its input side, and one
    whose widths follow the part (a residual block) costs a quarter per conv (CSPNet Sec. 3.1).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if transition not in TRANSITIONS:
        raise ValueError(f"transition must be one of {TRANSITIONS}, got {transition!r}")
    if not 0.0 < part_ratio < 1.0:
        raise ValueError(f"part_ratio (the block's share of the channels) must lie in (0, 1), got {part_ratio}")
    in_channels = x.shape[-1]
    if split == "slice":
        if part_channels is not None:
            raise ValueError(f"{name}: part_channels only applies to split='conv'; a slice splits the "
                             f"{in_channels} input channels by part_ratio")
        block_width = round_half_up(part_ratio * in_channels)
        cross_width = in_channels - block_width
        if block_width < 1 or cross_width < 1:
            raise ValueError(f"{name}: part_ratio={part_ratio} of {in_channels} channels leaves an empty part")
        cross = ChannelSlice(0, cross_width, name=f"{name}_cross")(x)
        part = ChannelSlice(cross_width, None, name=f"{name}_part")(x)
    else:
        if part_channels is not None:
            block_width, cross_width = part_channels
        else:
            block_width = round_half_up(part_ratio * out_channels)
            cross_width = out_channels - block_width
        if block_width < 1 or cross_width < 1:
            raise ValueError(f"{name}: parts of {block_width} (block) and {cross_width} (cross) channels; "
                             f"both must be >= 1")
        cross = conv_bn(x, cross_width, 1, name=f"{name}_cross", activation=activation)
        part = conv_bn(x, block_width, 1, name=f"{name}_part", activation=activation)

    y = block_fn(part, f"{name}_block")
    if transition == "csp":
        y = conv_bn(y, y.shape[-1], 1, name=f"{name}_block_transition", activation=activation)
    elif transition == "fusion_last":
        width = out_channels - cross_width
        if width < 1:
            raise ValueError(f"{name}: fusion_last needs out_channels > the cross part's {cross_width} channels; "
                             f"got out_channels={out_channels}")
        y = conv_bn(y, width, 1, name=f"{name}_block_transition", activation=activation)
    y = keras.layers.Concatenate(name=f"{name}_concat")([y, cross])
    if transition in ("csp", "fusion_first"):
        y = conv_bn(y, out_channels, 1, name=f"{name}_transition", activation=activation)
    return y
