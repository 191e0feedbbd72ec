"""Decoding: from a head's outputs to keypoints in input pixels, in NumPy (evaluation) and in the model
(deployment, lesson 12).

NumPy side, for models evaluated in Python: `decode(outputs)` reads whatever a pose model returns (SimCC
vectors, heatmaps, crop-unit coordinates, or a deployed model's keypoints) and gives (B, K, 2) pixels.

Model side: `deployable_model(model)` cuts a trained model (a `build_pose_model` model, or a training graph
such as `experiments.training.Plan`'s, with RLE's flow, targets and auxiliary outputs) down to the image input
and appends decoding layers, so that the exported model returns {"keypoints": (B, K, 2) input pixels,
"confidence": (B, K)} and nothing else. The decoding layers use keras.ops ops that convert to TFLite int8
(argmax, max, comparisons, select, softmax): the whole model, decoding included, runs on the device.

Confidence, by head: RLE's sigma -> `losses.presence_score` (1 - mean sigma, mmpose's RLE decoding);
SimCC -> the smaller of the x and y vectors' largest softmax probability (mmpose's `get_simcc_maximum`
on normalised vectors); SimpleBaseline heatmaps -> the peak value (its `get_max_preds`); IPR / DSNT ->
the largest probability of the softmax map. A DeepPose model without sigma has none: no "confidence".
The module is named `decoding`, not `decode`: `kerasgp.pose.decode` is already the public decoding
function, which a submodule of the same name would shadow.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..data import targets as T
from ..data.layouts import LAYOUTS
from .heads import SimCCDecode, _check_size, first_argmax, joint_softmax
from .losses import presence_score

# The output layers a pose model may carry (see heads.py), by role.
COORDINATES, SIGMA, HEATMAP_LOGITS = "coordinates", "sigma", "heatmaps"
SIMCC_X, SIMCC_Y, HEATMAP_MAPS = "simcc_x", "simcc_y", "heatmap_maps"
KEYPOINTS, CONFIDENCE = "keypoints", "confidence"


# ---------------------------------------------------------------------------------------------- NumPy
def decode_simcc(outputs, split_ratio: float = 2.0) -> np.ndarray:
    """Argmax decoding of [x vectors, y vectors] (or a dict with "simcc_x", "simcc_y") -> (B, K, 2) input pixels."""
    x, y = _simcc_vectors(outputs)
    return T.decode_simcc(np.asarray(x), np.asarray(y), split_ratio)


def decode_heatmaps(heatmaps, input_size) -> np.ndarray:
    """Argmax, then a quarter-cell shift towards the higher neighbour (SimpleBaseline's decoding) ->
    (B, K, 2) input pixels."""
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    batch, map_h, map_w, joints = heatmaps.shape
    flat = heatmaps.transpose(0, 3, 1, 2).reshape(batch, joints, -1)
    idx = flat.argmax(-1)
    px, py = idx % map_w, idx // map_w
    maps = heatmaps.transpose(0, 3, 1, 2)
    b, k = np.meshgrid(np.arange(batch), np.arange(joints), indexing="ij")
    right, left = maps[b, k, py, np.minimum(px + 1, map_w - 1)], maps[b, k, py, np.maximum(px - 1, 0)]
    down, up = maps[b, k, np.minimum(py + 1, map_h - 1), px], maps[b, k, np.maximum(py - 1, 0), px]
    # no shift at the border, where one neighbour does not exist
    x = px + 0.25 * np.sign(right - left) * ((px > 0) & (px < map_w - 1))
    y = py + 0.25 * np.sign(down - up) * ((py > 0) & (py < map_h - 1))
    scale = np.array([(input_size[0] - 1) / (map_w - 1), (input_size[1] - 1) / (map_h - 1)], dtype=np.float32)
    return np.stack([x, y], -1).astype(np.float32) * scale


def crop_units_to_pixels(coordinates, input_size) -> np.ndarray:
    """(B, K, 2) crop units (x / W - 0.5, the heads' "coordinates") -> input pixels."""
    return T.decode_coordinates(coordinates, input_size)


def _simcc_vectors(outputs):
    if isinstance(outputs, dict):
        return outputs[SIMCC_X], outputs[SIMCC_Y]
    return outputs[0], outputs[1]


def output_kind(outputs) -> str:
    """What a pose model returned: "deployed" (keypoints in pixels), "coordinates" (crop units), "simcc"
    or "heatmap"; read from the structure (dict keys, or a list of two vectors, or one 4-D array)."""
    if isinstance(outputs, dict):
        for key, kind in ((KEYPOINTS, "deployed"), (COORDINATES, "coordinates"), (SIMCC_X, "simcc"),
                          (HEATMAP_MAPS, "heatmap")):
            if key in outputs:
                return kind
        raise ValueError(f"cannot tell the pose head from the output names {sorted(outputs)}; expected one of "
                         f"{[KEYPOINTS, COORDINATES, SIMCC_X, HEATMAP_MAPS]}")
    if isinstance(outputs, (list, tuple)) and len(outputs) == 2 and all(np.ndim(o) == 3 for o in outputs):
        return "simcc"
    if not isinstance(outputs, (list, tuple)) and np.ndim(outputs) == 4:
        return "heatmap"
    shapes = [np.shape(o) for o in outputs] if isinstance(outputs, (list, tuple)) else np.shape(outputs)
    raise ValueError(f"cannot tell the pose head from outputs of shape(s) {shapes}; expected SimCC vectors "
                     "[(B, K, bins)] * 2, heatmaps (B, h, w, K) or a dict with 'keypoints' or 'coordinates'")


def decode(outputs, head: str | None = None, input_size=None, split_ratio: float | None = 2.0) -> np.ndarray:
    """Any pose model's outputs -> (B, K, 2) input pixels. head: "simcc" or "heatmap" (the heads whose raw
    outputs need a decoder), or None to read the kind from the outputs (see `output_kind`); input_size
    (W, H) is needed for heatmaps and crop-unit coordinates; split_ratio for SimCC (None: the x vector's
    length over the input width)."""
    kind = head if head in ("simcc", "heatmap") else output_kind(outputs)
    if (kind in ("heatmap", "coordinates") or (kind == "simcc" and split_ratio is None)) and input_size is None:
        raise ValueError(f"decoding {kind} outputs needs input_size=(width, height)")
    if kind == "simcc":
        if split_ratio is None:
            split_ratio = np.shape(_simcc_vectors(outputs)[0])[-1] / input_size[0]
        return decode_simcc(outputs, split_ratio)
    if kind == "heatmap":
        return decode_heatmaps(outputs[HEATMAP_MAPS] if isinstance(outputs, dict) else outputs, input_size)
    if kind == "coordinates":
        return crop_units_to_pixels(outputs[COORDINATES], input_size)
    return np.asarray(outputs[KEYPOINTS], dtype=np.float32)


def confidence(outputs):
    """(B, K) confidence when the outputs carry one (a deployed model's, or RLE's sigma), else None."""
    if isinstance(outputs, dict):
        if CONFIDENCE in outputs:
            return np.asarray(outputs[CONFIDENCE], dtype=np.float32)
        if SIGMA in outputs:
            return 1.0 - np.asarray(outputs[SIGMA], dtype=np.float32).mean(-1)
    return None


# ---------------------------------------------------------------------------------------------- layers
@keras.saving.register_keras_serializable(package="kerasgp")
class ToInputPixels(keras.layers.Layer):
    """(B, K, 2) crop units (x / W - 0.5) -> input pixels: (c + 0.5) * (W, H)."""

    def __init__(self, input_size, **kwargs):
        super().__init__(**kwargs)
        self.input_size = _check_size(input_size)

    def call(self, coordinates):
        size = ops.convert_to_tensor(np.asarray(self.input_size, dtype="float32"), dtype=coordinates.dtype)
        return (coordinates + 0.5) * size

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "input_size": list(self.input_size)}


@keras.saving.register_keras_serializable(package="kerasgp")
class HeatmapArgmax(keras.layers.Layer):
    """(B, h, w, K) heatmaps -> (B, K, 2) input pixels: `decode_heatmaps` (argmax, quarter-cell shift
    towards the higher neighbour, UDP's cell -> pixel scale) in keras.ops.

    Built from ops that TFLite int8 runs (no gather, no keras.ops.argmax, see `heads.first_argmax`): the
    neighbour differences are computed at every cell from shifted copies of the map, and the one at the
    argmax cell is picked by a mask."""

    def __init__(self, input_size, **kwargs):
        super().__init__(**kwargs)
        self.input_size = _check_size(input_size)

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None or input_shape[1] < 2 \
                or input_shape[2] < 2:
            raise ValueError(f"HeatmapArgmax takes heatmaps (batch, height, width, joints), at least 2x2 and of "
                             f"fixed size; got {tuple(input_shape)}")

    @staticmethod
    def _quarter(difference, index, length):
        """0.25 towards the higher neighbour, 0 on a tie and at the border (one neighbour is missing)."""
        interior = ops.logical_and(index > 0, index < length - 1)
        shift = ops.where(difference > 0, 0.25, ops.where(difference < 0, -0.25, 0.0))
        return ops.where(interior, shift, 0.0)

    def call(self, maps):
        _, height, width, joints = maps.shape
        flat = ops.reshape(maps, (-1, height * width, joints))  # (B, h*w, K), cells in row-major order
        index = first_argmax(flat, axis=1)  # (B, K)
        cells = ops.reshape(ops.arange(height * width, dtype="int32"), (1, height, width, 1))
        at_peak = ops.equal(cells, index[:, None, None, :])  # (B, h, w, K), one cell per joint
        # neighbour differences at every cell; a border cell's missing neighbour is replaced by itself
        right = ops.concatenate([maps[:, :, 1:], maps[:, :, -1:]], axis=2)
        left = ops.concatenate([maps[:, :, :1], maps[:, :, :-1]], axis=2)
        down = ops.concatenate([maps[:, 1:], maps[:, -1:]], axis=1)
        up = ops.concatenate([maps[:, :1], maps[:, :-1]], axis=1)
        dx = ops.sum(ops.where(at_peak, right - left, 0.0), axis=(1, 2))  # (B, K)
        dy = ops.sum(ops.where(at_peak, down - up, 0.0), axis=(1, 2))
        column, row = index % width, index // width
        x = ops.cast(column, maps.dtype) + self._quarter(dx, column, width)
        y = ops.cast(row, maps.dtype) + self._quarter(dy, row, height)
        scale = np.array([(self.input_size[0] - 1) / (width - 1), (self.input_size[1] - 1) / (height - 1)],
                         dtype="float32")
        return ops.stack([x, y], axis=-1) * ops.convert_to_tensor(scale, dtype=maps.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3], 2)

    def get_config(self):
        return {**super().get_config(), "input_size": list(self.input_size)}


