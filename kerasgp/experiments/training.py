"""A recipe's loss -> the training graph and batches for `model.fit` (the pose study's heads and losses).

The inference model (`kerasgp.pose.build_pose_model`) is what gets evaluated, saved and exported. RLE, DSNT,
SmoothL1, heatmap MSE and the presence losses on sigma are *layers* of a separate training graph that
shares the inference model's layers: each maps [target, prediction, target weight] to a per-sample loss
(B,), compiled with `OutputAsLoss`. That keeps the flow of RLE (trainable weights) and every target input
out of the exported model, as RLE's paper stresses, and needs no per-output sample weights. SimCC's
cross-entropy stays a plain compiled loss on the logits, exactly as the base recipe has always trained.

Losses (recipe key "loss"; None picks the head's own):
- "simcc": SimDR / SA-SimDR cross-entropy to 1-D targets (one-hot when simcc_sigma is 0);
- "heatmap": SimpleBaseline's MSE against Gaussian maps, target-weighted;
- "smoothl1": SmoothL1 on crop-unit coordinates (DeepPose; IPR's L1 in its smooth form);
- "dsnt": DSNT's Euclidean loss + Jensen-Shannon regulariser (sigma one map pixel, weight w);
- "rle": residual log-likelihood with a RealNVP flow on the coordinates and sigma;
- "dsnt+rle", "simcc+rle": the first loss on the maps or vectors, RLE on the decoded coordinates.
sigma_loss "bce" or "qfl" adds a presence loss on 1 - mean(sigma) with the joint's target weight (labelled
and inside the crop) as its target. Simplification: QFL's soft quality target is this 0/1 presence, not
an IoU-like quality; the seed names the loss, not its target.
"""
from __future__ import annotations

import keras
import numpy as np

from ..pose import geometry, rle
from ..pose.losses import JointLoss
from .recipe import DEFAULT_LOSS, LOSS_HEADS, LOSSES, SIGMA_LOSSES, as_recipe  # noqa: F401 (names of the loss API)


def loss_of(r) -> str:
    """The recipe's loss: its own, or its head's (a `Recipe` or a flat dict, checked by `as_recipe`)."""
    return as_recipe(r).loss.name


def model_options(r) -> dict:
    """The keyword-only arguments of `build_pose_model` that the recipe's head and loss imply (its
    `ModelSection` holds them with the rest)."""
    model = as_recipe(r).model
    return {key: getattr(model, key) for key in ("dropout", "sigma", "sigma_feature", "cosine_scale", "heatmap_form",
                                                 "joints_by_deconv", "neck_channels", "simcc_decoding")
            if key != "simcc_decoding" or model.simcc_decoding}


def simcc_sigma(r) -> float:
    """SimCC's target sigma in bins: `simcc_sigma_seed` is the seed's value at a 256 input (4 or 6 at k=2),
    scaled to the recipe's input; else `simcc_sigma` as given (0 = one-hot, SimDR)."""
    return as_recipe(r).loss.simcc_sigma


def _outputs(model) -> dict:
    out = model.output
    if isinstance(out, dict):
        return out
    if isinstance(out, (list, tuple)):  # plain SimCC: [x logits, y logits]
        return {"simcc_x": out[0], "simcc_y": out[1]}
    return {"heatmap_maps": out}


