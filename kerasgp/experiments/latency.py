"""Latency of registry backbones on this machine: Keras on CPU and TFLite float32 / int8, one run.

    python -m kerasgp latency --backbones shufflenet_v2_x0.5,shufflenet_v2_x1.0 --size 256 --threads 1,2

For each backbone: parameters and MACs (kerasgp.analysis.cost), the Keras CPU latency at batch 1
(`predict_on_batch`, all cores), then the model converted by kerasgp.deploy (float32, and full int8
calibrated on LSPET training crops) and timed by kerasgp.deploy.bench with each thread count, all files
in interleaved rounds in one process (median of round medians, and their spread). One CSV
row per backbone and thread count in `out`; each TFLite timing is also appended to results/latency.csv
(the bench's log), tagged "backbone-latency". The int8 speed-up is float32 ms / int8 ms from the same
run. Weights are untrained unless a backbone name has ported weights: latency does not depend on the
values of the weights.

A backbone's feature dict is timed whole (every stride it returns), i.e. what a pose head would read.
"""
from __future__ import annotations

import datetime
import tempfile
from pathlib import Path

from .. import backbones
from ..analysis import cost
from ..deploy import convert, representative_crops
from ..deploy.bench import append_csv, measure_rounds
from ..machine import describe
from .timing import keras_latency, write_rows

SHUFFLENET_FAMILY = ("shufflenet_v2_x0.5", "shufflenet_v2_x1.0", "shufflenet_v2_x1.5", "shufflenet_v2_x2.0")
COLUMNS = ("backbone", "options", "input_size", "params", "macs", "memory_access", "keras_ms", "threads",
           "tflite_float32_ms", "tflite_int8_ms", "int8_speedup", "runtime", "xnnpack", "int8_float_ops", "cpu",
           "arch", "date", "rounds", "float32_spread_pct", "int8_spread_pct", "busy")


def _parse(spec: str) -> tuple[str, dict]:
    """"resnet:width=0.5,depth=1" -> ("resnet", {"width": 0.5, "depth": 1}); options as Python literals."""
    import ast

    name, _, rest = spec.partition(":")
    options = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        try:
            options[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            options[key.strip()] = value.strip()
    return name.strip(), options


def run(specs=SHUFFLENET_FAMILY, input_size: int = 256, threads=(1,), runs: int = 50, warmup: int = 5,
        calibration: int = 100, out="results/backbone_latency.csv", log="results/latency.csv", progress: bool = True,
        rounds: int = 5):
    """Time each backbone spec ("name" or "name:key=value;key=value"); returns a pandas DataFrame. The TFLite
    files are converted first, then timed against each other in `rounds` interleaved rounds (`runs` split
    over them), so the int8 speed-ups and the ratios between backbones come from one stretch of time."""
    import keras
    from tqdm.auto import tqdm

    threads = tuple(int(t) for t in threads)
    if rounds < 1 or runs < 1:
        raise ValueError(f"need rounds >= 1 and runs >= 1; got rounds={rounds}, runs={runs}")
    rounds = min(rounds, runs)  # a quick run of fewer runs than rounds: one run per round
    if not specs or any(t < 1 for t in threads):
        raise ValueError(f"need at least one backbone and thread counts >= 1; got {specs!r}, threads={threads}")
    parsed = [_parse(s) for s in specs]
    for name, _ in parsed:  # an unknown name fails before any timing
        if name not in backbones.names():
            raise ValueError(f"unknown backbone {name!r}; known: {backbones.names()}")
    crops = representative_crops(input_size, count=calibration)
    machine, date, rows, converted = describe(), datetime.datetime.now().isoformat(timespec="seconds"), [], []
    bar = tqdm(parsed, desc=f"backbone latency at {input_size}^2", unit="backbone", disable=not progress)
    with tempfile.TemporaryDirectory(prefix="kerasgp-latency-") as folder:
        for name, options in bar:
            bar.set_postfix_str(name)
            model = backbones.get(name, input_shape=(input_size, input_size, 3), **options)
            report = cost(model)
            keras_ms = keras_latency(model, runs=max(10, runs // 2), warmup=warmup)["median_ms"]
            paths = {}
            for mode in ("float32", "int8"):
                paths[mode] = Path(folder) / f"{len(converted)}_{model.name}_{mode}.tflite"
                conversion = convert(model, mode=mode, representative=crops if mode == "int8" else None,
                                     num_samples=calibration, out=paths[mode])
                if mode == "int8":
                    float_ops = len(conversion.op_report.get("float_ops", []))
            converted.append((name, options, report, keras_ms, paths, float_ops))
            del model
            keras.backend.clear_session()
        # Every TFLite file timed against the others in interleaved rounds, one process (bench.measure_rounds).
        for count in threads:
            every = [paths[mode] for *_, paths, _ in converted for mode in ("float32", "int8")]
            timed = dict(zip(every, measure_rounds(every, threads=count, rounds=rounds, runs=max(1, runs // rounds),
                                                   warmup=warmup)))
            for name, options, report, keras_ms, paths, float_ops in converted:
                pair = {mode: timed[paths[mode]] for mode in paths}
                for mode in paths if log else ():
                    append_csv(pair[mode], path=log, tag=f"backbone-latency {name} {mode} {input_size}")
                rows.append({
                    "backbone": name, "options": ";".join(f"{k}={v}" for k, v in options.items()),
                    "input_size": input_size, "params": report.params, "macs": report.macs,
                    "memory_access": report.memory_access, "keras_ms": round(keras_ms, 3), "threads": count,
                    "tflite_float32_ms": round(pair["float32"]["median_ms"], 3),
                    "tflite_int8_ms": round(pair["int8"]["median_ms"], 3),
                    "int8_speedup": round(pair["float32"]["median_ms"] / pair["int8"]["median_ms"], 3),
                    "runtime": pair["int8"]["runtime"], "xnnpack": pair["int8"]["xnnpack"],
                    "int8_float_ops": float_ops, "cpu": machine["cpu"], "arch": machine["arch"], "date": date,
                    "rounds": rounds, "float32_spread_pct": pair["float32"]["spread_pct"],
                    "int8_spread_pct": pair["int8"]["spread_pct"], "busy": pair["float32"]["busy"],
                })
    if any(row["busy"] for row in rows):
        import warnings

        warnings.warn("other tasks were running while the backbones were timed (the busy column): time again on a "
                      "quiet machine", RuntimeWarning, stacklevel=2)
    return write_rows(rows, COLUMNS, out)
