"""Stop-gradient as a layer, for the gradient-path experiments (Wang, Liao, Yeh, "Designing Network Design
Strategies Through Gradient Path Analysis", 2022, Sec. 3 on residual learning: the gradient is stopped on
the identity connection or on the computational block of every residual unit, and the two networks are
compared to see which path carries the learning).

The forward pass is the identity; backward, nothing flows through. Keras has `keras.ops.stop_gradient`
but no layer for it, and a Lambda layer would not reload with `safe_mode=True`.
"""
from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerasgp")
class StopGradient(keras.layers.Layer):
    """y = x forward; dy/dx = 0 backward (tensorflow, jax and torch alike)."""

    def call(self, x):
        return ops.stop_gradient(x)

    def compute_output_shape(self, input_shape):
        return input_shape
