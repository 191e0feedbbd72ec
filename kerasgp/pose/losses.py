"""The pose study's losses (lessons 10 and 11), in keras.ops for all three backends.

Conventions, shared with `kerasgp.data.targets`: joints last in heatmaps (B, h, w, K), joints second in
everything else (B, K, ...); target weights (B, K), 1 for a labelled joint inside the crop, 0 otherwise.

Every plain loss comes twice:
- a function `name(y_true, y_pred, target_weight=None, ...) -> scalar`, and
- a registered `keras.losses.Loss` whose `call` returns the per-joint losses (B, K), so that Keras applies
  the target weights passed as `sample_weight` (B, K) in `fit` and reduces.
Both normalise the same way, mmpose's "mean over all joints": sum(weight * loss) / (B * K), so a joint of
weight 0 adds nothing to the sum but still counts in the denominator (mmpose's KeypointMSELoss, SmoothL1Loss
and BCELoss do this). A Loss built with `reduction="mean_with_sample_weight"` divides by sum(weight)
instead, dsntnn's `average_loss(losses, mask)`. RLE is the exception: it follows mmpose's `size_average`
(sum over joints and coordinates, mean over the batch), see `rle_loss`.

The losses and the references they follow:
- SmoothL1 (Girshick, Fast R-CNN 2015): torch's `smooth_l1_loss`, beta 1.
- Heatmap MSE (Xiao et al., SimpleBaseline, ECCV 2018): mmpose 1.x `KeypointMSELoss`, the mean of the
  weighted squared error, no factor 0.5. SimpleBaseline's own `JointsMSELoss` (microsoft/human-pose-
  estimation.pytorch) has one, "0.5 * the mean over joints of the MSE": `loss_weight=0.5` reproduces it.
- RLE (Li et al., ICCV 2021): mmpose 1.x `RLELoss`, with a flow from `kerasgp.pose.flow`.
- DSNT (Nibali et al., "Numerical Coordinate Regression with Convolutional Neural Networks", 2018):
  dsntnn's `dsnt`, `make_gauss`, `js_reg_losses` and `euclidean_losses`.
- SimDR / SA-SimDR (Li et al., "SimCC", ECCV 2022): cross-entropy to one-hot labels; KL to Gaussian labels
  (mmpose's `KLDiscretLoss`, with a different normalisation, see `simcc_kl_divergence`).
- Keypoint presence: BCE (mmpose `BCELoss`) and Quality Focal Loss (Li et al., "Generalized Focal Loss",
  NeurIPS 2020, beta 2) on a score derived from RLE's sigma.
"""
from __future__ import annotations

import itertools
import math

import keras
import numpy as np
from keras import ops

from .flow import RealNVP, standard_normal_log_prob

SIGMA_EPSILON = 1e-9  # added to sigma before dividing and taking the log (the official RLE code's guard)
DIVERGENCE_EPSILON = 1e-24  # dsntnn's guard inside the logs of its KL / JS divergences
PROBABILITY_EPSILON = 1e-7  # BCE clips scores to [eps, 1 - eps], as keras' binary_crossentropy
Q_DISTRIBUTIONS = ("laplace", "gaussian")
SIGMA_ACTIVATIONS = (None, "sigmoid")


# ---------------------------------------------------------------------------------------------- checks
def _static_shape(x) -> tuple:
    return tuple(x.shape)


def _same_shape(name_true: str, y_true, name_pred: str, y_pred) -> None:
    a, b = _static_shape(y_true), _static_shape(y_pred)
    compatible = len(a) == len(b) and all(i is None or j is None or i == j for i, j in zip(a, b))
    if not compatible:
        raise ValueError(f"{name_true} and {name_pred} must have the same shape; got {a} and {b}")


def _rank(name: str, x, rank: int, layout: str) -> None:
    if len(x.shape) != rank:
        raise ValueError(f"{name} must be {layout} (rank {rank}); got shape {_static_shape(x)}")


