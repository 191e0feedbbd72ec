"""A top-down pose model = input normalisation + registry backbone + head; its decoding and evaluation.

Heads (lesson 10; heads.py names the papers): "simcc" (SimDR / SA-SimDR), "heatmap"
(SimpleBaseline), "deeppose" (GAP + FC regression), "ipr" (Integral Pose Regression, soft-argmax) and
"dsnt" (the same soft-argmax, heatmap logits returned for DSNT's regulariser). Any of them but "heatmap"
takes RLE's sigma branch (`sigma=True`), fed by `sigma_feature` (the seed's two-map backbone: the 1024-d
final conv "conv5" for sigma, the stage output `feature` for localisation).

Outputs: "simcc" without decoding or sigma returns [x logits, y logits] and "heatmap" one (B, h, w, K)
tensor (as before); every other model returns a dict keyed by output layer name: "coordinates" (B, K, 2) in
crop units (x / W - 0.5), "sigma" (B, K, 2), "heatmaps" (DSNT's logits), "simcc_x" / "simcc_y".
`decoding.deployable_model` turns any of them into the exported form (keypoints in pixels + confidence).
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import keras
import numpy as np

from .. import backbones, layers  # noqa: F401  (layers: load_keras needs its layers registered)
from ..data import DATASETS, DataWarning, build_cache, default_split, load
from ..data.coco import coco_api
from ..data.layouts import LSP14, MPII_TO_LSP
from ..data.pipeline import PoseBatches
from ..data.transforms import apply_affine, invert_affine
from ..deploy.bench import make_interpreter
from ..deploy.runtime import run_tflite
from ..metrics import coco_keypoint_ap, pck_torso, pckh
from ..presets import PRESETS, preprocessing_for
from .decoding import (  # noqa: F401
    confidence,
    crop_units_to_pixels,
    decode,
    decode_heatmaps,
    decode_simcc,
    deployable_model,
    image_input,
    output_kind,
    with_flip_test,
)
from .heads import (
    HEATMAP_FORMS,
    SIMCC_DECODINGS,
    SimCCDecode,
    dsnt_head,
    heatmap_head,
    integral_head,
    regression_head,
    sigma_head,
    simcc_head,
)
from .model import PoseModel, layout_for
from .preprocess import InputNormalization

HEADS = ("simcc", "heatmap", "deeppose", "ipr", "dsnt")


def _feature(outputs: dict, name: str, backbone: str, argument: str):
    if name not in outputs:
        raise ValueError(f"backbone {backbone!r} has no feature {name!r} ({argument}); it has {sorted(outputs)}")
    return outputs[name]


def build_pose_model(backbone: str = "shufflenet_v2_x0.5", weights: str | None = None, input_size=(128, 128),
                     num_joints: int = 14, head: str = "simcc", feature: str = "stride32",
                     split_ratio: float = 2.0, dropout: float = 0.0, backbone_options: dict | None = None,
                     deconv_channels=None, name: str | None = None, *, sigma: bool = False,
                     sigma_feature: str | None = None, simcc_decoding: str | None = None,
                     cosine_scale: float | None = None, heatmap_form: str | None = None,
                     joints_by_deconv: bool | None = None, neck_channels: int | None = None,
                     joint_layout: str | None = None) -> PoseModel:
    """A Functional pose model taking RGB in [0, 1], (B, H, W, 3): a `PoseModel`, whose config records its head,
    split ratio (SimCC), joint layout and preprocessing.

    deconv_channels: the SimpleBaseline deconvolutions of the head; default (64, 64, 64) for "heatmap"
    (stride 4) and none for the others (the SimCC base recipe sets two, stride 8; IPR / DSNT read the
    backbone's map directly, as the seed's 8x8 DSNT).
    Keyword-only additions (the seed's heads and tricks):
    sigma: add RLE's sigma branch (GAP + FC + sigmoid, "sigma" output), not for "heatmap";
    sigma_feature: the backbone map the sigma branch reads (default `feature`; the two-map backbone is
    feature="stride32", sigma_feature="conv5");
    simcc_decoding: "argmax" or "soft_argmax" adds SimCC's decoded "coordinates" output (soft-argmax is
    differentiable, for RLE on SimCC);
    cosine_scale: SimCC's softmax normalisation (cosine logits times beta, ~15);
    heatmap_form: "simplebaseline" (3 x deconv 256 + 1x1) or "light" ([256, K]) for "heatmap", "ipr", "dsnt";
    joints_by_deconv: the last upsampling is a deconv to the K maps (the light form), overrides the form's.
    dropout: before the FC layers of DeepPose and sigma, before SimCC's linear layers;
    neck_channels: the seed's "+1x1 conv", a 1x1 conv (BN, ReLU) of that many channels between the
    localisation feature and the head;
    joint_layout: the `kerasgp.data` layout the K joints follow (default: the one layout with num_joints
    joints, "lsp14" for 14)."""
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; implemented: {HEADS}")
    if sigma and head == "heatmap":
        raise ValueError("the sigma branch is RLE's and needs a coordinate head ('deeppose', 'ipr', 'dsnt' or "
                         "'simcc'); the 'heatmap' head has no coordinates for it")
    if simcc_decoding is not None and (head != "simcc" or simcc_decoding not in SIMCC_DECODINGS):
        raise ValueError(f"simcc_decoding applies to head 'simcc' and is one of {SIMCC_DECODINGS}; got "
                         f"{simcc_decoding!r} for head {head!r}")
    if cosine_scale is not None and head != "simcc":
        raise ValueError(f"cosine_scale is SimCC's softmax normalisation; head {head!r} has no SimCC bins")
    if heatmap_form is not None and (heatmap_form not in HEATMAP_FORMS or head not in ("heatmap", "ipr", "dsnt")):
        raise ValueError(f"heatmap_form is one of {sorted(HEATMAP_FORMS)} for heads 'heatmap', 'ipr', 'dsnt'; got "
                         f"{heatmap_form!r} for head {head!r}")
    width, height = input_size
    options = dict(backbone_options or {})
    preset = PRESETS.get(weights or backbone)
    if preset and preset.weights:  # the pretrained file's layout, kept for the from-scratch twin too, so only
        options = {**preset.weights.defaults, **preset.weights.options, **options}  # the weights differ
    if sigma_feature == "conv5" and options.get("include_conv5") is False and \
            "include_conv5" not in (backbone_options or {}):
        options["include_conv5"] = True  # the two-map backbone asks for the final conv the layout leaves out
    body = backbones.get(backbone, weights=weights, input_shape=(height, width, 3), **options)
    if feature not in body.output:
        raise ValueError(f"backbone {backbone!r} has no feature {feature!r}; it has {sorted(body.output)}")
    if sigma_feature is not None and not sigma:
        raise ValueError(f"sigma_feature={sigma_feature!r} feeds the sigma branch; pass sigma=True too")
    inputs = keras.Input((height, width, 3), name="image")
    x = InputNormalization(**preprocessing_for(backbone, weights), name="normalize")(inputs)
    maps = body(x)
    features = maps[feature]
    if neck_channels:
        features = keras.layers.Conv2D(neck_channels, 1, use_bias=False, name="neck_1x1")(features)
        features = keras.layers.BatchNormalization(name="neck_1x1_bn")(features)
        features = keras.layers.ReLU(name="neck_1x1_relu")(features)
    form = dict(HEATMAP_FORMS[heatmap_form]) if heatmap_form else {}
    if deconv_channels is not None:
        form["deconv_channels"] = tuple(deconv_channels)
    if joints_by_deconv is not None:
        form["joints_by_deconv"] = joints_by_deconv
    deconvs, by_deconv = tuple(form.get("deconv_channels", ())), form.get("joints_by_deconv", False)
    if head == "simcc":
        outputs = simcc_head(features, num_joints, input_size, split_ratio, dropout, deconvs,
                             cosine_scale=cosine_scale)
        if simcc_decoding or sigma:
            outputs = {"simcc_x": outputs[0], "simcc_y": outputs[1]}
        if simcc_decoding:
            outputs["coordinates"] = SimCCDecode(input_size, split_ratio, simcc_decoding, "crop",
                                                 name="coordinates")([outputs["simcc_x"], outputs["simcc_y"]])
    elif head == "heatmap":
        outputs = heatmap_head(features, num_joints, tuple(form.get("deconv_channels", (64, 64, 64))),
                               joints_by_deconv=by_deconv)
    elif head == "deeppose":
        outputs = {"coordinates": regression_head(features, num_joints, dropout)}
    elif head == "ipr":
        outputs = integral_head(features, num_joints, input_size, deconvs, by_deconv)
    else:
        outputs = dsnt_head(features, num_joints, input_size, deconvs, by_deconv)
    if sigma:
        sigma_map = _feature(maps, sigma_feature or feature, backbone, "sigma_feature")
        outputs["sigma"] = sigma_head(sigma_map, num_joints, dropout)
    model = PoseModel(inputs, outputs, name=name or f"{backbone}_{head}", head=head,
                      split_ratio=split_ratio if head == "simcc" else None,
                      joint_layout=joint_layout or layout_for(num_joints),
                      preprocessing=preprocessing_for(backbone, weights))
    model.random_init_layers = getattr(body, "random_init_layers", None)
    return model


def head_of(model) -> str:
    """Which head a pose model carries: "deployed" for the output of `deployable_model`, else the head its
    config records (`PoseModel.head`). A file saved before pose models recorded it is read from its layer
    names; "unknown" for anything else."""
    names = {layer.name for layer in model.layers}
    if "keypoints" in names:
        return "deployed"
    if getattr(model, "head", None):
        return model.head
    for layer_name, head in (("simcc_x", "simcc"), ("heatmap_maps", "heatmap")):
        if layer_name in names:
            return head
    if "heatmaps" in names:
        return "dsnt" if isinstance(model.output, dict) and "heatmaps" in model.output else "ipr"
    return "deeppose" if "coordinates" in names else "unknown"


def predict_keypoints(model, batches, split_ratio: float | None = None, head: str | None = None,
                      with_confidence: bool = False):
    """Run `model` (anything with `predict_on_batch`, e.g. a Keras model or `TFLitePoseModel`) over a
    PoseBatches (no augmentation) -> keypoints (N, K, 2) in original-image pixels and the cache rows, and
    with_confidence the (N, K) confidence (None when the outputs carry none).

    split_ratio: SimCC's; None takes the model's own (`PoseModel.split_ratio`), else reads it from the
    vectors' length and the input width. head: "simcc" or "heatmap" to force that decoding; None reads the
    outputs (`decoding.output_kind`)."""
    if split_ratio is None:
        split_ratio = getattr(model, "split_ratio", None)
    preds, rows, scores = [], [], []
    for i in range(len(batches)):
        b = batches.batch(i)
        out = model.predict_on_batch(b["images"])
        preds.append(apply_affine(decode(out, head, batches.cache.input_size, split_ratio), b["to_original"]))
        rows.append(b["index"])
        scores.append(confidence(out))
    pred, rows = np.concatenate(preds), np.concatenate(rows)
    if not with_confidence:
        return pred, rows
    return pred, rows, (None if any(s is None for s in scores) else np.concatenate(scores))


def _joint_selection(num_predicted: int, layout):
    """(gt joint indices or None, the layout of the predicted joints): a 14-joint LSP model on MPII-16 data
    is scored on MPII's 14 LSP joints (MPII less pelvis and thorax); other mismatches are errors."""
    if num_predicted == layout.num_joints:
        return None, layout
    if layout.name == "mpii16" and num_predicted == LSP14.num_joints:
        return MPII_TO_LSP, LSP14
    raise ValueError(f"the model predicts {num_predicted} joints and the data set's layout {layout.name!r} has "
                     f"{layout.num_joints}; only a 14-joint (LSP) model can be scored on MPII-16 data")


