"""Data-path benchmark: time to load LSPET and build its crop cache, then samples/s that the cached,
augmented, target-encoded batches reach (the data path alone, no model), made by one thread or by a pool
of worker threads as training's `--workers` makes them. Appends to results/data_pipeline.csv.
"""
from __future__ import annotations

import dataclasses
import datetime
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..machine import describe
from ..results import append_row
from . import PoseBatches, build_cache, load


def run(input_size: int = 128, batch_size: int = 64, batches: int | None = None, targets="heatmap",
        out: str | Path | None = "results/data_pipeline.csv", progress: bool = True, workers: int = 1) -> dict:
    """workers: threads making batches at once (the cache is a memory map and OpenCV's warp and the numpy
    encoders release the GIL, so threads scale where the cores allow); 1: one after another."""
    if int(workers) < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")

    with tempfile.TemporaryDirectory() as tmp:  # a cold cache: every JPEG decoded once
        start = time.perf_counter()
        # train + val, people 0-7,999: the same people whether the copy holds 8,000 or the public 10,000
        train, val = load("lspet", split="train"), load("lspet", split="val")
        people = dataclasses.replace(train, records=train.records + val.records, split="train+val")
        loaded = time.perf_counter()
        cache = build_cache(people, (input_size, input_size), directory=tmp, progress=progress)
        built = time.perf_counter()
        train = [i for i, idx in enumerate(cache.index) if idx < 6000]
        data = PoseBatches(cache, batch_size=batch_size, targets=targets, augment=True, indices=train)
        n = min(batches or len(data), len(data))
        data.batch(0)  # first-touch of the memory map is not the steady state
        t0 = time.perf_counter()
        if workers == 1:
            samples = sum(len(data[i][0]) for i in range(n))
        else:
            with ThreadPoolExecutor(workers) as pool:
                samples = sum(pool.map(lambda i: len(data[i][0]), range(n)))
        elapsed = time.perf_counter() - t0
    row = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "people": len(people),
           "input_size": input_size, "load_s": round(loaded - start, 2), "cache_build_s": round(built - loaded, 2),
           "load_and_cache_s": round(built - start, 2), "targets": targets if isinstance(targets, str) else "+".join(targets),
           "augment": True, "batch_size": batch_size, "samples": samples,
           "samples_per_s": round(samples / elapsed, 1), **describe(), "workers": workers}
    if out:
        append_row(out, row)
    return row
