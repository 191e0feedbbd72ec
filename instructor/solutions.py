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


def flip_keypoints(keypoints, visibility, width, flip_pairs):
    flipped = np.array(keypoints, dtype=np.float64)
    flipped[:, 0] = (width - 1) - flipped[:, 0]
    order = np.arange(len(flipped))
    for a, b in flip_pairs:
        order[a], order[b] = b, a
    return flipped[order], np.asarray(visibility)[order]


def _no_swap(keypoints, visibility, width, flip_pairs):  # mirrored, labels left in place
    flipped = np.array(keypoints, dtype=np.float64)
    flipped[:, 0] = (width - 1) - flipped[:, 0]
    return flipped, np.asarray(visibility)


def _width_minus_x(keypoints, visibility, width, flip_pairs):  # x -> W - x: one pixel off
    flipped = np.array(keypoints, dtype=np.float64)
    flipped[:, 0] = width - flipped[:, 0]
    order = np.arange(len(flipped))
    for a, b in flip_pairs:
        order[a], order[b] = b, a
    return flipped[order], np.asarray(visibility)[order]


def _visibility_kept(keypoints, visibility, width, flip_pairs):  # coordinates swapped, flags not
    flipped = np.array(keypoints, dtype=np.float64)
    flipped[:, 0] = (width - 1) - flipped[:, 0]
    order = np.arange(len(flipped))
    for a, b in flip_pairs:
        order[a], order[b] = b, a
    return flipped[order], np.asarray(visibility)


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


def gaussian_heatmap(center, map_size, sigma):
    width, height = map_size
    x, y = center
    columns, rows = np.arange(width), np.arange(height)
    squared = (columns[None, :] - x) ** 2 + (rows[:, None] - y) ** 2  # (h, w)
    return np.exp(-squared / (2 * sigma**2))


def _no_two(center, map_size, sigma):  # exp(-d^2 / sigma^2)
    width, height = map_size
    columns, rows = np.arange(width), np.arange(height)
    squared = (columns[None, :] - center[0]) ** 2 + (rows[:, None] - center[1]) ** 2
    return np.exp(-squared / sigma**2)


def _x_y_swapped(center, map_size, sigma):  # rows indexed by x
    width, height = map_size
    columns, rows = np.arange(width), np.arange(height)
    squared = (columns[:, None] - center[0]) ** 2 + (rows[None, :] - center[1]) ** 2  # (w, h)
    return np.exp(-squared / (2 * sigma**2))


def _sums_to_one(center, map_size, sigma):  # a distribution, not a target of peak 1
    width, height = map_size
    columns, rows = np.arange(width), np.arange(height)
    squared = (columns[None, :] - center[0]) ** 2 + (rows[:, None] - center[1]) ** 2
    heatmap = np.exp(-squared / (2 * sigma**2))
    return heatmap / heatmap.sum()


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


def dense_block_paths(num_layers, convs_per_layer):
    lengths = [2 + convs_per_layer * crossed for crossed in range(num_layers + 1)]
    return lengths, 2 ** num_layers


def _one_path_per_length(num_layers, convs_per_layer):  # VoVNet's one-shot aggregation
    return [2 + convs_per_layer * crossed for crossed in range(num_layers + 1)], num_layers + 1


def _ends_only_02(num_layers, convs_per_layer):  # skip all layers, or cross all of them
    return sorted({2, 2 + convs_per_layer * num_layers}), 2 ** num_layers


def _one_conv_per_layer(num_layers, convs_per_layer):  # the bottleneck's 1x1 not counted
    return [2 + crossed for crossed in range(num_layers + 1)], 2 ** num_layers


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


def darknet_shortcut(block_output, identity):
    stride = identity.shape[1] // block_output.shape[1]
    sampled = identity[:, ::stride, ::stride, :]
    shared = min(block_output.shape[-1], identity.shape[-1])
    out = block_output.copy()
    out[..., :shared] += sampled[..., :shared]
    return out