def evaluate(model, cache, batch_size: int = 64, split_ratio: float | None = None, indices=None,
             head: str | None = None) -> dict:
    """PCKh@0.5, PCKh@0.1 (per joint) and PCK@0.2 torso on the cached people, in original pixels.

    On MPII-16 data "pckh@0.5_official" adds MPII's official total (Andriluka et al. 2014, as mmpose's
    MpiiPCKAccuracy): pelvis and thorax left out, joints counted where the annotation labels them
    (joints_vis). A 14-joint LSP model is scored on those same 14 joints, so there it equals "pckh@0.5"."""
    batches = PoseBatches(cache, batch_size=batch_size, targets="coords", indices=indices)
    pred, rows = predict_keypoints(model, batches, split_ratio, head)
    gt = apply_affine(cache.keypoints[rows], invert_affine(cache.to_crop[rows]))
    visible = cache.visibility[rows]
    selection, layout = _joint_selection(pred.shape[1], cache.layout)
    if selection is not None:
        gt, visible = gt[:, selection], visible[:, selection]
    names = list(layout.joint_names)
    at05 = pckh(pred, gt, visible, cache.head_size[rows], 0.5, names)
    at01 = pckh(pred, gt, visible, cache.head_size[rows], 0.1, names)
    torso = pck_torso(pred, gt, visible, layout.torso_segment, 0.2, names) if layout.torso_segment else None
    result = {"pckh@0.5": at05.total, "pckh@0.1": at01.total, "pck@0.2": torso.total if torso else float("nan"),
              "per_joint_pckh@0.5": at05.per_joint, "people": len(rows),
              "people_without_head_size": at05.people_without_norm}
    if cache.layout.name == "mpii16":
        exclude = (6, 7) if layout.name == "mpii16" else ()  # pelvis, thorax (absent from LSP's 14 joints)
        result["pckh@0.5_official"] = pckh(pred, gt, visible, cache.head_size[rows], 0.5, names, exclude).total
    return result


