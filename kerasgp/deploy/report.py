"""What a converted `.tflite` graph computes in, read from the flatbuffer by the interpreter: the op report
that every conversion carries (`Conversion.op_report`) and that `op_report(path)` gives for any file.

Needs only numpy and a TFLite interpreter (`bench.make_interpreter`), like `bench` and `runtime`, so a
board without TensorFlow can inspect a model it was handed.
"""
from __future__ import annotations

import numpy as np

from .bench import make_interpreter
from .runtime import _content

_CONVERSION_OPS = ("QUANTIZE", "DEQUANTIZE")
_FLOAT_TYPES = ("float32", "float16", "float64")


def _dtype_label(op: dict, tensors: dict, constants: set) -> str:
    """The type an op computes in: its output's, "A->B" for the quantize/dequantize ops, and "hybrid" for
    a float op on int8 constant weights (dynamic-range quantisation)."""
    outputs = [tensors[i] for i in op["outputs"] if i >= 0]
    out = np.dtype(outputs[0]["dtype"]).name if outputs else "none"
    inputs = [i for i in op["inputs"] if i >= 0]
    if op["op_name"] in _CONVERSION_OPS and inputs:
        return f"{np.dtype(tensors[inputs[0]]['dtype']).name}->{out}"
    if out in _FLOAT_TYPES and any(i in constants and np.dtype(tensors[i]["dtype"]).name == "int8" for i in inputs):
        return "hybrid"
    return out


def op_report(model) -> dict:
    """What the converted graph computes in, read from the flatbuffer by the interpreter.

    Returns {"ops": [{"op", "dtype", "count"}], "total", "float_ops": ["#index OP dtype -> tensor"],
    "quantize_ops": [same for QUANTIZE/DEQUANTIZE], "max_rank", "above_rank4": [tensor names]}.
    float_ops lists the ops left in float (or hybrid) other than the quantize/dequantize ops.
    """
    interpreter = make_interpreter(_content(model), xnnpack=False)  # the model's own ops, not a delegate node
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()
    produced = {int(i) for op in ops for i in op["outputs"]}
    graph_inputs = {d["index"] for d in interpreter.get_input_details()}
    constants = {int(i) for op in ops for i in op["inputs"] if i >= 0} - produced - graph_inputs
    counts, float_ops, quantize_ops = {}, [], []
    for op in ops:
        label = _dtype_label(op, tensors, constants)
        counts[(op["op_name"], label)] = counts.get((op["op_name"], label), 0) + 1
        # A fused op's output is named after every TF op folded into it; the first names it well enough.
        first_output = tensors[op["outputs"][0]]["name"].split(";")[0] if len(op["outputs"]) else ""
        line = f"#{op['index']} {op['op_name']} {label} -> {first_output}"
        if op["op_name"] in _CONVERSION_OPS:
            quantize_ops.append(line)
        elif label in _FLOAT_TYPES or label == "hybrid":
            float_ops.append(line)
    ranks = {t["name"]: len(t["shape"]) for t in tensors.values()}
    rows = [{"op": op, "dtype": dtype, "count": n} for (op, dtype), n in counts.items()]
    return {"ops": sorted(rows, key=lambda r: (-r["count"], r["op"])), "total": len(ops), "float_ops": float_ops,
            "quantize_ops": quantize_ops, "max_rank": max(ranks.values(), default=0),
            "above_rank4": sorted(name for name, rank in ranks.items() if rank > 4)}


def format_op_report(report: dict, limit: int = 8) -> str:
    lines = [f"ops: {report['total']}, largest tensor rank {report['max_rank']}"]
    lines += [f"  {r['op']:28s} {r['dtype']:14s} {r['count']:4d}" for r in report["ops"]]
    for title, items in (("left in float", report["float_ops"]), ("quantize/dequantize", report["quantize_ops"]),
                         ("tensors of rank > 4", report["above_rank4"])):
        lines.append(f"{title}: {len(items) or 'none'}")
        lines += [f"  {item}" for item in items[:limit]]
        if len(items) > limit:
            lines.append(f"  ... and {len(items) - limit} more")
    return "\n".join(lines)
