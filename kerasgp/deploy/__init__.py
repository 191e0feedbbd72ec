"""From a Keras model to a `.tflite` file and its latency on a CPU (README, "Costs, gradient paths and latency").

    conversion = kerasgp.deploy.convert(model, mode="int8", representative="lspet", out="m.tflite")
    print(conversion.summary())                      # input/output quantisation, op report
    outputs = kerasgp.deploy.run_tflite("m.tflite", images)   # dequantised, in the Keras output order
    row = kerasgp.deploy.measure("m.tflite", threads=1)       # median / p90 ms, runtime, XNNPACK

`tflite` (conversion) needs TensorFlow and `calibration` the data loaders; `bench`, `runtime` and `report` (the
op report) need only numpy and an interpreter. Names are imported on first use so that the bench path never
loads Keras or TensorFlow.
"""
from __future__ import annotations

import importlib

_NAMES = {
    "tflite": ("Conversion", "MODES", "convert", "convert_file", "float_decoding_layers"),
    "calibration": ("representative_crops",),
    "report": ("op_report", "format_op_report"),
    "runtime": ("run_tflite",),
    "bench": ("measure", "append_csv", "load_runtime", "COLUMNS"),
}


def __getattr__(name):
    for module, names in _NAMES.items():
        if name in names:
            return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    if name in _NAMES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'kerasgp.deploy' has no attribute {name!r}")


__all__ = [name for names in _NAMES.values() for name in names]
