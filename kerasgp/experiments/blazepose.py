"""A production model beside ours (lesson 12): MediaPipe's BlazePose GHUM Full landmark model, scored on the
same LSPET val people on the joints both predict, and timed with the same bench in the same rounds.

    python -m kerasgp data fetch blazepose_full        # the .tflite, out of the mediapipe 0.10.14 wheel
    python -m kerasgp blazepose results/models/best-mobilenet_v2_160_more.keras ... --out results/blazepose.csv

BlazePose (Bazarevsky et al. 2020; the GHUM Full landmark model of MediaPipe 0.10.14) takes one 256x256 RGB
crop in [0, 1] and returns 39 landmarks x (x, y, z, visibility, presence), x and y in input pixels: 33 body
points, then 6 auxiliary ones for its tracker. It has no neck and no head top, so both models are scored on
the 12 limb joints they share (shoulders, elbows, wrists, hips, knees, ankles; both name left and right from
the person's side), PCKh with LSPET's head size, in original-image pixels.

Two crops for BlazePose. "centred": the crop our models get (the annotated box padded by 1.25, upright).
"aligned": the same centre and size, rotated so the line from mid-hip to mid-shoulder points up, as
MediaPipe's own detector aligns its crop before the landmark model runs; the angle here comes from the
annotation (the visible hips and shoulders; a person with no visible hip or no visible shoulder keeps the
upright crop), so this row is what
its pipeline would give with a perfect detector. Neither is BlazePose's real pipeline, and it was trained on
other images with other joint conventions (its hip points sit on the pelvis' sides, LSP's at the hip
joints): its figure says how a production model does on our crops, not which network is better.

Each `.keras` model is exported to TFLite float32 and int8 (as the deployment study does), each `.tflite`
is taken as it is; then every file, BlazePose's included, is timed against the others in interleaved rounds
per thread count (`deploy.bench.measure_rounds`). One CSV row per model, crop and thread count.
"""
from __future__ import annotations

import datetime
import tempfile
import warnings
from pathlib import Path

import numpy as np

from ..data import build_cache
from ..data.layouts import LSP14
from ..data.pipeline import PoseBatches
from ..data.sources import locate
from ..data.transforms import apply_affine, compose_affine, crop_matrices, invert_affine, warp
from ..deploy import convert
from ..deploy.bench import make_interpreter, measure_rounds
from ..machine import describe
from ..metrics import pckh
from ..pose.decoding import deployable_model
from ..pose.estimator import TFLitePoseModel, load_pose_model, model_input_size, predict_keypoints
from ..results import read_commit
from .deployment import check_timing, val_people
from .timing import write_rows

INPUT_SIZE = (256, 256)
LANDMARKS, VALUES = 39, 5  # x, y, z, visibility, presence
# LSP-14 joint -> BlazePose's 33-point topology (0 nose ... 11/12 shoulders, 13/14 elbows, 15/16 wrists,
# 23/24 hips, 25/26 knees, 27/28 ankles; odd = the person's left). Neck and head top have no counterpart.
FROM_BLAZEPOSE = {"r_ankle": 28, "r_knee": 26, "r_hip": 24, "l_hip": 23, "l_knee": 25, "l_ankle": 27,
                  "r_wrist": 16, "r_elbow": 14, "r_shoulder": 12, "l_shoulder": 11, "l_elbow": 13, "l_wrist": 15}
LIMBS = tuple(LSP14.index(name) for name in FROM_BLAZEPOSE)
NOT_SHARED = tuple(j for j in range(LSP14.num_joints) if j not in LIMBS)  # neck, head top
CROPS = ("centred", "aligned")
COLUMNS = ("model", "kind", "crop", "input_size", "pckh05_limbs", "pckh01_limbs", "pckh05_all", "people",
           "people_aligned", "threads", "median_ms", "spread_pct", "rounds", "model_bytes", "runtime", "xnnpack",
           "load1", "busy", "cpu", "arch", "commit", "date")


