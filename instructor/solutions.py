"""Solutions of the lessons' exercises, and the typical wrong answers each check must catch.

Not for learners: the lessons hold the stubs. `python -m kerasgp exercises source COURSE` puts these
bodies into the lessons between nbgrader's solution markers (README.md beside this file);
`tests/test_exercises.py` runs every check on each solution (it must pass) and on each wrong answer (it
must fail, saying what it says in WRONG).
"""
from __future__ import annotations

import numpy as np


# --------------------------------------------------------------------------------------------- lesson 00
def crop_matrix(center, scale, output_size):
    width, height = output_size
    sx, sy = width / scale[0], height / scale[1]
    return np.array([[sx, 0.0, (width - 1) / 2 - sx * center[0]], [0.0, sy, (height - 1) / 2 - sy * center[1]]])


def _half_pixel_off(center, scale, output_size):
    width, height = output_size
    sx, sy = width / scale[0], height / scale[1]
    return np.array([[sx, 0.0, width / 2 - sx * center[0]], [0.0, sy, height / 2 - sy * center[1]]])


def _inverted_scale(center, scale, output_size):
    width, height = output_size
    sx, sy = scale[0] / width, scale[1] / height
    return np.array([[sx, 0.0, (width - 1) / 2 - sx * center[0]], [0.0, sy, (height - 1) / 2 - sy * center[1]]])


def _centre_not_scaled(center, scale, output_size):
    width, height = output_size
    sx, sy = width / scale[0], height / scale[1]
    return np.array([[sx, 0.0, (width - 1) / 2 - center[0]], [0.0, sy, (height - 1) / 2 - center[1]]])


# --------------------------------------------------------------------------------------------- lesson 01
def pckh(pred, gt, visible, head_size, threshold):
    has_head = np.isfinite(head_size) & (np.nan_to_num(head_size) > 0)
    counted = (visible > 0) & has_head[:, None]
    error = np.linalg.norm(pred - gt, axis=-1)
    correct = (error <= threshold * np.nan_to_num(head_size)[:, None]) & counted
    return 100.0 * correct.sum() / counted.sum()


def _every_person(pred, gt, visible, head_size, threshold):
    counted = visible > 0
    with np.errstate(invalid="ignore"):
        correct = (np.linalg.norm(pred - gt, axis=-1) <= threshold * head_size[:, None]) & counted
    return 100.0 * correct.sum() / counted.sum()


def _strict(pred, gt, visible, head_size, threshold):
    has_head = np.isfinite(head_size) & (np.nan_to_num(head_size) > 0)
    counted = (visible > 0) & has_head[:, None]
    correct = (np.linalg.norm(pred - gt, axis=-1) < threshold * np.nan_to_num(head_size)[:, None]) & counted
    return 100.0 * correct.sum() / counted.sum()


def _fraction(pred, gt, visible, head_size, threshold):
    return pckh(pred, gt, visible, head_size, threshold) / 100


# --------------------------------------------------------------------------------------------- lesson 02
def residual_timestamps(units, convs_per_unit):
    lengths = [2 + convs_per_unit * crossed for crossed in range(units + 1)]
    return lengths, 2 ** units


def _without_stem_and_fc(units, convs_per_unit):
    return [convs_per_unit * crossed for crossed in range(units + 1)], 2 ** units


def _one_path_per_timestamp(units, convs_per_unit):
    return [2 + convs_per_unit * crossed for crossed in range(units + 1)], units + 1


def _ends_only(units, convs_per_unit):
    return sorted({2, 2 + convs_per_unit * units}), 2 ** units


# --------------------------------------------------------------------------------------------- lesson 03
def masked_residual_gradient(upstream, fraction):
    shared = int(fraction * upstream.shape[-1] + 0.5)
    gradient = upstream.copy()
    gradient[..., shared:] = 0.0
    return gradient


def _resnet_gradient(upstream, fraction):  # every channel, as a plain add
    return upstream.copy()


def _rounded_down(upstream, fraction):
    shared = int(fraction * upstream.shape[-1])
    gradient = upstream.copy()
    gradient[..., shared:] = 0.0
    return gradient


def _last_channels(upstream, fraction):
    shared = int(fraction * upstream.shape[-1] + 0.5)
    gradient = np.zeros_like(upstream)
    if shared:
        gradient[..., -shared:] = upstream[..., -shared:]
    return gradient


# --------------------------------------------------------------------------------------------- lesson 04
def csp_fusion_last(x, part_ratio, block, transition):
    channels = x.shape[-1]
    block_width = int(part_ratio * channels + 0.5)
    cross, part = x[..., :channels - block_width], x[..., channels - block_width:]
    return np.concatenate([transition(block(part)), cross], axis=-1)


def _cross_first(x, part_ratio, block, transition):
    channels = x.shape[-1]
    block_width = int(part_ratio * channels + 0.5)
    cross, part = x[..., :channels - block_width], x[..., channels - block_width:]
    return np.concatenate([cross, transition(block(part))], axis=-1)


