"""The ablation runner: trains every variant of a study under one recipe and seed, one CSV row each.

    python -m kerasgp ablate pretraining --scale lesson --out results/pretraining.csv

A variant already in the CSV (same variant and scale) is skipped unless force=True, so an interrupted
run resumes where it stopped. Rows record the overrides, the metrics on LSPET val, the parameter count,
the MACs and activation memory (kerasgp.analysis.cost), the Keras CPU latency at batch 1
(`keras_cpu_ms`, all cores, measured after training in the same process), the training time and throughput,
the machine, the Keras backend and the git commit.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os
import subprocess
import time
import warnings
from pathlib import Path

from ..machine import describe
from .studies import STUDIES, recipe
from .timing import keras_latency


def _commit() -> str:
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _caches(r: dict):
    from ..data import DataWarning, build_cache, load

    size = (r["input_size"], r["input_size"])
    out = {}
    for split, limit in (("train", r["train_people"]), ("val", r["val_people"])):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)  # the report travels with the row instead
            people = load(r["data"], split=split)
        if limit:
            people = dataclasses.replace(people, records=people.records[:limit], split=f"{split}{limit}")
        out[split] = build_cache(people, size, progress=False)
    return out["train"], out["val"]


def _progress_bar(total: int, desc: str, enabled: bool):
    """A Keras callback that advances a tqdm bar once per batch (stderr), closed at the end of training."""
    import keras
    from tqdm.auto import tqdm

    class ProgressBar(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.bar = tqdm(total=total, desc=desc, unit="batch", disable=not enabled, leave=False)

        def on_train_batch_end(self, batch, logs=None):
            self.bar.update(1)
            if logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}", refresh=False)

        def on_train_end(self, logs=None):
            self.bar.close()

    return ProgressBar()


def _augment(value):
    """The recipe's augmentation: True (mmpose defaults), False/None, or a dict of `Augment` fields (a
    dict, not an Augment, so that the row's overrides stay JSON)."""
    from ..data.transforms import Augment

    if isinstance(value, dict):
        return Augment(**value)
    return value


def model_path(save_dir, study: str, variant: str, scale: str) -> Path:
    return Path(save_dir) / f"{study}-{variant}-{scale}.keras"


def _init_from(model, reference: str, scale: str, save_dir) -> str:
    """init_from "STUDY/VARIANT": copy that variant's trained backbone (saved by an earlier run) into model."""
    from ..pose import load_pose_model
    from .training import copy_backbone

    study, _, variant = reference.partition("/")
    path = model_path(save_dir or "data/models", study, variant, scale)
    if not path.is_file():
        raise FileNotFoundError(f"init_from {reference!r}: {path} does not exist; train that variant first "
                                f"(python -m kerasgp ablate {study} --variants {variant} --scale {scale})")
    copy_backbone(load_pose_model(path), model)
    return str(path)