def evaluate_coco(model, people, cache, batch_size: int = 64, split_ratio: float | None = None) -> dict:
    """COCO keypoint AP / AR (OKS, pycocotools' COCOeval) of a 17-joint model on the cached COCO people.

    Top-down on the ground-truth boxes, one prediction per annotated person; its score is the mean
    confidence of its joints when the model gives one (a deployed model, or RLE's sigma), else 1. Only the
    images that hold an evaluated person are scored."""
    if people.layout.name != "coco17":
        raise ValueError(f"OKS AP needs COCO-17 data; {people.name!r} has the layout {people.layout.name!r}")
    try:
        import pycocotools  # noqa: F401
    except ImportError:
        raise ImportError("OKS AP is computed by pycocotools, which is not installed: pip install pycocotools "
                          "(or conda install -c conda-forge pycocotools)") from None
    batches = PoseBatches(cache, batch_size=batch_size, targets="coords")
    pred, rows, scores = predict_keypoints(model, batches, split_ratio, with_confidence=True)
    if pred.shape[1] != 17:
        raise ValueError(f"OKS AP needs a 17-joint (COCO) model; this one predicts {pred.shape[1]} joints")
    by_index = {record.index: record for record in people.records}
    predictions = []
    for n, row in enumerate(rows):
        record = by_index[int(cache.index[row])]
        joint_scores = np.ones(17, dtype=np.float32) if scores is None else scores[n]
        keypoints = np.concatenate([pred[n], joint_scores[:, None]], axis=1)  # (17, 3): x, y, score
        predictions.append({"image_id": record.image_id, "category_id": 1, "score": float(joint_scores.mean()),
                            "keypoints": [float(v) for v in keypoints.ravel()]})
    image_ids = sorted({p["image_id"] for p in predictions})
    result = coco_keypoint_ap(coco_api(str(people.source_files[0])), predictions, image_ids)
    return {**result, "people": len(rows), "images": len(image_ids)}


