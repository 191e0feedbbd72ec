"""Pose heads: feature map -> a representation of the joints (the seed study's heads, lesson 10).

- DeepPose (Toshev & Szegedy, CVPR 2014, Sec. 3): the seed's form, global average pooling + one fully
  connected layer -> (B, K, 2) coordinates (`regression_head`). DeepPose itself regresses from AlexNet's
  fully connected layers and cascades refinement stages; the seed (and mmpose's RegressionHead) keep one FC.
- The sigma branch of RLE (Li et al., ICCV 2021, Sec. 3.3; the official `RegressFlow` and mmpose's RLEHead):
  a second FC -> (B, K, 2) scales through a sigmoid (`sigma_head`). mmpose 1.x's RLEHead leaves the sigmoid
  to its loss; the official code applies it in the head, as here, so the output already is a sigma in (0, 1).
- SimpleBaseline heatmaps (Xiao et al., ECCV 2018, Sec. 2): deconvolutions then a 1x1 conv (`heatmap_head`,
  `HEATMAP_FORMS`).
- Integral Pose Regression (Sun et al., ECCV 2018, Sec. 2, Eq. 3): softmax over each joint's map, then the
  expected position (soft-argmax) (`integral_head`), and DSNT (Nibali et al. 2018, Sec. 3), the same soft-argmax
  with the heatmap kept as an output for its Jensen-Shannon regulariser (`dsnt_head`).
- SimCC / SA-SimDR (Li et al., "SimCC", ECCV 2022, Sec. 3): a vector of k*W bins for x and k*H bins for y per
  joint (`simcc_head`); argmax or soft-argmax decoding inside the model (`SimCCDecode`); the softmax
  normalisation, cosine similarity times a scale beta (`CosineLinear`).

Coordinate units. Every "coordinates" output of a head is in the units of `targets.coordinate_targets`,
x / W - 0.5 and y / H - 0.5 with x, y in input pixels ("crop units", the crop spans [-0.5, 0.5)), so that
one target encoder and one RLE loss serve DeepPose, IPR, DSNT and decoded SimCC alike. DSNT's loss works in
dsntnn's own units: give it `geometry.normalized_coordinates(keypoints, input_size)` as targets.
Output layer names are fixed ("coordinates", "sigma", "heatmaps", "simcc_x", "simcc_y") so that
the training graph (`experiments.training.Plan`) and `decoding.deployable_model` find them.
"""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ..layers import ScaleNorm

COORDINATE_UNITS = ("crop", "pixels")
SIMCC_DECODINGS = ("argmax", "soft_argmax")
# The seed's two heatmap heads. "[256, K]" is read as the output channels of its two deconvolutions: one
# 4x4 stride-2 deconv of 256 channels (BN, ReLU), then a 4x4 stride-2 deconv straight to the K joint maps,
# with no 1x1 conv (the seed lists no third layer). That reading is ours: the seed gives only "[256, K]".
HEATMAP_FORMS = {
    "simplebaseline": {"deconv_channels": (256, 256, 256), "joints_by_deconv": False},  # stride 32 -> 4
    "light": {"deconv_channels": (256,), "joints_by_deconv": True},  # stride 32 -> 8
}


def _check_units(units: str) -> None:
    if units not in COORDINATE_UNITS:
        raise ValueError(f"units must be one of {COORDINATE_UNITS}; got {units!r}")


def _check_size(input_size) -> tuple[int, int]:
    if len(input_size) != 2 or min(input_size) < 1:
        raise ValueError(f"input_size must be (width, height) in pixels; got {input_size}")
    return int(input_size[0]), int(input_size[1])


def _peaks(x, axis: int):
    """(x >= its max along axis, the positions 0..n-1 shaped to broadcast along axis, n)."""
    x = ops.convert_to_tensor(x)
    length = x.shape[axis]
    shape = [1] * len(x.shape)
    shape[axis] = length
    positions = ops.reshape(ops.arange(length, dtype="int32"), shape)
    return x >= ops.max(x, axis=axis, keepdims=True), positions, length


