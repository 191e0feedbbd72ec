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
instead, dsntnn's `average_loss(losses, mask)`. RLE, which normalises as mmpose's `size_average` and holds a
trainable flow, is in `kerasgp.pose.rle`; DSNT's coordinate geometry in `kerasgp.pose.geometry`.

The losses and the references they follow:
- SmoothL1 (Girshick, Fast R-CNN 2015): torch's `smooth_l1_loss`, beta 1.
- Heatmap MSE (Xiao et al., SimpleBaseline, ECCV 2018): mmpose 1.x `KeypointMSELoss`, the mean of the
  weighted squared error, no factor 0.5. SimpleBaseline's own `JointsMSELoss` (microsoft/human-pose-
  estimation.pytorch) has one, "0.5 * the mean over joints of the MSE": `loss_weight=0.5` reproduces it.
- DSNT (Nibali et al., "Numerical Coordinate Regression with Convolutional Neural Networks", 2018):
  dsntnn's `dsnt`, `make_gauss`, `js_reg_losses` and `euclidean_losses`.
- SimDR / SA-SimDR (Li et al., "SimCC", ECCV 2022): cross-entropy to one-hot labels; KL to Gaussian labels
  (mmpose's `KLDiscretLoss`, with a different normalisation, see `simcc_kl_divergence`).
- Keypoint presence: BCE (mmpose `BCELoss`) and Quality Focal Loss (Li et al., "Generalized Focal Loss",
  NeurIPS 2020, beta 2) on a score derived from RLE's sigma.
"""
from __future__ import annotations

import keras
from keras import ops

from .checks import as_tensors, check_rank, mean_over_joints, same_shape, static_shape
from .geometry import DIVERGENCE_EPSILON, dsnt, dsnt_sigma, spatial_softmax, target_gaussians

PROBABILITY_EPSILON = 1e-7  # BCE clips scores to [eps, 1 - eps], as keras' binary_crossentropy


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
    y_true, y_pred = as_tensors(y_true, y_pred)
    check_rank("y_pred", y_pred, 3, "(batch, joints, coordinates)")
    same_shape("y_true", y_true, "y_pred", y_pred)
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    error = ops.abs(y_pred - y_true)
    loss = ops.where(error < beta, 0.5 * ops.square(error) / beta, error - 0.5 * beta)
    return ops.mean(loss, axis=-1)


def smooth_l1_loss(y_true, y_pred, target_weight=None, beta: float = 1.0):
    """Smooth L1 on coordinates, mean over all joints and coordinates (torch's reduction="mean").

    mmpose's SmoothL1Loss multiplies prediction and target by the weight before the loss; for 0/1 weights
    that is the same as weighting the loss, which is what this does (and Keras' sample_weight does)."""
    return mean_over_joints(smooth_l1_per_joint(y_true, y_pred, beta), target_weight)


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
    y_true, y_pred = as_tensors(y_true, y_pred)
    check_rank("y_pred", y_pred, 4, "heatmaps (batch, height, width, joints)")
    same_shape("y_true (target heatmaps)", y_true, "y_pred (heatmaps)", y_pred)
    return loss_weight * ops.mean(ops.square(y_pred - y_true), axis=(1, 2))


def heatmap_mse_loss(y_true, y_pred, target_weight=None, loss_weight: float = 1.0):
    """mmpose 1.x KeypointMSELoss: mean over B, K, h, w of weight * (pred - target)^2; each joint's map has
    the same size, so this is also the mean over joints of each map's MSE. loss_weight=0.5 gives
    SimpleBaseline's JointsMSELoss."""
    return mean_over_joints(heatmap_mse_per_joint(y_true, y_pred, loss_weight), target_weight)


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
    y_true, y_pred = as_tensors(y_true, y_pred)
    check_rank("y_pred", y_pred, 3, "SimCC logits (batch, joints, bins)")
    same_shape("y_true (SimCC labels)", y_true, "y_pred (SimCC logits)", y_pred)
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
    return mean_over_joints(simcc_cross_entropy_per_joint(y_true, y_pred), target_weight)


def simcc_kl_divergence(y_true, y_pred, target_weight=None):
    """SA-SimDR's loss on one axis: KL from the Gaussian label (`targets.simcc_targets`, sigma 4 or 6 bins)
    to softmax(logits), summed over bins, mean over joints.

    mmpose's KLDiscretLoss averages the KL over the bins (divides it by k*W) and sums over the batch,
    dividing by K only; its figure is this one times B / bins. The workbook keeps the plain KL and the
    mean over joints of every other loss here, so that losses added together (SA-SimDR + RLE) keep scales
    that do not depend on the batch or the input size."""
    return mean_over_joints(simcc_kl_per_joint(y_true, y_pred), target_weight)


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
    y_true, y_pred = as_tensors(y_true, y_pred)
    probabilities = spatial_softmax(y_pred)
    if len(y_true.shape) != 3 or y_true.shape[-1] != 2:
        raise ValueError(f"y_true must be (batch, joints, 2) coordinates in normalised units; got "
                         f"{static_shape(y_true)}")
    heatmap_joints = (probabilities.shape[0], probabilities.shape[3])
    if any(i is not None and j is not None and i != j for i, j in zip(y_true.shape[:2], heatmap_joints)):
        raise ValueError(f"y_true's (batch, joints) {static_shape(y_true)[:2]} must match the heatmaps' "
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
    return mean_over_joints(dsnt_per_joint(y_true, y_pred, sigma, regularization_weight), target_weight)


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
    check_rank("sigma", sigma, 3, "(batch, joints, coordinates)")
    return 1.0 - ops.mean(sigma, axis=-1)


def _scores(y_true, y_pred, from_sigma: bool):
    y_true, y_pred = as_tensors(y_true, y_pred)
    score = presence_score(y_pred) if from_sigma else y_pred
    check_rank("the presence score", score, 2, "(batch, joints)")
    same_shape("y_true (presence targets)", y_true, "the presence score", score)
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
    return mean_over_joints(presence_bce_per_joint(y_true, y_pred, from_sigma), target_weight)


def quality_focal_loss(y_true, y_pred, target_weight=None, beta: float = 2.0, from_sigma: bool = True):
    """Quality Focal Loss (Li et al., GFL, NeurIPS 2020, Sec. 3): |y - s|^beta * BCE(s, y), beta 2; y a soft
    quality target in [0, 1], s the presence score. GFL's `quality_focal_loss` takes logits and divides by
    the number of positives; here the score is already a probability (1 - sigma) and the mean is over all
    joints, like the other losses."""
    return mean_over_joints(quality_focal_per_joint(y_true, y_pred, beta, from_sigma), target_weight)


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


