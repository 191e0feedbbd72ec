"""`PoseModel`: a Functional pose model that knows itself.

After keras-hub's Task, which keeps its preprocessing with it: the head kind, SimCC's split ratio, the joint
layout and the input preprocessing are constructor arguments of the model and part of its saved config, so
a loaded `.keras` file is decoded, scored and exported from what it says about itself instead of from its
layer names or from arguments passed again. `build_pose_model` returns one.
"""
from __future__ import annotations

import keras

from ..data.layouts import LAYOUTS


@keras.saving.register_keras_serializable(package="kerasgp")
class PoseModel(keras.Model):
    """A Functional model (inputs -> outputs, as `keras.Model(inputs, outputs)`) with four facts about itself:

    head: the head kind, one of `estimator.HEADS` ("simcc", "heatmap", "deeppose", "ipr", "dsnt");
    split_ratio: SimCC's bins per input pixel (None for the other heads);
    joint_layout: the name of the `kerasgp.data` joint layout it predicts ("lsp14", "mpii16", "coco17");
    preprocessing: what its `InputNormalization` does to RGB in [0, 1] ({"mean", "std", "channel_order"}).

    The arguments after `name` are keyword-only, so Keras still treats the class as Functional: `get_config`
    is the layer graph plus these four, and `from_config` rebuilds the graph and hands them back."""

    def __init__(self, inputs, outputs, name=None, *, head: str | None = None, split_ratio: float | None = None,
                 joint_layout: str | None = None, preprocessing: dict | None = None, **kwargs):
        super().__init__(inputs, outputs, name=name, **kwargs)
        if joint_layout is not None and joint_layout not in LAYOUTS:
            raise ValueError(f"unknown joint layout {joint_layout!r}; known: {sorted(LAYOUTS)}")
        if split_ratio is not None and split_ratio <= 0:
            raise ValueError(f"split_ratio must be > 0 or None; got {split_ratio}")
        self.head = head
        self.split_ratio = None if split_ratio is None else float(split_ratio)
        self.joint_layout = joint_layout
        self.preprocessing = None if preprocessing is None else _plain(preprocessing)

    def get_config(self):
        return {**super().get_config(), "head": self.head, "split_ratio": self.split_ratio,
                "joint_layout": self.joint_layout, "preprocessing": self.preprocessing}


def _plain(preprocessing: dict) -> dict:
    """JSON-ready: tuples as lists (a saved and a freshly built model then compare equal)."""
    return {key: list(value) if isinstance(value, (tuple, list)) else value for key, value in preprocessing.items()}


def layout_for(num_joints: int) -> str | None:
    """The name of the only joint layout with `num_joints` joints, or None."""
    names = [name for name, layout in LAYOUTS.items() if layout.num_joints == num_joints]
    return names[0] if len(names) == 1 else None