class BlazePoseLandmarks:
    """BlazePose's landmark `.tflite` behind `predict_on_batch`: {"keypoints": (B, 14, 2) input pixels in
    LSP-14 order (NaN for neck and head top), "confidence": (B, 14) its visibility, after the sigmoid}."""

    def __init__(self, path, threads: int = 1):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such .tflite file (python -m kerasgp data fetch blazepose_full)")
        self.interpreter = make_interpreter(self.path, threads)
        (detail,) = self.interpreter.get_input_details()
        shape = tuple(int(d) for d in detail["shape"])
        if shape != (1, *INPUT_SIZE[::-1], 3) or np.dtype(detail["dtype"]) != np.float32:
            raise ValueError(f"{self.path}: takes {shape} {np.dtype(detail['dtype'])}; "
                             f"BlazePose's landmark model takes (1, 256, 256, 3) float32")
        self.input_index = detail["index"]
        outputs = [d for d in self.interpreter.get_output_details() if tuple(d["shape"]) == (1, LANDMARKS * VALUES)]
        if len(outputs) != 1:
            raise ValueError(f"{self.path}: no (1, {LANDMARKS * VALUES}) landmark output; is it BlazePose's "
                             f"pose_landmark_full.tflite?")
        self.output_index = outputs[0]["index"]
        self.input_size = INPUT_SIZE

    def predict_on_batch(self, images) -> dict:
        images = np.asarray(images, dtype=np.float32)
        keypoints = np.full((len(images), LSP14.num_joints, 2), np.nan, dtype=np.float32)
        confidence = np.zeros((len(images), LSP14.num_joints), dtype=np.float32)
        for n, image in enumerate(images):
            self.interpreter.set_tensor(self.input_index, image[None])
            self.interpreter.invoke()
            landmarks = self.interpreter.get_tensor(self.output_index).reshape(LANDMARKS, VALUES)
            for j, b in zip(LIMBS, FROM_BLAZEPOSE.values()):
                keypoints[n, j] = landmarks[b, :2]
                confidence[n, j] = 0.5 * (1.0 + np.tanh(0.5 * landmarks[b, 3]))  # the sigmoid, without overflow
        return {"keypoints": keypoints, "confidence": confidence}


