"""A top-down pose model = input normalisation + registry backbone + head; its decoding and evaluation.

Heads so far: SimCC (SA-SimDR) and the SimpleBaseline heatmap; the seed study's others (regression,
RLE, IPR, DSNT) join here.
"""
from __future__ import annotations

import keras
import numpy as np

from .. import backbones
from ..data import targets as T
from ..data.transforms import apply_affine, invert_affine
from ..metrics import pck_torso, pckh
from ..weights import PRETRAINED
from .heads import heatmap_head, simcc_head
from .preprocess import BGR_UNIT, IMAGENET, InputNormalization

# The input each pretrained backbone was trained on; a from-scratch twin uses the same, for a fair row.
PREPROCESSING = {"shufflenet_v2_x0.5": BGR_UNIT, "mobilenet_v2": IMAGENET}
HEADS = ("simcc", "heatmap")


def preprocessing_for(backbone: str, weights: str | None) -> dict:
    return PREPROCESSING.get(weights or backbone, IMAGENET)


def build_pose_model(backbone: str = "shufflenet_v2_x0.5", weights: str | None = None, input_size=(128, 128),
                     num_joints: int = 14, head: str = "simcc", feature: str = "stride32",
                     split_ratio: float = 2.0, dropout: float = 0.0, backbone_options: dict | None = None,
                     deconv_channels=None, name: str | None = None) -> keras.Model:
    """A Functional pose model taking RGB in [0, 1], (B, H, W, 3).

    deconv_channels: the SimpleBaseline deconvolutions of the head; default (64, 64, 64) for "heatmap"
    (stride 4) and none for "simcc" (the base recipe sets two, stride 8)."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; implemented: {HEADS}")
    width, height = input_size
    options = dict(backbone_options or {})
    layout = PRETRAINED.get(weights or backbone)
    if layout:  # the pretrained file's layout, kept for the from-scratch twin too, so only the weights differ
        options = {**layout["defaults"], **layout["options"], **options}
    body = backbones.get(backbone, weights=weights, input_shape=(height, width, 3), **options)
    if feature not in body.output:
        raise ValueError(f"backbone {backbone!r} has no feature {feature!r}; it has {sorted(body.output)}")
    inputs = keras.Input((height, width, 3), name="image")
    x = InputNormalization(**preprocessing_for(backbone, weights), name="normalize")(inputs)
    features = body(x)[feature]
    if head == "simcc":
        outputs = simcc_head(features, num_joints, input_size, split_ratio, dropout, tuple(deconv_channels or ()))
    else:
        outputs = heatmap_head(features, num_joints, tuple(deconv_channels or (64, 64, 64)))
    model = keras.Model(inputs, outputs, name=name or f"{backbone}_{head}")
    model.random_init_layers = getattr(body, "random_init_layers", None)
    return model


def decode_simcc(outputs, split_ratio: float = 2.0) -> np.ndarray:
    """Argmax decoding -> (B, K, 2) input pixels."""
    return T.decode_simcc(np.asarray(outputs[0]), np.asarray(outputs[1]), split_ratio)


def decode_heatmaps(heatmaps, input_size) -> np.ndarray:
    """Argmax, then a quarter-cell shift towards the higher neighbour (SimpleBaseline's decoding) ->
    (B, K, 2) input pixels."""
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    batch, map_h, map_w, joints = heatmaps.shape
    flat = heatmaps.transpose(0, 3, 1, 2).reshape(batch, joints, -1)
    idx = flat.argmax(-1)
    px, py = idx % map_w, idx // map_w
    maps = heatmaps.transpose(0, 3, 1, 2)
    b, k = np.meshgrid(np.arange(batch), np.arange(joints), indexing="ij")
    right, left = maps[b, k, py, np.minimum(px + 1, map_w - 1)], maps[b, k, py, np.maximum(px - 1, 0)]
    down, up = maps[b, k, np.minimum(py + 1, map_h - 1), px], maps[b, k, np.maximum(py - 1, 0), px]
    # no shift at the border, where one neighbour does not exist
    x = px + 0.25 * np.sign(right - left) * ((px > 0) & (px < map_w - 1))
    y = py + 0.25 * np.sign(down - up) * ((py > 0) & (py < map_h - 1))
    scale = np.array([(input_size[0] - 1) / (map_w - 1), (input_size[1] - 1) / (map_h - 1)], dtype=np.float32)
    return np.stack([x, y], -1).astype(np.float32) * scale


def decode(outputs, head: str, input_size, split_ratio: float = 2.0) -> np.ndarray:
    if head == "simcc":
        return decode_simcc(outputs, split_ratio)
    if head == "heatmap":
        return decode_heatmaps(outputs, input_size)
    raise ValueError(f"unknown head {head!r}; implemented: {HEADS}")


def head_of(model) -> str:
    """Which head a model built by build_pose_model carries, read from its layers."""
    names = {layer.name for layer in model.layers}
    return "simcc" if "simcc_x" in names else "heatmap" if "heatmap_maps" in names else "unknown"


def predict_keypoints(model, batches, split_ratio: float = 2.0, head: str | None = None):
    """Run `model` over a PoseBatches (no augmentation); keypoints in original-image pixels, and rows."""
    head = head or head_of(model)
    preds, rows = [], []
    for i in range(len(batches)):
        b = batches.batch(i)
        out = model.predict_on_batch(b["images"])
        preds.append(apply_affine(decode(out, head, batches.cache.input_size, split_ratio), b["to_original"]))
        rows.append(b["index"])
    return np.concatenate(preds), np.concatenate(rows)


def evaluate(model, cache, batch_size: int = 64, split_ratio: float = 2.0, indices=None, head: str | None = None) -> dict:
    """PCKh@0.5, PCKh@0.1 (per joint) and PCK@0.2 torso on the cached people, in original pixels."""
    from ..data.pipeline import PoseBatches

    batches = PoseBatches(cache, batch_size=batch_size, targets="coords", indices=indices)
    pred, rows = predict_keypoints(model, batches, split_ratio, head)
    gt = apply_affine(cache.keypoints[rows], invert_affine(cache.to_crop[rows]))
    visible = cache.visibility[rows]
    layout = cache.layout
    names = list(layout.joint_names)
    at05 = pckh(pred, gt, visible, cache.head_size[rows], 0.5, names)
    at01 = pckh(pred, gt, visible, cache.head_size[rows], 0.1, names)
    torso = pck_torso(pred, gt, visible, layout.torso_segment, 0.2, names) if layout.torso_segment else None
    return {"pckh@0.5": at05.total, "pckh@0.1": at01.total, "pck@0.2": torso.total if torso else float("nan"),
            "per_joint_pckh@0.5": at05.per_joint, "people": len(rows),
            "people_without_head_size": at05.people_without_norm}
