"""The pose study's losses (lessons 10 and 11), in keras.ops for all three backends.

Conventions, shared with `kerasgp.data.targets`: joints last in heatmaps (B, h, w, K), joints second in
everything else (B, K, ...); target weights (B, K), 1 for a labelled joint inside the crop, 0 otherwise.

One API, the one training uses: each loss is a per-joint function `name_per_joint(y_true, y_pred, ...)
-> (B, K)`, and `JointLoss` makes any of them a layer of the training graph, [y_true, y_pred, target_weight]
-> (B,), the mean over joints of weight * loss. `kerasgp.experiments.training.Plan` compiles those outputs
with `rle.OutputAsLoss` (the mean over the batch), so every loss is normalised as mmpose's "mean over all
joints": sum(weight * loss) / (B * K); a joint of weight 0 adds nothing to the sum but still counts in the
denominator (mmpose's KeypointMSELoss, SmoothL1Loss and BCELoss do this; dsntnn's `average_loss(losses,
mask)` divides by the number of labelled joints instead). RLE, which normalises as mmpose's `size_average`
and holds a trainable flow, is in `kerasgp.pose.rle` (`rle_loss_per_sample`, the `RLELoss` layer), in the
same form; DSNT's coordinate geometry in `kerasgp.pose.geometry`.

The losses and the references they follow:
- SmoothL1 (Girshick, Fast R-CNN 2015): torch's `smooth_l1_loss`, beta 1.
- Heatmap MSE (Xiao et al., SimpleBaseline, ECCV 2018): mmpose 1.x `KeypointMSELoss`, the mean of the
  weighted squared error, no factor 0.5. SimpleBaseline's own `JointsMSELoss` (microsoft/human-pose-
  estimation.pytorch) has one, "0.5 * the mean over joints of the MSE": `loss_weight=0.5` reproduces it.
- DSNT (Nibali et al., "Numerical Coordinate Regression with Convolutional Neural Networks", 2018):
  dsntnn's `dsnt`, `make_gauss`, `js_reg_losses` and `euclidean_losses`.
- SimDR / SA-SimDR (Li et al., "SimCC", ECCV 2022): cross-entropy to one-hot labels; KL to Gaussian labels
  (mmpose's `KLDiscretLoss`, with a different normalisation, see `simcc_kl_per_joint`). The base recipe
  trains SimCC with Keras' CategoricalCrossentropy on the two logits outputs, which is
  `simcc_cross_entropy_per_joint` averaged over joints.
- Keypoint presence: BCE (mmpose `BCELoss`) and Quality Focal Loss (Li et al., "Generalized Focal Loss",
  NeurIPS 2020, beta 2) on a score derived from RLE's sigma.
"""
from __future__ import annotations

import keras
from keras import ops

from .checks import as_tensors, check_rank, joint_weights, same_shape, static_shape
from .geometry import DIVERGENCE_EPSILON, dsnt, dsnt_sigma, spatial_softmax, target_gaussians

PROBABILITY_EPSILON = 1e-7  # BCE clips scores to [eps, 1 - eps], as keras' binary_crossentropy


# ---------------------------------------------------------------------------------------------- SmoothL1
def smooth_l1_per_joint(y_true, y_pred, beta: float = 1.0):
    """(B, K, D) coordinates -> (B, K): torch's smooth L1 (0.5 d^2 / beta below beta, |d| - beta / 2 above),
    averaged over the D coordinates. mmpose's SmoothL1Loss multiplies prediction and target by the weight
    before the loss; for 0/1 weights that is the same as weighting the loss, which `JointLoss` does."""
    y_true, y_pred = as_tensors(y_true, y_pred)
    check_rank("y_pred", y_pred, 3, "(batch, joints, coordinates)")
    same_shape("y_true", y_true, "y_pred", y_pred)
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    error = ops.abs(y_pred - y_true)
    loss = ops.where(error < beta, 0.5 * ops.square(error) / beta, error - 0.5 * beta)
    return ops.mean(loss, axis=-1)


# ---------------------------------------------------------------------------------------------- heatmap MSE
def heatmap_mse_per_joint(y_true, y_pred, loss_weight: float = 1.0):
    """(B, h, w, K) heatmaps -> (B, K): the mean squared error over each joint's map, times loss_weight.
    Weighted and averaged over joints (`JointLoss`) it is mmpose 1.x's KeypointMSELoss (each map has the same
    size, so the mean over joints of each map's MSE is the mean over B, K, h, w); loss_weight=0.5 gives
    SimpleBaseline's JointsMSELoss."""
    y_true, y_pred = as_tensors(y_true, y_pred)
    check_rank("y_pred", y_pred, 4, "heatmaps (batch, height, width, joints)")
    same_shape("y_true (target heatmaps)", y_true, "y_pred (heatmaps)", y_pred)
    return loss_weight * ops.mean(ops.square(y_pred - y_true), axis=(1, 2))