class TFLitePoseModel:
    """A converted `.tflite` pose model behind the `predict_on_batch` interface of a Keras model, run by
    `kerasgp.deploy.run_tflite` (inputs quantised and outputs dequantised for an int8 model)."""

    def __init__(self, path, threads: int = 1):
        self.path, self.threads = Path(path), threads
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such .tflite file")
        self.content = self.path.read_bytes()
        details = make_interpreter(self.content, xnnpack=False).get_signature_runner().get_input_details()
        if len(details) != 1:
            raise ValueError(f"{self.path} takes {len(details)} inputs; a pose model takes one image")
        (detail,) = details.values()
        _, height, width, _ = (int(d) for d in detail["shape"])
        self.input_size = (width, height)
        self.name = self.path.stem

    def predict_on_batch(self, images):
        return run_tflite(self.content, images, threads=self.threads)


def load_pose_model(path):
    """A saved pose model: a `.keras` file (loaded in safe mode) or a `.tflite` file (`TFLitePoseModel`)."""
    path = Path(path)
    if path.suffix == ".tflite":
        return TFLitePoseModel(path)
    if path.suffix != ".keras":
        raise ValueError(f"a pose model is a .keras or .tflite file; got {path}")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such .keras file")
    return load_keras(path)


def load_keras(path):
    """Load a `.keras` file in safe mode, with kerasgp's layers registered (importing kerasgp.layers,
    kerasgp.backbones and kerasgp.pose registers them; this module imports all three)."""
    return keras.saving.load_model(path, safe_mode=True, compile=False)


