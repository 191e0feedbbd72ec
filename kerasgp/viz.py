"""Drawing for the lessons: a skeleton on an image; a block's diagram from its real layer graph."""
from __future__ import annotations

import numpy as np

from .analysis.gradient_paths import layer_calls


def side_colour(joint_name: str) -> str:
    """Left joints blue, right joints red, the rest (neck, head, nose) green."""
    return {"l_": "tab:blue", "r_": "tab:red"}.get(joint_name[:2], "tab:green")


def draw_pose(ax, keypoints, visibility, layout, marker_size: float = 14, line_width: float = 1.8):
    """Limbs between two visible joints, coloured by side (green where the ends differ), and the joints."""
    keypoints, visibility = np.asarray(keypoints), np.asarray(visibility)
    names = layout.joint_names
    for a, b in layout.skeleton:
        if visibility[a] > 0 and visibility[b] > 0:
            ca, cb = side_colour(names[a]), side_colour(names[b])
            ax.plot(*keypoints[[a, b]].T, "-", color=ca if ca == cb else "tab:green", lw=line_width)
    shown = np.flatnonzero(visibility > 0)
    ax.scatter(*keypoints[shown].T, s=marker_size, c=[side_colour(names[j]) for j in shown],
               edgecolors="white", linewidths=0.6, zorder=3)


def show_image(ax, image, title: str = ""):
    ax.imshow(image)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()


# Layers folded into the box of the layer before them (a conv's BN and activation), and the colour of a box.
_FOLDED = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU")
_COLOURS = {"Conv2D": "#d9ead3", "DepthwiseConv2D": "#cfe2f3", "Add": "#fff2cc", "MaskedResidual": "#fff2cc",
            "AsymmetricResidual": "#fff2cc", "Concatenate": "#f4cccc", "ChannelShuffle": "#ead1dc",
            "ChannelSplit": "#ead1dc", "ChannelSlice": "#ead1dc", "StopGradient": "#d9d9d9"}


def layer_label(layer) -> str:
    """A short label: what the layer does, and its output channels."""
    if layer is None:
        return "input"
    kind, channels = type(layer).__name__, None
    try:
        output = layer.output  # a layer called more than once has no single output: no channel count then
        channels = (output[0] if isinstance(output, (list, tuple)) else output).shape[-1]
    except (AttributeError, ValueError):
        pass
    config = layer.get_config()
    if kind == "Conv2D":
        k, s = config["kernel_size"], config["strides"]
        groups = f", g={config['groups']}" if config.get("groups", 1) > 1 else ""
        return f"{k[0]}×{k[1]} conv{'/' + str(s[0]) if s[0] > 1 else ''}{groups}\n→ {channels}"
    if kind == "DepthwiseConv2D":
        k, s = config["kernel_size"], config["strides"]
        return f"{k[0]}×{k[1]} depthwise{'/' + str(s[0]) if s[0] > 1 else ''}\n→ {channels}"
    if kind in ("Add", "AsymmetricResidual"):
        return f"⊕\n→ {channels}" if kind == "Add" else f"⊕ asymmetric\n→ {channels}"
    if kind == "MaskedResidual":
        return f"⊕ masked ({config.get('fraction')})\n→ {channels}"
    if kind == "Concatenate":
        return f"concat\n→ {channels}"
    if kind == "ChannelSlice":
        return f"channels [{config['start']}:{'' if config['stop'] is None else config['stop']}]\n→ {channels}"
    if kind == "ChannelShuffle":
        return f"shuffle (g={config.get('groups')})"
    if kind == "ChannelSplit":
        return "split in two"
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        return f"{'max' if kind.startswith('Max') else 'avg'} pool /{config['strides'][0]}\n→ {channels}"
    return f"{kind}\n→ {channels}" if channels else kind


