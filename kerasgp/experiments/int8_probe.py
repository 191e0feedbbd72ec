"""Where a pose model's int8 error comes from, and what keeping part of it float buys back (lesson 12).

    python -m kerasgp int8-probe results/models/best-mobilenet_v2_160_more.keras --out results/int8_probe.csv

The same model is converted to full int8 several times, each time with another group of layers kept in
float (`deploy.convert`'s float_layers: names, nested paths or fnmatch patterns, `expand_float_layers`),
and every file is scored on the same LSPET val people and timed against the float32 file in interleaved
rounds. A group whose float copy wins back most of the drop is where the error is made; its latency says
what that costs. The default groups are MobileNetV2's: its input normalisation, its blocks in four runs
(features 0-1, 2-3, 4-6, 7-13, 14-18, as the network's strides group them), the first seven blocks
together, and the whole backbone; plus two calibration sets (another seed, five times as many crops).
"""
from __future__ import annotations

import datetime
import tempfile
import warnings
from pathlib import Path

from ..data import build_cache
from ..deploy import convert, representative_crops
from ..deploy.bench import measure_rounds
from ..deploy.tflite import expand_float_layers, load_keras
from ..machine import describe
from ..pose import evaluate
from ..pose.decoding import deployable_model
from ..pose.estimator import TFLitePoseModel, model_input_size
from ..results import read_commit
from .deployment import check_timing, val_people
from .timing import write_rows

BACKBONE = "mobilenet_v2_1.0"
# name -> (layers kept float besides the decoding, calibration crops, calibration seed)
VARIANTS = {
    "int8": ((), 200, 0),
    "calibration_seed1": ((), 200, 1),
    "calibration_1000": ((), 1000, 0),
    "head_float": (("simcc_*", "sigma*", "coordinates", "confidence"), 200, 0),
    "features_0-1_float": ((f"{BACKBONE}/features_[01]_*", f"{BACKBONE}/features_[01]"), 200, 0),
    "features_2-3_float": ((f"{BACKBONE}/features_[23]_*",), 200, 0),
    "features_4-6_float": ((f"{BACKBONE}/features_[4-6]_*",), 200, 0),
    "features_7-13_float": ((f"{BACKBONE}/features_[7-9]_*", f"{BACKBONE}/features_1[0-3]_*"), 200, 0),
    "features_14-18_float": ((f"{BACKBONE}/features_1[4-8]_*", f"{BACKBONE}/features_18"), 200, 0),
    "features_0-6_float": ((f"{BACKBONE}/features_[0-6]_*", f"{BACKBONE}/features_0"), 200, 0),
    "backbone_float": (("normalize", f"{BACKBONE}/*"), 200, 0),
}
COLUMNS = ("model", "variant", "float_layers", "float_layer_count", "calibration", "calibration_seed", "people",
           "pckh05_keras", "pckh05_float32", "pckh05_int8", "int8_drop", "pckh01_int8", "threads", "float32_ms",
           "int8_ms", "int8_speedup", "int8_spread_pct", "rounds", "int8_bytes", "busy", "load1", "runtime", "cpu",
           "arch", "commit", "date")


def run(model_path, out="results/int8_probe.csv", variants=None, threads=(1,), rounds: int = 10, runs: int = 500,
        limit: int | None = None, progress: bool = True):
    """Convert, score and time `model_path` (a `.keras` pose model) once per variant (a name of VARIANTS,
    or a dict name -> (float layer patterns, calibration crops, calibration seed)); returns a pandas
    DataFrame and writes `out` when given. limit: the first N val people only (a quick check)."""
    from tqdm.auto import tqdm

    path = Path(model_path)
    if not path.is_file() or path.suffix != ".keras":
        raise FileNotFoundError(f"{path}: not a .keras file")
    chosen = {name: VARIANTS[name] for name in (variants or VARIANTS)} if not isinstance(variants, dict) else variants
    threads = check_timing(threads, rounds, runs)
    people = val_people(limit)
    model = deployable_model(load_keras(path))
    size = model_input_size(model)
    cache = build_cache(people, size, progress=False)
    machine, commit = describe(), read_commit()
    date = datetime.datetime.now().isoformat(timespec="seconds")
    keras_score = evaluate(model, cache)
    scored = []
    with tempfile.TemporaryDirectory(prefix="kerasgp-int8-probe-") as folder:
        float_file = Path(folder) / "float32.tflite"
        convert(model, "float32", out=float_file)
        float_score = evaluate(TFLitePoseModel(float_file), cache)
        for name, (patterns, crops, seed) in tqdm(chosen.items(), desc="int8 probe", unit="variant",
                                                   disable=not progress):
            layers = expand_float_layers(model, ["decoding", *patterns])
            file = Path(folder) / f"{name}.tflite"
            calibration = representative_crops(size, count=crops, seed=seed)
            conversion = convert(model, "int8", representative=calibration, num_samples=crops, out=file,
                                 float_layers=layers)
            scored.append((name, patterns, len(layers), crops, seed, file, len(conversion.content),
                           evaluate(TFLitePoseModel(file), cache)))
        rows = []
        for count in threads:
            files = [float_file] + [s[5] for s in scored]
            timed = dict(zip(files, measure_rounds(files, threads=count, rounds=rounds, runs=max(1, runs // rounds))))
            for name, patterns, n_layers, crops, seed, file, size_bytes, score in scored:
                t, f = timed[file], timed[float_file]
                rows.append({
                    "model": path.stem, "variant": name, "float_layers": ";".join(["decoding", *patterns]),
                    "float_layer_count": n_layers, "calibration": crops, "calibration_seed": seed,
                    "people": score["people"], "pckh05_keras": round(keras_score["pckh@0.5"], 2),
                    "pckh05_float32": round(float_score["pckh@0.5"], 2), "pckh05_int8": round(score["pckh@0.5"], 2),
                    "int8_drop": round(float_score["pckh@0.5"] - score["pckh@0.5"], 2),
                    "pckh01_int8": round(score["pckh@0.1"], 2), "threads": count, "float32_ms": f["median_ms"],
                    "int8_ms": t["median_ms"], "int8_speedup": round(f["median_ms"] / t["median_ms"], 3),
                    "int8_spread_pct": t["spread_pct"], "rounds": t["rounds"], "int8_bytes": size_bytes,
                    "busy": t["busy"] or f["busy"],
                    "load1": t["load1"], "runtime": t["runtime"], "cpu": machine["cpu"], "arch": machine["arch"],
                    "commit": commit, "date": date})
    if any(row["busy"] for row in rows):
        warnings.warn("other tasks were running while the files were timed (the busy column): time again on a "
                      "quiet machine", RuntimeWarning, stacklevel=2)
    return write_rows(rows, COLUMNS, out)