def _identity_width(block_output, identity):  # zero-pad the narrower tensor: the identity's extra channels kept
    stride = identity.shape[1] // block_output.shape[1]
    sampled = identity[:, ::stride, ::stride, :]
    channels = max(block_output.shape[-1], identity.shape[-1])
    out = np.zeros(block_output.shape[:-1] + (channels,), block_output.dtype)
    out[..., :block_output.shape[-1]] += block_output
    out[..., :identity.shape[-1]] += sampled
    return out


def _averaged(block_output, identity):  # average pooling instead of darknet's sampling
    batch, height, width, channels = block_output.shape
    stride = identity.shape[1] // height
    pooled = identity.reshape(batch, height, stride, width, stride, -1).mean(axis=(2, 4))
    shared = min(channels, identity.shape[-1])
    out = block_output.copy()
    out[..., :shared] += pooled[..., :shared]
    return out


def _max_pooled(block_output, identity):  # a pool of size s (the maximum of each s x s cell), not 1
    batch, height, width, channels = block_output.shape
    stride = identity.shape[1] // height
    pooled = identity.reshape(batch, height, stride, width, stride, -1).max(axis=(2, 4))
    shared = min(channels, identity.shape[-1])
    out = block_output.copy()
    out[..., :shared] += pooled[..., :shared]
    return out


def _cropped(block_output, identity):  # the identity's top-left corner, not a sample of the whole map
    height, width, channels = block_output.shape[1:]
    shared = min(channels, identity.shape[-1])
    out = block_output.copy()
    out[..., :shared] += identity[:, :height, :width, :shared]
    return out


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


def csp_stage_macs(h, w, c, units):
    half = c // 2
    plain = h * w * units * 2 * 9 * c * c             # two 3x3 convs per basic unit, c -> c
    block = h * w * units * 2 * 9 * half * half        # the same units on the c/2-channel part
    transitions = h * w * (half * half + c * c)        # 1x1 c/2 -> c/2 on the block path, 1x1 c -> c after the concat
    return plain, block + transitions


def _stage_no_transitions(h, w, c, units):
    half = c // 2
    return h * w * units * 18 * c * c, h * w * units * 18 * half * half


def _stage_block_width_not_split(h, w, c, units):  # the part has c/2 channels, but the convs still write c
    half = c // 2
    return h * w * units * 18 * c * c, h * w * (units * 18 * half * c + half * half + c * c)


def _stage_fusion_first(h, w, c, units):  # one transition, after the concatenation
    half = c // 2
    return h * w * units * 18 * c * c, h * w * (units * 18 * half * half + c * c)


def _stage_flops(h, w, c, units):
    plain, csp = csp_stage_macs(h, w, c, units)
    return 2 * plain, 2 * csp


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


def stem_paths(design, k, convs):
    if design == "per_module":  # stem, the k transitions, fc; longest: every conv and transition
        return k + 2, (convs + 1) * k + 2
    if design == "planned":     # stem, the last transition, fc; longest: every conv
        return 3, convs * k + 3
    return 4, convs * k + 4     # elan: stem, a 1x1 branch, transition, fc; longest: the whole chain


def _paths_without_ends(design, k, convs):  # the stem and the fc left out
    shortest, longest = stem_paths(design, k, convs)
    return shortest - 2, longest - 2


def _paths_transitions_in_parallel(design, k, convs):  # per-module treated like planned
    if design == "elan":
        return 4, convs * k + 4
    return 3, (convs + 1) * k + 2 if design == "per_module" else convs * k + 3


def _paths_elan_without_branch(design, k, convs):
    if design == "elan":
        return 3, convs * k + 3
    return stem_paths(design, k, convs)


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


def group_conv_memory_access(h, w, c1, c2, groups):
    return h * w * (c1 + c2) + c1 * c2 // groups  # input, output, and c2 filters of c1/g weights each


def _group_weights_not_divided(h, w, c1, c2, groups):
    return h * w * (c1 + c2) + c1 * c2


