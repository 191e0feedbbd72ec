"""What a network costs: parameters, multiply-accumulates, activation memory and memory access cost.

`cost(model)` walks a Keras 3 Functional (or Sequential) model node by node at batch size 1, recursing
into nested sub-models (a pose model's backbone), so every row of `per_layer` names an inner layer.
Shapes come from each layer's `compute_output_spec` on symbolic `keras.KerasTensor`s, the way
`Functional.compute_output_spec` itself runs through the graph; nothing is executed, nothing is added to
the model's graph, and it works the same on TensorFlow, JAX and torch. A model built with `None`
spatial dimensions is evaluated at `input_shape=(H, W, C)`.

MACs (multiply-accumulates) follow the convention of fvcore/thop that most papers report, the one
ShuffleNetV2's Table 5 calls "FLOPs" (Ma et al., "ShuffleNet V2", ECCV 2018, Sec. 1, footnote: "the
number of multiply-adds"):
- ConvND: out_elements * k_h*k_w * in_c/groups (out_elements = out_h*out_w*out_c);
- DepthwiseConvND: out_elements * k_h*k_w (out_c = in_c * depth_multiplier);
- SeparableConvND: its depthwise part + its pointwise part (out_h*out_w*in_c*multiplier*out_c);
- ConvNDTranspose: in_h*in_w*in_c * k_h*k_w * out_c (every input pixel scatters a full kernel);
- Dense: in_features * units per position (a (B, T, d) input counts T positions);
- EinsumDense: the product of the sizes of every index of its equation;
- MultiHeadAttention (default attention axes): the q/k/v/output projections + QK^T + attention x V;
- everything else, BatchNormalization, other normalisations, activations, pooling, Add, Multiply,
  Concatenate, Reshape, ChannelShuffle, ChannelSplit, ScaleNorm, Embedding (a lookup): 0. This is the
  papers' convention and a simplification: ShuffleNetV2's guideline G4 is precisely that element-wise
  ops are not free. With
  `count_elementwise=True` one MAC per output element is added for normalisations, activations
  (also a conv's or Dense's fused non-linear activation) and element-wise merges (Add, Multiply, ...).
  Biases add no MACs either way.

Custom layers: a layer class that defines `macs(self, input_shapes, output_shapes)` is counted by it;
each argument is one shape tuple (batch 1) when the layer takes/returns one tensor, else a list of them.
A layer with weights and no rule raises a ValueError naming it (never a silent 0); a layer without
weights and no rule counts 0.

Memory access cost (MAC in ShuffleNetV2's Sec. 2, called `memory_access` here so it is not confused with
multiply-accumulates): per layer call, the elements read and written = inputs + outputs + the layer's
weights; for a 1x1 convolution that is the paper's h*w*(c1 + c2) + c1*c2. Every layer counts, layout
ops included (Concatenate, Reshape, ChannelSplit copy their input in a plain implementation, though a
runtime may fuse some of them away), so the figure is an upper bound on traffic, without caches.

`activations` counts the elements of every layer output (model inputs excluded), batch 1: the memory
all intermediate tensors would take if none were freed, the figure to compare architectures by
(QuadraNet's "intermediate states"), not a runtime's peak. Intermediates inside a single layer (the
attention matrix inside MultiHeadAttention) are not layer outputs and are not counted.
"""
from __future__ import annotations

import dataclasses
import inspect
import math

import keras
import numpy as np

from ..layers.norm import ScaleNorm
from .graph import functional_graph

COLUMNS = ("layer", "type", "output_shape", "params", "macs", "activations", "memory_access")

# Weighted layers that are element-wise (0 MACs by the papers' convention): known, so they do not raise.
_ELEMENTWISE_WEIGHTED = tuple(
    getattr(keras.layers, name)
    for name in ("BatchNormalization", "LayerNormalization", "GroupNormalization", "RMSNormalization",
                 "Normalization", "PReLU")
    if hasattr(keras.layers, name)
) + (ScaleNorm,)
# Weighted layers with no arithmetic to count: a lookup.
_LOOKUP = (keras.layers.Embedding,)
# Layers that cost one op per output element when count_elementwise=True (the weighted ones above too).
_ELEMENTWISE = _ELEMENTWISE_WEIGHTED + tuple(
    getattr(keras.layers, name)
    for name in ("UnitNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Add", "Subtract",
                 "Multiply", "Average", "Maximum", "Minimum")
    if hasattr(keras.layers, name)
)


