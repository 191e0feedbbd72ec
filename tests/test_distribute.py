"""Data-parallel training (`kerasgp.experiments.distribute`): N CPU devices train the weights one device
trains from the same global batch, under JAX's DataParallel and TensorFlow's MirroredStrategy.

The CPU is split into devices before the backend starts, so each check runs in a process of its own."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from kerasgp.data import PoseBatches, build_cache
from kerasgp.data.lsp import load_lsp
from kerasgp.experiments import distribute

from conftest import require

HERE = Path(__file__).parent


@pytest.fixture
def tiny_cache(tiny_lsp, tmp_path):
    root, _ = tiny_lsp
    return build_cache(load_lsp(str(root)), (32, 32), directory=tmp_path / "cache", progress=False)


def _step(backend: str, devices: int, *options) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, str(HERE / "dp_step.py"), backend, str(devices), *options],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "tensorflow"])
def test_one_data_parallel_step_over_four_devices_equals_the_global_batch_on_one(backend):
    step = _step(backend, 4)
    assert step["devices"] == 4
    # float32 sums in another order: measured 1.6e-5 (JAX) and 4.0e-5 (TensorFlow) of the largest update
    assert step["difference"] <= 1e-4 * step["largest_update"], step


@pytest.mark.slow
def test_without_synchronized_batch_norm_tensorflow_replicas_train_another_model():
    # the check above can fail: per-replica BN statistics move the weights by as much as the step itself
    step = _step("tensorflow", 2, "unsynchronized")
    assert step["difference"] > 0.1 * step["largest_update"], step


@pytest.mark.slow
def test_a_devices_all_smoke_run_writes_its_row(tmp_path):
    require("lspet")
    out = tmp_path / "heads.csv"
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("XLA_FLAGS", None)
    proc = subprocess.run([sys.executable, "-m", "kerasgp", "ablate", "heads", "--variants", "rle", "--scale", "smoke",
                           "--devices", "all", "--cpu-devices", "2", "--workers", "2", "--out", str(out),
                           "--save-models", str(tmp_path / "models")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = csv.DictReader(open(out, newline=""))
    assert (row["variant"], row["devices"], row["engine"]) == ("rle", "2", "keras.distribution.DataParallel")
    assert row["train_people"] == "64" and float(row["pckh@0.5"]) >= 0.0
    assert (tmp_path / "models" / "heads-rle-smoke.keras").is_file()


@pytest.mark.slow
def test_the_scaling_run_trains_over_two_devices_and_appends_its_row(tmp_path, monkeypatch):
    # JAX: its process starts faster than TensorFlow's MirroredStrategy, which the step tests above cover
    from kerasgp.experiments import scaling

    require("lspet")
    out = tmp_path / "data_parallel.csv"
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    (row,) = scaling.run((2,), "jax", people=40, epochs=2, workers=2, out=out, progress=False)
    assert (row["engine"], row["devices"], row["per_device_batch"], row["workers"]) == \
        ("keras.distribution.DataParallel", 2, 16, 2)
    assert row["steady_samples_per_s"] > 0 and row["timed_epochs"] == 1
    (written,) = csv.DictReader(open(out, newline=""))
    assert list(written)[1:len(scaling.COLUMNS) + 1] == list(scaling.COLUMNS) and written["devices"] == "2"
    with pytest.raises(ValueError, match="epochs must be at least 2"):
        scaling.run((1,), epochs=1, out=None)
    with pytest.raises(ValueError, match="device counts must be at least 1"):
        scaling.run((0, 2), out=None)


def test_devices_are_all_or_a_count_the_backend_has():
    available = distribute.list_devices()
    assert distribute.resolve_devices(None) == distribute.resolve_devices("1") == available[:1]
    assert distribute.resolve_devices("all") == available
    for bad in ("0", "two", "-1"):
        with pytest.raises(ValueError, match="--devices"):
            distribute.resolve_devices(bad)
    with pytest.raises(ValueError, match="--cpu-devices N"):
        distribute.resolve_devices(len(available) + 1)


def test_one_device_needs_no_engine_and_the_global_batch_must_split_evenly():
    one = distribute.DataParallel(distribute.resolve_devices(1))
    assert (one.count, one.engine) == (1, "one device")
    with one.scope():
        assert one.prepare(keras.Sequential([keras.layers.BatchNormalization()])) == []
    if keras.backend.backend() == "torch":
        with pytest.raises(ValueError, match="jax and tensorflow backends"):
            distribute.DataParallel(["cpu:0", "cpu:1"])
    else:
        three = distribute.DataParallel(["cpu:0", "cpu:1", "cpu:2"])  # its engine is made on first use only
        with pytest.raises(ValueError, match="does not split evenly over 3 devices"):
            three.check_batch(32)
        three.check_batch(33)


@pytest.mark.backend_free
def test_dropping_the_remainder_leaves_whole_batches_only(tiny_cache):
    n = len(tiny_cache)
    kept = PoseBatches(tiny_cache, batch_size=n - 1, targets="coords", drop_remainder=True)
    assert len(kept) == 1 and len(kept[0][0]) == n - 1
    assert len(PoseBatches(tiny_cache, batch_size=n - 1, targets="coords")) == 2
    with pytest.raises(ValueError, match="leaves no batch"):
        PoseBatches(tiny_cache, batch_size=n + 1, targets="coords", drop_remainder=True)


@pytest.mark.backend_free
def test_batch_workers_make_the_same_batches(tiny_cache):
    one = PoseBatches(tiny_cache, batch_size=2, targets="coords", augment=True, seed=3)
    threads = PoseBatches(tiny_cache, batch_size=2, targets="coords", augment=True, seed=3, workers=2)
    assert threads.workers == 2
    for i in range(len(one)):
        for a, b in zip(one[i], threads[i], strict=True):
            np.testing.assert_array_equal(a, b)
