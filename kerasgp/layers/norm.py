"""ScaleNorm (Nguyen & Salazar, "Transformers without Tears", 2019; RTMPose's SimCC head uses it on each
joint's token): y = g * x / (||x|| / sqrt(d)), one learnable scalar g.

In a SimCC head each joint's flattened map feeds two wide linear layers; without a bound on the token's
size their logits swing with every optimizer step and the loss climbs back up after nearing its floor
(the pose study). ScaleNorm fixes the token's RMS at g, and converts to TFLite builtins (unlike LayerNorm).
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasgp")
class ScaleNorm(keras.layers.Layer):
    def __init__(self, epsilon: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError("ScaleNorm needs a known last dimension")
        self.g = self.add_weight(name="g", shape=(), initializer="ones")

    def call(self, x):
        # x / max(rms, eps) as x * rsqrt(max(mean(x * x), eps^2)): the same value, and in TFLite int8 no DIV
        # (which aborts at run time when its quantised divisor hits the zero point) and no float SQUARE
        mean_square = ops.mean(x * x, axis=-1, keepdims=True)
        return x * ops.rsqrt(ops.maximum(mean_square, self.epsilon**2)) * self.g

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}
