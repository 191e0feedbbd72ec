"""kerasgp: the package behind the workbook's lessons (see README.md).

Submodules are imported on first use, so `import kerasgp` stays light (the TFLite bench path must not
pull in Keras or TensorFlow).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
_SUBMODULES = ("data", "metrics", "machine", "viz", "layers", "backbones", "weights", "pose", "experiments", "analysis", "deploy")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'kerasgp' has no attribute {name!r}")
