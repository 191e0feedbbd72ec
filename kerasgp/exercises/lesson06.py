"""Lesson 06's exercises: memory access cost, counted by hand (a depthwise and a grouped convolution)."""
from __future__ import annotations

import math

from .core import Wrong, call, exercise


def depthwise_memory_access(h: int, w: int, c: int, k: int, stride: int) -> int:
    """Elements read and written by a k x k depthwise conv ('same' padding, no bias) on an h x w x c map."""
    return h * w * c + math.ceil(h / stride) * math.ceil(w / stride) * c + k * k * c


@exercise("06.depthwise_memory_access")
def depthwise_mac(answer) -> str:
    """answer(h, w, c, k, stride) -> memory access cost of a depthwise conv, as `cost(model)` counts it."""
    for h, w, c, k, stride in ((56, 56, 24, 3, 1), (28, 28, 116, 3, 2), (7, 9, 40, 5, 2), (15, 15, 8, 3, 2)):
        want = depthwise_memory_access(h, w, c, k, stride)
        got = call(answer, h, w, c, k, stride)
        if got == want:
            continue
        case = f"h={h}, w={w}, c={c}, k={k}, stride={stride}"
        out = math.ceil(h / stride) * math.ceil(w / stride) * c
        if got == want - k * k * c:
            why = " The weights are read too: k·k per channel."
        elif got == want - k * k * c + k * k * c * c:
            why = " A depthwise conv has one k×k filter per channel, k·k·c weights, not k·k·c·c."
        elif got == 2 * h * w * c + k * k * c and stride > 1:
            why = f" With stride {stride} and 'same' padding the output is ceil(h/s)×ceil(w/s) = {out // c} pixels."
        elif stride > 1 and got == h * w * c + (h // stride) * (w // stride) * c + k * k * c:
            why = " 'same' padding rounds the output size up: ceil(h / stride), not h // stride."
        else:
            why = " Count input (h·w·c), output and weights (no bias)."
        raise Wrong(f"{case}: {want:,} elements; got {got!r}.{why}")
    return "right: MAC = h·w·c + ceil(h/s)·ceil(w/s)·c + k²·c, the input, the output and the weights"


def group_conv_memory_access(h: int, w: int, c1: int, c2: int, groups: int) -> int:
    """Elements read and written by a 1x1 conv from c1 to c2 channels in `groups` groups (no bias) on an h x w
    map: ShuffleNetV2's G2, hw(c1 + c2) + c1 c2 / g."""
    return h * w * (c1 + c2) + c1 * c2 // groups


@exercise("06.group_conv_memory_access")
def group_conv_mac(answer) -> str:
    """answer(h, w, c1, c2, groups) -> memory access cost of a grouped 1x1 conv, as `cost(model)` counts it."""
    for h, w, c1, c2, g in ((56, 56, 64, 64, 1), (56, 56, 90, 90, 2), (28, 28, 64, 128, 4), (7, 9, 48, 24, 8),
                            (14, 14, 232, 116, 4)):
        want = group_conv_memory_access(h, w, c1, c2, g)
        got = call(answer, h, w, c1, c2, g)
        if got == want:
            continue
        case = f"h={h}, w={w}, c1={c1}, c2={c2}, groups={g}"
        maps, weights = h * w * (c1 + c2), c1 * c2 // g
        if g > 1 and got == maps + c1 * c2:
            why = (f" With {g} groups each output channel's filter sees only c1/g = {c1 // g} input channels: "
                   f"c1·c2/g weights, not c1·c2.")
        elif g > 1 and got == maps + c1 * c2 * g:
            why = " Groups cut the weights: each filter sees c1/g input channels, so c1·c2/g weights, not c1·c2·g."
        elif got in (maps + h * w * c2 + weights, maps + h * w * c1 + weights):
            why = " Each feature map counts once: the input read (h·w·c1) and the output written (h·w·c2)."
        elif got == h * w * c1 * c2 // g:
            why = " That is the FLOPs (multiply-accumulates); MAC here is the memory access cost."
        elif got == maps:
            why = " The weights are read too: c1·c2/g of them."
        else:
            why = " Count the input (h·w·c1), the output (h·w·c2) and the weights (c1·c2/g; no bias)."
        raise Wrong(f"{case}: {want:,} elements; got {got!r}.{why}")
    return ("right: MAC = hw(c1 + c2) + c1·c2/g; at fixed FLOPs more groups mean wider layers, so more memory "
            "access (G2)")
