"""The deployment study (lesson 12): trained pose models as they ship, in TFLite float32 and full int8,
scored on LSPET val and timed on this CPU, one run.

    python -m kerasgp deploy-study data/models/heads-*-lesson.keras --out results/deployment.csv

Each `.keras` model is cut to its deployable form (`decoding.deployable_model`: keypoints in pixels and a
confidence, decoding inside the model), converted to float32 and to full int8 (calibrated on 200 LSPET
training crops; SimCC's logits and decoding stay float, `deploy.float_decoding_layers`), and all three
(Keras, float32, int8) are scored on the same val people at the model's input size. Then both `.tflite`
files are timed with each thread count (`deploy.bench.measure`, median of `runs` invocations). One CSV row
per model: the head family, size, params, MACs, PCKh@0.5 and @0.1 of each form, the int8 drop, the median
ms per mode and thread count and the int8 speed-up (float32 ms / int8 ms, same run), the ops left in float.
Every timing is also appended to results/latency.csv, tagged "deployment".

`seed_rows` adds the seed's key comparison at 256x256: DeepPose (GAP + FC) against the SimpleBaseline
heatmap head (three 4x4 deconvs), both on ShuffleNetV2 0.5x; and our best recipe at the seed's final input
size, 320x320. Timed only (untrained weights: latency does not depend on the values).
"""
from __future__ import annotations

import dataclasses
import datetime
import tempfile
import warnings
from pathlib import Path

from ..analysis import cost
from ..data import DataWarning, build_cache, load
from ..deploy import convert
from ..deploy.bench import append_csv, measure_rounds
from ..machine import describe
from ..pose import build_pose_model, evaluate
from ..pose.decoding import deployable_model, with_flip_test
from ..pose.estimator import TFLitePoseModel, head_of, load_pose_model, model_input_size
from ..results import read_commit
from .runner import build_model
from .studies import recipe
from .timing import write_rows

FAMILIES = {"deeppose": "regression", "heatmap": "heatmap", "ipr": "IPR/DSNT", "dsnt": "IPR/DSNT",
            "simcc": "SimCC"}
COLUMNS = ("model", "family", "input_size", "params", "macs", "pckh05_keras", "pckh05_float32", "pckh05_int8",
           "int8_drop", "pckh01_keras", "pckh01_int8", "people", "threads", "float32_ms", "int8_ms",
           "int8_speedup", "int8_float_ops", "float32_bytes", "int8_bytes", "runtime", "xnnpack", "cpu", "arch",
           "commit", "date", "rounds", "float32_spread_pct", "int8_spread_pct", "load1", "busy")
# Added with the interleaved timing (bench.measure_rounds); rows timed before them leave them empty.
TIMING_COLUMNS = ("rounds", "float32_spread_pct", "int8_spread_pct", "load1", "busy")
# The seed's comparisons (latency only, untrained weights): its regression and heatmap heads on ShuffleNetV2
# 0.5x at 256x256, and our best recipe (the tricks study's larger_input row) at the seed's final 320x320.
SEED_ROWS = {"seed256-deeppose": {"head": "deeppose"},
             "seed256-heatmap": {"head": "heatmap", "heatmap_form": "simplebaseline"},
             "seed320-best_recipe": {"recipe": ("tricks", "larger_input"), "input_size": 320}}


def family_of(model) -> str:
    """The head family of a pose model, as lesson 12 groups them (regression/RLE, heatmap, IPR/DSNT, SimCC)."""
    head = head_of(model)
    family = FAMILIES.get(head, head)
    names = {layer.name for layer in model.layers}
    return "regression/RLE" if family == "regression" and "sigma" in names else family


def _score(model, cache) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Keras' predict_on_batch notes about input names
        return evaluate(model, cache)


