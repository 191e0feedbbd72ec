"""Run a converted `.tflite` model from NumPy: quantise the input, invoke, dequantise the outputs.

Needs only numpy and an interpreter (`bench.load_runtime`), like the bench: the pose package's
`TFLitePoseModel` and the ARM check run models through it without loading Keras or TensorFlow.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .bench import make_interpreter

_LISTED_OUTPUT = re.compile(r"output_(\d+)")


def _quantisation(detail: dict) -> tuple[float, int]:
    scale, zero_point = detail["quantization"]
    return float(scale), int(zero_point)


def _content(model) -> bytes:
    if hasattr(model, "content"):  # a tflite.Conversion
        return model.content
    if isinstance(model, (bytes, bytearray)):
        return bytes(model)
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .tflite file")
    return path.read_bytes()


def _quantise(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    scale, zero_point = _quantisation(detail)
    if np.issubdtype(dtype, np.integer) and scale > 0:
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _dequantise(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero_point = _quantisation(detail)
    if np.issubdtype(y.dtype, np.integer) and scale > 0:
        return (y.astype(np.float32) - zero_point) * np.float32(scale)
    return y


def run_tflite(model, inputs, threads: int = 1):
    """Run a converted model (a path, the bytes or a `Conversion`) on a float batch (N, H, W, C).

    Inputs are quantised with the input's scale and zero point when the model takes int8, outputs
    dequantised back to float, one sample per invoke (the converted batch is 1). Returns what the Keras
    model returns: one array, a list in the Keras output order, or a dict by output name.
    """
    runner = make_interpreter(_content(model), threads).get_signature_runner()
    input_details = runner.get_input_details()
    if len(input_details) != 1:
        raise ValueError(f"run_tflite handles single-input models; this one takes {sorted(input_details)}")
    (input_name, detail), = input_details.items()
    x = np.asarray(inputs, dtype=np.float32)
    expected = tuple(int(d) for d in detail["shape"][1:])
    if x.ndim != len(expected) + 1 or x.shape[1:] != expected:
        raise ValueError(f"run_tflite expects a batch (N, {', '.join(map(str, expected))}); got {x.shape}")
    output_details = runner.get_output_details()
    results = {name: [] for name in output_details}
    for sample in x:
        outputs = runner(**{input_name: _quantise(sample[None], detail)})
        for name, value in outputs.items():
            results[name].append(_dequantise(value, output_details[name]))
    results = {name: np.concatenate(parts) for name, parts in results.items()}
    listed = {name: _LISTED_OUTPUT.fullmatch(name) for name in results}
    if all(listed.values()):
        ordered = [results[name] for name in sorted(results, key=lambda n: int(listed[n].group(1)))]
        return ordered[0] if len(ordered) == 1 else ordered
    return results