def draw_graph(model, ax=None, fold: bool = True, title: str | None = None, width: float = 1.6):
    """Draw a block from its layer graph (`analysis.gradient_paths.layer_calls`): one box per layer call,
    inputs on top, each call one row below the deepest call feeding it, arrows along the data's path.
    fold: a BatchNormalization and an activation that follow a single-consumer layer join its box
    (conv-BN-ReLU is one box). Returns {call index: (x, y) of the box it is drawn in}, for every call."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    calls = layer_calls(model)
    consumers = [[] for _ in calls]
    for i, (_, predecessors) in enumerate(calls):
        for p in predecessors:
            consumers[p].append(i)
    owner = list(range(len(calls)))  # the box each call is drawn in
    labels = {i: layer_label(layer) for i, (layer, _) in enumerate(calls)}
    if fold:
        for i, (layer, predecessors) in enumerate(calls):
            if (type(layer).__name__ in _FOLDED and len(predecessors) == 1
                    and len(consumers[predecessors[0]]) == 1 and calls[predecessors[0]][0] is not None):
                owner[i] = owner[predecessors[0]]
                extra = "BN" if type(layer).__name__ == "BatchNormalization" else (
                    layer.get_config().get("activation") or type(layer).__name__)
                labels[owner[i]] = labels[owner[i]].replace("\n", f" + {extra}\n", 1) if "\n" in labels[
                    owner[i]] else f"{labels[owner[i]]} + {extra}"
    boxes = sorted(set(owner))
    edges = sorted({(owner[p], owner[i]) for i, (_, predecessors) in enumerate(calls) for p in predecessors
                    if owner[p] != owner[i]})
    row = {}
    for b in boxes:  # calls come in execution order: a box's feeders have their rows already
        row[b] = max((row[a] + 1 for a, c in edges if c == b), default=0)
    x = {}
    for r in range(max(row.values()) + 1):  # each row ordered by the mean position of its feeders
        members = [b for b in boxes if row[b] == r]
        members.sort(key=lambda b: np.mean([x[a] for a, c in edges if c == b] or [0.0]))
        for k, b in enumerate(members):
            x[b] = (k - (len(members) - 1) / 2) * width
    if ax is None:
        span = max(len([b for b in boxes if row[b] == r]) for r in set(row.values()))
        _, ax = plt.subplots(figsize=(max(4.0, 2.2 * span), 0.75 * (max(row.values()) + 1) + 0.5))
    positions = {b: (x[b], -row[b]) for b in boxes}
    for b, (bx, by) in positions.items():
        layer = calls[b][0]
        colour = _COLOURS.get(type(layer).__name__, "#eeeeee") if layer is not None else "white"
        ax.text(bx, by, labels[b], ha="center", va="center", fontsize=7.5, zorder=3,
                bbox=dict(boxstyle="round,pad=0.3", fc=colour, ec="k", lw=0.8))
    half = 0.42 * width  # about half a box's width, in the axes' units
    lanes = []  # an edge that passes other rows runs down its own lane, right of the boxes it passes
    for a, b in sorted(edges, key=lambda e: positions[e[0]][1] - positions[e[1]][1]):
        (xa, ya), (xb, yb) = positions[a], positions[b]
        if ya - yb <= 1:
            ax.add_patch(FancyArrowPatch((xa, ya - 0.22), (xb, yb + 0.22), arrowstyle="-|>", mutation_scale=9,
                                         lw=0.9, color="0.3", zorder=2))
            continue
        passed = [positions[c][0] for c in boxes if yb < positions[c][1] < ya]  # rows below the source's
        lane = max(passed + [xa, xb]) + half + 0.25 * width
        while any(abs(lane - x) < 0.1 and not (ya <= lo or yb >= hi) for x, lo, hi in lanes):  # lanes overlap
            lane += 0.18 * width
        lanes.append((lane, yb, ya))
        # out of the box's bottom, right between the rows (no box there), down the lane, left into the target
        ax.plot([xa, xa, lane, lane], [ya - 0.22, ya - 0.5, ya - 0.5, yb],
                color="tab:blue", lw=0.9, zorder=1)
        ax.add_patch(FancyArrowPatch((lane, yb), (xb + half * 0.6, yb), arrowstyle="-|>", mutation_scale=9,
                                     lw=0.9, color="tab:blue", zorder=2))
    right = max([lane for lane, _, _ in lanes] + [max(x.values()) + half])
    ax.set_xlim(min(x.values()) - half - 0.2 * width, right + 0.2 * width)
    ax.set_ylim(-max(row.values()) - 0.6, 0.6)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return {i: positions[owner[i]] for i in range(len(calls))}