@dataclasses.dataclass
class CostReport:
    """Totals at batch size 1, and one row per layer call in `per_layer`."""

    params: int
    trainable_params: int
    macs: int
    activations: int
    activation_bytes: int
    memory_access: int
    per_layer: "pandas.DataFrame"  # one row per layer call, COLUMNS
    input_shape: tuple = ()
    name: str = ""

    def as_dict(self) -> dict:
        """Totals only, plain ints (one CSV row)."""
        return {key: int(getattr(self, key)) for key in
                ("params", "trainable_params", "macs", "activations", "activation_bytes", "memory_access")}

    def summary(self) -> str:
        rows = [("params", f"{human(self.params)} ({human(self.trainable_params)} trainable)"),
                ("MACs", human(self.macs)),
                ("activations", f"{human(self.activations)} elements, {human(self.activation_bytes)}B"),
                ("memory access", f"{human(self.memory_access)} elements")]
        head = f"{self.name or 'model'} at {self.input_shape}, batch 1"
        return "\n".join([head] + [f"  {label:<14}{value}" for label, value in rows])

    def __str__(self) -> str:
        return self.summary()


def human(value: float) -> str:
    """146_000_000 -> '146.0 M', 3_857_973_248 -> '3.86 G' (SI prefixes, at least 3 significant digits)."""
    for factor, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            scaled = value / factor
            return f"{scaled:.1f} {unit}" if abs(scaled) >= 100 else f"{scaled:.2f} {unit}"
    return f"{value:.0f} "


def cost(model: keras.Model, input_shape=None, bytes_per_element: int = 4,
         count_elementwise: bool = False) -> CostReport:
    """Count `model`'s parameters, MACs, activations and memory access cost at batch size 1.

    input_shape: the per-sample shape (H, W, C) to evaluate at, needed when the model was built with
    `None` dimensions; a list of shapes for a model with several inputs. Default: the model's own.
    """
    import pandas as pd

    graph = functional_graph(model)
    if graph is None:
        raise ValueError(f"cost() needs a Functional or Sequential model; got {type(model).__name__} "
                         f"{getattr(model, 'name', '')!r}, whose graph cannot be walked")
    inputs = [keras.KerasTensor((1,) + shape, dtype=x.dtype) for shape, x in
              zip(_input_shapes(graph, input_shape), graph.inputs)]
    rows, seen = [], set()
    _walk(graph, inputs, "", rows, seen, count_elementwise)
    per_layer = pd.DataFrame(rows, columns=list(COLUMNS))
    weights = _unique(model.weights)
    activations = int(per_layer["activations"].sum())
    return CostReport(
        params=_size(weights), trainable_params=_size(_unique(model.trainable_weights)),
        macs=int(per_layer["macs"].sum()), activations=activations,
        activation_bytes=activations * int(bytes_per_element), memory_access=int(per_layer["memory_access"].sum()),
        per_layer=per_layer, input_shape=tuple(tuple(x.shape[1:]) for x in inputs) if len(inputs) > 1
        else tuple(inputs[0].shape[1:]), name=model.name)


def _input_shapes(graph, input_shape) -> list[tuple]:
    declared = [tuple(x.shape[1:]) for x in graph.inputs]
    if input_shape is None:
        given = declared
    elif len(declared) == 1 and all(isinstance(d, (int, np.integer)) for d in input_shape):
        given = [tuple(int(d) for d in input_shape)]
    else:
        given = [tuple(int(d) for d in shape) for shape in input_shape]
    if len(given) != len(declared):
        raise ValueError(f"model {graph.name!r} has {len(declared)} inputs; got {len(given)} input shapes")
    for shape, ref in zip(given, declared):
        if len(shape) != len(ref) or any(r is not None and s != r for s, r in zip(shape, ref)):
            raise ValueError(f"model {graph.name!r} takes inputs of shape {ref} (batch excluded); "
                             f"got input_shape {shape}")
        if any(d is None for d in shape):
            raise ValueError(f"model {graph.name!r} has inputs of shape {ref} with unknown dimensions; "
                             "pass input_shape=(H, W, C) to evaluate it at a concrete size")
    return given