def run(models, out="results/deployment.csv", threads=(1, 2), runs: int = 100, warmup: int = 10,
        calibration: int = 200, seed_rows: bool = True, log="results/latency.csv", progress: bool = True,
        limit: int | None = None, append: bool = False, flip_test: bool = False, rounds: int = 5, keep=None):
    """Convert, score and time each `.keras` pose model (paths); returns a pandas DataFrame (and writes
    `out` when given). The seed's rows follow when seed_rows. limit: score only the first N val people (a
    quick check; the study uses all 2,000). log: the latency CSV each timing is appended to (None: none).
    append: keep the rows already in `out` (those of the models run now are replaced), so one model can join
    a finished study; every row keeps its own date and commit, and its speed-up is within its own run.
    flip_test: deploy each trained model with the flip test inside (`decoding.with_flip_test`: image and
    mirror averaged, twice the cost); its rows are named "MODEL+flip" (the seed's rows stay plain).
    rounds: the timing's interleaved rounds (`runs` split over them; bench.measure_rounds). keep: a folder to
    keep the converted `.tflite` files in (NAME_float32.tflite, NAME_int8.tflite), for `arm-check`."""
    import keras
    from tqdm.auto import tqdm

    paths = [Path(p) for p in models]
    missing = [str(p) for p in paths if not p.is_file() or p.suffix != ".keras"]
    if missing:
        raise FileNotFoundError(f"not .keras files: {missing}")
    threads = tuple(int(t) for t in threads)
    if not threads or min(threads) < 1:
        raise ValueError(f"thread counts must be >= 1; got {threads}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 person; got {limit}")
    if rounds < 1 or runs < 1:
        raise ValueError(f"need rounds >= 1 and runs >= 1; got rounds={rounds}, runs={runs}")
    rounds = min(rounds, runs)  # a quick run of fewer runs than rounds: one run per round
    # Read (and check) the rows to keep before any work, so a wrong --out fails before minutes of conversions.
    previous = _previous_rows(Path(out)) if append and out and Path(out).is_file() else []
    people = val_people(limit)
    machine, commit = describe(), read_commit()
    date = datetime.datetime.now().isoformat(timespec="seconds")
    jobs = [(p.stem.removesuffix("-lesson") + ("+flip" if flip_test else ""), p) for p in paths]
    if seed_rows:
        jobs += [(name, None) for name in SEED_ROWS]
    converted, caches = [], {}
    bar = tqdm(jobs, desc="deployment study: convert and score", unit="model", disable=not progress)
    with tempfile.TemporaryDirectory(prefix="kerasgp-deploy-") as folder:
        folder = Path(keep) if keep else Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in bar:
            bar.set_postfix_str(name)
            trained = load_pose_model(path) if path else _seed_model(name)
            family, report = family_of(trained), cost(trained)  # of the inference model, before decoding
            model = (with_flip_test if flip_test and path else deployable_model)(trained)
            size = model_input_size(model)
            files, conversions = {}, {}
            for mode in ("float32", "int8"):
                files[mode] = folder / f"{name}_{mode}.tflite"
                conversions[mode] = convert(model, mode, representative="lspet" if mode == "int8" else None,
                                            num_samples=calibration, out=files[mode])
            scores = {}
            if path is not None:
                if size not in caches:  # one crop cache per input size, shared by the models of that size
                    caches[size] = build_cache(people, size, progress=False)
                scores = {"keras": _score(model, caches[size])}
                for mode in files:
                    scores[mode] = _score(TFLitePoseModel(files[mode]), caches[size])
            converted.append((name, family, size, report, scores, files, conversions))
            del model, trained
            keras.backend.clear_session()
        # Timing last, all files of all models in interleaved rounds in this one process (bench.measure_rounds),
        # so every latency and every ratio between them comes from the same stretch of the machine's time.
        rows = []
        for count in tqdm(threads, desc="deployment study: time", unit="thread count", disable=not progress):
            every = [files[mode] for *_, files, _ in converted for mode in ("float32", "int8")]
            timed = dict(zip(every, measure_rounds(every, threads=count, rounds=rounds, runs=max(1, runs // rounds),
                                                   warmup=warmup)))
            for name, family, size, report, scores, files, conversions in converted:
                pair = {mode: timed[files[mode]] for mode in files}
                if log:
                    for mode in files:
                        append_csv(pair[mode], path=log, tag=f"deployment {name} {mode} {size[0]}")
                rows.append(_row(name, family, size, report, scores, count, pair, conversions, machine, commit, date))
    if any(row["busy"] for row in rows):
        warnings.warn("other tasks were running while the study timed its models (the busy column): time again on "
                      "a quiet machine", RuntimeWarning, stacklevel=2)
    run_now = {row["model"] for row in rows}
    return write_rows([row for row in previous if row["model"] not in run_now] + rows, COLUMNS, out)


def val_people(limit: int | None = None):
    """LSPET val, all 2,000 people or the first `limit` (a quick check): the people every deployment figure
    (this study, `int8_probe`, `blazepose`) is scored on."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 person; got {limit}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # what the loader skipped is in people.report
        people = load("lspet", split="val")
    if limit is not None:
        people = dataclasses.replace(people, records=people.records[:limit], split=f"val-first{limit}")
    return people


def check_timing(threads, rounds: int, runs: int) -> tuple[int, ...]:
    """Thread counts as ints, after checking them and the interleaved rounds' settings."""
    threads = tuple(int(t) for t in threads)
    if not threads or min(threads) < 1 or rounds < 1 or runs < rounds:
        raise ValueError(f"need thread counts >= 1 and runs >= rounds >= 1; got {threads}, {runs}, {rounds}")
    return threads


def _previous_rows(path: Path) -> list:
    """The rows of an earlier deployment-study CSV (for append), refused if its columns are not the study's."""
    import pandas as pd

    old = pd.read_csv(path, keep_default_na=False)
    if list(old.columns) not in (list(COLUMNS), list(COLUMNS[:-len(TIMING_COLUMNS)])):  # or from before them
        raise ValueError(f"{path}: its columns are not the deployment study's; write to a new --out instead")
    return old.to_dict("records")


def _seed_model(name: str):
    options = dict(SEED_ROWS[name])
    if "recipe" in options:
        r = {**recipe(*options.pop("recipe"), "lesson"), **options}
        return build_model(r, 14, name=name.replace("-", "_"))
    return build_pose_model("shufflenet_v2_x0.5", None, (256, 256), 14, name=name.replace("-", "_"), **options)


def _row(name, family, size, report, scores, count, timed, conversions, machine, commit, date) -> dict:
    def pckh(form, key):
        return round(scores[form][key], 2) if form in scores else ""

    drop = round(scores["float32"]["pckh@0.5"] - scores["int8"]["pckh@0.5"], 2) if scores else ""
    return {
        "model": name, "family": family, "input_size": size[0], "params": report.params,
        "macs": report.macs, "pckh05_keras": pckh("keras", "pckh@0.5"), "pckh05_float32": pckh("float32", "pckh@0.5"),
        "pckh05_int8": pckh("int8", "pckh@0.5"), "int8_drop": drop, "pckh01_keras": pckh("keras", "pckh@0.1"),
        "pckh01_int8": pckh("int8", "pckh@0.1"), "people": scores["keras"]["people"] if scores else "",
        "threads": count, "float32_ms": round(timed["float32"]["median_ms"], 3),
        "int8_ms": round(timed["int8"]["median_ms"], 3),
        "int8_speedup": round(timed["float32"]["median_ms"] / timed["int8"]["median_ms"], 3),
        "int8_float_ops": len(conversions["int8"].op_report["float_ops"]),
        "float32_bytes": len(conversions["float32"].content), "int8_bytes": len(conversions["int8"].content),
        "runtime": timed["int8"]["runtime"], "xnnpack": timed["int8"]["xnnpack"], "cpu": machine["cpu"],
        "arch": machine["arch"], "commit": commit, "date": date, "rounds": timed["int8"]["rounds"],
        "float32_spread_pct": timed["float32"]["spread_pct"], "int8_spread_pct": timed["int8"]["spread_pct"],
        "load1": timed["int8"]["load1"], "busy": timed["float32"]["busy"] or timed["int8"]["busy"],
    }
