"""The Functional graph behind a Keras model, shared by the cost counter and the path analyser.

Both walk Keras' own node structure (`_nodes_by_depth`, `_inputs`, `_outputs`): private attributes of
keras.src.ops.function.Function, stable across Keras 3.x so far; this is the one place to fix if they move.
"""
from __future__ import annotations


def functional_graph(model):
    """The Function behind a Functional model or a built Sequential model, else None."""
    if hasattr(model, "_nodes_by_depth") and hasattr(model, "_inputs") and hasattr(model, "_outputs"):
        return model
    functional = getattr(model, "_functional", None)  # keras.Sequential builds one on its first input
    if functional is not None and hasattr(functional, "_nodes_by_depth"):
        return functional
    return None
