"""`python -m kerasgp tour`: the workbook's path end to end in a few minutes on a laptop CPU.

Fetches LSPET if it is missing, trains the base recipe (ShuffleNetV2 0.5x + SA-SimDR at 128 x 128) on a
small slice of the train split, scores it on LSPET val, converts it to TFLite float32 and full int8, scores
the int8 file on the same people, times both files on one thread, and prints one table. The lessons
(and `python -m kerasgp ablate`) do the same at full lesson scale.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

from .. import data, presets, weights
from ..data.download import one_line
from ..deploy.bench import measure
from ..deploy.tflite import convert_file
from ..pose import evaluate_file
from .runner import train_recipe
from .studies import recipe


def _pretrained_weights(name: str) -> tuple[str | None, str]:
    """(weights for the recipe, why): the ported backbone if it is ported or can be (torch installed and
    the state dict found or fetched), else None: training starts from random weights and the table says so."""
    if weights.ported_path(name).exists():
        return name, "ported ImageNet backbone"
    try:
        import torch  # noqa: F401  (porting reads the PyTorch state dict)
    except ImportError:
        return None, "from scratch (porting the pretrained backbone needs torch: pip install -e '.[backends]')"

    try:
        data.fetch(presets.PRESETS[name].weights.source)
    except (OSError, ValueError) as error:
        return None, f"from scratch (pretrained backbone not fetched: {str(error).splitlines()[0]})"
    return name, "ported ImageNet backbone"


def run(train_people: int = 1024, val_people: int = 256, epochs: int = 5, out: str | Path = "data/tour",
        progress: bool = True) -> list[dict]:
    """Run the tour; return the summary rows (also printed by the CLI)."""
    if train_people < 32 or val_people < 1 or epochs < 1:
        raise ValueError(f"need train_people >= 32, val_people >= 1 and epochs >= 1; got {train_people}, "
                         f"{val_people}, {epochs}")
    steps = []

    def step(text):
        steps.append((text, time.perf_counter()))
        print(f"[{len(steps)}/6] {text}", flush=True)

    # through the module, not names bound at import: a test (and a user's session) can replace them
    step("LSPET: " + ("found at " + str(data.find("lspet")) if data.find("lspet") else "fetching"))
    if data.find("lspet") is None:
        try:
            data.fetch("lspet", progress=progress)
        except OSError as error:  # offline or every source refused: say what is missing and how to get it
            raise FileNotFoundError(f"data set 'lspet' not found, and {one_line(error)}") from error
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    r = {**recipe("tricks", "base", "lesson"), "train_people": train_people, "val_people": val_people,
         "epochs": epochs, "scale": "tour"}
    r["weights"], init = _pretrained_weights(r["weights"])
    step(f"training the base recipe on {train_people} people for {epochs} epochs ({init})")
    keras_path = out / "tour.keras"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model, row = train_recipe(r, "tour", progress=progress, save_path=keras_path, desc="tour")
    step("converting to TFLite float32 and int8 (calibrated on 64 training crops)")
    files = {mode: out / f"tour_{mode}.tflite" for mode in ("float32", "int8")}
    for mode, path in files.items():
        convert_file(keras_path, mode, "lspet" if mode == "int8" else None, 64, path)
    step(f"scoring the TFLite files on the same {row['val_people']} LSPET val people")
    scores = {mode: evaluate_file(path, "lspet", split="val", limit=val_people) for mode, path in files.items()}
    step("timing both files, 1 thread")
    times = {mode: measure(path, threads=1, runs=50, warmup=5) for mode, path in files.items()}
    step("done")
    rows = [{"model": "tour (Keras)", "file": str(keras_path), "pckh@0.5": row["pckh@0.5"],
             "pckh@0.1": row["pckh@0.1"], "ms": row["keras_cpu_ms"], "bytes": keras_path.stat().st_size}]
    rows += [{"model": f"tour (TFLite {mode})", "file": str(path), "pckh@0.5": round(scores[mode]["pckh@0.5"], 2),
              "pckh@0.1": round(scores[mode]["pckh@0.1"], 2), "ms": round(times[mode]["median_ms"], 2),
              "bytes": path.stat().st_size} for mode, path in files.items()]
    for r_ in rows:
        r_.update({"train_people": row["train_people"], "val_people": row["val_people"], "epochs": epochs,
                   "train_samples_per_s": row["train_samples_per_s"], "init": init})
    rows[0]["seconds"] = {text: round(steps[i + 1][1] - t, 1) for i, (text, t) in enumerate(steps[:-1])}
    return rows


def format_table(rows: list[dict]) -> str:
    first = rows[0]
    lines = [f"{'model':22s} {'PCKh@0.5':>9s} {'PCKh@0.1':>9s} {'ms/image':>9s} {'size':>10s}"]
    for r in rows:
        lines.append(f"{r['model']:22s} {r['pckh@0.5']:9.2f} {r['pckh@0.1']:9.2f} {r['ms']:9.2f} "
                     f"{r['bytes'] / 2**20:8.2f} MB")
    lines.append(f"trained on {first['train_people']} LSPET people for {first['epochs']} epochs "
                 f"({first['train_samples_per_s']} samples/s, {first['init']}); scored on the first "
                 f"{first['val_people']} LSPET val people; Keras time: all cores, batch 1; TFLite: 1 thread")
    lines += [f"  {seconds:7.1f} s  {text}" for text, seconds in first["seconds"].items()]
    return "\n".join(lines)