@keras.saving.register_keras_serializable(package="kerasgp")
class PresenceScore(keras.layers.Layer):
    """RLE's sigma (B, K, 2) -> (B, K) confidence, `losses.presence_score` (1 - mean sigma)."""

    def call(self, sigma):
        return presence_score(sigma)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])


@keras.saving.register_keras_serializable(package="kerasgp")
class SimCCConfidence(keras.layers.Layer):
    """[x logits, y logits] (B, K, bins) -> (B, K): min over the two axes of the largest softmax
    probability (mmpose's `get_simcc_maximum`, which takes the smaller of the two maxima)."""

    def call(self, inputs):
        x_logits, y_logits = inputs
        return ops.minimum(ops.max(ops.softmax(x_logits, axis=-1), axis=-1),
                           ops.max(ops.softmax(y_logits, axis=-1), axis=-1))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:2])


@keras.saving.register_keras_serializable(package="kerasgp")
class SpatialConfidence(keras.layers.Layer):
    """(B, h, w, K) maps -> (B, K): the peak of each map; with softmax=True the peak of its spatial softmax
    (IPR / DSNT logits), else of the raw map (SimpleBaseline's Gaussian heatmaps, peak 1 at a sure joint)."""

    def __init__(self, softmax: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.softmax = bool(softmax)

    def call(self, maps):
        if self.softmax:  # heads.joint_softmax: the spatial softmax in a form TFLite int8 runs accurately
            return ops.max(joint_softmax(maps), axis=-1)
        return ops.max(maps, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3])

    def get_config(self):
        return {**super().get_config(), "softmax": self.softmax}


