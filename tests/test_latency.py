"""The backbone latency experiment: one row per backbone and thread count, also logged for the bench."""
import csv

import pytest

from conftest import require
from kerasgp import backbones
from kerasgp.analysis import cost
from kerasgp.experiments.latency import COLUMNS, _parse, run


def test_specs_carry_registry_options_as_python_literals():
    assert _parse("resnet:width=0.25;block='bottleneck'") == ("resnet", {"width": 0.25, "block": "bottleneck"})
    assert _parse("shufflenet_v2_x1.0") == ("shufflenet_v2_x1.0", {})


def test_unknown_backbones_fail_before_any_timing():
    with pytest.raises(ValueError, match="unknown backbone 'resnet_9000'"):
        run(["resnet_9000"], input_size=32, out=None, log=None, progress=False)


@pytest.mark.tflite
@pytest.mark.slow
def test_a_backbone_is_timed_in_keras_and_both_tflite_modes(tmp_path):
    require("lspet")
    out, log = tmp_path / "latency.csv", tmp_path / "log.csv"
    frame = run(["shufflenet_v2_x0.5"], input_size=64, threads=(1,), runs=2, warmup=1, calibration=4, out=out,
                log=log, progress=False)
    assert list(frame.columns) == list(COLUMNS) and len(frame) == 1
    row = frame.iloc[0]
    report = cost(backbones.get("shufflenet_v2_x0.5", input_shape=(64, 64, 3)))
    assert (row["params"], row["macs"], row["memory_access"]) == (report.params, report.macs, report.memory_access)
    assert row["keras_ms"] > 0 and row["threads"] == 1 and row["input_size"] == 64
    assert row["int8_speedup"] == pytest.approx(row["tflite_float32_ms"] / row["tflite_int8_ms"], rel=0.01)
    assert row["int8_float_ops"] == 0  # the whole backbone runs in int8
    with open(log, newline="") as f:
        logged = list(csv.DictReader(f))
    # the bench's log holds the very timings the row reports, one per mode, with the input the row names
    assert [r["tag"] for r in logged] == ["backbone-latency shufflenet_v2_x0.5 float32 64",
                                          "backbone-latency shufflenet_v2_x0.5 int8 64"]
    assert [round(float(r["median_ms"]), 3) for r in logged] == [row["tflite_float32_ms"], row["tflite_int8_ms"]]
    assert all(r["threads"] == "1" and r["input_shape"] == "1x64x64x3" for r in logged)
    assert logged[1]["input_dtype"] == "int8" and int(logged[1]["model_bytes"]) < int(logged[0]["model_bytes"])
