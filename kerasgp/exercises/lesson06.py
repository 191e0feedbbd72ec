"""Lesson 06's exercises: memory access cost, counted by hand."""
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