def _joint_weights(target_weight, joints_shape, dtype):
    """target_weight as a (B, K) tensor, checked against the (B, K) of the losses; None -> None."""
    if target_weight is None:
        return None
    target_weight = ops.cast(ops.convert_to_tensor(target_weight), dtype)  # bool weights (targets.py) too
    shape = _static_shape(target_weight)
    expected = tuple(joints_shape)
    if len(shape) != 2 or any(i is not None and j is not None and i != j for i, j in zip(shape, expected)):
        raise ValueError(f"target_weight must be (batch, joints) = {expected}; got {shape}")
    return target_weight


def _mean_over_joints(per_joint, target_weight):
    """mmpose's normalisation: sum(weight * loss) / (B * K)."""
    weights = _joint_weights(target_weight, _static_shape(per_joint), per_joint.dtype)
    return ops.mean(per_joint if weights is None else per_joint * weights)


def _tensors(y_true, y_pred):
    y_pred = ops.convert_to_tensor(y_pred)
    if "float" not in keras.backend.standardize_dtype(y_pred.dtype):
        y_pred = ops.cast(y_pred, keras.backend.floatx())
    return ops.convert_to_tensor(y_true, dtype=y_pred.dtype), y_pred


class _PerJointLoss(keras.losses.Loss):
    """A Loss whose call returns (B, K); Keras multiplies by sample_weight (B, K) and reduces."""

    def per_joint(self, y_true, y_pred):
        raise NotImplementedError

    def call(self, y_true, y_pred):
        return self.per_joint(y_true, y_pred)


# ---------------------------------------------------------------------------------------------- SmoothL1
def smooth_l1_per_joint(y_true, y_pred, beta: float = 1.0):
    """(B, K, D) coordinates -> (B, K): torch's smooth L1 (0.5 d^2 / beta below beta, |d| - beta / 2 above),
    averaged over the D coordinates."""
    y_true, y_pred = _tensors(y_true, y_pred)
    _rank("y_pred", y_pred, 3, "(batch, joints, coordinates)")
    _same_shape("y_true", y_true, "y_pred", y_pred)
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    error = ops.abs(y_pred - y_true)
    loss = ops.where(error < beta, 0.5 * ops.square(error) / beta, error - 0.5 * beta)
    return ops.mean(loss, axis=-1)


def smooth_l1_loss(y_true, y_pred, target_weight=None, beta: float = 1.0):
    """Smooth L1 on coordinates, mean over all joints and coordinates (torch's reduction="mean").

    mmpose's SmoothL1Loss multiplies prediction and target by the weight before the loss; for 0/1 weights
    that is the same as weighting the loss, which is what this does (and Keras' sample_weight does)."""
    return _mean_over_joints(smooth_l1_per_joint(y_true, y_pred, beta), target_weight)


@keras.saving.register_keras_serializable(package="kerasgp")
class SmoothL1Loss(_PerJointLoss):
    """`smooth_l1_loss` as a Keras loss on (B, K, 2) coordinates; target weights as sample_weight (B, K)."""

    def __init__(self, beta: float = 1.0, name: str = "smooth_l1", **kwargs):
        super().__init__(name=name, **kwargs)
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        self.beta = beta

    def per_joint(self, y_true, y_pred):
        return smooth_l1_per_joint(y_true, y_pred, self.beta)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


# ---------------------------------------------------------------------------------------------- heatmap MSE
def heatmap_mse_per_joint(y_true, y_pred, loss_weight: float = 1.0):
    """(B, h, w, K) heatmaps -> (B, K): the mean squared error over each joint's map, times loss_weight."""
    y_true, y_pred = _tensors(y_true, y_pred)
    _rank("y_pred", y_pred, 4, "heatmaps (batch, height, width, joints)")
    _same_shape("y_true (target heatmaps)", y_true, "y_pred (heatmaps)", y_pred)
    return loss_weight * ops.mean(ops.square(y_pred - y_true), axis=(1, 2))


def heatmap_mse_loss(y_true, y_pred, target_weight=None, loss_weight: float = 1.0):
    """mmpose 1.x KeypointMSELoss: mean over B, K, h, w of weight * (pred - target)^2; each joint's map has
    the same size, so this is also the mean over joints of each map's MSE. loss_weight=0.5 gives
    SimpleBaseline's JointsMSELoss."""
    return _mean_over_joints(heatmap_mse_per_joint(y_true, y_pred, loss_weight), target_weight)


