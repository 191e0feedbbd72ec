"""The ablation runner: trains every variant of a study under one recipe and seed, one CSV row each.

    python -m kerasgp ablate pretraining --scale lesson --out results/pretraining.csv

A variant already in the CSV (same variant and scale) is skipped unless force=True, so an interrupted
study resumes at the variant it stopped in; with a save folder (`--save-models`, default data/models) that
variant's training state is saved after every epoch under checkpoints/, so it resumes at the epoch after
the last one saved and a long schedule can run in several parts. Rows record the overrides, the metrics on LSPET val, the parameter count,
the MACs and activation memory (kerasgp.analysis.cost), the Keras CPU latency at batch 1
(`keras_cpu_ms`, all cores, measured after training in the same process), the training time and throughput,
the machine, the Keras backend and the git commit.

Other data sets than LSPET (recipe key "data", or `ablate STUDY --data NAME` for every variant): COCO 2017
and MPII keep their own train/val splits (OFFICIAL_SPLITS); the samples are split by image (`split_by_image`,
recipe key "val_fraction"). The runner builds the model with the data set's joint count (MPII 16, COCO 17),
cuts train_people / val_people to whole images, and scores by layout (`evaluate_split`: PCKh for MPII, OKS AP
/ AR through pycocotools for COCO); their rows append "data", "num_joints", "val_fraction", "train_images",
"val_images" and the "oks_*" columns after the LSPET ones.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import datetime
import json
import os
import time
import warnings
from pathlib import Path

from .. import results
from ..analysis import cost
from ..data import DATASETS, DataWarning, PoseBatches, build_cache, load
from ..data.transforms import Augment
from ..machine import describe
from ..pose import evaluate, evaluate_coco, load_pose_model
from ..pose.decoding import with_flip_test
from .distribute import DataParallel, resolve_devices
from .recipe import as_recipe
from .schedules import learning_rate_schedule, scaled_batch
from .studies import STUDIES, recipe
from .timing import keras_latency
from .training import Plan, PlanBatches, copy_backbone, copy_model

# Data sets with an official train/val split (`kerasgp.data.load(name, split=...)`); every other one (the MPII
# and COCO samples) is split by `split_by_image`, with the recipe's "val_fraction".
OFFICIAL_SPLITS = ("lspet", "coco2017", "mpii")
# Data sets whose rows keep the original columns, cut to the first N people (one per image) and rounded as
# they always were: the committed results/ CSVs and the lessons read them.
LSPET_ROWS = ("lspet",)


def _image_key(record) -> str:
    return os.path.basename(record.image_path)


def split_by_image(people, val_fraction: float = 0.2):
    """A deterministic train/val split, by IMAGE, of a data set that has no official one -> (train, val).

    Every person of an image lands on the same side, so no image is in both (COCO images hold several
    people; a person in val whose neighbour trained would leak). The images are sorted by file name and
    n_val = round(n_images * val_fraction) of them (at least one, and at least one left to train on) go to
    val, evenly spaced from the first: image floor(j * n_images / n_val) for j = 0 .. n_val - 1. The rule
    reads file names only, so the same files give the same split on every machine, backend and run. Within
    a split, people are ordered by image, then by their index in the source file."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction is the share of images held out for validation, in (0, 1); "
                         f"got {val_fraction!r}")
    images = sorted({_image_key(record) for record in people.records})
    if len(images) < 2:
        raise ValueError(f"{people.name!r} holds {len(images)} image(s); a split by image needs at least 2")
    num_val = min(max(1, round(len(images) * val_fraction)), len(images) - 1)
    val_images = {images[j * len(images) // num_val] for j in range(num_val)}
    rank = {image: n for n, image in enumerate(images)}
    ordered = sorted(people.records, key=lambda record: (rank[_image_key(record)], record.index))
    return tuple(dataclasses.replace(people, records=[r for r in ordered if (_image_key(r) in val_images) == is_val],
                                     split=split)
                 for split, is_val in (("train", False), ("val", True)))


def _first_images(people, limit: int):
    """The people of the first whole images, as many as fit in `limit` (at least the first image's): a
    COCO image cut in half would score its unpredicted people as misses in OKS AP."""
    per_image = collections.Counter(_image_key(record) for record in people.records)
    keep, images = 0, set()
    for record in people.records:
        image = _image_key(record)
        if image not in images and images and keep + per_image[image] > limit:
            break
        images.add(image)
        keep += 1
    return people.records[:keep]


def _people(r):
    """(train, val) PoseSets of the recipe's data set, each cut to the recipe's train_people / val_people.
    LSPET: its official splits, cut to the first N people. COCO 2017, MPII: their official splits, people
    ordered by image, cut to whole images. Others: `split_by_image` with val_fraction, cut to whole images.
    r: a `Recipe` or a flat recipe dict."""
    d = as_recipe(r).data
    limits = {"train": d.train_people, "val": d.val_people}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the report travels with the row instead
        try:
            if d.data in OFFICIAL_SPLITS:
                splits = {split: load(d.data, split=split) for split in limits}
            else:
                splits = dict(zip(limits, split_by_image(load(d.data), d.val_fraction)))
        except ImportError as error:
            if "pycocotools" not in str(error):
                raise
            raise ImportError(f"{d.data} is read (and scored, OKS AP) by pycocotools, which is not installed: "
                              "pip install pycocotools (or conda install -c conda-forge pycocotools)") from None
    out = []
    for split, people in splits.items():
        limit = limits[split]
        if d.data in OFFICIAL_SPLITS and d.data not in LSPET_ROWS:  # whole images need people by image
            rank = {image: n for n, image in enumerate(sorted({_image_key(p) for p in people.records}))}
            people = dataclasses.replace(people, records=sorted(
                people.records, key=lambda record: (rank[_image_key(record)], record.index)))
        if limit and d.data in LSPET_ROWS:
            people = dataclasses.replace(people, records=people.records[:limit], split=f"{split}{limit}")
        elif limit and limit < len(people):
            people = dataclasses.replace(people, records=_first_images(people, limit), split=f"{split}{limit}")
        out.append(people)
    return tuple(out)


def _caches(r, people=None):
    """The (train, val) crop caches of the recipe; people: its `_people(r)`, when already loaded."""
    size = as_recipe(r).data.input_size
    train, val = people or _people(r)
    return build_cache(train, size, progress=False), build_cache(val, size, progress=False)


def _rounded(value, digits: int = 2):
    return "" if value is None or value != value else round(value, digits)  # value != value: NaN


def evaluate_split(model, val_cache, r, people=None):
    """The row's metrics on the recipe's val split, by the data set's layout -> (columns, appended).

    columns: "pckh@0.5", "pckh@0.1", "pck@0.2", "per_joint_pckh@0.5", "val_people",
    "val_people_without_head_size", at their usual places in the row. LSPET and MPII: PCKh@0.5 / @0.1 and
    PCK@0.2 torso (`kerasgp.pose.evaluate`; MPII's total pools all 16 joints, pelvis and thorax included, as
    the evaluate command does). COCO has no head size (every person would be "without head size"), so its
    PCKh columns stay empty; PCK@0.2 torso (left shoulder - right hip) is defined for COCO and is kept.
    appended: {} for LSPET, so its rows keep their columns; for the other data sets "data", "num_joints"
    (the layout's, which the model was built with), "val_fraction" ("" for a data set's official split),
    "train_images", "val_images" and OKS
    AP / AP50 / AP75 / AR ("oks_ap", "oks_ap50", "oks_ap75", "oks_ar": pycocotools' COCOeval on the val
    images through `kerasgp.pose.evaluate_coco`, in percent like PCKh), left empty for MPII.
    people: the recipe's `_people(r)` (train, val), when already loaded. flip_test: every metric scores
    the model run on each crop and on its mirror, the two predictions averaged (mmpose's test_cfg flip_test).
    r: a `Recipe` or a flat recipe dict."""
    d = as_recipe(r).data
    if d.flip_test:
        model = with_flip_test(model)
    metrics = evaluate(model, val_cache)  # the model knows its split ratio (PoseModel)
    # LSPET rounds as it always has (a NaN stays "nan"); the samples write "" for a NaN (no joint counted)
    rounded = (lambda value: round(value, 2)) if d.data in LSPET_ROWS else _rounded
    columns = {"pckh@0.5": rounded(metrics["pckh@0.5"]), "pckh@0.1": rounded(metrics["pckh@0.1"]),
               "pck@0.2": rounded(metrics["pck@0.2"]),
               "per_joint_pckh@0.5": json.dumps({k: round(v, 1) for k, v in metrics["per_joint_pckh@0.5"].items()}),
               "val_people": metrics["people"], "val_people_without_head_size": metrics["people_without_head_size"]}
    if d.data in LSPET_ROWS:
        return columns, {}
    train, val = people or _people(r)
    appended = {"data": d.data, "num_joints": val_cache.layout.num_joints,
                "val_fraction": "" if d.data in OFFICIAL_SPLITS else d.val_fraction,
                "train_images": len({_image_key(p) for p in train.records}),
                "val_images": len({_image_key(p) for p in val.records}),
                "oks_ap": "", "oks_ap50": "", "oks_ap75": "", "oks_ar": ""}
    if val_cache.layout.name == "coco17":
        oks = evaluate_coco(model, val, val_cache)
        appended.update({f"oks_{key.lower()}": round(100.0 * oks[key], 2) for key in ("AP", "AP50", "AP75", "AR")})
        columns.update({"pckh@0.5": "", "pckh@0.1": "", "per_joint_pckh@0.5": "", "val_people_without_head_size": ""})
    return columns, appended


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
    if isinstance(value, dict):
        return Augment(**value)
    return value


def model_path(save_dir, study: str, variant: str, scale: str, data: str | None = None,
               seed: int | None = None) -> Path:
    """Where a variant's model is saved; data: the data set `ablate --data` put in place of the recipe's;
    seed: another seed than the recipe's 0 (`ablate --seeds`) adds "-seedN", so seed 0 keeps its file."""
    suffix = (f"-{data}" if data else "") + (f"-seed{seed}" if seed else "")
    return Path(save_dir) / f"{study}-{variant}-{scale}{suffix}.keras"


def checkpoint_path(save_dir, study: str, variant: str, scale: str, data: str | None = None,
                    seed: int | None = None) -> Path:
    """Where an unfinished variant's training state is kept between epochs (deleted when it finishes):
    `ablate` run again with the same arguments continues from it. Delete the folder to start afresh."""
    return Path(save_dir) / "checkpoints" / model_path(save_dir, study, variant, scale, data, seed).stem


def _init_from(model, reference: str, scale: str, save_dir, layers: str = "backbone", data: str | None = None,
               seed: int | None = None) -> str:
    """init_from "STUDY/VARIANT": copy that variant's trained backbone (saved by an earlier run) into model;
    layers "all" copies the whole inference model (same architecture), so the run trains it further. RLE's
    flow is no part of a saved model (training graph only) and starts afresh either way. data: the
    `ablate --data` data set: the referenced variant trained on it is used; seed: and trained with this seed."""
    if layers not in ("backbone", "all"):
        raise ValueError(f"init_layers is 'backbone' or 'all'; got {layers!r}")
    study, _, variant = reference.partition("/")
    path = model_path(save_dir or "data/models", study, variant, scale, data, seed)
    if not path.is_file():
        raise FileNotFoundError(f"init_from {reference!r}: {path} does not exist; train that variant first "
                                f"(python -m kerasgp ablate {study} --variants {variant} --scale {scale}"
                                f"{f' --data {data}' if data else ''}{f' --seeds {seed}' if seed else ''})")
    (copy_model if layers == "all" else copy_backbone)(load_pose_model(path), model)
    return str(path)


def build_model(r, num_joints: int = 14, name: str | None = None):
    """The untrained inference model of a recipe (a `Recipe` or a flat recipe dict), exactly as
    `train_recipe` builds it: its model section handed to `build_pose_model` unchanged (lessons use it to
    show a row's network without training it)."""
    return as_recipe(r).model.build(num_joints, name)


def _epoch_order(batches):
    """A Keras callback that keeps a `PoseBatches`' epoch equal to the epoch `fit` is in, so the data order
    and augmentation of epoch e (a pure function of seed, epoch and batch) are the same whether the run
    started at epoch 0 or resumed at e from a checkpoint."""
    import keras

    class EpochOrder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            batches.epoch = epoch

    return EpochOrder()


def checkpoint_epoch(checkpoint_dir) -> int:
    """The epoch a run would resume at from checkpoint_dir (0: no checkpoint there)."""
    path = Path(checkpoint_dir) / "training_metadata.json"
    return int(json.loads(path.read_text())["epoch"]) if path.is_file() else 0


def train_recipe(r, name: str, progress: bool = True, save_path=None, desc: str | None = None,
                 init_dir=None, init_data: str | None = None, checkpoint_dir=None, callbacks=(), devices=None,
                 workers: int = 1):
    """Train and evaluate one recipe (a `studies.recipe` dict, possibly edited: a lesson trains a smaller
    copy; or a `Recipe`) -> (the trained inference model, its row: metrics, cost, timing, machine, commit).
    The recipe is checked once, here (`as_recipe`), before any data loads; its sections go on from there.
    init_data:
    the `ablate --data` data set, whose models init_from reads.

    checkpoint_dir: where the training state is saved after every epoch (Keras' `BackupAndRestore`: the
    training graph's weights, the optimizer's state and step, so the learning-rate schedule's position,
    and the epoch). A run that stops is started again with the same arguments and continues at the epoch
    after the last one saved; `_epoch_order` gives that epoch the data order it would have had, so the row
    matches an uninterrupted run's within float noise. The checkpoint is deleted once training ends.
    "train_s" and "train_samples_per_s" then count the epochs this process trained. callbacks: more Keras
    callbacks for the fit.

    devices: None or 1 (one device), "all" or a count: data-parallel training over that many devices
    (`distribute.DataParallel`: JAX's DataParallel, TensorFlow's MirroredStrategy); r["batch_size"] is the
    global batch, split evenly, and the row gains "devices" and "engine". workers: Keras PyDataset workers
    (threads) that make the augmented batches; batches depend on their index only, so any count trains
    the same model."""
    import keras

    spec = as_recipe(r)  # every check of the recipe, before the data loads
    t = spec.training
    commit = results.commit()  # the tree this training starts from
    people = _people(spec)
    train_cache, val_cache = _caches(spec, people)
    replicas = DataParallel(resolve_devices(devices))
    replicas.check_batch(t.batch_size)
    num_joints = train_cache.layout.num_joints
    with replicas.scope():  # the model and its optimizer are made where the engine places them
        keras.utils.set_random_seed(t.seed)
        model = build_model(spec, num_joints, name)
        costs = cost(model)  # before training: a layer without a MAC rule fails now, not after the fit
        initialised_from = _init_from(model, t.init_from, t.scale, init_dir, t.init_layers, init_data,
                                      t.seed) if t.init_from else ""
        plan = Plan(model, spec, num_joints)
        batches = PoseBatches(train_cache, t.batch_size, targets=plan.targets, augment=_augment(spec.data.augment),
                              seed=t.seed, simcc_split_ratio=spec.model.split_ratio, simcc_sigma=spec.loss.simcc_sigma,
                              heatmap_stride=plan.heatmap_stride or 4, drop_remainder=replicas.count > 1)
        train = PlanBatches(batches, plan, workers=workers)
        schedule = learning_rate_schedule(spec, len(train))
        replicas.prepare(plan.model)
        plan.model.compile(optimizer=keras.optimizers.Adam(schedule), loss=plan.losses, loss_weights=plan.loss_weights)
    fit_callbacks = [_epoch_order(batches)]
    first_epoch = 0
    if checkpoint_dir:
        first_epoch = checkpoint_epoch(checkpoint_dir)
        if first_epoch and progress:
            print(f"{desc or name}: resuming at epoch {first_epoch + 1} of {t.epochs} from {checkpoint_dir}")
        fit_callbacks.append(keras.callbacks.BackupAndRestore(str(checkpoint_dir), save_freq="epoch"))
    fit_callbacks += [*callbacks, _progress_bar(len(train) * (t.epochs - first_epoch), desc or name, progress)]
    start = time.perf_counter()
    # shuffle=False: PoseBatches already draws each epoch's order of people from (seed, epoch); Keras' own
    # shuffle of the batch order draws from Python's global random state, which a resumed run cannot replay
    with replicas.scope():
        history = plan.model.fit(train, epochs=t.epochs, verbose=0, callbacks=fit_callbacks, shuffle=False)
    train_s = time.perf_counter() - start
    trained = len(batches) * t.batch_size if replicas.count > 1 else len(train_cache)  # people per epoch
    if replicas.count > 1:  # scored, timed and saved as a one-device model: plain BN, variables on one device
        trained_model, model = model, build_model(spec, num_joints, name)
        model.set_weights(trained_model.get_weights())
    metrics, data_columns = evaluate_split(model, val_cache, spec, people)  # PCKh, or OKS AP for COCO; data_columns: {} on LSPET
    latency = keras_latency(model, runs=30)
    if save_path:
        Path(save_path).parent.mkdir(parents=True, exist_ok=True)
        model.save(save_path)
    row = {
        "backbone": spec.model.backbone, "weights": spec.model.weights or "none (from scratch)",
        "head": spec.model.head, "loss": spec.loss.name, "input_size": _size_column(spec.model.input_size),
        "epochs": t.epochs, "seed": t.seed,
        "pckh@0.5": metrics["pckh@0.5"], "pckh@0.1": metrics["pckh@0.1"], "pck@0.2": metrics["pck@0.2"],
        "per_joint_pckh@0.5": metrics["per_joint_pckh@0.5"],
        "params": model.count_params(), "macs": costs.macs, "activation_mb": round(costs.activation_bytes / 2**20, 2),
        "keras_cpu_ms": round(latency["median_ms"], 2), "random_init_layers": len(getattr(model, "random_init_layers", None) or []),
        "init_from": initialised_from, "train_people": len(train_cache), "val_people": metrics["val_people"],
        "val_people_without_head_size": metrics["val_people_without_head_size"],
        "final_loss": round(float(history.history["loss"][-1]), 4) if history.history.get("loss") else "", "train_s": round(train_s, 1),
        "train_samples_per_s": round(trained * (t.epochs - first_epoch) / train_s, 1),
        "model_file": str(save_path or ""), "backend": keras.backend.backend(), "keras": keras.__version__,
        "commit": commit, "date": datetime.datetime.now().isoformat(timespec="seconds"), **describe(),
        **data_columns,  # appended after every LSPET column, so LSPET rows keep theirs in their order
        **({"devices": replicas.count, "engine": replicas.engine} if replicas.count > 1 else {}),
        **({"flip_test": True} if spec.data.flip_test else {}),  # the full scale's rows; lesson rows stay as they were
    }
    return model, row


def _size_column(size: tuple[int, int]):
    return size[0] if size[0] == size[1] else f"{size[0]}x{size[1]}"  # square rows keep their one number


def _check_data(data: str | None) -> None:
    if data is not None and data not in DATASETS:
        raise ValueError(f"unknown data set {data!r} for --data; known: {list(DATASETS)}")


def train_variant(study: str, variant: str, scale: str = "lesson", progress: bool = True, save_dir=None,
                  data: str | None = None, devices=None, workers: int = 1, batch_size: int | None = None,
                  seed: int | None = None) -> dict:
    """Train and evaluate one variant of a study; return its CSV row. data: train and score on this data
    set instead of the recipe's (its overrides then record "data"; the model gets the data set's joints).
    batch_size: another global batch, the learning rate scaled with it (`schedules.scaled_batch`); the
    overrides record both. seed: another seed than the recipe's (the row's "seed" column records it)."""
    _check_data(data)
    r = {**recipe(study, variant, scale), "scale": scale, **({"data": data} if data else {})}
    if batch_size is not None:
        r.update(scaled_batch(r, batch_size))
    if seed is not None:
        r["seed"] = _check_seed(seed)
    save_path = model_path(save_dir, study, variant, scale, data, r["seed"]) if save_dir else None
    desc = f"{study}/{variant}" + (f" on {data}" if data else "") + (f" seed {r['seed']}" if r["seed"] else "")
    checkpoints = checkpoint_path(save_dir, study, variant, scale, data, r["seed"]) if save_dir else None
    _, row = train_recipe(r, variant, progress, save_path, desc, init_dir=save_dir, init_data=data,
                          checkpoint_dir=checkpoints,
                          devices=devices, workers=workers)
    overrides = {k: v for k, v in r.items() if k in STUDIES[study][variant] or (data and k == "data")
                 or (batch_size is not None and k in ("batch_size", "learning_rate"))}
    return {"study": study, "variant": variant, "scale": scale, "overrides": json.dumps(overrides, sort_keys=True),
            **row}


def _data_of(row: dict) -> str:
    return row.get("data") or "lspet"  # LSPET rows carry no "data" column


def _seed_of(row: dict) -> int:
    return int(row.get("seed") or 0)  # rows from before seeds were chosen trained with the recipe's 0


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"a seed is a whole number >= 0; got {seed!r}")
    return int(seed)


def done_variants(out: Path, scale: str, data: str | None = None, seed: int | None = None) -> set[str]:
    """The variants with a row at `scale` in out (trained on data set `data` only, and with `seed` only,
    when given)."""
    if not out.exists():
        return set()
    with open(out, newline="") as f:
        return {row["variant"] for row in csv.DictReader(f)
                if row.get("scale") == scale and (data is None or _data_of(row) == data)
                and (seed is None or _seed_of(row) == seed)}


def append_row(out: Path, row: dict) -> None:
    """Add a study row to `out`, in place of the row of the same variant, scale, data set and seed."""
    same = lambda r: (r["variant"] == row["variant"] and r.get("scale") == row["scale"]  # noqa: E731
                      and _data_of(r) == _data_of(row) and _seed_of(r) == _seed_of(row))
    results.append_row(out, row, replaces=same)


def run_study(study: str, scale: str = "lesson", out=None, force: bool = False, variants=None,
              progress: bool = True, save_dir=None, data: str | None = None, devices=None,
              workers: int = 1, batch_size: int | None = None, seeds=None) -> list[dict]:
    """Train the study's variants not yet in `out` (all with force); return the rows written.
    data: run every variant on this data set instead of its recipe's (`ablate STUDY --data NAME`); the
    rows go to results/STUDY-NAME.csv unless `out` says otherwise, and models to STUDY-VARIANT-SCALE-NAME.keras.
    devices, workers: data-parallel training and batch workers (`train_recipe`); batch_size: every variant at
    this global batch, its learning rate scaled linearly (`train_variant`). seeds: train each variant once
    per seed (`ablate --seeds 0,1,2`), one row each; None: the recipe's seed. A (variant, seed) pair already
    in `out` is skipped, so adding seeds later trains only the new ones."""
    import keras
    from tqdm.auto import tqdm

    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; known: {sorted(STUDIES)}")
    # an unknown variant, a bad batch or devices this backend cannot give fail before any training
    recipes = {name: recipe(study, name, scale) for name in variants or STUDIES[study]}
    replicas = DataParallel(resolve_devices(devices))  # no engine made yet
    for r in recipes.values():
        replicas.check_batch(scaled_batch(r, batch_size)["batch_size"] if batch_size is not None else r["batch_size"])
    _check_data(data)
    out = Path(out or (f"results/{study}-{data}.csv" if data else f"results/{study}.csv"))
    if seeds is not None:
        seeds = [_check_seed(seed) for seed in seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"--seeds needs one or more different seeds; got {seeds}")
    todo = [(name, seed) for name, r in recipes.items() for seed in (seeds or [r["seed"]])
            if force or name not in done_variants(out, scale, data or r["data"], seed)]
    rows = []
    for name, seed in tqdm(todo, desc=f"study {study} ({scale}{f', {data}' if data else ''})", unit="run",
                           disable=not progress):
        row = train_variant(study, name, scale, progress=progress, save_dir=save_dir, data=data, devices=devices,
                            workers=workers, batch_size=batch_size, seed=seed if seeds is not None else None)
        append_row(out, row)  # written at once: an interrupted study keeps what it finished
        rows.append(row)
        keras.backend.clear_session()  # free the variant's graph: 15 variants in one process grew past 6 GB
    return rows