def _group_weights_times_groups(h, w, c1, c2, groups):
    return h * w * (c1 + c2) + c1 * c2 * groups


def _group_output_twice(h, w, c1, c2, groups):  # the output written, then read again
    return h * w * (c1 + 2 * c2) + c1 * c2 // groups


def _group_flops(h, w, c1, c2, groups):
    return h * w * c1 * c2 // groups


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


def shufflenet_unit(x, branch, block_order):
    channels = x.shape[-1]
    if block_order == "megvii":  # the shuffle folded into an even/odd split
        return np.concatenate([x[..., 0::2], branch(x[..., 1::2])], axis=-1)
    half = channels // 2
    y = np.concatenate([x[..., :half], branch(x[..., half:])], axis=-1)
    *outer, _ = y.shape
    return np.swapaxes(y.reshape(*outer, 2, half), -1, -2).reshape(y.shape)  # ChannelShuffle(2)


def _unit_no_shuffle(x, branch, block_order):
    if block_order == "megvii":
        return shufflenet_unit(x, branch, block_order)
    half = x.shape[-1] // 2
    return np.concatenate([x[..., :half], branch(x[..., half:])], axis=-1)


def _unit_branch_first(x, branch, block_order):  # concat [branch, kept]
    channels = x.shape[-1]
    if block_order == "megvii":
        return np.concatenate([branch(x[..., 1::2]), x[..., 0::2]], axis=-1)
    half = channels // 2
    y = np.concatenate([branch(x[..., half:]), x[..., :half]], axis=-1)
    return np.swapaxes(y.reshape(*y.shape[:-1], 2, half), -1, -2).reshape(y.shape)


def _unit_branch_on_first_half(x, branch, block_order):
    channels = x.shape[-1]
    if block_order == "megvii":
        return np.concatenate([x[..., 1::2], branch(x[..., 0::2])], axis=-1)
    half = channels // 2
    y = np.concatenate([x[..., half:], branch(x[..., :half])], axis=-1)
    return np.swapaxes(y.reshape(*y.shape[:-1], 2, half), -1, -2).reshape(y.shape)


def _unit_torchvision_always(x, branch, block_order):  # the block order ignored
    return shufflenet_unit(x, branch, "torchvision")


# --------------------------------------------------------------------------------------------- lesson 08
def quadratic_neuron(x, a, b, c, bias):
    return ((x @ a.T) * (x @ b.T)).sum(axis=1) + x @ c + bias


def _summed_first(x, a, b, c, bias):
    return (x @ a.sum(0)) * (x @ b.sum(0)) + x @ c + bias


def _no_linear_term(x, a, b, c, bias):
    return ((x @ a.T) * (x @ b.T)).sum(axis=1) + bias


def _elementwise(x, a, b, c, bias):
    return (x * x) @ (a * b).sum(0) + x @ c + bias


def xor_weights():
    a = np.array([1.0, 0.0])
    b = np.array([0.0, -2.0])  # (a·x)(b·x) = -2 x1 x2
    c = np.array([1.0, 1.0])
    bias = -0.5  # logits -0.5, 0.5, 0.5, -0.5: x1 + x2 - 2 x1 x2 - 0.5
    return a, b, c, bias


def _linear_neuron():
    return np.zeros(2), np.zeros(2), np.array([1.0, 1.0]), -0.5


def _weak_interaction():
    return np.array([1.0, 0.0]), np.array([0.0, -1.0]), np.array([1.0, 1.0]), -0.5


def _no_bias():
    return np.array([1.0, 0.0]), np.array([0.0, -2.0]), np.array([1.0, 1.0]), 0.0


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


def derived_latency(logits, table, fixed_ms):
    chosen = logits.argmax(axis=1)  # the derived network: the largest alpha at every position
    return fixed_ms + table[np.arange(len(table)), chosen].sum()


def _blocks_only(logits, table, fixed_ms):
    return table[np.arange(len(table)), logits.argmax(axis=1)].sum()


