"""`run`: every setting of the chosen guidelines, scales and runtimes timed on this machine, one row each,
with its cost and the paper's figures beside it."""
from __future__ import annotations

import datetime
import tempfile
from pathlib import Path

import keras

from ...analysis import cost
from ...machine import describe
from .networks import _channels, build, settings
from .paper import COLUMNS, GUIDELINES, PAPER, RUNTIMES, SCALES
from .timing import _interleaved, _keras_call, _tflite_call


def _check_choice(kind: str, given, allowed) -> tuple:
    given = tuple(given)
    bad = [g for g in given if g not in allowed]
    if bad or not given:
        raise ValueError(f"{kind} must be a non-empty subset of {tuple(allowed)}; got {given}")
    return given


def run(guidelines=GUIDELINES, scales=SCALES, runtimes=RUNTIMES, runs: int = 30, out="results/guidelines.csv",
        progress: bool = True, warmup: int = 5, widths: str = "arm", rounds: int = 5, seed: int = 0):
    """Time every setting of `guidelines` at `scales` on each of `runtimes`; one row per
    (guideline, setting, scale, runtime) with the COLUMNS above; writes the CSV to `out` (overwritten;
    None for no file) and returns the pandas DataFrame.

    The settings of one table column (guideline, scale, runtime) are timed in `rounds` interleaved rounds
    of runs/rounds runs (see `_interleaved`): median_ms and p90_ms are the medians of the rounds' median
    and p90, `runs` the runs timed in all. relative_speed = images_per_s / images_per_s of the guideline's
    first setting (1:1, g=1, 1-fragment, relu+shortcut) at the same scale and runtime, in this run;
    paper_*_relative is the same ratio of the paper's figures; macs_ratio the MACs ratio to that setting.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    guidelines = _check_choice("guidelines", guidelines, GUIDELINES)
    scales = _check_choice("scales", (int(s) for s in scales), SCALES)
    runtimes = _check_choice("runtimes", runtimes, RUNTIMES)
    if runs < 1 or warmup < 0 or rounds < 1:
        raise ValueError(f"runs must be >= 1, warmup >= 0 and rounds >= 1; got runs={runs}, warmup={warmup}, "
                         f"rounds={rounds}")
    columns = {}  # (guideline, scale) -> the settings of that table column, in the paper's order
    for setting in settings(widths):
        if setting.guideline in guidelines and setting.scale in scales:
            columns.setdefault((setting.guideline, setting.scale), []).append(setting)
    machine = describe()
    date = datetime.datetime.now().isoformat(timespec="seconds")
    rows = []
    bar = tqdm(total=sum(map(len, columns.values())) * len(runtimes), desc="guidelines", unit="network",
               disable=not progress)
    with tempfile.TemporaryDirectory(prefix="kerasgp-guidelines-") as folder:
        for (guideline, scale), members in columns.items():
            models = {setting.setting: build(setting) for setting in members}  # by the paper's row label
            reports = {label: cost(model) for label, model in models.items()}
            for runtime in runtimes:
                bar.set_postfix_str(f"{guideline} x{scale} {runtime}")
                if runtime == "keras":
                    calls = {label: _keras_call(model, seed) for label, model in models.items()}
                else:
                    calls = {label: _tflite_call(model, runtime.split("-", 1)[1], Path(folder), seed)
                             for label, model in models.items()}
                timings = _interleaved(calls, runs, warmup, rounds)
                for setting in members:
                    timing, report = timings[setting.setting], reports[setting.setting]
                    cell = PAPER[guideline]["settings"][setting.setting]
                    index = SCALES.index(scale)
                    rows.append({
                        "guideline": guideline, "table": PAPER[guideline]["table"], "setting": setting.setting,
                        "scale": scale, "widths": widths, "channels": _channels(setting), "macs": report.macs,
                        "memory_access": report.memory_access, "params": report.params, "runtime": runtime,
                        "threads": timing["threads"], "runs": timing["runs"],
                        "median_ms": round(timing["median_ms"], 4), "p90_ms": round(timing["p90_ms"], 4),
                        "images_per_s": round(1000.0 / timing["median_ms"], 3),
                        "paper_gpu_batches_per_s": cell["gpu"][index], "paper_arm_images_per_s": cell["arm"][index],
                        "device": timing.get("device") or machine["cpu"],
                        "arch": timing.get("arch") or machine["arch"],
                        "runtime_package": timing["runtime_package"], "xnnpack": timing["xnnpack"], "date": date,
                    })
                    bar.update(1)
            del models, calls
            keras.backend.clear_session()  # drop the traced predict functions of the finished column
    bar.close()
    frame = _add_ratios(pd.DataFrame(rows))
    if out:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
    return frame


def _add_ratios(frame):
    """relative_speed, macs_ratio and the paper's ratios, each against the guideline's first setting at the
    same scale (and runtime)."""
    import pandas as pd

    if frame.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    first = {g: next(iter(spec["settings"])) for g, spec in PAPER.items()}
    base = frame[frame["setting"] == frame["guideline"].map(first)]
    keys = ["guideline", "scale", "runtime"]
    base = base[keys + ["images_per_s", "macs", "paper_gpu_batches_per_s", "paper_arm_images_per_s"]]
    merged = frame.merge(base, on=keys, how="left", suffixes=("", "_first"))
    merged["relative_speed"] = (merged["images_per_s"] / merged["images_per_s_first"]).round(3)
    merged["macs_ratio"] = (merged["macs"] / merged["macs_first"]).round(4)
    for paper, column in (("paper_gpu_relative", "paper_gpu_batches_per_s"),
                          ("paper_arm_relative", "paper_arm_images_per_s")):
        merged[paper] = (merged[column] / merged[f"{column}_first"]).round(3)
    return merged[list(COLUMNS)]