def first_argmax(x, axis: int = -1):
    """The index of the first maximum along `axis` (int32), as np.argmax, from max / compare / select / min.

    keras.ops.argmax is not used: under TensorFlow it rewrites -0.0 with a bitwise sign test, a BitwiseAnd
    op that TFLite has no builtin for, so a model holding it does not convert."""
    is_peak, positions, length = _peaks(x, axis)
    return ops.min(ops.where(is_peak, positions, length), axis=axis)


def peak_centre(x, axis: int = -1):
    """Midway between the first and the last maximum along `axis` (float), from the same int8-friendly ops
    as `first_argmax`; `targets.peak_centre` in NumPy.

    Equal to argmax when the maximum is unique, as it is in float logits. In an int8 model it is not: SA-SimDR
    logits span hundreds of units (scale ~1.5 per int8 step), so the bins within a few of the peak round to the
    same top value, and the first of them lies half that run to the left. Measured on the pose study's
    sa_simdr_sigma6 model, its raw int8 logits decoded in NumPy (LSPET val, PCKh@0.5): float 34.97; first argmax
    14.96; peak centre 34.41."""
    is_peak, positions, length = _peaks(x, axis)
    first = ops.min(ops.where(is_peak, positions, length), axis=axis)
    last = ops.max(ops.where(is_peak, positions, -1), axis=axis)
    return ops.cast(first + last, ops.convert_to_tensor(x).dtype) * 0.5


def _pixels_to_units(xy, input_size, units: str):
    """(B, K, 2) input pixels -> `units` ("pixels" unchanged, "crop": x / W - 0.5)."""
    if units == "pixels":
        return xy
    size = ops.convert_to_tensor(np.asarray(input_size, dtype="float32"), dtype=xy.dtype)
    return xy / size - 0.5


# ---------------------------------------------------------------------------------------------- layers
@keras.saving.register_keras_serializable(package="kerasgp")
class CosineLinear(keras.layers.Layer):
    """The softmax normalisation of the seed study: logits = scale * cos(token, w_j) for every bin j, i.e.
    a linear layer without bias on the L2-normalised token with L2-normalised weight columns.

    The form is NormFace's normalised softmax (Wang et al., ACM MM 2017, Sec. 3.2: cosine logits times a
    scale s, since the cosine alone bounds the logits to [-1, 1] and the softmax could not get peaked); the
    seed applies it to SimCC's bins with beta ~ 15. (mmpose's RTMCC head normalises the token with ScaleNorm
    instead and keeps a plain linear layer; that is `simcc_head(token_norm=True)`.) epsilon floors the
    squared norms."""

    def __init__(self, units: int, scale: float = 15.0, epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        if units < 1 or scale <= 0:
            raise ValueError(f"CosineLinear needs units >= 1 and scale > 0; got units={units}, scale={scale}")
        self.units, self.scale, self.epsilon = int(units), float(scale), float(epsilon)

    def build(self, input_shape):
        if input_shape[-1] is None:
            raise ValueError(f"CosineLinear needs a known last dimension; got input shape {tuple(input_shape)}")
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer="glorot_uniform")

    def call(self, x):
        # x * rsqrt(max(|x|^2, eps)): no division, which TFLite's int8 DIV refuses when the quantised divisor
        # can be 0; the eps keeps an all-zero token finite (its cosine is 0 with every bin)
        token = x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), self.epsilon))
        kernel = self.kernel * ops.rsqrt(ops.maximum(ops.sum(ops.square(self.kernel), axis=0, keepdims=True),
                                                     self.epsilon))
        return self.scale * ops.matmul(token, kernel)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def macs(self, input_shapes, output_shapes) -> int:
        """kerasgp.analysis.cost's Dense rule (in_features per output element); the two normalisations are
        element-wise, 0 by the papers' convention."""
        return math.prod(output_shapes) * input_shapes[-1]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale, "epsilon": self.epsilon}