def upright_angles(keypoints, visible) -> np.ndarray:
    """(N,) degrees that turn each person's hip -> shoulder line straight up in a crop
    (`transforms.crop_matrices`' rotation): from the mean of the visible hips to the mean of the visible
    shoulders; NaN where no hip or no shoulder is visible."""
    keypoints, visible = np.asarray(keypoints, dtype=np.float64), np.asarray(visible) > 0

    def mean_of(names):
        joints = [LSP14.index(n) for n in names]
        weight = visible[:, joints, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (keypoints[:, joints] * weight).sum(1) / weight.sum(1)

    up = mean_of(("r_shoulder", "l_shoulder")) - mean_of(("r_hip", "l_hip"))
    angles = np.degrees(np.arctan2(up[:, 0], -up[:, 1]))
    return np.where(np.isfinite(up).all(1) & (np.linalg.norm(up, axis=1) > 0), angles, np.nan)


def aligned_batches(cache, batch_size: int = 64):
    """The cache's people as `PoseBatches` gives them, each crop rotated about its centre by
    `upright_angles` (0 where unknown): yields dicts with images, to_original and index."""
    angles = upright_angles(cache.keypoints, cache.visibility)
    crop_w, crop_h = cache.crop_size
    for start in range(0, len(cache), batch_size):
        idx = np.arange(start, min(start + batch_size, len(cache)))
        n = len(idx)
        center = np.tile([(crop_w - 1) / 2, (crop_h - 1) / 2], (n, 1))
        box = np.tile([crop_w / cache.margin, crop_h / cache.margin], (n, 1))
        matrices = crop_matrices(center, box, cache.input_size, np.nan_to_num(angles[idx]))
        images = np.stack([warp(cache.images[k], matrices[j], cache.input_size) for j, k in enumerate(idx)])
        yield {"images": images.astype(np.float32) * np.float32(1 / 255), "index": idx,
               "to_original": invert_affine(compose_affine(matrices, cache.to_crop[idx]))}


def score(model, cache, crop: str = "centred") -> dict:
    """PCKh@0.5 and @0.1 on the 12 limb joints (and @0.5 on all 14 where the model predicts them) of the
    cached people, in original pixels; crop "aligned" rotates each crop upright first (see the module)."""
    if crop == "centred":
        pred, rows = predict_keypoints(model, PoseBatches(cache, batch_size=64, targets="coords"))
    elif crop == "aligned":
        preds, rows = [], []
        for b in aligned_batches(cache):
            out = model.predict_on_batch(b["images"])
            preds.append(apply_affine(np.asarray(out["keypoints"], dtype=np.float32), b["to_original"]))
            rows.append(b["index"])
        pred, rows = np.concatenate(preds), np.concatenate(rows)
    else:
        raise ValueError(f"crop must be one of {CROPS}; got {crop!r}")
    gt = apply_affine(cache.keypoints[rows], invert_affine(cache.to_crop[rows]))
    visible, head = cache.visibility[rows], cache.head_size[rows]
    every = not np.isnan(pred[:, list(NOT_SHARED)]).any()
    return {"pckh05_limbs": pckh(pred, gt, visible, head, 0.5, exclude=NOT_SHARED).total,
            "pckh01_limbs": pckh(pred, gt, visible, head, 0.1, exclude=NOT_SHARED).total,
            "pckh05_all": pckh(pred, gt, visible, head, 0.5).total if every else float("nan"),
            "people": len(rows),
            "people_aligned": int(np.isfinite(upright_angles(cache.keypoints[rows], visible)).sum())
            if crop == "aligned" else ""}


def _kind(path: Path) -> str:
    return "int8" if path.stem.endswith("_int8") else "float32"


def run(models, out="results/blazepose.csv", blazepose=None, threads=(1, 2), rounds: int = 10, runs: int = 500,
        warmup: int = 10, limit: int | None = None, progress: bool = True):
    """Score and time BlazePose beside our pose models (`.keras` files, exported to float32 and int8 here,
    or `.tflite` files as they are); returns a pandas DataFrame and writes `out` when given.
    blazepose: its `.tflite` (default: the fetched `blazepose_full`); limit: the first N val people only."""
    from tqdm.auto import tqdm

    paths = [Path(p) for p in models]
    wrong = [str(p) for p in paths if not p.is_file() or p.suffix not in (".keras", ".tflite")]
    if wrong:
        raise FileNotFoundError(f"not .keras or .tflite files: {wrong}")
    blazepose = Path(blazepose) if blazepose else locate("blazepose_full") / "pose_landmark_full.tflite"
    threads = check_timing(threads, rounds, runs)
    people = val_people(limit)
    machine, commit = describe(), read_commit()
    date = datetime.datetime.now().isoformat(timespec="seconds")
    caches, scored = {}, []  # scored: (name, kind, crop, size, file, scores)

    def cache_for(size):
        if size not in caches:
            caches[size] = build_cache(people, size, progress=False)
        return caches[size]

    with tempfile.TemporaryDirectory(prefix="kerasgp-blazepose-") as folder:
        bar = tqdm(paths + [blazepose], desc="blazepose: convert and score", unit="model", disable=not progress)
        for path in bar:
            bar.set_postfix_str(path.name)
            if path == blazepose:
                model = BlazePoseLandmarks(path)
                for crop in CROPS:
                    scored.append(("blazepose_full", "BlazePose GHUM Full (float32)", crop, INPUT_SIZE, path,
                                   score(model, cache_for(INPUT_SIZE), crop)))
                continue
            files = {}
            if path.suffix == ".keras":
                model = deployable_model(load_pose_model(path))
                for mode in ("float32", "int8"):
                    files[mode] = Path(folder) / f"{path.stem}_{mode}.tflite"
                    convert(model, mode, representative="lspet" if mode == "int8" else None, out=files[mode])
            else:
                files[_kind(path)] = path
            for mode, file in files.items():
                model = TFLitePoseModel(file)
                size = model_input_size(model)
                scored.append((file.stem, f"ours ({mode})", "centred", size, file, score(model, cache_for(size))))
        rows = []
        every = list(dict.fromkeys(file for *_, file, _ in scored))
        for count in tqdm(threads, desc="blazepose: time", unit="thread count", disable=not progress):
            timed = dict(zip(every, measure_rounds(every, threads=count, rounds=rounds, runs=max(1, runs // rounds),
                                                   warmup=warmup)))
            for name, kind, crop, size, file, scores in scored:
                t = timed[file]
                rows.append({"model": name, "kind": kind, "crop": crop, "input_size": size[0],
                             **{k: (round(v, 2) if isinstance(v, float) else v) for k, v in scores.items()},
                             "threads": count, "median_ms": t["median_ms"], "spread_pct": t["spread_pct"],
                             "rounds": t["rounds"], "model_bytes": t["model_bytes"], "runtime": t["runtime"],
                             "xnnpack": t["xnnpack"], "load1": t["load1"], "busy": t["busy"], "cpu": machine["cpu"],
                             "arch": machine["arch"], "commit": commit, "date": date})
    if any(row["busy"] for row in rows):
        warnings.warn("other tasks were running while the models were timed (the busy column): time again on a "
                      "quiet machine", RuntimeWarning, stacklevel=2)
    return write_rows(rows, COLUMNS, out)
