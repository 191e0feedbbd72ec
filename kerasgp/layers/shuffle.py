"""ShuffleNet's channel operations (Ma et al., "ShuffleNet V2", ECCV 2018, Sec. 4 and Fig. 3).

Both stay at most 4-D so they convert to TFLite and run in full int8: a naive shuffle reshapes to
(B, H, W, groups, C/groups), and that 5-D transpose fails at run time on TFLite.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasgp")
class ChannelShuffle(keras.layers.Layer):
    """Channel shuffle with `groups` groups: channel g*n + i moves to i*groups + g (ShuffleNet V1/V2)."""

    def __init__(self, groups: int = 2, **kwargs):
        super().__init__(**kwargs)
        if groups < 1:
            raise ValueError(f"groups must be >= 1, got {groups}")
        self.groups = groups

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels % self.groups:
            raise ValueError(f"ChannelShuffle needs channels divisible by groups={self.groups}; got {channels}")

    def call(self, x):
        shape = ops.shape(x)
        channels = x.shape[-1]
        # (B*H*W, groups, C/groups) -> (B*H*W, C/groups, groups): 3-D, TFLite-safe.
        y = ops.reshape(x, (-1, self.groups, channels // self.groups))
        y = ops.transpose(y, (0, 2, 1))
        return ops.reshape(y, (-1, shape[1], shape[2], channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "groups": self.groups}


@keras.saving.register_keras_serializable(package="kerasgp")
class ChannelSplit(keras.layers.Layer):
    """Split channels in two. mode="halves": first C/2 and last C/2 (torchvision's `chunk`);
    mode="even_odd": channels 0, 2, 4, ... and 1, 3, 5, ... (megvii's split, which is a channel
    shuffle fused with the split, so megvii's block needs no separate shuffle)."""

    def __init__(self, mode: str = "halves", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("halves", "even_odd"):
            raise ValueError(f"mode must be 'halves' or 'even_odd', got {mode!r}")
        self.mode = mode

    def build(self, input_shape):
        if input_shape[-1] is None or input_shape[-1] % 2:
            raise ValueError(f"ChannelSplit needs an even, known channel count; got {input_shape[-1]}")

    def call(self, x):
        half = x.shape[-1] // 2
        if self.mode == "halves":
            return x[..., :half], x[..., half:]
        return x[..., 0::2], x[..., 1::2]

    def compute_output_shape(self, input_shape):
        half = tuple(input_shape[:-1]) + (input_shape[-1] // 2,)
        return half, half

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