@keras.saving.register_keras_serializable(package="kerasgp")
class HeatmapMSELoss(_PerJointLoss):
    """`heatmap_mse_loss` as a Keras loss on (B, h, w, K) heatmaps; target weights as sample_weight (B, K)."""

    def __init__(self, loss_weight: float = 1.0, name: str = "heatmap_mse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss_weight = loss_weight

    def per_joint(self, y_true, y_pred):
        return heatmap_mse_per_joint(y_true, y_pred, self.loss_weight)

    def get_config(self):
        return {**super().get_config(), "loss_weight": self.loss_weight}


# ---------------------------------------------------------------------------------------------- SimDR / SA-SimDR
def _check_simcc(y_true, y_pred):
    y_true, y_pred = _tensors(y_true, y_pred)
    _rank("y_pred", y_pred, 3, "SimCC logits (batch, joints, bins)")
    _same_shape("y_true (SimCC labels)", y_true, "y_pred (SimCC logits)", y_pred)
    return y_true, y_pred


def simcc_cross_entropy_per_joint(y_true, y_pred):
    """(B, K, bins) labels and logits of one axis -> (B, K): -sum(label * log_softmax(logits))."""
    y_true, y_pred = _check_simcc(y_true, y_pred)
    return -ops.sum(y_true * ops.log_softmax(y_pred, axis=-1), axis=-1)


def simcc_kl_per_joint(y_true, y_pred):
    """(B, K, bins) label distributions and logits of one axis -> (B, K): KL(label || softmax(logits)),
    with 0 log 0 = 0 (torch's KLDivLoss)."""
    y_true, y_pred = _check_simcc(y_true, y_pred)
    entropy_term = ops.where(y_true > 0, y_true * ops.log(ops.maximum(y_true, 1e-30)), 0.0)
    return ops.sum(entropy_term - y_true * ops.log_softmax(y_pred, axis=-1), axis=-1)


def simcc_cross_entropy(y_true, y_pred, target_weight=None):
    """SimDR's loss on one axis (x or y): cross-entropy of the logits to one-hot labels (the bin
    round(k * coordinate)). A SimCC model has two outputs; compile this on both (x and y), as the paper
    sums the two. Equal to `simcc_kl_divergence` for one-hot labels (their entropy is 0)."""
    return _mean_over_joints(simcc_cross_entropy_per_joint(y_true, y_pred), target_weight)


def simcc_kl_divergence(y_true, y_pred, target_weight=None):
    """SA-SimDR's loss on one axis: KL from the Gaussian label (`targets.simcc_targets`, sigma 4 or 6 bins)
    to softmax(logits), summed over bins, mean over joints.

    mmpose's KLDiscretLoss averages the KL over the bins (divides it by k*W) and sums over the batch,
    dividing by K only; its figure is this one times B / bins. The workbook keeps the plain KL and the
    mean over joints of every other loss here, so that losses added together (SA-SimDR + RLE) keep scales
    that do not depend on the batch or the input size."""
    return _mean_over_joints(simcc_kl_per_joint(y_true, y_pred), target_weight)


@keras.saving.register_keras_serializable(package="kerasgp")
class SimCCCrossEntropy(_PerJointLoss):
    """`simcc_cross_entropy` (SimDR, one-hot labels) as a Keras loss on one (B, K, bins) logits output."""

    def __init__(self, name: str = "simcc_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def per_joint(self, y_true, y_pred):
        return simcc_cross_entropy_per_joint(y_true, y_pred)


@keras.saving.register_keras_serializable(package="kerasgp")
class SimCCKLDivergence(_PerJointLoss):
    """`simcc_kl_divergence` (SA-SimDR, Gaussian labels) as a Keras loss on one (B, K, bins) logits output."""

    def __init__(self, name: str = "simcc_kl", **kwargs):
        super().__init__(name=name, **kwargs)

    def per_joint(self, y_true, y_pred):
        return simcc_kl_per_joint(y_true, y_pred)


# ---------------------------------------------------------------------------------------------- DSNT
def dsnt_sigma(map_size: int, pixels: float = 1.0) -> float:
    """The target Gaussian's sigma in dsntnn's normalised units for `pixels` map pixels: 2 * pixels / size.

    dsntnn's normalised units span the map from -1 to 1, so one map pixel is 2 / size of them. dsntnn's
    usage guide sets `sigma = 2.0 / heatmaps.size(-1)`, one pixel (the DSNT paper's sigma_t = 1 px); on the
    seed's 8x8 map that is the "0.25" the seed study quotes, and 0.125 on a 16x16 map: "scaled to the map"."""
    if map_size < 1 or pixels <= 0:
        raise ValueError(f"dsnt_sigma needs map_size >= 1 and pixels > 0; got {map_size}, {pixels}")
    return 2.0 * pixels / map_size


def normalized_linspace(length: int) -> np.ndarray:
    """dsntnn's cell centres in normalised units: (2i + 1) / length - 1, e.g. [-0.75, -0.25, 0.25, 0.75]."""
    return ((2.0 * np.arange(length) + 1.0) / length - 1.0).astype("float32")


def normalized_coordinates(keypoints, input_size) -> np.ndarray:
    """(B, K, 2) input pixels -> dsntnn's normalised units, where the crop spans [-1, 1]:
    (2x + 1) / W - 1. Pixel centres line up with the cell centres of any map that divides the input."""
    size = np.asarray(input_size, dtype="float32")
    return ((2.0 * np.asarray(keypoints, dtype="float32") + 1.0) / size - 1.0).astype("float32")


def pixel_coordinates(coordinates, input_size) -> np.ndarray:
    """The inverse of `normalized_coordinates`: normalised units -> input pixels."""
    size = np.asarray(input_size, dtype="float32")
    return (((np.asarray(coordinates, dtype="float32") + 1.0) * size - 1.0) / 2.0).astype("float32")


def spatial_softmax(heatmap_logits):
    """(B, h, w, K) logits -> each joint's map as a distribution over its h * w cells (dsntnn's
    `flat_softmax`), through logsumexp over both axes so that no reshape is needed."""
    heatmap_logits = ops.convert_to_tensor(heatmap_logits)
    _rank("heatmaps", heatmap_logits, 4, "(batch, height, width, joints)")
    return ops.exp(heatmap_logits - ops.logsumexp(heatmap_logits, axis=(1, 2), keepdims=True))


def dsnt(probabilities):
    """dsntnn's `dsnt`: the expected (x, y) of each joint's normalised map, (B, h, w, K) -> (B, K, 2), in
    normalised units ([-1, 1] across the map, cell centres at `normalized_linspace`)."""
    probabilities = ops.convert_to_tensor(probabilities)
    _rank("heatmaps", probabilities, 4, "(batch, height, width, joints)")
    height, width = probabilities.shape[1], probabilities.shape[2]
    if height is None or width is None:
        raise ValueError(f"DSNT needs a fixed map size; got heatmaps of shape {_static_shape(probabilities)}")
    xs = ops.convert_to_tensor(normalized_linspace(width)[None, :, None], dtype=probabilities.dtype)
    ys = ops.convert_to_tensor(normalized_linspace(height)[None, :, None], dtype=probabilities.dtype)
    x = ops.sum(ops.sum(probabilities, axis=1) * xs, axis=1)  # marginal over rows (B, w, K) -> (B, K)
    y = ops.sum(ops.sum(probabilities, axis=2) * ys, axis=1)  # marginal over columns (B, h, K) -> (B, K)
    return ops.stack([x, y], axis=-1)


def target_gaussians(coordinates, map_size, sigma: float):
    """dsntnn's `make_gauss`: (B, K, 2) centres in normalised units -> (B, h, w, K) Gaussians of std `sigma`
    (normalised units, both axes), each normalised to sum 1. map_size = (width, height)."""
    coordinates = ops.convert_to_tensor(coordinates)
    width, height = map_size
    xs = ops.convert_to_tensor(normalized_linspace(width), dtype=coordinates.dtype)
    ys = ops.convert_to_tensor(normalized_linspace(height), dtype=coordinates.dtype)
    scale = -0.5 / (sigma**2)
    gx = ops.exp(scale * ops.square(xs[None, None, :] - coordinates[..., 0:1]))  # (B, K, w)
    gy = ops.exp(scale * ops.square(ys[None, None, :] - coordinates[..., 1:2]))  # (B, K, h)
    gauss = gy[:, :, :, None] * gx[:, :, None, :]  # (B, K, h, w)
    gauss = gauss / (ops.sum(gauss, axis=(2, 3), keepdims=True) + DIVERGENCE_EPSILON)
    return ops.transpose(gauss, (0, 2, 3, 1))  # (B, h, w, K)


def _kl_maps(p, q):
    """sum over the map of p (log(p + eps) - log(q + eps)), (B, h, w, K) -> (B, K) (dsntnn's `_kl`)."""
    return ops.sum(p * (ops.log(p + DIVERGENCE_EPSILON) - ops.log(q + DIVERGENCE_EPSILON)), axis=(1, 2))


def js_divergence_maps(p, q):
    """Jensen-Shannon divergence between two (B, h, w, K) distributions per joint -> (B, K) (dsntnn's `_js`)."""
    p, q = ops.convert_to_tensor(p), ops.convert_to_tensor(q)
    m = 0.5 * (p + q)
    return 0.5 * _kl_maps(p, m) + 0.5 * _kl_maps(q, m)


def _dsnt_sigma_for(heatmaps, sigma):
    return dsnt_sigma(heatmaps.shape[2]) if sigma is None else sigma


def dsnt_per_joint(y_true, y_pred, sigma: float | None = None, regularization_weight: float = 1.0):
    """(B, K, 2) normalised targets and (B, h, w, K) heatmap logits -> (B, K): the Euclidean distance from
    the DSNT coordinates to the target plus regularization_weight times the JS divergence from the
    softmax map to a Gaussian of std `sigma` (normalised units) at the target."""
    y_true, y_pred = _tensors(y_true, y_pred)
    probabilities = spatial_softmax(y_pred)
    if len(y_true.shape) != 3 or y_true.shape[-1] != 2:
        raise ValueError(f"y_true must be (batch, joints, 2) coordinates in normalised units; got "
                         f"{_static_shape(y_true)}")
    heatmap_joints = (probabilities.shape[0], probabilities.shape[3])
    if any(i is not None and j is not None and i != j for i, j in zip(y_true.shape[:2], heatmap_joints)):
        raise ValueError(f"y_true's (batch, joints) {_static_shape(y_true)[:2]} must match the heatmaps' "
                         f"(batch, joints) {heatmap_joints}; heatmaps are (batch, height, width, joints)")
    sigma = _dsnt_sigma_for(probabilities, sigma)
    coordinates = dsnt(probabilities)
    # sqrt of a sum of squares has an infinite gradient at 0; the tiny floor keeps it finite there
    distance = ops.sqrt(ops.maximum(ops.sum(ops.square(coordinates - y_true), axis=-1), 1e-12))
    if not regularization_weight:
        return distance
    gauss = target_gaussians(y_true, (probabilities.shape[2], probabilities.shape[1]), sigma)
    return distance + regularization_weight * js_divergence_maps(probabilities, gauss)


def dsnt_loss(y_true, y_pred, target_weight=None, sigma: float | None = None, regularization_weight: float = 1.0):
    """DSNT with the Jensen-Shannon regulariser (Nibali et al. 2018; JS is the regulariser dsntnn's docs
    found best in practice).

    y_true: (B, K, 2) targets in normalised units (`normalized_coordinates`); y_pred: (B, h, w, K) heatmap
    logits. sigma: the target Gaussian's std in normalised units, default `dsnt_sigma(map width)` = one map
    pixel (0.25 on 8x8); regularization_weight: dsntnn's lambda, the seed's w (1 in dsntnn's guide).
    Normalised like the other losses here (mean over all joints); dsntnn's `average_loss(losses, mask)`
    divides by the number of labelled joints instead (`reduction="mean_with_sample_weight"` in the class).
    Simplification: sigma is one number for both axes, as dsntnn's normalised-unit version."""
    return _mean_over_joints(dsnt_per_joint(y_true, y_pred, sigma, regularization_weight), target_weight)


@keras.saving.register_keras_serializable(package="kerasgp")
class DSNTLoss(_PerJointLoss):
    """`dsnt_loss` as a Keras loss: y_true (B, K, 2) normalised coordinates, y_pred (B, h, w, K) logits."""

    def __init__(self, sigma: float | None = None, regularization_weight: float = 1.0, name: str = "dsnt",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        if sigma is not None and sigma <= 0:
            raise ValueError(f"sigma must be > 0 (normalised units) or None; got {sigma}")
        self.sigma = sigma
        self.regularization_weight = regularization_weight

    def per_joint(self, y_true, y_pred):
        return dsnt_per_joint(y_true, y_pred, self.sigma, self.regularization_weight)

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma, "regularization_weight": self.regularization_weight}


# ---------------------------------------------------------------------------------------------- presence (BCE, QFL)
def presence_score(sigma):
    """A keypoint-presence score from RLE's sigma (B, K, D) -> (B, K): 1 - mean over D of sigma, the
    confidence mmpose's RLE decoding reports (`(1 - sigma).mean(-1)`); small sigma = a confident joint."""
    sigma = ops.convert_to_tensor(sigma)
    _rank("sigma", sigma, 3, "(batch, joints, coordinates)")
    return 1.0 - ops.mean(sigma, axis=-1)


def _scores(y_true, y_pred, from_sigma: bool):
    y_true, y_pred = _tensors(y_true, y_pred)
    score = presence_score(y_pred) if from_sigma else y_pred
    _rank("the presence score", score, 2, "(batch, joints)")
    _same_shape("y_true (presence targets)", y_true, "the presence score", score)
    return y_true, ops.clip(score, PROBABILITY_EPSILON, 1.0 - PROBABILITY_EPSILON)


def _bce(y_true, score):
    return -(y_true * ops.log(score) + (1.0 - y_true) * ops.log(1.0 - score))


def presence_bce_per_joint(y_true, y_pred, from_sigma: bool = True):
    y_true, score = _scores(y_true, y_pred, from_sigma)
    return _bce(y_true, score)


def quality_focal_per_joint(y_true, y_pred, beta: float = 2.0, from_sigma: bool = True):
    y_true, score = _scores(y_true, y_pred, from_sigma)
    return ops.power(ops.abs(y_true - score), beta) * _bce(y_true, score)


def presence_bce(y_true, y_pred, target_weight=None, from_sigma: bool = True):
    """Binary cross-entropy of the presence score against a visibility / quality target in [0, 1], (B, K).

    y_pred: RLE's sigma (B, K, 2) when from_sigma (score = 1 - mean sigma, see `presence_score`), else the
    score (B, K). Scores are clipped to [1e-7, 1 - 1e-7] like Keras' binary_crossentropy. mmpose BCELoss."""
    return _mean_over_joints(presence_bce_per_joint(y_true, y_pred, from_sigma), target_weight)


def quality_focal_loss(y_true, y_pred, target_weight=None, beta: float = 2.0, from_sigma: bool = True):
    """Quality Focal Loss (Li et al., GFL, NeurIPS 2020, Sec. 3): |y - s|^beta * BCE(s, y), beta 2; y a soft
    quality target in [0, 1], s the presence score. GFL's `quality_focal_loss` takes logits and divides by
    the number of positives; here the score is already a probability (1 - sigma) and the mean is over all
    joints, like the other losses."""
    return _mean_over_joints(quality_focal_per_joint(y_true, y_pred, beta, from_sigma), target_weight)


@keras.saving.register_keras_serializable(package="kerasgp")
class PresenceBCE(_PerJointLoss):
    """`presence_bce` as a Keras loss on RLE's sigma output (or on a score with from_sigma=False)."""

    def __init__(self, from_sigma: bool = True, name: str = "presence_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_sigma = from_sigma

    def per_joint(self, y_true, y_pred):
        return presence_bce_per_joint(y_true, y_pred, self.from_sigma)

    def get_config(self):
        return {**super().get_config(), "from_sigma": self.from_sigma}


@keras.saving.register_keras_serializable(package="kerasgp")
class QualityFocalLoss(_PerJointLoss):
    """`quality_focal_loss` as a Keras loss on RLE's sigma output (or on a score with from_sigma=False)."""

    def __init__(self, beta: float = 2.0, from_sigma: bool = True, name: str = "quality_focal", **kwargs):
        super().__init__(name=name, **kwargs)
        self.beta = beta
        self.from_sigma = from_sigma

    def per_joint(self, y_true, y_pred):
        return quality_focal_per_joint(y_true, y_pred, self.beta, self.from_sigma)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "from_sigma": self.from_sigma}


# ---------------------------------------------------------------------------------------------- RLE
def _check_rle_options(q_distribution, sigma_activation):
    if q_distribution not in Q_DISTRIBUTIONS:
        raise ValueError(f"q_distribution must be one of {Q_DISTRIBUTIONS}; got {q_distribution!r}")
    if sigma_activation not in SIGMA_ACTIVATIONS:
        raise ValueError(f"sigma_activation must be one of {SIGMA_ACTIVATIONS}; got {sigma_activation!r}")


def rle_loss_per_sample(pred, sigma, target, target_weight=None, log_phi=None, q_distribution: str = "laplace",
                        residual: bool = True, gamma: float = 1.0, sigma_activation: str | None = None):
    """RLE's negative log-likelihood per sample, (B,): the sum over joints and coordinates of
    weight * [gamma * log sigma - log_phi(e) + (log(2 sigma) + |e| | log(sigma sqrt(2 pi)) + e^2 / 2)],
    e = (pred - target) / sigma. Arguments as `rle_loss`."""
    _check_rle_options(q_distribution, sigma_activation)
    target, pred = _tensors(target, pred)
    sigma = ops.convert_to_tensor(sigma, dtype=pred.dtype)
    _rank("pred", pred, 3, "(batch, joints, 2)")
    if pred.shape[-1] != 2:
        raise ValueError(f"RLE's flow models 2-D errors: pred must be (batch, joints, 2); got {_static_shape(pred)}")
    _same_shape("pred", pred, "sigma", sigma)
    _same_shape("pred", pred, "target", target)
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
    weights = _joint_weights(target_weight, _static_shape(pred)[:2], pred.dtype)
    if weights is not None:
        loss = loss * weights[..., None]
    return ops.sum(loss, axis=(1, 2))


def rle_loss(pred, sigma, target, target_weight=None, log_phi=None, q_distribution: str = "laplace",
             residual: bool = True, gamma: float = 1.0, sigma_activation: str | None = None,
             size_average: bool = True):
    """Residual log-likelihood estimation (Li et al., ICCV 2021, Sec. 3), as mmpose 1.x's RLELoss.

    pred, target: (B, K, 2) coordinates (the workbook's regression targets, `targets.coordinate_targets`);
    sigma: (B, K, 2) scales, positive (after the head's sigmoid) or raw logits with
    sigma_activation="sigmoid" (mmpose applies the sigmoid inside the loss); target_weight: (B, K);
    log_phi: the flow's log density of the normalised error, a callable (..., 2) -> (...) such as
    `RealNVP().log_prob` (None: the standard normal, i.e. an untrained, identity flow);
    residual: add -log Q(e) with Q = Laplace ("laplace", the paper's choice) or Gaussian; gamma: the seed
    study's weight on the flow term's log sigma (1 = mmpose).

    Returns the sum over joints and coordinates divided by the batch size (mmpose's size_average; the plain
    sum with size_average=False).
    Kept from the reference, not "fixed": log sigma is in both the flow term and Q's term, and the flow's
    log density is broadcast over the two coordinates, so it counts twice (mmpose and the official code do
    both); sigma gets 1e-9 added before the division and the log (the official code's guard)."""
    per_sample = rle_loss_per_sample(pred, sigma, target, target_weight, log_phi, q_distribution, residual, gamma,
                                     sigma_activation)
    return ops.mean(per_sample) if size_average else ops.sum(per_sample)


@keras.saving.register_keras_serializable(package="kerasgp")
class RLELoss(keras.layers.Layer):
    """RLE's loss as a layer of the *training* graph: it holds the RealNVP flow (trainable weights, which a
    keras.losses.Loss cannot have) and maps [pred, sigma, target, target_weight] -> the per-sample loss (B,).

    A training model outputs this loss and compiles with `OutputAsLoss` (see `rle_training_model`); the
    flow exists only in that graph, so the model that is exported (`inference_model`, or the model the
    training graph was built from) has no flow: RLE costs nothing at test time, as the paper stresses.
    target_weight may be left out ([pred, sigma, target]). Options as `rle_loss`; num_couplings and
    hidden_units size the flow (6 and 64 in RLE)."""

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


def rle_training_model(model: keras.Model, coordinates: str, sigma: str, extra_outputs=(), **rle_options):
    """Wrap an inference model for RLE training: inputs [*model.inputs, target (B, K, 2), target_weight
    (B, K)], outputs {"rle_loss": per-sample loss, **{name: that layer's output for name in extra_outputs}}.

    coordinates, sigma: names of the layers giving (B, K, 2) coordinates and sigma. The training model
    shares the inference model's layers (training it trains them) and adds only the RLELoss layer, whose
    flow therefore never reaches `model`; `inference_model` cuts a training model back to such a model.
    Compile with loss={"rle_loss": OutputAsLoss(), ...} and fit with y={"rle_loss": zeros (B,), ...}."""
    pred = model.get_layer(coordinates).output
    sigma_tensor = model.get_layer(sigma).output
    if len(pred.shape) != 3 or pred.shape[-1] != 2 or tuple(pred.shape) != tuple(sigma_tensor.shape):
        raise ValueError(f"layers {coordinates!r} and {sigma!r} must both output (batch, joints, 2); got "
                         f"{tuple(pred.shape)} and {tuple(sigma_tensor.shape)}")
    num_joints = pred.shape[1]
    target = keras.Input((num_joints, 2), name="target")
    target_weight = keras.Input((num_joints,), name="target_weight")
    loss = RLELoss(name="rle_loss", **rle_options)([pred, sigma_tensor, target, target_weight])
    outputs = {"rle_loss": loss, **{name: model.get_layer(name).output for name in extra_outputs}}
    return keras.Model([*model.inputs, target, target_weight], outputs, name=f"{model.name}_rle_training")


def inference_model(training_model: keras.Model, outputs, name: str | None = None) -> keras.Model:
    """The sub-model of a Functional training model from its inputs to the named layers' outputs.

    Training-only parts (the RLE flow inside RLELoss, target inputs, auxiliary branches) that the outputs
    do not depend on are left out; the inputs are the smallest set of the training model's inputs that the
    outputs need (the image, for a pose model). Layers, and so weights, are shared with the training model.
    outputs: a layer name or a list of them; the model returns a list in that order (one tensor for one)."""
    names = [outputs] if isinstance(outputs, str) else list(outputs)
    if not names:
        raise ValueError("inference_model needs at least one output layer name")
    tensors = [training_model.get_layer(layer_name).output for layer_name in names]
    result = tensors[0] if isinstance(outputs, str) else tensors
    inputs = list(training_model.inputs)
    for size in range(1, len(inputs) + 1):
        for subset in itertools.combinations(inputs, size):
            try:
                model_inputs = subset[0] if size == 1 else list(subset)  # one input: call it with a tensor
                return keras.Model(model_inputs, result, name=name or f"{training_model.name}_inference")
            except ValueError:  # "not connected to inputs": this subset misses an input the outputs need
                continue
    raise ValueError(f"outputs {names} of {training_model.name!r} cannot be computed from its inputs")