@keras.saving.register_keras_serializable(package="kerasgp")
class MirrorImage(keras.layers.Layer):
    """(B, H, W, C) images -> mirrored left-right: exactly the flip of the training augmentation, which maps
    pixel x to W - 1 - x (`kerasgp.data.transforms.crop_matrices`)."""

    def call(self, images):
        return ops.flip(images, axis=2)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="kerasgp")
class FlipTestMerge(keras.layers.Layer):
    """Flip test (SimpleBaseline's, mmpose's `flip_test`): [values predicted on the image, values predicted on
    its mirror] -> their mean in the image's frame. The mirror's joints are swapped left/right
    (`permutation`, the layout's `flip_permutation`), and for keypoints (B, K, 2) in input pixels its x is
    mirrored back, x -> width - 1 - x; with width None the values are per joint (B, K), a confidence.

    mmpose averages the two heatmaps or SimCC vectors, then decodes; here the decoded keypoints are
    averaged. For soft-argmax decoding (RLE's, the best model's) the two agree exactly, the expectation being
    linear in the distribution; for argmax decoding they differ (the mean of two peaks, not the peak of
    the mean)."""

    def __init__(self, permutation, width: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.permutation = [int(p) for p in permutation]
        if sorted(self.permutation) != list(range(len(self.permutation))):
            raise ValueError(f"permutation must reorder 0..K-1; got {self.permutation}")
        self.width = None if width is None else int(width)

    def call(self, inputs):
        direct, mirrored = inputs
        mirrored = ops.take(mirrored, np.asarray(self.permutation, dtype="int32"), axis=1)
        if self.width is not None:
            mirrored = ops.concatenate([(self.width - 1.0) - mirrored[..., :1], mirrored[..., 1:]], axis=-1)
        return (direct + mirrored) * 0.5

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "permutation": self.permutation, "width": self.width}


