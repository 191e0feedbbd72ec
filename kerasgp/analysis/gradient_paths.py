"""Gradient path analysis of a Keras model (Wang, Liao, Yeh, "Designing Network Design Strategies Through
Gradient Path Analysis", arXiv 2211.04800, 2022).

The paper designs networks by the paths gradients take back from the loss rather than by the data path
(Sec. 3, one strategy per level): PRN, the layer-level strategy, is argued for by the *gradient
combination* a layer receives, made of *gradient timestamps* (when, i.e. after how many layers, the
parts of the gradient reach the layer) and *gradient sources* (which layers the gradients come from);
CSPNet, the stage-level strategy, by giving the two parts of a stage different gradient paths; ELAN,
the network-level strategy, by keeping the *shortest gradient path* of every layer short while the
*longest gradient path* (the network's depth) grows. The paper reasons about these quantities on
drawings of blocks; this module counts them on a model's graph, so a lesson can compare blocks by
numbers. Our operational definitions below are a simplification of the paper's prose, said where.

What is computed, and how it maps to the paper's terms
-----------------------------------------------------
The model is flattened into one directed acyclic graph: a vertex per layer call (a layer called twice,
or a sub-model called twice, gives two vertices; a nested Functional/Sequential model is expanded into
its layers, as the gradient flows through it), an edge per tensor passed between two calls, plus one
sink per model output (the loss sees every output: each output is a gradient source of the loss).
Some layers are *weighted*: by default those with a kernel, convolutions (plain, depthwise, separable,
transposed) and dense layers (`count=("conv", "dense")`). BatchNormalization, activations, pooling,
Add and Concatenate lie on the paths but do not add to a path's length (a simplification: the paper
counts "layers" of its drawings, which are conv layers; pass `count=("conv", "dense", "norm")` or a
predicate to count otherwise).

A *gradient path* of layer L is a path in that graph from L to an output sink; its *length* is the
number of weighted layers on it, L included. So the classifier's fc layer has length 1, and the first
conv of a plain chain of N convs has length N. For each layer:

- `shortest`, `longest`: the shortest and longest gradient path (the paper's shortest/longest gradient
  path of a layer, used to judge ELAN); the network's `depth` is the longest gradient path of any layer.
- `timestamps`: the distinct lengths of all its gradient paths, a tuple in ascending order: the gradient
  timestamps (PRN), each length standing for the "time", counted in weighted layers back-propagated
  through, at which one part of the layer's gradient arrives (the paper gives no unit; layers are ours).
  A chain has one timestamp per layer; a residual block gives its first layer two; dense and ELAN
  blocks give many.
- `num_paths`: the number of distinct paths (distinct sequences of layer calls) from L to the outputs;
  it grows combinatorially (2**16 for ResNet50's first conv), so it is a Python int.
- `num_sources`: the number of gradient sources of L: the distinct weighted layers (and model outputs)
  whose gradient reaches L without passing through another weighted layer, i.e. the nearest weighted
  layer on each gradient path. In a chain it is 1; a conv whose output feeds an identity chain of
  residual blocks receives gradient directly from every block of the chain. (The paper also speaks of
  sources per channel, as PRN's masked residual adds the identity to some channels only; a layer graph
  does not see channels, so channel-level sources are not counted.)
- `num_outputs`: how many model outputs L's gradient comes from.
- `depth_from_input`: the longest forward path from an input, in weighted layers, L included (the data
  path's depth, for ordering and plotting).

A layer with no path to an output (its result is unused, or every path is cut by a stop-gradient) has
`num_paths == 0`, an empty `timestamps` and missing (`<NA>`) shortest/longest.

With `respect_stop_gradient=True` (default) a call of a layer or op whose class is named
"StopGradient" (kerasgp's layer, or `keras.ops.stop_gradient` in a Functional model) passes no
gradient: the edges through it are dropped, as in the paper's experiments that stop the gradient on
the identity or on the computational block of residual units.
The class is found by name, so this module does not depend on kerasgp.layers.

Every quantity is a dynamic program over the graph in topological order (forward for
`depth_from_input`, backward for the rest), with the sets of timestamps and of sources kept as
Python-int bit masks, so the cost is linear in the number of edges (times the mask width): ResNet50
or DenseNet121 from keras.applications are analysed in well under a second once built.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import keras
import pandas as pd

from .graph import functional_graph

COLUMNS = ("layer", "type", "depth_from_input", "shortest", "longest", "num_paths", "timestamps",
           "num_sources", "num_outputs")

_CONV_CLASSES = tuple(getattr(keras.layers, name) for name in (
    "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D") if hasattr(keras.layers, name))
_DENSE_CLASSES = tuple(getattr(keras.layers, name) for name in ("Dense", "EinsumDense") if hasattr(keras.layers, name))
_NORM_CLASSES = tuple(getattr(keras.layers, name) for name in (
    "BatchNormalization", "LayerNormalization", "GroupNormalization") if hasattr(keras.layers, name))


def _has_weights(layer) -> bool:
    """Has a variable created trainable (the variable's flag, so a frozen layer still counts; constants
    such as a normalisation's fixed mean and std do not)."""
    return any(getattr(variable, "trainable", False) for variable in getattr(layer, "weights", ()))


def _class_name_has(layer, *words) -> bool:
    name = type(layer).__name__.lower()
    return _has_weights(layer) and any(word in name for word in words)


# Built-in classes by isinstance; a custom layer (e.g. a quadratic conv) by its class name, if it has weights.
# A composite custom layer (a whole block in one class) counts once: the graph does not see inside it.
KINDS: dict[str, Callable] = {
    "conv": lambda layer: isinstance(layer, _CONV_CLASSES) or _class_name_has(layer, "conv"),
    "dense": lambda layer: isinstance(layer, _DENSE_CLASSES) or _class_name_has(layer, "dense", "linear"),
    "norm": lambda layer: isinstance(layer, _NORM_CLASSES) or _class_name_has(layer, "norm"),
    "attention": lambda layer: _class_name_has(layer, "attention"),
    "weights": _has_weights,
}


def _weighted_predicate(count) -> Callable:
    if callable(count):
        return count
    kinds = (count,) if isinstance(count, str) else tuple(count)
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown or not kinds:
        raise ValueError(f"count must be a predicate layer -> bool or a non-empty tuple of {sorted(KINDS)}; "
                         f"got {count!r}")
    tests = [KINDS[kind] for kind in kinds]
    return lambda layer: any(test(layer) for test in tests)


class _Graph:
    """Vertices = layer calls (inputs too), with predecessor sets; filled in topological order."""

    def __init__(self):
        self.operations, self.scopes, self.predecessors = [], [], []

    def add(self, operation, predecessors, scope) -> int:
        self.operations.append(operation)
        self.scopes.append(scope)
        self.predecessors.append(predecessors)
        return len(self.operations) - 1

    def expand(self, function, input_vertices, scope) -> list[int]:
        """Adds the calls of `function` fed by `input_vertices`; returns the vertex of each output."""
        inputs = function._inputs
        if len(inputs) != len(input_vertices):
            raise ValueError(f"model {function.name!r} takes {len(inputs)} input tensors, but its call in the "
                             f"outer model passes {len(input_vertices)}")
        vertex_of = {id(tensor): vertex for tensor, vertex in zip(inputs, input_vertices)}
        # Keras' own execution order (Function._run_through_graph): from the inputs' depth to the outputs'.
        for depth in sorted(function._nodes_by_depth, reverse=True):
            for node in function._nodes_by_depth[depth]:
                if node.operation is None or node.is_input:
                    continue
                tensors = node.arguments.keras_tensors
                if any(id(tensor) not in vertex_of for tensor in tensors):
                    continue  # not computable from the inputs; Keras skips it too
                producers = [vertex_of[id(tensor)] for tensor in tensors]
                inner = functional_graph(node.operation)
                if inner is not None:  # a nested model: the gradient flows through its layers
                    outputs = self.expand(inner, producers, scope + (node.operation.name,))
                else:
                    outputs = [self.add(node.operation, set(producers), scope)] * len(node.outputs)
                for tensor, vertex in zip(node.outputs, outputs):
                    vertex_of[id(tensor)] = vertex
        missing = [tensor.name for tensor in function._outputs if id(tensor) not in vertex_of]
        if missing:
            raise ValueError(f"model {function.name!r}: outputs {missing} are not connected to its inputs")
        return [vertex_of[id(tensor)] for tensor in function._outputs]


def layer_calls(model) -> list[tuple]:
    """The model's graph as (layer or None for an input, the indices of the calls feeding it), in execution
    order, nested models expanded: what the path analyser walks, for drawing (`kerasgp.viz.draw_graph`)."""
    function = functional_graph(model)
    if function is None:
        raise ValueError(f"layer_calls needs a Functional Keras model; got {type(model).__name__}")
    graph = _Graph()
    inputs = [graph.add(None, set(), ()) for _ in function._inputs]
    graph.expand(function, inputs, ())
    return [(operation, sorted(predecessors)) for operation, predecessors in zip(graph.operations, graph.predecessors)]


def _output_names(function, graph: _Graph, output_vertices) -> list[str]:
    """Dict outputs by their keys; list or single outputs by the layer that makes them (inside any
    nested model)."""
    names = []
    for (path, _), vertex in zip(keras.tree.flatten_with_path(function._outputs_struct), output_vertices):
        operation = graph.operations[vertex]
        if any(isinstance(part, str) for part in path):
            names.append(".".join(str(part) for part in path))
        else:
            names.append(operation.name if operation is not None else f"input {vertex}")
    return names


def _unique_names(graph: _Graph, vertices) -> dict[int, str]:
    names = {v: graph.operations[v].name for v in vertices}
    counts = Counter(names.values())
    for v in vertices:  # a name used twice: qualify it by the sub-model scope, then number the calls
        if counts[names[v]] > 1:
            names[v] = "/".join(graph.scopes[v] + (names[v],))
    seen: dict[str, int] = {}
    for v in vertices:
        seen[names[v]] = seen.get(names[v], 0) + 1
        if seen[names[v]] > 1:
            names[v] = f"{names[v]}#{seen[names[v]]}"
    return names


def _bits(mask: int) -> tuple[int, ...]:
    out, position = [], 0
    while mask:
        if mask & 1:
            out.append(position)
        mask >>= 1
        position += 1
    return tuple(out)


@dataclass
class GradientPathReport:
    """Per-layer gradient paths of a model (see the module docstring for each column's meaning).

    per_layer: one row per analysed layer call in topological (input -> output) order, columns COLUMNS.
    depth: the network's longest gradient path, in weighted layers.
    outputs: the model outputs (gradient sources of the loss) in Keras' flattened order.
    counted: what was counted as a weighted layer (the `count` argument, as given).
    aggregates: num_layers, num_reached (layers some gradient reaches), depth, mean/max of shortest and
        longest, mean number of timestamps, max_num_paths; the means and maxima are over reached layers.
    """

    per_layer: pd.DataFrame
    depth: int
    outputs: tuple[str, ...]
    model_name: str = ""
    counted: str = "conv, dense"
    weighted_only: bool = True
    aggregates: dict = field(init=False)

    def __post_init__(self):
        reached = self._reached()
        shortest, longest = reached["shortest"].astype(float), reached["longest"].astype(float)
        self.aggregates = {
            "num_layers": int(len(self.per_layer)),
            "num_reached": int(len(reached)),
            "depth": int(self.depth),
            "mean_shortest": float(shortest.mean()) if len(reached) else float("nan"),
            "max_shortest": int(shortest.max()) if len(reached) else 0,
            "mean_longest": float(longest.mean()) if len(reached) else float("nan"),
            "max_longest": int(longest.max()) if len(reached) else 0,
            "mean_timestamps": float(reached["timestamps"].map(len).mean()) if len(reached) else float("nan"),
            "max_num_paths": int(max(reached["num_paths"], default=0)),
        }

    def _reached(self) -> pd.DataFrame:
        return self.per_layer[self.per_layer["num_paths"] > 0]

    @property
    def mean_shortest(self) -> float:
        return self.aggregates["mean_shortest"]

    @property
    def max_shortest(self) -> int:
        return self.aggregates["max_shortest"]

    @property
    def mean_longest(self) -> float:
        return self.aggregates["mean_longest"]

    @property
    def max_longest(self) -> int:
        return self.aggregates["max_longest"]

    def row(self, layer: str) -> pd.Series:
        """The row of one layer by name."""
        rows = self.per_layer[self.per_layer["layer"] == layer]
        if rows.empty:
            raise ValueError(f"no analysed layer named {layer!r}; the report has {len(self.per_layer)} rows, "
                             f"e.g. {list(self.per_layer['layer'][:5])}")
        return rows.iloc[0]

    def summary(self) -> str:
        a = self.aggregates
        what = "weighted layers" if self.weighted_only else "layer calls"
        lines = [
            f"Gradient paths of {self.model_name or 'the model'} (Wang et al. 2022, gradient path analysis)",
            f"  {a['num_layers']} {what} (weighted = {self.counted}), {len(self.outputs)} output(s): "
            f"{', '.join(self.outputs)}",
            f"  depth (longest gradient path of the network): {a['depth']} weighted layers",
        ]
        if a["num_reached"]:
            lines += [
                f"  shortest gradient path per layer: mean {a['mean_shortest']:.2f}, max {a['max_shortest']}",
                f"  longest gradient path per layer:  mean {a['mean_longest']:.2f}, max {a['max_longest']}",
                f"  gradient timestamps per layer: mean {a['mean_timestamps']:.2f}; "
                f"most paths into one layer: {a['max_num_paths']}",
            ]
        cut = a["num_layers"] - a["num_reached"]
        if cut:
            lines.append(f"  {cut} layer(s) receive no gradient (unused output or stop-gradient)")
        return "\n".join(lines)

    def plot(self, ax=None, title: str | None = None):
        """Shortest and longest gradient path of each layer, in input -> output order; returns the axes.
        The band between them is the spread of the layer's gradient timestamps."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(8, 3))
        index = range(len(self.per_layer))
        shortest = self.per_layer["shortest"].astype(float).to_numpy()
        longest = self.per_layer["longest"].astype(float).to_numpy()
        ax.fill_between(index, shortest, longest, color="tab:blue", alpha=0.15, linewidth=0)
        ax.plot(index, longest, color="tab:red", lw=1.2, label="longest gradient path")
        ax.plot(index, shortest, color="tab:blue", lw=1.2, label="shortest gradient path")
        ax.set_xlabel("layer (input → output)")
        ax.set_ylabel("path length (weighted layers)")
        ax.set_title(title if title is not None else f"{self.model_name}: depth {self.depth}", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8, frameon=False)
        return ax

    def __repr__(self) -> str:
        return self.summary()


def gradient_paths(model, weighted_only: bool = True, count=("conv", "dense"),
                   respect_stop_gradient: bool = True) -> GradientPathReport:
    """Gradient timestamps, sources and shortest/longest gradient paths of every layer of `model`.

    model: a Functional Keras model (or a built Sequential), possibly with nested sub-models and
        dict/list outputs.
    weighted_only: report only the weighted layers (True) or every layer call (False; a non-weighted
        layer's lengths then count the weighted layers after it).
    count: which layers are weighted, i.e. add one to a path's length: a tuple of kinds from KINDS
        ("conv", "dense", "norm", "attention", "weights") or a predicate `layer -> bool`.
    respect_stop_gradient: drop the gradient through calls of classes named "StopGradient".
    """
    function = functional_graph(model)
    if function is None:
        raise ValueError("gradient_paths needs a Functional Keras model (or a built Sequential) whose graph "
                         f"it can walk; got {type(model).__name__}, which has no layer graph")
    is_weighted = _weighted_predicate(count)
    graph = _Graph()
    input_vertices = [graph.add(None, set(), ()) for _ in function._inputs]
    output_vertices = graph.expand(function, input_vertices, ())
    num_vertices = len(graph.operations)

    weighted = [op is not None and bool(is_weighted(op)) for op in graph.operations]
    blocks = [respect_stop_gradient and type(op).__name__ == "StopGradient" for op in graph.operations]
    consumers = [set() for _ in range(num_vertices)]
    for vertex, predecessors in enumerate(graph.predecessors):
        if not blocks[vertex]:  # a stop-gradient passes nothing back to its inputs
            for predecessor in predecessors:
                consumers[predecessor].add(vertex)

    # Bits of the gradient-source masks: one per weighted vertex, then one per output sink.
    source_bit = {}
    for vertex in range(num_vertices):
        if weighted[vertex]:
            source_bit[vertex] = len(source_bit)
    first_output_bit = len(source_bit)
    sinks = [[] for _ in range(num_vertices)]
    for k, vertex in enumerate(output_vertices):
        sinks[vertex].append(k)

    # Backward DP (vertices were added in topological order). timestamps[v]: bit t set iff some path from
    # v to an output holds t weighted layers (v included); paths[v]: number of such paths.
    timestamps, paths = [0] * num_vertices, [0] * num_vertices
    sources, reached_outputs = [0] * num_vertices, [0] * num_vertices
    for vertex in reversed(range(num_vertices)):
        if blocks[vertex]:
            continue
        mask, count_paths, source_mask, output_mask = 0, 0, 0, 0
        for k in sinks[vertex]:
            mask |= 1
            count_paths += 1
            source_mask |= 1 << (first_output_bit + k)
            output_mask |= 1 << k
        for consumer in consumers[vertex]:
            mask |= timestamps[consumer]
            count_paths += paths[consumer]
            output_mask |= reached_outputs[consumer]
            if weighted[consumer]:
                source_mask |= (1 << source_bit[consumer]) if paths[consumer] else 0
            else:
                source_mask |= sources[consumer]
        timestamps[vertex] = mask << int(weighted[vertex])
        paths[vertex], sources[vertex], reached_outputs[vertex] = count_paths, source_mask, output_mask

    # Forward DP: the data path's depth in weighted layers.
    depth_from_input = [0] * num_vertices
    for vertex in range(num_vertices):
        before = max((depth_from_input[p] for p in graph.predecessors[vertex]), default=0)
        depth_from_input[vertex] = before + int(weighted[vertex])

    rows_of = [v for v in range(len(input_vertices), num_vertices) if weighted[v] or not weighted_only]
    names = _unique_names(graph, rows_of)
    rows = []
    for vertex in rows_of:
        lengths = _bits(timestamps[vertex])
        rows.append({
            "layer": names[vertex],
            "type": type(graph.operations[vertex]).__name__,
            "depth_from_input": depth_from_input[vertex],
            "shortest": lengths[0] if lengths else None,
            "longest": lengths[-1] if lengths else None,
            "num_paths": paths[vertex],
            "timestamps": lengths,
            "num_sources": bin(sources[vertex]).count("1"),
            "num_outputs": bin(reached_outputs[vertex]).count("1"),
        })
    per_layer = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("shortest", "longest"):
        per_layer[column] = per_layer[column].astype("Int64")  # <NA> where no gradient arrives
    if any(value >= 2**63 for value in paths):  # keep exact Python ints beyond int64
        per_layer["num_paths"] = pd.Series([row["num_paths"] for row in rows], dtype=object)
    depth = max((mask.bit_length() - 1 for mask in timestamps if mask), default=0)
    if callable(count):
        counted = f"predicate {getattr(count, '__name__', '')}".strip()
    else:
        counted = count if isinstance(count, str) else ", ".join(count)
    return GradientPathReport(per_layer=per_layer, depth=depth, outputs=tuple(_output_names(function, graph, output_vertices)),
                              model_name=getattr(model, "name", ""), counted=counted, weighted_only=weighted_only)