def _walk(graph, inputs: list, prefix: str, rows: list, seen: set, count_elementwise: bool) -> list:
    """Run through `graph` as `Function._run_through_graph` does, recording one row per layer call;
    returns the specs of the graph's (flat) outputs."""
    specs = {id(ref): spec for ref, spec in zip(graph.inputs, inputs)}
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            if not node.operation or node.is_input:
                continue
            if any(id(x) not in specs for x in node.input_tensors):
                continue  # not reachable from the inputs (the same rule as Keras' own graph runner)
            args, kwargs = node.arguments.fill_in(specs)
            operation = node.operation
            flat_in = [x for x in keras.tree.flatten((args, kwargs)) if isinstance(x, keras.KerasTensor)]
            inner = functional_graph(operation)
            if inner is not None:  # a nested model: its layers become rows, named "outer/inner"
                outputs = _walk(inner, flat_in, f"{prefix}{operation.name}/", rows, seen, count_elementwise)
            else:
                outputs = _output_specs(operation, args, kwargs)
                rows.append(_row(operation, prefix, args, kwargs, flat_in, outputs, seen, count_elementwise))
            for ref, spec in zip(node.outputs, outputs):
                specs[id(ref)] = spec
    return [specs[id(ref)] for ref in graph.outputs]


def _output_specs(operation, args, kwargs) -> list:
    outputs = keras.tree.flatten(operation.compute_output_spec(*args, **kwargs))
    if any(d is None for x in outputs for d in x.shape):
        # Some layers' compute_output_shape keeps a None it could resolve (EinsumDense with a None in
        # output_shape); tracing `call` symbolically, as Operation does, gives the concrete shape.
        outputs = keras.tree.flatten(keras.Operation.compute_output_spec(operation, *args, **kwargs))
    unknown = [tuple(x.shape) for x in outputs if any(d is None for d in x.shape)]
    if unknown:
        raise ValueError(f"layer {operation.name!r} ({type(operation).__name__}) gives outputs of unknown size "
                         f"{unknown} at batch 1; its cost cannot be counted")
    return outputs


def _row(operation, prefix, args, kwargs, flat_in, flat_out, seen, count_elementwise) -> dict:
    in_shapes = [tuple(x.shape) for x in flat_in]
    out_shapes = [tuple(x.shape) for x in flat_out]
    weights = list(getattr(operation, "weights", []))
    # A shared layer's weights count once in params, but are read again by every call (memory access).
    new = [w for w in _unique(weights) if id(w) not in seen]
    seen.update(id(w) for w in new)
    outputs = sum(math.prod(s) for s in out_shapes)
    return {
        "layer": prefix + operation.name,
        "type": type(operation).__name__,
        "output_shape": out_shapes[0] if len(out_shapes) == 1 else out_shapes,
        "params": _size(new),
        "macs": int(_macs(operation, args, kwargs, in_shapes, out_shapes, count_elementwise)),
        "activations": outputs,
        "memory_access": sum(math.prod(s) for s in in_shapes) + outputs + _size(weights),
    }


