"""The typed recipe: one study row's settings, checked once, in four sections.

A study variant is written as a flat dict of overrides on `BASE_RECIPE` (mmpose style, and what a CSV row's
"overrides" column records); `Recipe.from_dict` reads such a dict, fills what it leaves out from
`BASE_RECIPE`, checks every field and every pair of fields that must agree, and raises one `ValueError`
naming each problem. What comes out is frozen and split by who reads it:

- `ModelSection`: exactly the keyword arguments of `kerasgp.pose.build_pose_model`; the runner hands it to
  the builder unchanged (`ModelSection.build`), so the options the head and loss imply (RLE's sigma
  branch, SimCC's soft-argmax decoding) are decided here, once;
- `DataSection`: which people, at what size, how augmented, how scored (flip test);
- `TrainingSection`: schedule, batch, seed, and where the weights start (`init_from`);
- `LossSection`: the loss (the head's own when the recipe names none) and its settings, SimCC's target
  sigma in bins resolved for the input size.

`studies.recipe(study, variant, scale)` returns the checked flat dict (lessons read and edit it); the
runner, the training graph (`training.Plan`) and the schedules take either form through `as_recipe`.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from ..data import DATASETS
from ..data.transforms import Augment
from ..pose.estimator import HEADS, build_pose_model
from ..pose.heads import HEATMAP_FORMS
from ..pose.rle import Q_DISTRIBUTIONS

BASE_RECIPE = {
    "data": "lspet",
    "backbone": "shufflenet_v2_x0.5",
    "backbone_options": {},  # keyword arguments for kerasgp.backbones.get (width, depth, plan, ...)
    "weights": "shufflenet_v2_x0.5",  # the ported pretrained backbone (kerasgp.weights)
    "head": "simcc",  # SA-SimDR: Gaussian 1-D targets, soft-label cross-entropy
    "feature": "stride32",
    # Two SimpleBaseline deconvs (stride 32 -> 8) and ScaleNorm tokens before the SimCC linear layers:
    # on the bare 4x4 map (16 values per joint) the loss stalled near 9; without ScaleNorm it diverged.
    "deconv_channels": (64, 64),
    "input_size": 128,
    "split_ratio": 2.0,
    "simcc_sigma": 3.0,  # bins; the seed's 6 at a 256 input, scaled to 128
    "epochs": 12,
    "batch_size": 32,
    "learning_rate": 1e-3,  # Adam, at the global batch (data parallel splits the batch, keeps the rate)
    "lr_schedule": "cosine",  # cosine decay to 0 over the run, or "multistep" (kerasgp.experiments.schedules)
    "lr_milestones": None,  # "multistep": the epochs where the rate drops x0.1
    "warmup_steps": 0,  # linear warm-up iterations from 0.001x the rate
    "flip_test": False,  # score the row with the image and its mirror averaged (pose.decoding.with_flip_test)
    "augment": True,  # flip 0.5, scale +-0.25, rotation +-30 deg with p 0.6
    "seed": 0,
    "train_people": None,  # None: the whole train split (6,000)
    "val_people": None,  # None: the whole val split (2,000)
    # Data sets without an official split (the MPII and COCO samples): the share of IMAGES held out for val
    # (runner.split_by_image: sorted by file name, evenly spaced, at least one). LSPET keeps its own split.
    "val_fraction": 0.2,
    # The pose study's heads, losses and tricks (kerasgp.experiments.training); the defaults train as above.
    "loss": None,  # None: the head's own (simcc, heatmap MSE, SmoothL1, DSNT); "rle", "dsnt+rle", "simcc+rle"
    "gamma": 1.0,  # RLE's weight on the flow term's log sigma (the seed's "weighted log-sigma")
    "rle_q": "laplace",  # RLE's residual density Q: "laplace" (the paper's) or "gaussian"
    "sigma_loss": None,  # "bce" or "qfl": supervise sigma as a keypoint-presence score
    "sigma_loss_weight": 1.0,
    "sigma_feature": None,  # the map RLE's sigma branch reads; "conv5" with feature "stride32": two-map backbone
    "dsnt_weight": 1.0,  # DSNT's Jensen-Shannon regulariser weight w
    "dsnt_sigma_px": 1.0,  # DSNT's target sigma in map pixels (one pixel: 0.25 on 8x8, the seed's figure)
    "dropout": 0.0,
    "cosine_scale": None,  # SimCC's softmax normalisation: cosine logits times beta
    "heatmap_form": None,  # "simplebaseline" (3 x deconv 256 + 1x1) or "light" ([256, K])
    "joints_by_deconv": None,
    "neck_channels": None,  # the seed's "+1x1 conv" before the head
    "simcc_sigma_seed": None,  # SimCC sigma as the seed gives it (at 256 input), scaled to the input size
    "input_scale": 1.0,  # input_size times this (rounded to a multiple of 32): the "larger input" rows
    "init_from": None,  # "STUDY/VARIANT": start from that trained variant's backbone (the seed's * rows)
    "init_layers": "backbone",  # what init_from copies: "backbone", or "all" (the whole inference model: more epochs)
}
# Keys a runner adds to a study's dict: the scale it runs at (init_from finds that scale's model)
RUN_KEYS = {"scale": "lesson"}

LOSSES = ("simcc", "heatmap", "smoothl1", "dsnt", "rle", "dsnt+rle", "simcc+rle")
DEFAULT_LOSS = {"simcc": "simcc", "heatmap": "heatmap", "deeppose": "smoothl1", "ipr": "smoothl1", "dsnt": "dsnt"}
# which heads each loss can train
LOSS_HEADS = {"simcc": ("simcc",), "heatmap": ("heatmap",), "smoothl1": ("deeppose", "ipr", "dsnt"),
              "dsnt": ("dsnt",), "rle": ("deeppose", "ipr", "dsnt", "simcc"), "dsnt+rle": ("dsnt",),
              "simcc+rle": ("simcc",)}
SIGMA_LOSSES = ("bce", "qfl")
SCHEDULES = ("cosine", "multistep")
INIT_LAYERS = ("backbone", "all")


@dataclasses.dataclass(frozen=True)
class ModelSection:
    """The keyword arguments of `kerasgp.pose.build_pose_model` (besides num_joints and name, which the data
    set and the run give), one field each: `build` passes them on unchanged."""

    backbone: str
    weights: str | None
    input_size: tuple[int, int]
    head: str
    feature: str
    split_ratio: float
    dropout: float
    backbone_options: dict
    deconv_channels: tuple[int, ...] | None
    sigma: bool  # RLE's sigma branch: the loss has an RLE term
    sigma_feature: str | None
    simcc_decoding: str | None  # "soft_argmax" for RLE on SimCC (differentiable coordinates)
    cosine_scale: float | None
    heatmap_form: str | None
    joints_by_deconv: bool | None
    neck_channels: int | None

    def kwargs(self) -> dict:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    def build(self, num_joints: int = 14, name: str | None = None):
        """The untrained inference model (a `PoseModel`)."""
        return build_pose_model(num_joints=num_joints, name=name, **self.kwargs())


@dataclasses.dataclass(frozen=True)
class DataSection:
    data: str
    input_size: tuple[int, int]
    train_people: int | None
    val_people: int | None
    val_fraction: float
    augment: Any  # True (mmpose's defaults), False / None, or a dict of `Augment` fields
    flip_test: bool


@dataclasses.dataclass(frozen=True)
class TrainingSection:
    epochs: int
    batch_size: int
    learning_rate: float
    lr_schedule: str
    lr_milestones: tuple[int, ...] | None
    warmup_steps: int
    seed: int
    init_from: str | None
    init_layers: str
    scale: str


@dataclasses.dataclass(frozen=True)
class LossSection:
    name: str  # the recipe's loss, or its head's own
    gamma: float
    rle_q: str
    sigma_loss: str | None
    sigma_loss_weight: float
    dsnt_weight: float
    dsnt_sigma_px: float
    simcc_sigma: float  # bins, for the recipe's input size (0: one-hot, SimDR)


@dataclasses.dataclass(frozen=True)
class Recipe:
    model: ModelSection
    data: DataSection
    training: TrainingSection
    loss: LossSection

    @classmethod
    def from_dict(cls, r: dict) -> Recipe:
        """Check a flat recipe dict (missing keys: `BASE_RECIPE`'s) and split it into sections; every
        problem found is named in one ValueError."""
        return _parse(r)


def as_recipe(r) -> Recipe:
    """A `Recipe` as it is, a flat dict checked and split (`Recipe.from_dict`)."""
    return r if isinstance(r, Recipe) else Recipe.from_dict(r)


def _whole(value, low: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= low


def _number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _pair(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _loss_problems(r: dict) -> list[str]:
    loss = r["loss"] or DEFAULT_LOSS.get(r["head"])
    problems = []
    if loss not in LOSSES:
        problems.append(f"unknown loss {loss!r}; known: {LOSSES}")
    elif r["head"] not in LOSS_HEADS[loss]:
        problems.append(f"loss {loss!r} trains heads {LOSS_HEADS[loss]}, not {r['head']!r}")
    if r["sigma_loss"] not in (None, *SIGMA_LOSSES):
        problems.append(f"sigma_loss is one of {SIGMA_LOSSES} or None; got {r['sigma_loss']!r}")
    elif r["sigma_loss"] and "rle" not in str(loss):
        problems.append("sigma_loss supervises RLE's sigma branch; use it with an RLE loss")
    return problems


def _problems(r: dict) -> list[str]:
    problems = []
    unknown = sorted(set(r) - set(BASE_RECIPE) - set(RUN_KEYS))
    if unknown:
        problems.append(f"unknown recipe keys {unknown}; known: {sorted(BASE_RECIPE)}")
    if r["data"] not in DATASETS:
        problems.append(f"unknown data set {r['data']!r}; known: {list(DATASETS)}")
    if r["head"] not in HEADS:
        problems.append(f"unknown head {r['head']!r}; implemented: {HEADS}")
    else:
        problems += _loss_problems(r)
    size = r["input_size"]
    if not all(_whole(side, 1) for side in _pair(size)):
        problems.append(f"input_size is a whole number of pixels (or an (H, W) pair); got {size!r}")
    for key, low in (("epochs", 1), ("batch_size", 1), ("seed", 0), ("warmup_steps", 0)):
        if not _whole(r[key], low):
            problems.append(f"{key} is a whole number >= {low}; got {r[key]!r}")
    for key in ("train_people", "val_people"):
        if r[key] is not None and not _whole(r[key], 1):
            problems.append(f"{key} is None (the whole split) or a whole number >= 1; got {r[key]!r}")
    for key in ("learning_rate", "split_ratio"):
        if not _number(r[key]) or r[key] <= 0:
            problems.append(f"{key} is a number > 0; got {r[key]!r}")
    for key in ("simcc_sigma", "gamma", "sigma_loss_weight", "dsnt_weight", "dsnt_sigma_px"):
        if not _number(r[key]) or r[key] < 0:
            problems.append(f"{key} is a number >= 0; got {r[key]!r}")
    if r["simcc_sigma_seed"] is not None and (not _number(r["simcc_sigma_seed"]) or r["simcc_sigma_seed"] < 0):
        problems.append(f"simcc_sigma_seed is None or a number >= 0; got {r['simcc_sigma_seed']!r}")
    if not _number(r["dropout"]) or not 0 <= r["dropout"] < 1:
        problems.append(f"dropout is a rate in [0, 1); got {r['dropout']!r}")
    if not _number(r["val_fraction"]) or not 0 < r["val_fraction"] < 1:
        problems.append(f"val_fraction is the share of images held out for validation, in (0, 1); "
                        f"got {r['val_fraction']!r}")
    if r["lr_schedule"] not in SCHEDULES:
        problems.append(f"unknown lr_schedule {r['lr_schedule']!r}; known: {list(SCHEDULES)}")
    elif r["lr_schedule"] == "multistep" and _whole(r["epochs"], 1):
        milestones = tuple(r["lr_milestones"] or ())
        increasing = bool(milestones) and list(milestones) == sorted(milestones)
        if not increasing or not 0 < milestones[0] <= milestones[-1] < r["epochs"]:
            problems.append(f"lr_milestones {milestones!r} must be increasing epochs within the run's {r['epochs']}")
    if r["rle_q"] not in Q_DISTRIBUTIONS:
        problems.append(f"rle_q is one of {Q_DISTRIBUTIONS}; got {r['rle_q']!r}")
    if r["heatmap_form"] is not None and r["heatmap_form"] not in HEATMAP_FORMS:
        problems.append(f"heatmap_form is None or one of {sorted(HEATMAP_FORMS)}; got {r['heatmap_form']!r}")
    if r["init_layers"] not in INIT_LAYERS:
        problems.append(f"init_layers is 'backbone' or 'all'; got {r['init_layers']!r}")
    if r["init_from"] is not None and not re.fullmatch(r"[^/\s]+/[^/\s]+", str(r["init_from"])):
        problems.append(f"init_from is None or 'STUDY/VARIANT'; got {r['init_from']!r}")
    if not isinstance(r["backbone_options"], dict):
        problems.append(f"backbone_options is a dict of keyword arguments; got {r['backbone_options']!r}")
    augment = r["augment"]
    if isinstance(augment, dict):
        fields = {field.name for field in dataclasses.fields(Augment)}
        if set(augment) - fields:
            problems.append(f"augment has unknown fields {sorted(set(augment) - fields)}; Augment's: {sorted(fields)}")
    elif augment not in (True, False, None):
        problems.append(f"augment is True (mmpose's defaults), False / None, or a dict of Augment fields; got {augment!r}")
    return problems


def _parse(given: dict) -> Recipe:
    if not isinstance(given, dict):
        raise TypeError(f"a recipe is a dict of settings (studies.recipe) or a Recipe; got {type(given).__name__}")
    r = {**BASE_RECIPE, **RUN_KEYS, **given}
    problems = _problems(r)
    if problems:
        raise ValueError("; ".join(problems))
    loss = r["loss"] or DEFAULT_LOSS[r["head"]]
    rle = "rle" in loss
    size = _pair(r["input_size"])
    sigma = (float(r["simcc_sigma_seed"]) * size[0] / 256.0 if r["simcc_sigma_seed"] is not None
             else float(r["simcc_sigma"]))
    model = ModelSection(
        backbone=r["backbone"], weights=r["weights"], input_size=size, head=r["head"], feature=r["feature"],
        split_ratio=r["split_ratio"], dropout=r["dropout"], backbone_options=r["backbone_options"],
        deconv_channels=r["deconv_channels"], sigma=rle, sigma_feature=r["sigma_feature"] if rle else None,
        simcc_decoding="soft_argmax" if r["head"] == "simcc" and rle else None, cosine_scale=r["cosine_scale"],
        heatmap_form=r["heatmap_form"], joints_by_deconv=r["joints_by_deconv"], neck_channels=r["neck_channels"])
    data = DataSection(data=r["data"], input_size=size, train_people=r["train_people"], val_people=r["val_people"],
                       val_fraction=r["val_fraction"], augment=r["augment"], flip_test=bool(r["flip_test"]))
    training = TrainingSection(
        epochs=r["epochs"], batch_size=r["batch_size"], learning_rate=r["learning_rate"],
        lr_schedule=r["lr_schedule"], lr_milestones=tuple(r["lr_milestones"]) if r["lr_milestones"] else None,
        warmup_steps=r["warmup_steps"], seed=r["seed"], init_from=r["init_from"], init_layers=r["init_layers"],
        scale=r["scale"])
    losses = LossSection(name=loss, gamma=r["gamma"], rle_q=r["rle_q"], sigma_loss=r["sigma_loss"],
                         sigma_loss_weight=r["sigma_loss_weight"], dsnt_weight=r["dsnt_weight"],
                         dsnt_sigma_px=r["dsnt_sigma_px"], simcc_sigma=sigma)
    return Recipe(model, data, training, losses)