# ---------------------------------------------------------------------------------------------- deployable model
def _layer_names(model) -> set[str]:
    return {layer.name for layer in model.layers}


def image_input(model):
    """The image input of a pose model or of a training graph built on one (the rank-4 input)."""
    images = [tensor for tensor in model.inputs if len(tensor.shape) == 4]
    if len(images) != 1:
        raise ValueError(f"{model.name!r} must have exactly one image input (batch, height, width, channels); its "
                         f"inputs have shapes {[tuple(t.shape) for t in model.inputs]}")
    if images[0].shape[1] is None or images[0].shape[2] is None:
        raise ValueError(f"{model.name!r} takes images of shape {tuple(images[0].shape)}; decoding to pixels needs "
                         "a fixed input size")
    return images[0]


def deployable_model(model: keras.Model, split_ratio: float | None = None, name: str | None = None) -> keras.Model:
    """The inference-only model of a trained pose model: image -> {"keypoints": (B, K, 2) input pixels,
    "confidence": (B, K)} ("confidence" absent for a DeepPose model without sigma; see the module docstring).

    model: a model from `build_pose_model`, or any Functional graph containing one's layers (the RLE
    training graph of `experiments.training.Plan`, a DSNT model with its heatmap output, ...). Only the
    layers the keypoints and confidence need are kept: the RLE flow, target inputs and heads used only by
    a loss are left out. The layers (and weights) are shared with `model`, not copied.
    Keypoints come from the "coordinates" output when the model has one (DeepPose, IPR, DSNT, decoded
    SimCC), else from argmax decoding of the SimCC vectors or of the heatmaps, as `decode` does in NumPy.
    split_ratio (SimCC only): when None, the model's own (`PoseModel.split_ratio`), else read from the
    vectors' length and the input width."""
    if is_deployed(model):  # already image -> keypoints (a flip-test model, a loaded deployable one)
        return model
    image = image_input(model)
    input_size = (int(image.shape[2]), int(image.shape[1]))
    names = _layer_names(model)
    output = lambda layer_name: model.get_layer(layer_name).output  # noqa: E731
    simcc = SIMCC_X in names and SIMCC_Y in names
    if simcc and split_ratio is None:
        split_ratio = getattr(model, "split_ratio", None) or output(SIMCC_X).shape[-1] / input_size[0]
    if COORDINATES in names:
        keypoints = ToInputPixels(input_size, name=KEYPOINTS)(output(COORDINATES))
    elif simcc:
        keypoints = SimCCDecode(input_size, split_ratio, "argmax", "pixels", name=KEYPOINTS)(
            [output(SIMCC_X), output(SIMCC_Y)])
    elif HEATMAP_MAPS in names:
        keypoints = HeatmapArgmax(input_size, name=KEYPOINTS)(output(HEATMAP_MAPS))
    else:
        raise ValueError(f"{model.name!r} has none of the output layers {[COORDINATES, SIMCC_X, HEATMAP_MAPS]}; "
                         "is it a kerasgp pose model?")
    outputs = {KEYPOINTS: keypoints}
    if SIGMA in names:
        outputs[CONFIDENCE] = PresenceScore(name=CONFIDENCE)(output(SIGMA))
    elif simcc:
        outputs[CONFIDENCE] = SimCCConfidence(name=CONFIDENCE)([output(SIMCC_X), output(SIMCC_Y)])
    elif HEATMAP_MAPS in names:
        outputs[CONFIDENCE] = SpatialConfidence(softmax=False, name=CONFIDENCE)(output(HEATMAP_MAPS))
    elif HEATMAP_LOGITS in names:
        outputs[CONFIDENCE] = SpatialConfidence(softmax=True, name=CONFIDENCE)(output(HEATMAP_LOGITS))
    deployed = keras.Model(image, outputs, name=name or f"{model.name}_deployed")
    deployed.input_size = input_size
    return deployed


