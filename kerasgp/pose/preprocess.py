"""Input normalisation inside the model, so that a saved or converted model takes plain RGB in [0, 1]."""
from __future__ import annotations

import keras
from keras import ops

from ..presets import BGR_UNIT, IMAGENET  # noqa: F401  (the two preprocessings the presets use, as before)


@keras.saving.register_keras_serializable(package="kerasgp")
class InputNormalization(keras.layers.Layer):
    """(x - mean) / std per channel on RGB input in [0, 1]; channel_order="bgr" reverses the channels
    first, for weights trained on OpenCV's BGR images."""

    def __init__(self, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), channel_order: str = "rgb", **kwargs):
        super().__init__(**kwargs)
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean and std need three values, std > 0; got mean={mean}, std={std}")
        self.mean, self.std, self.channel_order = tuple(mean), tuple(std), channel_order

    def build(self, input_shape):
        if input_shape[-1] != len(self.mean):
            raise ValueError(f"InputNormalization expects {len(self.mean)} channels (an RGB image); got {input_shape[-1]}")

    def call(self, x):
        if self.channel_order == "bgr":
            x = ops.flip(x, axis=-1)
        mean = ops.convert_to_tensor(self.mean, dtype=x.dtype)
        std = ops.convert_to_tensor(self.std, dtype=x.dtype)
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": list(self.mean), "std": list(self.std),
                "channel_order": self.channel_order}
