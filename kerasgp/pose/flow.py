"""RealNVP over 2-D points: the normalising flow that RLE trains beside the regression head.

Dinh et al., "Density estimation using Real NVP" (ICLR 2017, Sec. 3: affine coupling layers, masks that
alternate which coordinate is kept); used by Li et al., "Human Pose Regression with Residual Log-likelihood
Estimation" (RLE, ICCV 2021) to learn the density of the normalised error (pred - target) / sigma; the
official RLE code and mmpose use 6 coupling layers of 64 hidden units.

Follows mmpose's `mmpose/models/utils/realnvp.py` (itself from the official RLE code,
Jeff-sjtu/res-loglikelihood-regression):
- masks [[0, 1], [1, 0]] x 3; coupling i keeps the coordinate where mask_i is 1 and moves the other;
- scale net Linear(2, 64)-LeakyReLU-Linear(64, 64)-LeakyReLU-Linear(64, 2)-Tanh, translation net the same
  without the Tanh (LeakyReLU slope 0.01, torch's default; Keras' own default would be 0.2);
- weights Xavier-uniform with gain 0.01, biases left at torch's default U(+-1/sqrt(fan_in)); so at
  initialisation each coupling is an affine map with scale exp(+-0.13) at most and a shift of at most 0.13,
  close to the identity, and log_prob is close to the standard normal log density;
- `log_prob(x)` = log N(z; 0, I) + log|det dz/dx| with z from the data-to-latent pass (mmpose's
  `backward_p`).
Deviation: the twelve small nets are stored as stacked weights, (6, 2, 64) kernels and so on, not as twelve
Sequential models, so one weight holds one kind of tensor for all couplings; the arithmetic is the same.

The flow is a training-only part of an RLE model: see `kerasgp.pose.rle.RLELoss`.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

LEAKY_SLOPE = 0.01  # torch.nn.LeakyReLU's default slope, as in mmpose's nets


def coupling_masks(num_couplings: int) -> np.ndarray:
    """(num_couplings, 2) float32: [0, 1], [1, 0], [0, 1], ... (mmpose: [[0, 1], [1, 0]] * 3 for 6)."""
    return np.array([[0.0, 1.0] if i % 2 == 0 else [1.0, 0.0] for i in range(num_couplings)], dtype="float32")


def standard_normal_log_prob(z):
    """log N(z; 0, I) of 2-D points (..., 2) -> (...): -|z|^2 / 2 - log(2 pi)."""
    return -0.5 * ops.sum(ops.square(z), axis=-1) - math.log(2.0 * math.pi)


@keras.saving.register_keras_serializable(package="kerasgp")
class RealNVP(keras.layers.Layer):
    """A RealNVP flow over 2-D points; `call(x)` returns log p(x), shape (...,) for x of shape (..., 2).

    num_couplings: affine coupling layers (6 in RLE); hidden_units: width of each scale/translation net (64).
    """

    def __init__(self, num_couplings: int = 6, hidden_units: int = 64, **kwargs):
        super().__init__(**kwargs)
        if num_couplings < 1 or hidden_units < 1:
            raise ValueError(f"RealNVP needs num_couplings >= 1 and hidden_units >= 1; got {num_couplings}, "
                             f"{hidden_units}")
        self.num_couplings = num_couplings
        self.hidden_units = hidden_units
        self.masks = coupling_masks(num_couplings)

    def build(self, input_shape):
        if input_shape[-1] != 2:
            raise ValueError(f"RealNVP models 2-D points: expected input shape (..., 2), got {tuple(input_shape)}")
        sizes = [(2, self.hidden_units), (self.hidden_units, self.hidden_units), (self.hidden_units, 2)]
        for net in ("scale", "translation"):
            for index, (fan_in, fan_out) in enumerate(sizes, start=1):
                # Xavier-uniform with gain 0.01 on each (fan_in, fan_out) slice (mmpose's init_weights);
                # Keras' GlorotUniform would count the stacking axis in the fans, hence explicit limits.
                limit = 0.01 * math.sqrt(6.0 / (fan_in + fan_out))
                kernel = self.add_weight(name=f"{net}_kernel_{index}", shape=(self.num_couplings, fan_in, fan_out),
                                         initializer=keras.initializers.RandomUniform(-limit, limit))
                bound = 1.0 / math.sqrt(fan_in)  # torch.nn.Linear's default bias init, kept by mmpose
                bias = self.add_weight(name=f"{net}_bias_{index}", shape=(self.num_couplings, fan_out),
                                       initializer=keras.initializers.RandomUniform(-bound, bound))
                setattr(self, f"{net}_kernel_{index}", kernel)
                setattr(self, f"{net}_bias_{index}", bias)

    def _ready(self, x):
        """x as a tensor of the layer's dtype, building the weights on a first use outside `call`."""
        x = ops.convert_to_tensor(x, dtype=self.compute_dtype)
        if not self.built:
            self.build(tuple(x.shape))
            self.built = True
        return x

    def _net(self, net: str, coupling: int, x):
        """One coupling's scale or translation MLP on points (..., 2) -> (..., 2)."""
        for index in (1, 2, 3):
            kernel = getattr(self, f"{net}_kernel_{index}")[coupling]
            bias = getattr(self, f"{net}_bias_{index}")[coupling]
            x = ops.matmul(x, kernel) + bias
            if index < 3:
                x = ops.leaky_relu(x, negative_slope=LEAKY_SLOPE)
        return ops.tanh(x) if net == "scale" else x

    def _coupling(self, coupling: int, x):
        """The kept part x * mask, and the scale s and shift t applied to the other coordinate."""
        mask = ops.convert_to_tensor(self.masks[coupling], dtype=x.dtype)
        kept = x * mask
        s = self._net("scale", coupling, kept) * (1.0 - mask)
        t = self._net("translation", coupling, kept) * (1.0 - mask)
        return mask, kept, s, t

    def to_latent(self, x):
        """Data -> latent (mmpose's `backward_p`): couplings in reverse order, z = (x - t) * exp(-s) on the
        moved coordinate. Returns z (..., 2) and log|det dz/dx| (...)."""
        x = self._ready(x)
        log_det = ops.zeros_like(x[..., 0])
        z = x
        for coupling in reversed(range(self.num_couplings)):
            mask, kept, s, t = self._coupling(coupling, z)
            z = (1.0 - mask) * (z - t) * ops.exp(-s) + kept
            log_det = log_det - ops.sum(s, axis=-1)
        return z, log_det

    def to_data(self, z):
        """Latent -> data (mmpose's `forward_p`, the sampling direction): x = x * exp(s) + t on the moved
        coordinate, couplings in order. The exact inverse of `to_latent`."""
        x = self._ready(z)
        for coupling in range(self.num_couplings):
            mask, kept, s, t = self._coupling(coupling, x)
            x = kept + (1.0 - mask) * (x * ops.exp(s) + t)
        return x

    def log_prob(self, x):
        """log p(x) = log N(to_latent(x); 0, I) + log|det|, shape (...,) for x (..., 2)."""
        z, log_det = self.to_latent(x)
        return standard_normal_log_prob(z) + log_det

    def call(self, x):
        return self.log_prob(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def get_config(self):
        return {**super().get_config(), "num_couplings": self.num_couplings, "hidden_units": self.hidden_units}