# ---------------------------------------------------------------------------------------------- SimDR / SA-SimDR
def _check_simcc(y_true, y_pred):
    y_true, y_pred = as_tensors(y_true, y_pred)
    check_rank("y_pred", y_pred, 3, "SimCC logits (batch, joints, bins)")
    same_shape("y_true (SimCC labels)", y_true, "y_pred (SimCC logits)", y_pred)
    return y_true, y_pred


def simcc_cross_entropy_per_joint(y_true, y_pred):
    """(B, K, bins) labels and logits of one axis -> (B, K): -sum(label * log_softmax(logits)), SimDR's loss
    to one-hot labels (the bin round(k * coordinate)); the paper sums the x and y axes' losses. Equal to
    `simcc_kl_per_joint` for one-hot labels (their entropy is 0)."""
    y_true, y_pred = _check_simcc(y_true, y_pred)
    return -ops.sum(y_true * ops.log_softmax(y_pred, axis=-1), axis=-1)


def simcc_kl_per_joint(y_true, y_pred):
    """(B, K, bins) label distributions and logits of one axis -> (B, K): KL(label || softmax(logits)),
    with 0 log 0 = 0 (torch's KLDivLoss): SA-SimDR's loss to the Gaussian label (`targets.simcc_targets`).

    mmpose's KLDiscretLoss averages the KL over the bins (divides it by k*W) and sums over the batch,
    dividing by K only; its figure is the mean over joints of this one times B / bins. The workbook keeps the
    plain KL and the mean over joints of every other loss here, so that losses added together (SA-SimDR +
    RLE) keep scales that do not depend on the batch or the input size."""
    y_true, y_pred = _check_simcc(y_true, y_pred)
    entropy_term = ops.where(y_true > 0, y_true * ops.log(ops.maximum(y_true, 1e-30)), 0.0)
    return ops.sum(entropy_term - y_true * ops.log_softmax(y_pred, axis=-1), axis=-1)


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
    softmax map to a Gaussian of std `sigma` (normalised units) at the target: DSNT with the Jensen-Shannon
    regulariser (Nibali et al. 2018; JS is the regulariser dsntnn's docs found best in practice).

    y_true: targets in normalised units (`normalized_coordinates`). sigma: default `dsnt_sigma(map width)` =
    one map pixel (0.25 on 8x8); regularization_weight: dsntnn's lambda, the seed's w (1 in dsntnn's guide).
    Simplification: sigma is one number for both axes, as dsntnn's normalised-unit version."""
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
    """Binary cross-entropy of the presence score against a visibility / quality target in [0, 1], (B, K)
    (mmpose BCELoss). y_pred: RLE's sigma (B, K, 2) when from_sigma (score = 1 - mean sigma, see
    `presence_score`), else the score (B, K). Scores are clipped to [1e-7, 1 - 1e-7] like Keras'
    binary_crossentropy."""
    y_true, score = _scores(y_true, y_pred, from_sigma)
    return _bce(y_true, score)


def quality_focal_per_joint(y_true, y_pred, beta: float = 2.0, from_sigma: bool = True):
    """Quality Focal Loss (Li et al., GFL, NeurIPS 2020, Sec. 3): |y - s|^beta * BCE(s, y), beta 2, (B, K); y a
    soft quality target in [0, 1], s the presence score (as `presence_bce_per_joint`). GFL's
    `quality_focal_loss` takes logits and divides by the number of positives; here the score is already a
    probability (1 - sigma) and the mean is over all joints, like the other losses."""
    y_true, score = _scores(y_true, y_pred, from_sigma)
    return ops.power(ops.abs(y_true - score), beta) * _bce(y_true, score)


# ---------------------------------------------------------------------------------------------- the training graph's layer
@keras.saving.register_keras_serializable(package="kerasgp")
class JointLoss(keras.layers.Layer):
    """A per-joint loss as a layer of the training graph: [y_true, y_pred] or [y_true, y_pred, target_weight]
    -> (B,), the mean over joints of weight * loss (mmpose's normalisation once `rle.OutputAsLoss` averages
    over the batch). kind: a key of KINDS; "bce" and "qfl" read RLE's sigma, y_true the (B, K) presence
    target. options: the function's keyword arguments (beta, loss_weight, sigma, ...)."""

    KINDS = {"smoothl1": smooth_l1_per_joint, "heatmap_mse": heatmap_mse_per_joint,
             "simcc_ce": simcc_cross_entropy_per_joint, "simcc_kl": simcc_kl_per_joint, "dsnt": dsnt_per_joint,
             "bce": presence_bce_per_joint, "qfl": quality_focal_per_joint}

    def __init__(self, kind: str, options: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        if kind not in self.KINDS:
            raise ValueError(f"unknown joint loss {kind!r}; known: {sorted(self.KINDS)}")
        self.kind, self.options = kind, dict(options or {})

    def call(self, inputs):
        per_joint = self.KINDS[self.kind](inputs[0], inputs[1], **self.options)
        if len(inputs) == 3:  # checked against the loss's (batch, joints); bool weights are cast
            per_joint = per_joint * joint_weights(inputs[2], static_shape(per_joint), per_joint.dtype)
        return ops.mean(per_joint, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[1][0],)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "options": self.options}