def _fusion_first(x, part_ratio, block, transition):
    channels = x.shape[-1]
    block_width = int(part_ratio * channels + 0.5)
    cross, part = x[..., :channels - block_width], x[..., channels - block_width:]
    return transition(np.concatenate([block(part), cross], axis=-1))


def _part_first(x, part_ratio, block, transition):
    block_width = int(part_ratio * x.shape[-1] + 0.5)
    part, cross = x[..., :block_width], x[..., block_width:]
    return np.concatenate([transition(block(part)), cross], axis=-1)


# --------------------------------------------------------------------------------------------- lesson 05
def concat_widths(design, modules, stem, growth, convs):
    widths, width_in = [], stem
    for _ in range(modules):
        widths.append(width_in + convs * growth)
        width_in = stem if design == "per_module" else widths[-1]
    return widths


def _convs_only(design, modules, stem, growth, convs):
    return [convs * growth] * modules


def _planned_like_per_module(design, modules, stem, growth, convs):
    return [stem + convs * growth] * modules


# --------------------------------------------------------------------------------------------- lesson 06
def depthwise_memory_access(h, w, c, k, stride):
    out_h, out_w = -(-h // stride), -(-w // stride)  # 'same' padding rounds up
    return h * w * c + out_h * out_w * c + k * k * c


def _no_weights(h, w, c, k, stride):
    return h * w * c + -(-h // stride) * -(-w // stride) * c


def _dense_weights(h, w, c, k, stride):
    return h * w * c + -(-h // stride) * -(-w // stride) * c + k * k * c * c


def _floor_output(h, w, c, k, stride):
    return h * w * c + (h // stride) * (w // stride) * c + k * k * c


# --------------------------------------------------------------------------------------------- lesson 07
def channel_shuffle(x, groups):
    *outer, channels = x.shape
    y = x.reshape(*outer, groups, channels // groups)
    return np.swapaxes(y, -1, -2).reshape(x.shape)


def _reshape_only(x, groups):
    *outer, channels = x.shape
    return x.reshape(*outer, groups, channels // groups).reshape(x.shape)


def _inverse(x, groups):
    *outer, channels = x.shape
    return np.swapaxes(x.reshape(*outer, channels // groups, groups), -1, -2).reshape(x.shape)


def _whole_tensor(x, groups):  # groups over the flattened tensor, not the channel axis
    return x.reshape(groups, -1).T.reshape(x.shape)


# --------------------------------------------------------------------------------------------- lesson 08
def quadratic_neuron(x, a, b, c, bias):
    return ((x @ a.T) * (x @ b.T)).sum(axis=1) + x @ c + bias


def _summed_first(x, a, b, c, bias):
    return (x @ a.sum(0)) * (x @ b.sum(0)) + x @ c + bias


def _no_linear_term(x, a, b, c, bias):
    return ((x @ a.T) * (x @ b.T)).sum(axis=1) + bias


def _elementwise(x, a, b, c, bias):
    return (x * x) @ (a * b).sum(0) + x @ c + bias


# --------------------------------------------------------------------------------------------- lesson 09
def expected_latency(logits, table):
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return float((p * table).sum())


def _one_softmax(logits, table):
    p = np.exp(logits - logits.max())
    return float((p / p.sum() * table).sum())


def _over_positions(logits, table):
    p = np.exp(logits - logits.max(axis=0, keepdims=True))
    return float((p / p.sum(axis=0, keepdims=True) * table).sum())


def _argmax_network(logits, table):
    return float(table[np.arange(len(table)), logits.argmax(axis=1)].sum())


# --------------------------------------------------------------------------------------------- lesson 10
def simcc_soft_argmax(logits, split_ratio):
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return (p * np.arange(logits.shape[-1])).sum(axis=-1) / split_ratio


def _unstable(logits, split_ratio):
    with np.errstate(over="ignore", invalid="ignore"):
        p = np.exp(logits)
        p /= p.sum(axis=-1, keepdims=True)
    return (p * np.arange(logits.shape[-1])).sum(axis=-1) / split_ratio


def _in_bins(logits, split_ratio):
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return (p * np.arange(logits.shape[-1])).sum(axis=-1)


def _argmax(logits, split_ratio):
    return np.argmax(logits, axis=-1) / split_ratio


# --------------------------------------------------------------------------------------------- lesson 11
def presence(keypoints, visibility, input_size):
    width, height = input_size
    x, y = keypoints[..., 0], keypoints[..., 1]
    inside = (x >= 0) & (y >= 0) & (x <= width - 1) & (y <= height - 1)
    return ((visibility > 0) & inside).astype(np.float32)


def _labelled_only(keypoints, visibility, input_size):
    return (visibility > 0).astype(np.float32)


def _inside_only(keypoints, visibility, input_size):
    width, height = input_size
    x, y = keypoints[..., 0], keypoints[..., 1]
    return ((x >= 0) & (y >= 0) & (x <= width - 1) & (y <= height - 1)).astype(np.float32)


def _up_to_width(keypoints, visibility, input_size):
    width, height = input_size
    x, y = keypoints[..., 0], keypoints[..., 1]
    return ((visibility > 0) & (x >= 0) & (y >= 0) & (x <= width) & (y <= height)).astype(np.float32)


# --------------------------------------------------------------------------------------------- lesson 12
def affine_quantise(x, lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255
    zero_point = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    q = np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)
    return q, scale, zero_point


def _range_without_zero(x, lo, hi):
    scale = (hi - lo) / 255
    zero_point = int(np.round(-128 - lo / scale))
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8), scale, zero_point


def _256_steps(x, lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 256
    zero_point = int(np.round(-128 - lo / scale))
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8), scale, zero_point


def _no_clip(x, lo, hi):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255
    zero_point = int(np.round(-128 - lo / scale))
    return (np.round(x / scale) + zero_point).astype(np.int8), scale, zero_point


def int8_dot(q_x, scale_x, zero_x, q_w, scale_w):
    total = np.sum((q_x.astype(np.int32) - zero_x) * q_w.astype(np.int32))
    return scale_x * scale_w * float(total)


def _no_zero_point(q_x, scale_x, zero_x, q_w, scale_w):
    return scale_x * scale_w * float(np.sum(q_x.astype(np.int32) * q_w.astype(np.int32)))


def _int8_accumulator(q_x, scale_x, zero_x, q_w, scale_w):
    with np.errstate(over="ignore"):
        return scale_x * scale_w * float(np.sum((q_x - np.int8(zero_x)) * q_w, dtype=np.int8))


SOLUTIONS = {"00.crop_matrix": crop_matrix, "05.concat_widths": concat_widths, "01.pckh": pckh, "02.residual_timestamps": residual_timestamps,
             "03.masked_residual_gradient": masked_residual_gradient, "04.csp_fusion_last": csp_fusion_last,
             "06.depthwise_memory_access": depthwise_memory_access, "07.channel_shuffle": channel_shuffle,
             "08.quadratic_neuron": quadratic_neuron, "09.expected_latency": expected_latency,
             "10.simcc_soft_argmax": simcc_soft_argmax, "11.presence": presence,
             "12.affine_quantise": affine_quantise, "12.int8_dot": int8_dot}
# exercise -> [(a wrong answer, words its verdict must contain)]
WRONG = {
    "00.crop_matrix": [(_half_pixel_off, "(W - 1) / 2"), (_inverted_scale, "not its inverse"),
                       (_centre_not_scaled, "The translation")],
    "01.pckh": [(_every_person, "must be left out of the count"), (_strict, "≤, not <"),
                (_fraction, "a percentage")],
    "02.residual_timestamps": [(_without_stem_and_fc, "the stem itself and the fc"),
                               (_one_path_per_timestamp, "2 ** units"), (_ends_only, "not only the two ends")],
    "03.masked_residual_gradient": [(_resnet_gradient, "That is ResNet's add"), (_rounded_down, "rounded half up"),
                                    (_last_channels, "the first channels")],
    "04.csp_fusion_last": [(_cross_first, "The block path comes first"), (_fusion_first, "That is fusion first"),
                           (_part_first, "The cross part is the first")],
    "05.concat_widths": [(_convs_only, "the module's input too"), (_planned_like_per_module, "whole concat")],
    "06.depthwise_memory_access": [(_no_weights, "The weights are read too"), (_dense_weights, "one k×k filter"),
                                   (_floor_output, "rounds the output size up")],
    "08.quadratic_neuron": [(_summed_first, "cross terms"), (_no_linear_term, "linear term"),
                            (_elementwise, "element-wise product")],
    "09.expected_latency": [(_one_softmax, "its own softmax"), (_over_positions, "not over the positions"),
                            (_argmax_network, "no gradient")],
    "10.simcc_soft_argmax": [(_unstable, "subtract each row's maximum"), (_in_bins, "divide by the split ratio"),
                             (_argmax, "That is argmax")],
    "11.presence": [(_labelled_only, "check x and y too"), (_inside_only, "no position to be present"),
                    (_up_to_width, "Pixel centres run from 0 to W - 1")],
    "07.channel_shuffle": [(_reshape_only, "the reshape alone moves nothing"), (_inverse, "the inverse shuffle"),
                           (_whole_tensor, "should come out as")],
    "12.affine_quantise": [(_range_without_zero, "The range must hold 0"), (_256_steps, "255 steps"),
                           (_no_clip, "must clip to -128 or 127")],
    "12.int8_dot": [(_no_zero_point, "Subtract the input's zero point"), (_int8_accumulator, "overflow")],
}
