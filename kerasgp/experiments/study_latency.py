"""TFLite int8 latency of a study's pose models and of their backbones, as the runner builds them
(`python -m kerasgp search latency`; lesson 09's found-vs-hand-designed table)."""
from __future__ import annotations

import datetime
import json
import tempfile
from pathlib import Path

import keras
from tqdm.auto import tqdm

from .. import backbones
from ..deploy import convert, representative_crops
from ..deploy.bench import measure
from ..machine import describe
from ..results import write_csv
from .runner import build_model
from .search_lut import convert_and_measure
from .studies import STUDIES, recipe

STUDY_LATENCY_COLUMNS = ("study", "variant", "backbone", "backbone_options", "params", "pose_int8_ms",
                         "pose_int8_p90_ms", "backbone_int8_ms", "int8_float_ops", "input_size", "threads", "runtime",
                         "xnnpack", "machine", "date")


def study_latency(study: str = "quadranet_search", scale: str = "lesson", threads: int = 1, runs: int = 100,
                  variants=None, out="results/quadranet_search_latency.csv", progress: bool = True) -> list[dict]:
    """TFLite int8 latency (1 thread, LiteRT) of each variant's untrained pose model and its backbone, as
    the runner builds them (latency does not depend on the weights' values). One CSV row per variant."""
    machine, date, rows = describe(), datetime.datetime.now().isoformat(timespec="seconds"), []
    names = list(variants or STUDIES[study])
    with tempfile.TemporaryDirectory(prefix="kerasgp-study-latency-") as folder:
        for name in tqdm(names, desc=f"{study} latency", unit="variant", disable=not progress):
            r = recipe(study, name, scale)
            size = r["input_size"]
            crops = representative_crops(size, count=32)
            model = build_model(r, 14, name)  # what the runner trains, the recipe's head options included
            path = Path(folder) / f"{name}_pose.tflite"
            conversion = convert(model, mode="int8", representative=crops, num_samples=len(crops), out=path)
            pose = measure(str(path), threads=threads, runs=runs)
            body = backbones.get(r["backbone"], input_shape=(size, size, 3), **r["backbone_options"])
            backbone = convert_and_measure(body, crops, threads, runs, 10, folder)
            rows.append({"study": study, "variant": name, "backbone": r["backbone"],
                         "backbone_options": json.dumps(r["backbone_options"], sort_keys=True),
                         "params": model.count_params(), "pose_int8_ms": pose["median_ms"],
                         "pose_int8_p90_ms": pose["p90_ms"], "backbone_int8_ms": backbone["median_ms"],
                         "int8_float_ops": len(conversion.op_report.get("float_ops", [])), "input_size": size,
                         "threads": threads, "runtime": pose["runtime"], "xnnpack": pose["xnnpack"],
                         "machine": machine["cpu"], "date": date})
            keras.backend.clear_session()
    if out:
        write_csv(rows, out, STUDY_LATENCY_COLUMNS)
    return rows