def _expected_instead(logits, table, fixed_ms):
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return fixed_ms + (p * table).sum()


def _argmax_over_positions(logits, table, fixed_ms):
    return fixed_ms + table[np.arange(len(table)), logits.argmax(axis=0)].sum()


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


def heatmap_decode(heatmaps, input_size):
    h, w, joints = heatmaps.shape
    keypoints = np.zeros((joints, 2))
    for k in range(joints):
        m = heatmaps[:, :, k]
        row, col = np.unravel_index(m.argmax(), m.shape)  # rows are y, columns x
        x, y = float(col), float(row)
        if 0 < col < w - 1:  # a quarter cell toward the higher neighbour, none at the border
            x += 0.25 * np.sign(m[row, col + 1] - m[row, col - 1])
        if 0 < row < h - 1:
            y += 0.25 * np.sign(m[row + 1, col] - m[row - 1, col])
        keypoints[k] = x * (input_size[0] - 1) / (w - 1), y * (input_size[1] - 1) / (h - 1)
    return keypoints


def _slipped(heatmaps, input_size, swap=False, direction=1.0, at_border=False, on_tie=False, stride=False):
    # the solution with one slip switched on
    h, w, joints = heatmaps.shape
    keypoints = np.zeros((joints, 2))
    for k in range(joints):
        m = heatmaps[:, :, k]
        row, col = np.unravel_index(m.argmax(), m.shape)
        x, y = float(col), float(row)
        dx = m[row, min(col + 1, w - 1)] - m[row, max(col - 1, 0)]
        dy = m[min(row + 1, h - 1), col] - m[max(row - 1, 0), col]
        sign = (lambda d: 1.0 if d > 0 else -1.0) if on_tie else np.sign
        if at_border or 0 < col < w - 1:
            x += direction * 0.25 * sign(dx)
        if at_border or 0 < row < h - 1:
            y += direction * 0.25 * sign(dy)
        if swap:
            x, y = y, x
        scale = (input_size[0] / w, input_size[1] / h) if stride else ((input_size[0] - 1) / (w - 1), (input_size[1] - 1) / (h - 1))
        keypoints[k] = x * scale[0], y * scale[1]
    return keypoints


def _swapped(heatmaps, input_size):
    return _slipped(heatmaps, input_size, swap=True)  # (row, column) taken for (x, y)


def _toward_lower(heatmaps, input_size):
    return _slipped(heatmaps, input_size, direction=-1.0)


def _shift_at_border(heatmaps, input_size):
    return _slipped(heatmaps, input_size, at_border=True)  # neighbours clipped, but shifted anyway


def _shift_on_tie(heatmaps, input_size):
    return _slipped(heatmaps, input_size, on_tie=True)  # "right > left, else left"


def _stride_scale(heatmaps, input_size):
    return _slipped(heatmaps, input_size, stride=True)  # W / w pixels per cell


def _unravel_by_height(heatmaps, input_size):
    h, w, joints = heatmaps.shape
    keypoints = np.zeros((joints, 2))
    for k in range(joints):
        row, col = divmod(heatmaps[:, :, k].argmax(), h)  # the rows are w cells long, not h
        keypoints[k] = col * (input_size[0] - 1) / (w - 1), row * (input_size[1] - 1) / (h - 1)
    return keypoints