def model_input_size(model) -> tuple[int, int]:
    """(width, height) of a Keras pose model or a `TFLitePoseModel`."""
    if isinstance(model, TFLitePoseModel):
        return model.input_size

    image = image_input(model)
    return int(image.shape[2]), int(image.shape[1])


# the evaluate command's data names -> kerasgp.data's; the full names are accepted too
EVALUATION_DATA = {"coco": "coco-sample", **{name: name for name in ("lspet", "lsp", "mpii", "coco2017")}}


def evaluate_file(model_path, data: str = "lspet", root=None, split: str | None = None, limit: int | None = None,
                  batch_size: int = 32, flip_test: bool = False) -> dict:
    """`python -m kerasgp evaluate`: a saved `.keras` or `.tflite` pose model on a data set, at the model's
    input size. PCKh@0.5 / @0.1 (and PCK@0.2 torso where the layout has one) for LSPET, LSP and MPII; OKS AP
    for COCO (pycocotools). data: any `kerasgp.data.DATASETS` name ("lspet", "lsp", "mpii", "coco2017", the
    samples) or "coco" (the COCO sample); split: one of the data set's splits, by default
    `kerasgp.data.default_split` (LSPET val, LSP test, MPII val, COCO val2017); limit: only the first N
    people (a quick check).
    flip_test: a `.keras` model scored with the flip test (`decoding.flip_test_model`, the data set's
    left/right pairs); a `.tflite` file carries its flip test inside, if it was exported with one."""
    name = EVALUATION_DATA.get(data, data)
    if name not in DATASETS:
        raise ValueError(f"unknown data set {data!r}; choose from {sorted(EVALUATION_DATA)} or {list(DATASETS)}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 person; got {limit}")
    path = Path(model_path)  # a wrong path fails before the data loads, and the data before the model loads
    if path.suffix in (".keras", ".tflite") and not path.is_file():
        raise FileNotFoundError(f"{path}: no such {path.suffix} file")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # what the loader skipped is reported in the result
        people = load(name, split=split or default_split(name), root=root)
    model = load_pose_model(model_path)
    if flip_test and isinstance(model, TFLitePoseModel):
        raise ValueError(f"{model_path}: a .tflite model runs as it was exported; export it with --flip-test instead")
    input_size = model_input_size(model)
    if flip_test:  # the left/right pairs of the joints the model predicts (LSP-14 for an LSP model on MPII)

        model = with_flip_test(model)
    if limit is not None and limit < len(people):
        people = dataclasses.replace(people, records=people.records[:limit], split=f"{people.split or 'all'}-first{limit}")
    cache = build_cache(people, input_size, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Keras' predict_on_batch warnings about its input names
        if people.layout.name == "coco17":
            metrics = evaluate_coco(model, people, cache, batch_size)
        else:
            metrics = evaluate(model, cache, batch_size)
    return {"model": str(model_path), "data": name, "split": people.split, "input_size": list(input_size),
            "flip_test": bool(flip_test), "skipped_by_loader": sum(people.report.skipped.values()), **metrics}