def joint_softmax(heatmap_logits):
    """(B, h, w, K) logits -> (B, K, h*w), each joint's map as a distribution over its cells (row-major).

    The same numbers as `geometry.spatial_softmax` (used by the losses), computed as one softmax over the last
    axis: TFLite has an accurate int8 SOFTMAX kernel, while the logsumexp form becomes int8 EXP and LOG ops
    that cost several pixels of the soft-argmax (measured on a 4x4 map, 64x64 input: median 5 px)."""
    _, height, width, joints = heatmap_logits.shape
    flat = ops.reshape(heatmap_logits, (-1, height * width, joints))  # (B, h*w, K)
    return ops.softmax(ops.transpose(flat, (0, 2, 1)), axis=-1)  # (B, K, h*w)


@keras.saving.register_keras_serializable(package="kerasgp")
class SoftArgmax2D(keras.layers.Layer):
    """(B, h, w, K) heatmap logits -> (B, K, 2) expected positions under the softmax of each joint's map:
    IPR's integral (Sun et al. 2018, Eq. 3), DSNT's `dsnt(spatial_softmax(...))` (Nibali et al. 2018, Eq. 5).

    Cell (i, j) of an h x w map sits at input pixel ((j + 0.5) W / w - 0.5, (i + 0.5) H / h - 0.5), dsntnn's
    cell centres (`geometry.normalized_linspace`) mapped to pixels; the expectation is returned in input pixels
    or crop units (x / W - 0.5). input_size = (W, H). Computed as `joint_softmax` times a constant matrix of
    cell centres (one int8 FULLY_CONNECTED in TFLite); equal to geometry.dsnt(geometry.spatial_softmax(x))."""

    def __init__(self, input_size, units: str = "crop", **kwargs):
        super().__init__(**kwargs)
        _check_units(units)
        self.input_size, self.units = _check_size(input_size), units

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(f"SoftArgmax2D takes heatmaps (batch, height, width, joints) of fixed size; got "
                             f"{tuple(input_shape)}")

    def cell_centres(self, height: int, width: int) -> np.ndarray:
        """(h*w, 2) cell centres in the output units, row-major like `joint_softmax`."""
        x = (np.arange(width) + 0.5) * self.input_size[0] / width - 0.5
        y = (np.arange(height) + 0.5) * self.input_size[1] / height - 0.5
        centres = np.stack(np.meshgrid(x, y, indexing="xy"), -1).reshape(-1, 2)  # (h*w, 2), x fastest
        if self.units == "crop":
            centres = centres / np.asarray(self.input_size) - 0.5
        return centres.astype("float32")

    def call(self, heatmap_logits):
        _, height, width, _ = heatmap_logits.shape
        centres = ops.convert_to_tensor(self.cell_centres(height, width), dtype=heatmap_logits.dtype)
        return ops.matmul(joint_softmax(heatmap_logits), centres)  # (B, K, h*w) x (h*w, 2) -> (B, K, 2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3], 2)

    def get_config(self):
        return {**super().get_config(), "input_size": list(self.input_size), "units": self.units}


@keras.saving.register_keras_serializable(package="kerasgp")
class SimCCDecode(keras.layers.Layer):
    """[x logits (B, K, k*W), y logits (B, K, k*H)] -> (B, K, 2) coordinates (SimCC Sec. 3.3).

    mode "argmax": the bin of the largest logit / k (SimDR's decoding; no gradient flows through it), the
    centre of the run when several bins tie (`peak_centre`: what keeps int8 logits accurate);
    "soft_argmax": the expected bin under softmax(logits) / k (differentiable, for RLE or an L1 loss on the
    decoded coordinates). units: "pixels" or "crop" (x / W - 0.5)."""

    def __init__(self, input_size, split_ratio: float = 2.0, mode: str = "argmax", units: str = "crop", **kwargs):
        super().__init__(**kwargs)
        if mode not in SIMCC_DECODINGS:
            raise ValueError(f"mode must be one of {SIMCC_DECODINGS}; got {mode!r}")
        if split_ratio <= 0:
            raise ValueError(f"split_ratio must be > 0; got {split_ratio}")
        _check_units(units)
        self.input_size, self.split_ratio = _check_size(input_size), float(split_ratio)
        self.mode, self.units = mode, units

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2 or \
                any(len(shape) != 3 or shape[-1] is None for shape in input_shape):
            raise ValueError(f"SimCCDecode takes [x logits (B, K, bins), y logits (B, K, bins)]; got {input_shape}")

    def _axis(self, logits):
        if self.mode == "argmax":
            return peak_centre(logits, axis=-1) / self.split_ratio
        bins = ops.convert_to_tensor(np.arange(logits.shape[-1], dtype="float32"), dtype=logits.dtype)
        return ops.sum(ops.softmax(logits, axis=-1) * bins, axis=-1) / self.split_ratio

    def call(self, inputs):
        x_logits, y_logits = inputs
        pixels = ops.stack([self._axis(x_logits), self._axis(y_logits)], axis=-1)  # (B, K, 2)
        return _pixels_to_units(pixels, self.input_size, self.units)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:2]) + (2,)

    def get_config(self):
        return {**super().get_config(), "input_size": list(self.input_size), "split_ratio": self.split_ratio,
                "mode": self.mode, "units": self.units}