def _plain_argmax(heatmaps, input_size):
    h, w, joints = heatmaps.shape
    index = heatmaps.reshape(h * w, joints).argmax(axis=0)
    return np.stack([index % w * (input_size[0] - 1) / (w - 1), index // w * (input_size[1] - 1) / (h - 1)], -1)


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


def cosine_logits(tokens, kernel, beta):
    unit_tokens = tokens / np.sqrt(np.maximum((tokens**2).sum(axis=1, keepdims=True), 1e-12))
    unit_columns = kernel / np.sqrt(np.maximum((kernel**2).sum(axis=0, keepdims=True), 1e-12))  # one per bin
    return beta * unit_tokens @ unit_columns


def _unit_rows(tokens):
    return tokens / np.sqrt(np.maximum((tokens**2).sum(axis=1, keepdims=True), 1e-12))


def _raw_weights(tokens, kernel, beta):
    return beta * _unit_rows(tokens) @ kernel


def _rows_of_the_kernel(tokens, kernel, beta):
    return beta * _unit_rows(tokens) @ _unit_rows(kernel)  # normalises each of the d rows, not each bin's column


def _no_beta(tokens, kernel, beta):
    return _unit_rows(tokens) @ _unit_rows(kernel.T).T


def _no_epsilon(tokens, kernel, beta):
    return beta * (tokens / np.linalg.norm(tokens, axis=1, keepdims=True)) @ (kernel / np.linalg.norm(kernel, axis=0))


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


SOLUTIONS = {
    "00.crop_matrix": crop_matrix,
    "00.flip_keypoints": flip_keypoints,
    "01.gaussian_heatmap": gaussian_heatmap,
    "01.pckh": pckh,
    "02.dense_block_paths": dense_block_paths,
    "02.residual_timestamps": residual_timestamps,
    "03.darknet_shortcut": darknet_shortcut,
    "03.masked_residual_gradient": masked_residual_gradient,
    "04.csp_fusion_last": csp_fusion_last,
    "04.csp_stage_macs": csp_stage_macs,
    "05.concat_widths": concat_widths,
    "05.stem_paths": stem_paths,
    "06.depthwise_memory_access": depthwise_memory_access,
    "06.group_conv_memory_access": group_conv_memory_access,
    "07.channel_shuffle": channel_shuffle,
    "07.shufflenet_unit": shufflenet_unit,
    "08.quadratic_neuron": quadratic_neuron,
    "08.xor_weights": xor_weights,
    "09.derived_latency": derived_latency,
    "09.expected_latency": expected_latency,
    "10.heatmap_decode": heatmap_decode,
    "10.simcc_soft_argmax": simcc_soft_argmax,
    "11.cosine_logits": cosine_logits,
    "11.presence": presence,
    "12.affine_quantise": affine_quantise,
    "12.int8_dot": int8_dot,
}
# exercise -> [(a wrong answer, words its verdict must contain)]
WRONG = {
    "00.crop_matrix": [
        (_half_pixel_off, "(W - 1) / 2"),
        (_inverted_scale, "not its inverse"),
        (_centre_not_scaled, "The translation"),
    ],
    "00.flip_keypoints": [
        (_no_swap, "the labels are not swapped"),
        (_width_minus_x, "(W - 1) - x"),
        (_visibility_kept, "the visibility stayed in place"),
    ],
    "01.gaussian_heatmap": [
        (_no_two, "without the 2"),
        (_x_y_swapped, "Rows are y and columns x"),
        (_sums_to_one, "not normalised to sum 1"),
    ],
    "01.pckh": [(_every_person, "must be left out of the count"), (_strict, "≤, not <"), (_fraction, "a percentage")],
    "02.dense_block_paths": [
        (_one_path_per_length, "VoVNet's one-shot aggregation"),
        (_ends_only_02, "not only the two ends"),
        (_one_conv_per_layer, "adds its 2 convs"),
    ],
    "02.residual_timestamps": [
        (_without_stem_and_fc, "the stem itself and the fc"),
        (_one_path_per_timestamp, "2 ** units"),
        (_ends_only, "not only the two ends"),
    ],
    "03.darknet_shortcut": [
        (_identity_width, "extra channels are dropped"),
        (_averaged, "Darknet samples it"),
        (_max_pooled, "A 1×1 pool of stride s looks at one pixel"),
        (_cropped, "crops the identity's top-left corner"),
    ],
    "03.masked_residual_gradient": [
        (_resnet_gradient, "That is ResNet's add"),
        (_rounded_down, "rounded half up"),
        (_last_channels, "the first channels"),
    ],
    "04.csp_fusion_last": [
        (_cross_first, "The block path comes first"),
        (_fusion_first, "That is fusion first"),
        (_part_first, "The cross part is the first"),
    ],
    "04.csp_stage_macs": [
        (_stage_no_transitions, "two 1×1 transitions"),
        (_stage_block_width_not_split, "a quarter of 9·c²"),
        (_stage_fusion_first, "alone is fusion first"),
        (_stage_flops, "count it once"),
    ],
    "05.concat_widths": [(_convs_only, "the module's input too"), (_planned_like_per_module, "whole concat")],
    "05.stem_paths": [
        (_paths_without_ends, "the stem itself and the fc head"),
        (_paths_transitions_in_parallel, "crosses all k of them"),
        (_paths_elan_without_branch, "two 1×1 branches"),
    ],
    "06.depthwise_memory_access": [
        (_no_weights, "The weights are read too"),
        (_dense_weights, "one k×k filter"),
        (_floor_output, "rounds the output size up"),
    ],
    "06.group_conv_memory_access": [
        (_group_weights_not_divided, "c1·c2/g weights, not c1·c2."),
        (_group_weights_times_groups, "not c1·c2·g"),
        (_group_output_twice, "Each feature map counts once"),
        (_group_flops, "That is the FLOPs"),
    ],
    "07.channel_shuffle": [
        (_reshape_only, "the reshape alone moves nothing"),
        (_inverse, "the inverse shuffle"),
        (_whole_tensor, "should come out as"),
    ],
    "07.shufflenet_unit": [
        (_unit_no_shuffle, "The channel shuffle is missing"),
        (_unit_branch_first, "The kept half comes first"),
        (_unit_branch_on_first_half, "The branch runs on the second half"),
        (_unit_torchvision_always, "That is torchvision's order"),
    ],
    "08.quadratic_neuron": [
        (_summed_first, "cross terms"),
        (_no_linear_term, "linear term"),
        (_elementwise, "element-wise product"),
    ],
    "08.xor_weights": [
        (_linear_neuron, "the neuron is linear"),
        (_weak_interaction, "at (1, 1) XOR is 0"),
        (_no_bias, "the bias alone sets that logit"),
    ],
    "09.derived_latency": [
        (_blocks_only, "add fixed_ms"),
        (_expected_instead, "the expected latency under softmax"),
        (_argmax_over_positions, "argmax over the positions"),
    ],
    "09.expected_latency": [
        (_one_softmax, "its own softmax"),
        (_over_positions, "not over the positions"),
        (_argmax_network, "no gradient"),
    ],
    "10.heatmap_decode": [
        (_swapped, "x and y are swapped"),
        (_unravel_by_height, "with the map's height"),
        (_toward_lower, "The shift goes the wrong way"),
        (_shift_at_border, "peak on the map's border"),
        (_shift_on_tie, "When the two neighbours are equal there is no shift"),
        (_stride_scale, "not W / w"),
        (_plain_argmax, "That is the plain argmax"),
    ],
    "10.simcc_soft_argmax": [
        (_unstable, "subtract each row's maximum"),
        (_in_bins, "divide by the split ratio"),
        (_argmax, "That is argmax"),
    ],
    "11.cosine_logits": [
        (_raw_weights, "The weight vectors must be normalised too"),
        (_rows_of_the_kernel, "not each row's"),
        (_no_beta, "multiply by beta"),
        (_no_epsilon, "floor its squared norm"),
    ],
    "11.presence": [
        (_labelled_only, "check x and y too"),
        (_inside_only, "no position to be present"),
        (_up_to_width, "Pixel centres run from 0 to W - 1"),
    ],
    "12.affine_quantise": [
        (_range_without_zero, "The range must hold 0"),
        (_256_steps, "255 steps"),
        (_no_clip, "must clip to -128 or 127"),
    ],
    "12.int8_dot": [(_no_zero_point, "Subtract the input's zero point"), (_int8_accumulator, "overflow")],
}
