"""The supernet of the hardware-aware search (`kerasgp.experiments.search`): at every block position all
candidates joined by an `ArchitectureMix` (ProxylessNAS' mixed operation, DARTS' continuous relaxation) whose
architecture logits alpha the search trains; the expected latency those logits give, and the network they
derive (the argmax candidate at every position)."""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ..backbones.quadranet import OFFICIAL_INITIALIZER, SKIP
from ..layers.quadratic import fresh_initializer, norm_layer, quadra_block
from .search_lut import LatencyTable
from .search_space import SearchSpace, parse_candidate


def softmax(logits, axis=-1) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def expected_latency(logits, lut_matrix) -> float:
    """E[latency] = sum over positions of sum_j softmax(alpha)_j * LUT_j (ProxylessNAS Sec. 3.3.1), in
    the LUT's unit; logits and lut_matrix are (positions, candidates)."""
    logits, lut_matrix = np.asarray(logits, dtype=np.float64), np.asarray(lut_matrix, dtype=np.float64)
    if logits.shape != lut_matrix.shape:
        raise ValueError(f"logits and the LUT matrix must have the same (positions, candidates) shape; got "
                         f"{logits.shape} and {lut_matrix.shape}")
    return float((softmax(logits) * lut_matrix).sum())


def derive_arch(logits, space: SearchSpace) -> list[list[str]]:
    """The derived network: the argmax candidate at every position, as per-stage lists."""
    logits = np.asarray(logits)
    if logits.shape != (space.num_positions, len(space.candidates)):
        raise ValueError(f"logits must be (positions, candidates) = {(space.num_positions, len(space.candidates))}; "
                         f"got {logits.shape}")
    return space.arch([space.candidates[i] for i in logits.argmax(axis=-1)])


@keras.saving.register_keras_serializable(package="kerasgp")
class ArchitectureMix(keras.layers.Layer):
    """A mixed operation (ProxylessNAS Sec. 3.1, DARTS' continuous relaxation): the inputs are the
    outputs of all candidates at one position; the output is sum_j softmax(alpha)_j * input_j.

    alpha = logit_scale * theta, theta the trainable variable (zeros: all candidates start equal); with Adam,
    alpha then moves logit_scale times faster than a plain weight (see `kerasgp.experiments.search`'s
    docstring). latency: the candidates' LUT entries (ms); with latency_weight > 0 the layer adds latency_weight
    * sum_j p_j latency_j / latency_reference to the model's losses: its share of lambda * E[latency] /
    reference.
    """

    def __init__(self, latency=None, latency_weight: float = 0.0, latency_reference: float = 1.0,
                 logit_scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if latency_weight < 0 or latency_reference <= 0 or logit_scale <= 0:
            raise ValueError(f"need latency_weight >= 0, latency_reference > 0 and logit_scale > 0; got "
                             f"{latency_weight}, {latency_reference}, {logit_scale}")
        self.latency = None if latency is None else [float(v) for v in latency]
        self.latency_weight = float(latency_weight)
        self.latency_reference = float(latency_reference)
        self.logit_scale = float(logit_scale)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2 \
                or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"ArchitectureMix takes a list of at least 2 candidate outputs; got {input_shape}")
        shapes = {tuple(s[1:]) for s in input_shape}
        if len(shapes) != 1:
            raise ValueError(f"the candidates' outputs must have one shape; got {sorted(shapes, key=str)}")
        if self.latency is not None and len(self.latency) != len(input_shape):
            raise ValueError(f"latency has {len(self.latency)} entries for {len(input_shape)} candidates")
        self.theta = self.add_weight(name="theta", shape=(len(input_shape),), initializer="zeros")

    def logits(self):
        return self.theta * self.logit_scale

    def call(self, inputs):
        weights = ops.softmax(self.logits())
        if self.latency is not None and self.latency_weight > 0:
            latency = ops.convert_to_tensor(np.asarray(self.latency, dtype="float32"))
            self.add_loss(self.latency_weight * ops.sum(weights * latency) / self.latency_reference)
        out = weights[0] * inputs[0]
        for j in range(1, len(inputs)):
            out = out + weights[j] * inputs[j]
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "latency": self.latency, "latency_weight": self.latency_weight,
                "latency_reference": self.latency_reference, "logit_scale": self.logit_scale}


def _stem(x, width: int, init):
    """kerasgp.backbones.quadranet's stem (4x4 stride-4 conv + norm), norm="batch", same layer names."""
    x = keras.layers.Conv2D(width, 4, strides=4, kernel_initializer=fresh_initializer(init), name="stem_conv")(x)
    return norm_layer("batch", "stem_norm")(x)


def _downsample(x, channels: int, stage: int, init):
    """kerasgp.backbones.quadranet's downsampler between stages (norm + 2x2 stride-2 conv); stage from 2."""
    x = norm_layer("batch", f"down{stage}_norm")(x)
    return keras.layers.Conv2D(channels, 2, strides=2, kernel_initializer=fresh_initializer(init),
                               name=f"down{stage}_conv")(x)


def build_supernet(space: SearchSpace, lut: LatencyTable | None = None, latency_weight: float = 0.0,
                   logit_scale: float = 1.0, num_classes: int = 4, image_size: int | None = None,
                   name: str = "quadranet_supernet", kernel_initializer=None):
    """The over-parameterised network: at every position all candidates (QuadraBlocks, norm="batch";
    skip = the position's input) joined by an ArchitectureMix named "stage{s}_pos{i}_mix" (s from 1, as
    the backbone's stages); a pooled linear classifier on the last stage. With `lut`, each mix adds its share of
    latency_weight * E[latency] / (the all-k7e4 blocks' latency) to the losses. kernel_initializer: of the
    blocks' convs, default the backbone's (the official truncated normal)."""
    # One fresh instance per weight (quadra_block copies its own): an unseeded Keras initializer instance
    # has one fixed seed, so a shared one would draw equal weights for equal shapes.
    init = kernel_initializer or OFFICIAL_INITIALIZER
    size = image_size or space.input_size
    matrix = lut.matrix(space) if lut is not None else None
    reference = 1.0
    if matrix is not None:
        heaviest = space.candidates.index("k7e4") if "k7e4" in space.candidates else int(matrix[0].argmax())
        reference = float(matrix[:, heaviest].sum()) or 1.0
    inputs = keras.Input((size, size, 3), name="image")
    x = _stem(inputs, space.width, init)
    position = 0
    for stage, count in enumerate(space.positions):
        if stage:
            x = _downsample(x, space.width * 2 ** stage, stage + 1, init)
        for index in range(count):
            outputs = []
            for code in space.candidates:
                if code == SKIP:
                    outputs.append(x)
                else:
                    kernel_size, expansion = parse_candidate(code)
                    outputs.append(quadra_block(x, kernel_size, expansion, norm="batch", kernel_initializer=init,
                                                name=f"stage{stage + 1}_pos{index}_{code}"))
            latency = None if matrix is None else matrix[position].tolist()
            x = ArchitectureMix(latency, latency_weight, reference, logit_scale,
                                name=f"stage{stage + 1}_pos{index}_mix")(outputs)
            position += 1
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)


def mix_layers(model) -> list:
    return [layer for layer in model.layers if isinstance(layer, ArchitectureMix)]


def architecture_logits(model) -> np.ndarray:
    """(positions, candidates) alpha of a supernet, positions in network order."""
    layers = mix_layers(model)
    if not layers:
        raise ValueError(f"{model.name!r} has no ArchitectureMix layers; build it with build_supernet")
    return np.stack([ops.convert_to_numpy(layer.logits()) for layer in layers])