def _macs(layer, args, kwargs, in_shapes, out_shapes, count_elementwise) -> int:
    L = keras.layers
    custom = getattr(layer, "macs", None)
    if callable(custom):
        return custom(_one_or_list(in_shapes), _one_or_list(out_shapes))
    out = out_shapes[0]
    outputs = math.prod(out)
    extra = 0
    if count_elementwise:
        activation = getattr(layer, "activation", None)
        fused = activation is not None and getattr(activation, "__name__", "linear") != "linear"
        if fused or isinstance(layer, _ELEMENTWISE):
            extra = sum(math.prod(s) for s in out_shapes)
    if isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        return outputs * math.prod(layer.kernel_size) + extra
    if isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        channels = in_shapes[0][_channel_axis(layer)] * layer.depth_multiplier
        positions = outputs // layer.filters
        return positions * channels * (math.prod(layer.kernel_size) + layer.filters) + extra
    if isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
        groups = getattr(layer, "groups", 1)
        return math.prod(in_shapes[0]) * math.prod(layer.kernel_size) * layer.filters // groups + extra
    if isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        in_channels = in_shapes[0][_channel_axis(layer)]
        return outputs * math.prod(layer.kernel_size) * in_channels // layer.groups + extra
    if isinstance(layer, L.Dense):
        return outputs * in_shapes[0][-1] + extra
    if isinstance(layer, L.EinsumDense):
        return _einsum_macs(layer.equation, in_shapes[0], tuple(layer.kernel.shape)) + extra
    if isinstance(layer, L.MultiHeadAttention):
        return _attention_macs(layer, args, kwargs)
    if isinstance(layer, _ELEMENTWISE_WEIGHTED + _LOOKUP) or not getattr(layer, "weights", None):
        return extra
    raise ValueError(
        f"no MAC rule for layer {layer.name!r} of class {type(layer).__module__}.{type(layer).__name__}, "
        f"which has {_size(layer.weights)} weights; give the class a method "
        "`macs(self, input_shapes, output_shapes) -> int` (kerasgp/analysis/cost.py's docstring: the convention)")


def _channel_axis(layer) -> int:
    return 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1


def _einsum_macs(equation: str, input_shape: tuple, kernel_shape: tuple) -> int:
    """MACs of a two-operand einsum without a free ellipsis in the kernel: the product of every index size
    (each output element sums over the contracted indices once)."""
    operands, _ = equation.split("->")
    input_spec, kernel_spec = operands.split(",")
    sizes = dict(zip(kernel_spec, kernel_shape))
    positions = 1
    if "..." in input_spec:
        head, tail = input_spec.split("...")
        covered = len(input_shape) - len(head) - len(tail)
        positions = math.prod(input_shape[len(head):len(head) + covered])
        named = list(zip(head, input_shape[:len(head)])) + list(zip(tail, input_shape[len(head) + covered:]))
    else:
        named = list(zip(input_spec, input_shape))
    sizes.update(named)
    return positions * math.prod(sizes.values())


def _attention_macs(layer, args, kwargs) -> int:
    """Vaswani et al. 2017, Sec. 3.2: project q, k, v per head, QK^T, softmax(.)V, project back."""
    bound = inspect.signature(layer.call).bind(*args, **kwargs).arguments
    query, value = bound["query"].shape, bound["value"].shape
    key = bound["key"].shape if bound.get("key") is not None else value
    # The layer's own attributes (get_config() would serialise the dtype policy, importing TensorFlow).
    heads, key_dim = layer._num_heads, layer._key_dim
    value_dim = layer._value_dim or key_dim
    axes = layer._attention_axes
    if axes is not None and tuple(sorted(axes)) != tuple(range(1, len(query) - 1)):
        raise ValueError(f"MultiHeadAttention {layer.name!r}: MACs are counted for attention over every axis "
                         f"between batch and features; got attention_axes={axes}")
    out_dim = layer._output_shape or query[-1]
    out_dim = math.prod(out_dim) if isinstance(out_dim, (tuple, list)) else out_dim
    q_len, kv_len = math.prod(query[:-1]), math.prod(value[:-1])
    projections = (q_len * query[-1] * heads * key_dim + kv_len * key[-1] * heads * key_dim
                   + kv_len * value[-1] * heads * value_dim + q_len * heads * value_dim * out_dim)
    if getattr(layer, "_use_gate", False):  # a sigmoid gate projection of the query (newer Keras)
        projections += q_len * query[-1] * heads * value_dim
    return projections + q_len * kv_len * heads * (key_dim + value_dim)


def _one_or_list(shapes: list):
    return shapes[0] if len(shapes) == 1 else list(shapes)


def _unique(weights) -> list:
    seen, out = set(), []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def _size(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))