# ---------------------------------------------------------------------------------------------- heads
def _deconvs(x, channels_list, name: str):
    """SimpleBaseline's upsampling: per entry a 4x4 stride-2 transposed conv, BN, ReLU."""
    for i, channels in enumerate(channels_list):
        x = keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", use_bias=False,
                                         name=f"{name}_deconv{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"{name}_deconv{i + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"{name}_deconv{i + 1}_relu")(x)
    return x


def _joint_maps(features, num_joints: int, deconv_channels, joints_by_deconv: bool, name: str, maps_name: str):
    x = _deconvs(features, deconv_channels, name)
    if joints_by_deconv:  # the light form's last layer: a deconv straight to the joint maps
        return keras.layers.Conv2DTranspose(num_joints, 4, strides=2, padding="same", name=maps_name)(x)
    return keras.layers.Conv2D(num_joints, 1, name=maps_name)(x)


def heatmap_head(features, num_joints: int, deconv_channels=(64, 64, 64), name: str = "heatmap",
                 joints_by_deconv: bool = False):
    """SimpleBaseline (Xiao et al., ECCV 2018): deconvolutions (4x4, stride 2, BN, ReLU) then a 1x1 conv to
    one heatmap per joint. The paper uses three deconvs of 256 channels (stride 32 -> 4,
    HEATMAP_FORMS["simplebaseline"]); the workbook's light default is three of 64; the seed study's light
    form [256, K] is HEATMAP_FORMS["light"]: joints_by_deconv=True makes the last upsampling a deconv to the
    K maps in place of the 1x1 conv (see HEATMAP_FORMS for how "[256, K]" is read)."""
    return _joint_maps(features, num_joints, deconv_channels, joints_by_deconv, name, f"{name}_maps")


def regression_head(features, num_joints: int, dropout: float = 0.0, name: str = "coordinates"):
    """DeepPose as the seed builds it: global average pooling, dropout, one FC -> (B, K, 2) coordinates in
    crop units (x / W - 0.5; `targets.coordinate_targets`). Simplified from DeepPose (no cascade, no FC
    stack; see the module docstring). The output layer is named `name`."""
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(features)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    x = keras.layers.Dense(num_joints * 2, name=f"{name}_fc")(x)
    return keras.layers.Reshape((num_joints, 2), name=name)(x)  # (B, K * 2) -> (B, K, 2)


def sigma_head(features, num_joints: int, dropout: float = 0.0, name: str = "sigma"):
    """RLE's sigma branch: global average pooling, dropout, FC, sigmoid -> (B, K, 2) in (0, 1), one scale
    per joint and axis (the official RLE's `fc_sigma` + sigmoid). Fed by any map: the seed's two-map
    backbone gives it the 1024-d final conv while the localisation head reads the 464-d stage output.
    Use with `rle.RLELoss(sigma_activation=None)`: the sigmoid is already applied."""
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(features)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    x = keras.layers.Dense(num_joints * 2, activation="sigmoid", name=f"{name}_fc")(x)
    return keras.layers.Reshape((num_joints, 2), name=name)(x)  # (B, K * 2) -> (B, K, 2)