class Plan:
    """The training graph of one recipe: `model` (fit this), `losses`, `loss_weights`, the targets the
    batches must carry, and `pack(batch) -> (x, y)` for a `PoseBatches.batch` dict."""

    def __init__(self, inference: keras.Model, r, num_joints: int):
        r = as_recipe(r)  # a Recipe, or a flat recipe dict checked here
        spec = r.loss
        self.loss = spec.name
        self.input_size = r.model.input_size
        outputs = _outputs(inference)
        self.heatmap_stride = None
        if self.loss == "simcc" and not isinstance(inference.output, dict):
            # the base recipe, unchanged: the model itself, CE on [x, y] logits, targets (x, y)
            self.model = inference
            ce = keras.losses.CategoricalCrossentropy(from_logits=True)
            self.losses, self.loss_weights, self.targets = [ce, ce], None, ("simcc",)
            self.inputs = None
            return
        image = inference.inputs[0]
        inputs, outs, losses, weights = {"image": image}, {}, {}, {}

        def add_input(name, shape):
            if name not in inputs:
                inputs[name] = keras.Input(shape, name=name)
            return inputs[name]

        target_weight = lambda: add_input("target_weight", (num_joints,))  # noqa: E731
        if "simcc" in self.loss:
            ce = keras.losses.CategoricalCrossentropy(from_logits=True)
            for axis in ("x", "y"):
                outs[f"simcc_{axis}"] = outputs[f"simcc_{axis}"]
                losses[f"simcc_{axis}"], weights[f"simcc_{axis}"] = ce, 1.0
        if self.loss == "heatmap":
            maps = outputs["heatmap_maps"]
            self.heatmap_stride = self.input_size[0] // int(maps.shape[2])
            heatmap_target = add_input("heatmap_target", tuple(maps.shape[1:]))
            outs["heatmap_loss"] = JointLoss("heatmap_mse", name="heatmap_loss")([heatmap_target, maps, target_weight()])
        if self.loss == "smoothl1":
            target = add_input("target", (num_joints, 2))
            outs["smoothl1_loss"] = JointLoss("smoothl1", name="smoothl1_loss")(
                [target, outputs["coordinates"], target_weight()])
        if "dsnt" in self.loss:
            maps = outputs["heatmaps"]
            sigma = geometry.dsnt_sigma(int(maps.shape[2]), spec.dsnt_sigma_px)
            dsnt_target = add_input("dsnt_target", (num_joints, 2))
            outs["dsnt_loss"] = JointLoss("dsnt", {"sigma": sigma, "regularization_weight": spec.dsnt_weight},
                                          name="dsnt_loss")([dsnt_target, maps, target_weight()])
        if "rle" in self.loss:
            target = add_input("target", (num_joints, 2))
            outs["rle_loss"] = rle.RLELoss(q_distribution=spec.rle_q, gamma=spec.gamma,
                                         name="rle_loss")([outputs["coordinates"], outputs["sigma"], target,
                                                           target_weight()])
        if spec.sigma_loss:
            presence = add_input("presence_target", (num_joints,))
            outs["sigma_loss"] = JointLoss(spec.sigma_loss, name="sigma_loss")([presence, outputs["sigma"]])
        for name in outs:
            if name.endswith("_loss"):
                losses[name] = rle.OutputAsLoss()
                weights[name] = float(spec.sigma_loss_weight) if name == "sigma_loss" else 1.0
        self.inputs = tuple(inputs)
        self.model = keras.Model(inputs, outs, name=f"{inference.name}_training")
        self.losses, self.loss_weights = losses, weights
        self.targets = tuple(t for t, needed in (("simcc", "simcc" in self.loss), ("heatmap", self.loss == "heatmap"),
                                                 ("coords", "target" in inputs)) if needed)

    def pack(self, b: dict):
        """A `PoseBatches.batch` dict -> (x, y) for this plan's model."""
        if self.inputs is None:
            return b["images"], b["simcc"]
        sources = {"image": lambda: b["images"], "target_weight": lambda: b["target_weight"],
                   "target": lambda: b["coords"], "heatmap_target": lambda: b["heatmap"],
                   "dsnt_target": lambda: geometry.normalized_coordinates(b["keypoints"], self.input_size).astype(np.float32),
                   "presence_target": lambda: b["target_weight"]}
        x = {name: sources[name]() for name in self.inputs}
        n = len(b["images"])
        y = {name: (b["simcc"][0] if name == "simcc_x" else b["simcc"][1]) if name.startswith("simcc_")
             else np.zeros((n,), np.float32) for name in self.losses}
        return x, y


class PlanBatches(keras.utils.PyDataset):
    """A `PoseBatches` packed for a `Plan`'s training model."""

    def __init__(self, batches, plan: Plan, **pydataset_kwargs):
        super().__init__(**pydataset_kwargs)
        self.batches, self.plan = batches, plan

    def __len__(self) -> int:
        return len(self.batches)

    def on_epoch_end(self) -> None:
        self.batches.on_epoch_end()

    def __getitem__(self, i: int):
        return self.plan.pack(self.batches.batch(i))


def copy_backbone(source: keras.Model, target: keras.Model) -> str:
    """Copy the nested backbone's weights of one pose model into another (the seed's * rows: a backbone
    pretrained with the heatmap head, then trained with RLE). Returns the backbone's name."""
    def body(model):
        nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
        if len(nested) != 1:
            raise ValueError(f"{model.name}: expected one nested backbone model, found {len(nested)}")
        return nested[0]

    return _copy_weights(body(source), body(target), "init_from needs the same backbone and input size")


def copy_model(source: keras.Model, target: keras.Model) -> str:
    """Copy every weight of one inference model into another of the same architecture (init_layers "all":
    a run that trains a finished variant further). Returns the target's name."""
    return _copy_weights(source, target, "init_layers 'all' needs the same recipe (backbone, head, input size)")


def _copy_weights(source: keras.Model, target: keras.Model, needs: str) -> str:
    """set_weights after checking the shapes, so a mismatch names both models instead of Keras' bare error."""
    shapes = lambda m: [tuple(w.shape) for w in m.weights]  # noqa: E731
    if shapes(source) != shapes(target):
        raise ValueError(f"{source.name!r} and {target.name!r} differ in their weights' shapes; {needs}")
    target.set_weights(source.get_weights())
    return target.name
