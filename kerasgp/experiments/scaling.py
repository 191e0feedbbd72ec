"""Samples/s of data-parallel training per device count: `python -m kerasgp scaling`.

Each device count trains a study variant for a few epochs in a process of its own (the device count
must be set before the backend starts; a second MirroredStrategy in one process clashes with the
first's collectives) and reports the steady rate: samples over the epochs after the first, which also
compiles. Rows are appended to results/data_parallel.csv.

`cpu_devices`: split this machine's CPU into that many devices (`distribute.simulate_cpu_devices`), the
check a machine without accelerators can run. Those devices share the same cores, so their rates show
that the engine trains, and what its copies and collectives cost, not what N accelerators would gain.
"""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ..machine import describe
from ..results import append_row
from . import distribute
from .runner import train_recipe
from .studies import recipe

COLUMNS = ("backend", "engine", "devices", "cpu_devices", "workers", "study", "variant", "scale", "input_size",
           "batch_size", "per_device_batch", "train_people", "epochs", "timed_epochs", "steady_samples_per_s",
           "train_samples_per_s", "train_s")


def run(counts=(1, 2, 4), backend: str = "tensorflow", study: str = "heads", variant: str = "sa_simdr_sigma6_rle",
        people: int = 1024, epochs: int = 3, workers: int = 1, out: str | Path | None = "results/data_parallel.csv",
        progress: bool = True, scale: str = "lesson") -> list[dict]:
    """Train `study/variant` (at `scale`, from scratch, `people` LSPET train people, `epochs` epochs) once
    per device count in `counts`, each over that many simulated CPU devices; return and append the rows.
    The schedule is the scale's without its warm-up (500 iterations outlast so short a run): a rate does
    not change a step's time."""
    if epochs < 2:
        raise ValueError(f"epochs must be at least 2 (the first compiles and is not timed); got {epochs}")
    if any(int(count) < 1 for count in counts):
        raise ValueError(f"device counts must be at least 1; got {list(counts)}")
    rows = []
    for count in counts:
        if progress:
            print(f"{backend}: {count} device(s) ...", file=sys.stderr, flush=True)
        spec = json.dumps({"count": int(count), "study": study, "variant": variant, "scale": scale,
                           "people": people, "epochs": epochs, "workers": workers})
        child = subprocess.run([sys.executable, "-m", "kerasgp.experiments.scaling", spec], capture_output=True,
                               text=True, env={**os.environ, "KERAS_BACKEND": backend})
        if child.returncode != 0:
            raise RuntimeError(f"{backend} on {count} device(s) failed:\n{child.stderr[-3000:]}")
        row = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
               **json.loads(child.stdout.strip().splitlines()[-1]), **describe()}
        rows.append(row)
        if out:
            append_row(out, row)
    return rows


def _one(spec: dict) -> dict:
    """In the child process: simulate the devices, train, and measure (runner.train_recipe)."""
    count = spec["count"]
    distribute.simulate_cpu_devices(count)

    import keras

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.times.append(time.perf_counter())

        def on_train_end(self, logs=None):
            self.times.append(time.perf_counter())

    r = {**recipe(spec["study"], spec["variant"], spec["scale"]), "weights": None, "train_people": spec["people"],
         "val_people": 64, "epochs": spec["epochs"], "lr_schedule": "cosine", "warmup_steps": 0}
    timer = EpochTimes()
    _, row = train_recipe(r, spec["variant"], progress=False, callbacks=[timer], devices=count,
                          workers=spec["workers"])
    # people per epoch: whole batches only when the batch is split (PoseBatches' drop_remainder)
    samples = spec["people"] // r["batch_size"] * r["batch_size"] if count > 1 else spec["people"]
    steady = samples * (spec["epochs"] - 1) / (timer.times[-1] - timer.times[1])
    result = {"backend": keras.backend.backend(), "engine": row.get("engine", "one device"), "devices": count,
              "cpu_devices": count, "workers": spec["workers"], "study": spec["study"], "variant": spec["variant"],
              "scale": spec["scale"], "input_size": r["input_size"], "batch_size": r["batch_size"],
              "per_device_batch": r["batch_size"] // count,
              "train_people": spec["people"], "epochs": spec["epochs"], "timed_epochs": spec["epochs"] - 1,
              "steady_samples_per_s": round(steady, 1), "train_samples_per_s": row["train_samples_per_s"],
              "train_s": row["train_s"]}
    assert list(result) == list(COLUMNS)
    return result


if __name__ == "__main__":
    print(json.dumps(_one(json.loads(sys.argv[1]))))