def integral_head(features, num_joints: int, input_size, deconv_channels=(), joints_by_deconv: bool = False,
                  return_heatmaps: bool = False, name: str = "integral") -> dict:
    """Integral Pose Regression (Sun et al., ECCV 2018): K heatmap logits (a 1x1 conv, after optional
    SimpleBaseline deconvs) -> softmax over each map -> expected (x, y) in crop units, {"coordinates"}.

    return_heatmaps adds the logits as "heatmaps" (what `dsnt_head` does for DSNT's regulariser). The
    logits layer is named "heatmaps" in both cases, so the deployed model can read a confidence from it.
    IPR trains with an L1 loss on the coordinates (`losses.smooth_l1_per_joint` or RLE here)."""
    maps = _joint_maps(features, num_joints, deconv_channels, joints_by_deconv, name, "heatmaps")
    outputs = {"coordinates": SoftArgmax2D(input_size, units="crop", name="coordinates")(maps)}
    if return_heatmaps:
        outputs["heatmaps"] = maps
    return outputs


def dsnt_head(features, num_joints: int, input_size, deconv_channels=(), joints_by_deconv: bool = False,
              name: str = "dsnt") -> dict:
    """DSNT (Nibali et al. 2018): the soft-argmax of `integral_head`, with the heatmap logits returned too,
    {"coordinates", "heatmaps"}, so that `losses.DSNTLoss` (Euclidean loss + JS regulariser, on the logits
    and targets in dsntnn's units) trains the maps while RLE or nothing uses the coordinates. On the seed's
    stride-32 map (8x8 at 256 input) no deconv; "dsnt+deconv" passes deconv_channels."""
    return integral_head(features, num_joints, input_size, deconv_channels, joints_by_deconv, True, name)


def simcc_head(features, num_joints: int, input_size, split_ratio: float = 2.0, dropout: float = 0.0,
               deconv_channels=(), token_norm: bool = True, name: str = "simcc", cosine_scale: float | None = None):
    """features (B, h, w, C) with static h, w -> [x logits (B, K, k*W), y logits (B, K, k*H)].

    SimCC / SA-SimDR (Li et al., "SimCC: a Simple Coordinate Classification Perspective for Human Pose
    Estimation", ECCV 2022): a 1x1 conv gives one map per joint, each map is flattened and two linear
    layers (shared by all joints) give a vector of k*W bins for x and k*H bins for y. With Gaussian soft
    targets (SA-SimDR) the loss is the cross-entropy to the target distribution (KL up to a constant).

    deconv_channels: SimpleBaseline deconvolutions before the 1x1 conv. On a stride-32 map each joint
    gets only h*w values (16 at 128x128), one per 32-pixel cell, too coarse to place a joint inside a cell;
    two deconvs (stride 8, 256 values per joint) give the linear layers a map fine enough to read.
    token_norm: ScaleNorm on each joint's token before the linear layers (as RTMPose); without it the
    deconv form diverges (the loss climbs back above its start, measured on a fixed batch in the pose study).
    cosine_scale: the seed's softmax normalisation, `CosineLinear` layers (cosine times beta, ~15) in place
    of the two linear layers; None keeps plain Dense layers."""
    features = _deconvs(features, deconv_channels, name)
    _, height, width, _ = features.shape
    if height is None or width is None:
        raise ValueError("the SimCC head flattens the map, so the input size must be fixed (e.g. 128x128)")
    x = keras.layers.Conv2D(num_joints, 1, name=f"{name}_joint_maps")(features)
    x = keras.layers.Permute((3, 1, 2), name=f"{name}_joints_first")(x)  # (B, K, h, w)
    x = keras.layers.Reshape((num_joints, height * width), name=f"{name}_flatten")(x)  # (B, K, h*w)
    if token_norm:
        x = ScaleNorm(name=f"{name}_token_norm")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    bins_x, bins_y = int(round(input_size[0] * split_ratio)), int(round(input_size[1] * split_ratio))
    if cosine_scale is not None:
        return [CosineLinear(bins_x, cosine_scale, name=f"{name}_x")(x),
                CosineLinear(bins_y, cosine_scale, name=f"{name}_y")(x)]
    return [keras.layers.Dense(bins_x, name=f"{name}_x")(x), keras.layers.Dense(bins_y, name=f"{name}_y")(x)]