def is_deployed(model: keras.Model) -> bool:
    """True for a model whose outputs already are {"keypoints", ...} (a `deployable_model` or a flip-test one)."""
    return isinstance(model.output, dict) and KEYPOINTS in model.output


def with_flip_test(model: keras.Model) -> keras.Model:
    """`flip_test_model` with the left/right pairs of the layout that has the model's joint count (LSP-14,
    MPII-16 or COCO-17): the export and deploy-study commands' --flip-test."""
    deployed = deployable_model(model)
    joints = int(deployed.output[KEYPOINTS].shape[1])
    layouts = [layout for layout in LAYOUTS.values() if layout.num_joints == joints]
    if len(layouts) != 1:
        raise ValueError(f"{model.name!r} predicts {joints} joints; a flip test needs the left/right pairs of a "
                         f"layout, and {sorted(LAYOUTS)} have {[l.num_joints for l in LAYOUTS.values()]}")
    return flip_test_model(deployed, layouts[0].flip_permutation())


def flip_test_model(model: keras.Model, flip_permutation, name: str | None = None) -> keras.Model:
    """Flip test: the deployable form of `model` run on the image and on its mirror, the two predictions
    averaged (`FlipTestMerge`) -> {"keypoints", "confidence"} like `deployable_model`, at twice its cost.

    model: a pose model (or an already deployed one); flip_permutation: the joint layout's
    (`kerasgp.data.LSP14.flip_permutation()`), the left/right swap the training augmentation uses. The
    layers are shared with `model`; the int8 conversion keeps the merge in float (`float_decoding_layers`)."""
    deployed = model if is_deployed(model) else deployable_model(model)
    image = keras.Input(tuple(deployed.inputs[0].shape[1:]), name="image")
    width = int(image.shape[2])
    direct, mirrored = deployed(image), deployed(MirrorImage(name="mirror")(image))
    outputs = {KEYPOINTS: FlipTestMerge(flip_permutation, width, name=KEYPOINTS)([direct[KEYPOINTS], mirrored[KEYPOINTS]])}
    if CONFIDENCE in direct:
        outputs[CONFIDENCE] = FlipTestMerge(flip_permutation, name=CONFIDENCE)([direct[CONFIDENCE], mirrored[CONFIDENCE]])
    flipped = keras.Model(image, outputs, name=name or f"{deployed.name}_flip_test")
    flipped.input_size = (width, int(image.shape[1]))
    return flipped