def train_variant(study: str, variant: str, scale: str = "lesson", progress: bool = True, save_dir=None) -> dict:
    """Train and evaluate one variant; return its CSV row."""
    import keras

    from ..analysis import cost
    from ..data import PoseBatches
    from ..pose import build_pose_model, evaluate
    from .training import Plan, PlanBatches, loss_of, model_options, simcc_sigma

    r = recipe(study, variant, scale)
    loss_name = loss_of(r)  # a bad head/loss pair fails before the data loads
    train_cache, val_cache = _caches(r)
    keras.utils.set_random_seed(r["seed"])
    size = (r["input_size"], r["input_size"])
    num_joints = train_cache.layout.num_joints
    model = build_pose_model(r["backbone"], r["weights"], size, num_joints, r["head"],
                             r["feature"], r["split_ratio"], deconv_channels=r["deconv_channels"],
                             backbone_options=r["backbone_options"], name=variant, **model_options(r))
    initialised_from = _init_from(model, r["init_from"], scale, save_dir) if r.get("init_from") else ""
    plan = Plan(model, r, num_joints)
    batches = PoseBatches(train_cache, r["batch_size"], targets=plan.targets, augment=_augment(r["augment"]),
                          seed=r["seed"], simcc_split_ratio=r["split_ratio"], simcc_sigma=simcc_sigma(r),
                          heatmap_stride=plan.heatmap_stride or 4)
    train = PlanBatches(batches, plan)
    steps = len(train) * r["epochs"]
    schedule = keras.optimizers.schedules.CosineDecay(r["learning_rate"], decay_steps=steps)
    plan.model.compile(optimizer=keras.optimizers.Adam(schedule), loss=plan.losses, loss_weights=plan.loss_weights)
    start = time.perf_counter()
    history = plan.model.fit(train, epochs=r["epochs"], verbose=0,
                             callbacks=[_progress_bar(steps, f"{study}/{variant}", progress)])
    train_s = time.perf_counter() - start
    metrics = evaluate(model, val_cache, split_ratio=r["split_ratio"])
    costs = cost(model)
    latency = keras_latency(model, runs=30)
    saved = ""
    if save_dir:
        saved = model_path(save_dir, study, variant, scale)
        saved.parent.mkdir(parents=True, exist_ok=True)
        model.save(saved)
    overrides = {k: v for k, v in r.items() if k in STUDIES[study][variant]}
    return {
        "study": study, "variant": variant, "scale": scale, "overrides": json.dumps(overrides, sort_keys=True),
        "backbone": r["backbone"], "weights": r["weights"] or "none (from scratch)", "head": r["head"],
        "loss": loss_name, "input_size": r["input_size"], "epochs": r["epochs"], "seed": r["seed"],
        "pckh@0.5": round(metrics["pckh@0.5"], 2), "pckh@0.1": round(metrics["pckh@0.1"], 2),
        "pck@0.2": round(metrics["pck@0.2"], 2),
        "per_joint_pckh@0.5": json.dumps({k: round(v, 1) for k, v in metrics["per_joint_pckh@0.5"].items()}),
        "params": model.count_params(), "macs": costs.macs, "activation_mb": round(costs.activation_bytes / 2**20, 2),
        "keras_cpu_ms": round(latency["median_ms"], 2), "random_init_layers": len(getattr(model, "random_init_layers", None) or []),
        "init_from": initialised_from, "train_people": len(train_cache), "val_people": metrics["people"],
        "val_people_without_head_size": metrics["people_without_head_size"],
        "final_loss": round(float(history.history["loss"][-1]), 4), "train_s": round(train_s, 1),
        "train_samples_per_s": round(len(train_cache) * r["epochs"] / train_s, 1),
        "model_file": str(saved), "backend": keras.backend.backend(), "keras": keras.__version__, "commit": _commit(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"), **describe(),
    }


def done_variants(out: Path, scale: str) -> set[str]:
    if not out.exists():
        return set()
    with open(out, newline="") as f:
        return {row["variant"] for row in csv.DictReader(f) if row.get("scale") == scale}


def append_row(out: Path, row: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    rows, fields = [], list(row)
    if out.exists():
        with open(out, newline="") as f:
            reader = csv.DictReader(f)
            rows = [r for r in reader if not (r["variant"] == row["variant"] and r.get("scale") == row["scale"])]
            fields += [k for k in (reader.fieldnames or []) if k not in fields]
    rows.append(row)
    write_csv(rows, out, fields)


def write_csv(rows, path, columns, extrasaction: str = "raise") -> Path:
    """Write `rows` under a header of `columns`, atomically (a temporary file, then a rename), so an
    interrupted run never leaves a half-written results file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction=extrasaction)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def run_study(study: str, scale: str = "lesson", out=None, force: bool = False, variants=None,
              progress: bool = True, save_dir=None) -> list[dict]:
    """Train the study's variants not yet in `out` (all with force); return the rows written."""
    from tqdm.auto import tqdm

    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; known: {sorted(STUDIES)}")
    names = list(variants or STUDIES[study])
    for name in names:
        recipe(study, name, scale)  # an unknown variant fails before any training
    out = Path(out or f"results/{study}.csv")
    done = set() if force else done_variants(out, scale)
    todo = [n for n in names if n not in done]
    rows = []
    for name in tqdm(todo, desc=f"study {study} ({scale})", unit="variant", disable=not progress):
        row = train_variant(study, name, scale, progress=progress, save_dir=save_dir)
        append_row(out, row)  # written at once: an interrupted study keeps what it finished
        rows.append(row)
    return rows
