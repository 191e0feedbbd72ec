"""Residual log-likelihood estimation (Li et al., ICCV 2021), as mmpose 1.x's RLELoss: the per-sample loss
and the layer that holds its RealNVP flow in the training graph (`kerasgp.experiments.training.Plan` adds
it beside the inference model's layers, so the flow never reaches the saved or exported model).

Conventions as `kerasgp.pose.losses`: joints second, (B, K, 2) coordinates, target weights (B, K). Unlike
the other losses RLE follows mmpose's `size_average` (sum over joints and coordinates, mean over the batch).
"""
from __future__ import annotations

import math

import keras
from keras import ops

from .checks import as_tensors, check_rank, joint_weights, same_shape, static_shape
from .flow import RealNVP, standard_normal_log_prob

SIGMA_EPSILON = 1e-9  # added to sigma before dividing and taking the log (the official RLE code's guard)
Q_DISTRIBUTIONS = ("laplace", "gaussian")
SIGMA_ACTIVATIONS = (None, "sigmoid")


def _check_rle_options(q_distribution, sigma_activation):
    if q_distribution not in Q_DISTRIBUTIONS:
        raise ValueError(f"q_distribution must be one of {Q_DISTRIBUTIONS}; got {q_distribution!r}")
    if sigma_activation not in SIGMA_ACTIVATIONS:
        raise ValueError(f"sigma_activation must be one of {SIGMA_ACTIVATIONS}; got {sigma_activation!r}")


def rle_loss_per_sample(pred, sigma, target, target_weight=None, log_phi=None, q_distribution: str = "laplace",
                        residual: bool = True, gamma: float = 1.0, sigma_activation: str | None = None):
    """RLE's negative log-likelihood per sample, (B,): the sum over joints and coordinates of
    weight * [gamma * log sigma - log_phi(e) + (log(2 sigma) + |e| | log(sigma sqrt(2 pi)) + e^2 / 2)],
    e = (pred - target) / sigma; mmpose's size_average is the mean of this over the batch.

    pred, target: (B, K, 2) coordinates (the workbook's regression targets, `targets.coordinate_targets`);
    sigma: (B, K, 2) scales, positive (after the head's sigmoid) or raw logits with
    sigma_activation="sigmoid" (mmpose applies the sigmoid inside the loss); target_weight: (B, K);
    log_phi: the flow's log density of the normalised error, a callable (..., 2) -> (...) such as
    `RealNVP().log_prob` (None: the standard normal, i.e. an untrained, identity flow);
    residual: add -log Q(e) with Q = Laplace ("laplace", the paper's choice) or Gaussian; gamma: the seed
    study's weight on the flow term's log sigma (1 = mmpose).
    Kept from the reference, not "fixed": log sigma is in both the flow term and Q's term, and the flow's
    log density is broadcast over the two coordinates, so it counts twice (mmpose and the official code do
    both); sigma gets 1e-9 added before the division and the log (the official code's guard)."""
    _check_rle_options(q_distribution, sigma_activation)
    target, pred = as_tensors(target, pred)
    sigma = ops.convert_to_tensor(sigma, dtype=pred.dtype)
    check_rank("pred", pred, 3, "(batch, joints, 2)")
    if pred.shape[-1] != 2:
        raise ValueError(f"RLE's flow models 2-D errors: pred must be (batch, joints, 2); got {static_shape(pred)}")
    same_shape("pred", pred, "sigma", sigma)
    same_shape("pred", pred, "target", target)
    if sigma_activation == "sigmoid":
        sigma = ops.sigmoid(sigma)
    sigma = sigma + SIGMA_EPSILON
    error = (pred - target) / sigma  # (B, K, 2)
    log_sigma = ops.log(sigma)
    log_phi_value = ops.cast((log_phi or standard_normal_log_prob)(error), pred.dtype)[..., None]  # (B, K, 1)
    # broadcast over the two coordinates, so the flow term counts twice: as mmpose and the official code
    loss = gamma * log_sigma - log_phi_value
    if residual:
        if q_distribution == "laplace":
            loss = loss + ops.log(2.0 * sigma) + ops.abs(error)
        else:
            loss = loss + ops.log(sigma * math.sqrt(2.0 * math.pi)) + 0.5 * ops.square(error)
    weights = joint_weights(target_weight, static_shape(pred)[:2], pred.dtype)
    if weights is not None:
        loss = loss * weights[..., None]
    return ops.sum(loss, axis=(1, 2))


@keras.saving.register_keras_serializable(package="kerasgp")
class RLELoss(keras.layers.Layer):
    """RLE's loss as a layer of the *training* graph: it holds the RealNVP flow (trainable weights, which a
    keras.losses.Loss cannot have) and maps [pred, sigma, target, target_weight] -> the per-sample loss (B,).

    A training model outputs this loss and compiles with `OutputAsLoss` (`experiments.training.Plan`); the
    flow exists only in that graph, so the model the training graph was built from, which is saved and
    exported, has no flow: RLE costs nothing at test time, as the paper stresses. target_weight may be
    left out ([pred, sigma, target]). Options as `rle_loss_per_sample`; num_couplings and hidden_units size
    the flow (6 and 64 in RLE)."""

    def __init__(self, q_distribution: str = "laplace", residual: bool = True, gamma: float = 1.0,
                 sigma_activation: str | None = None, num_couplings: int = 6, hidden_units: int = 64, **kwargs):
        super().__init__(**kwargs)
        _check_rle_options(q_distribution, sigma_activation)
        self.q_distribution = q_distribution
        self.residual = residual
        self.gamma = gamma
        self.sigma_activation = sigma_activation
        self.num_couplings = num_couplings
        self.hidden_units = hidden_units
        self.flow = RealNVP(num_couplings, hidden_units, name="flow")

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) not in (3, 4) or \
                not all(isinstance(shape, (list, tuple)) for shape in input_shape):
            raise ValueError("RLELoss takes [pred, sigma, target] or [pred, sigma, target, target_weight]; "
                             f"got input shapes {input_shape}")
        pred_shape = tuple(input_shape[0])
        if len(pred_shape) != 3 or pred_shape[-1] != 2:
            raise ValueError(f"RLELoss: pred must be (batch, joints, 2); got {pred_shape}")
        self.flow.build((None, 2))

    def call(self, inputs):
        pred, sigma, target = inputs[:3]
        target_weight = inputs[3] if len(inputs) == 4 else None
        return rle_loss_per_sample(pred, sigma, target, target_weight, self.flow.log_prob, self.q_distribution,
                                   self.residual, self.gamma, self.sigma_activation)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0],)

    def get_config(self):
        return {**super().get_config(), "q_distribution": self.q_distribution, "residual": self.residual,
                "gamma": self.gamma, "sigma_activation": self.sigma_activation,
                "num_couplings": self.num_couplings, "hidden_units": self.hidden_units}


@keras.saving.register_keras_serializable(package="kerasgp")
class OutputAsLoss(keras.losses.Loss):
    """The pass-through loss of a training model whose output already is a loss (RLELoss): the mean of
    y_pred over the batch; y_true is ignored (fit still wants one: pass zeros of the output's shape)."""

    def __init__(self, name: str = "output_as_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return y_pred
