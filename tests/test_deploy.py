"""TFLite conversion (float32 and full int8) against the Keras forward pass, the op report, the latency
bench and its CSV, and the bench path's promise to import neither Keras nor TensorFlow.

Under JAX and PyTorch every conversion goes through the TensorFlow subprocess (`convert_file`), so the
whole file runs under all three backends; the conversions are made once per module."""
import csv
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasgp.backbones.shufflenet_v2 import shuffle_unit
from kerasgp.deploy import append_csv, convert, convert_file, measure, op_report, run_tflite
from kerasgp.deploy.bench import COLUMNS

from conftest import require

pytestmark = pytest.mark.tflite


def _set_weights(model, rng):
    # Weights from one NumPy generator, so that every backend converts the same network; BatchNorms get
    # trained-like statistics (fresh ones are identities, which would make the int8 ranges trivial).
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n),
                               rng.uniform(0.5, 1.5, n)])
        elif layer.weights:
            kernel = layer.get_weights()[0]  # the units' convs have no bias
            depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
            fan_in = np.prod(kernel.shape[:2] if depthwise else kernel.shape[:-1])
            layer.set_weights([rng.normal(0, np.sqrt(2 / fan_in), kernel.shape)])


@pytest.fixture(scope="module")
def units():
    """ShuffleNetV2 units (torchvision order, so with ChannelShuffle) on a (16, 16, 48) map: the stride-2
    unit's output first, then the stride-1 unit's, so the Keras order differs from the creation order."""
    rng = np.random.default_rng(0)
    inputs = keras.Input((16, 16, 48), name="features")
    same = shuffle_unit(inputs, 48, 1, name="unit_s1", block_order="torchvision")
    down = shuffle_unit(inputs, 96, 2, name="unit_s2", block_order="torchvision")
    model = keras.Model(inputs, [down, same], name="units")
    _set_weights(model, rng)
    calibration = rng.uniform(0, 1, (48, 16, 16, 48)).astype("float32")
    test = rng.uniform(0, 1, (6, 16, 16, 48)).astype("float32")
    expected = [keras.ops.convert_to_numpy(y) for y in model(test)]
    return model, calibration, test, expected


@pytest.fixture(scope="module")
def int8_units(units):
    model, calibration, _, _ = units
    return convert(model, "int8", representative=calibration, num_samples=48)


@pytest.fixture(scope="module")
def float_units(units, tmp_path_factory):
    return convert(units[0], "float32", out=tmp_path_factory.mktemp("deploy") / "units.tflite")


def test_shuffle_units_in_full_int8_match_keras_within_a_few_output_scales(units, int8_units):
    _, _, test, expected = units
    got = run_tflite(int8_units, test)
    for name, want, have, detail in zip(("stride 2", "stride 1"), expected, got, int8_units.output_details):
        # Each rounding (input, the activations between the three convs, output) is at most half a step of
        # its tensor's scale; summed through the following convs they stay within a few output steps, the
        # bulk within one or two (measured: mean 0.35, 99th percentile 2.6, max 6.2 over 37k values).
        error = np.abs(want - have) / detail["scale"]
        p99 = np.percentile(error, 99)
        assert error.mean() <= 0.5 and p99 <= 3 and error.max() <= 8, (
            f"{name}: error in output steps: mean {error.mean():.2f}, p99 {p99:.2f}, max {error.max():.2f}")
        assert np.corrcoef(want.ravel(), have.ravel())[0, 1] > 0.999
    # The stride-1 unit's kept half goes through no conv: after the shuffle it is every even channel, the
    # input's first 24 channels, off by the rounding of the input and the output only.
    kept = got[1][..., 0::2]
    steps = int8_units.output_details[1]["scale"] + int8_units.input_details[0]["scale"]
    assert np.abs(kept - test[..., :24]).max() <= steps


def test_int8_graph_computes_every_op_in_int8_with_no_tensor_above_rank_4(int8_units):
    report = int8_units.op_report
    assert report["max_rank"] <= 4 and report["above_rank4"] == []
    assert report["float_ops"] == [] and report["quantize_ops"] == []
    assert {row["dtype"] for row in report["ops"]} == {"int8"}
    assert {"TRANSPOSE", "RESHAPE", "CONV_2D", "DEPTHWISE_CONV_2D"} <= {row["op"] for row in report["ops"]}
    for detail in int8_units.input_details + int8_units.output_details:
        assert detail["dtype"] == "int8" and detail["scale"] > 0
    assert "int8" in int8_units.summary() and "left in float: none" in int8_units.summary()


def test_float32_conversion_matches_keras_within_1e_4(units, float_units):
    _, _, test, expected = units
    for want, have in zip(expected, run_tflite(float_units.path, test)):
        assert np.abs(want - have).max() <= 1e-4
    assert {row["dtype"] for row in float_units.op_report["ops"]} == {"float32"}


def test_two_outputs_come_back_in_the_keras_order(units, float_units):
    model, _, test, expected = units
    got = run_tflite(float_units.content, test[:2])
    assert isinstance(got, list) and [y.shape for y in got] == [(2, 8, 8, 96), (2, 16, 16, 48)]
    assert np.allclose(got[0], expected[0][:2], atol=1e-4) and np.allclose(got[1], expected[1][:2], atol=1e-4)
    assert [d["keras_output"] for d in float_units.output_details] == list(model.output_names)
    assert float_units.output_names == ["output_0", "output_1"]


def test_a_layer_that_does_not_convert_is_named_in_the_error():
    # CategoryEncoding counts with tf.DenseBincount, which is no TFLite builtin.
    inputs = keras.Input((4,), dtype="int32")
    model = keras.Model(inputs, keras.layers.CategoryEncoding(10, output_mode="count", name="token_counts")(inputs))
    with pytest.raises(ValueError, match=r"DenseBincount in layer\(s\) token_counts") as error:
        convert(model, "float32")
    assert "The converter said" in str(error.value)


def test_bad_requests_are_errors_before_any_conversion(units):
    model, calibration, _, _ = units
    with pytest.raises(ValueError, match="representative inputs"):
        convert(model, "int8")
    with pytest.raises(ValueError, match="mode must be one of"):
        convert(model, "int4")
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        convert(model, "int8", representative=calibration, num_samples=0)
    with pytest.raises(ValueError, match=r"input shape \(N, 16, 16, 48\)"):
        convert(model, "int8", representative=calibration[:, :8])
    flexible = keras.Model(inputs := keras.Input((None, None, 3)), keras.layers.Conv2D(2, 1)(inputs))
    with pytest.raises(ValueError, match="concrete"):
        convert(flexible, "float32")
    with pytest.raises(ValueError, match=".keras file"):
        convert_file("model.h5")


def test_run_tflite_checks_the_input_shape(float_units):
    with pytest.raises(ValueError, match=r"expects a batch \(N, 16, 16, 48\)"):
        run_tflite(float_units, np.zeros((16, 16, 48), "float32"))


def test_op_report_reads_a_file_as_the_conversion_did(float_units):
    assert op_report(float_units.path) == float_units.op_report


def test_representative_crops_are_training_crops_in_unit_range():
    require("lspet")
    from kerasgp.deploy import representative_crops

    crops = representative_crops((48, 64), count=3, seed=1)
    assert crops.shape == (3, 64, 48, 3) and crops.dtype == np.float32
    assert 0 <= crops.min() and crops.max() <= 1 and crops.std() > 0.05
    assert np.array_equal(crops, representative_crops((48, 64), count=3, seed=1))


def test_bench_measures_a_model_and_says_whether_xnnpack_ran(float_units):
    row = measure(float_units.path, threads=1, runs=5, warmup=1)
    assert set(row) == set(COLUMNS)
    assert 0 < row["min_ms"] <= row["median_ms"] <= row["p90_ms"]
    assert row["input_shape"] == "1x16x16x48" and row["input_dtype"] == "float32" and row["runs"] == 5
    assert row["runtime"].split()[0] in ("ai-edge-litert", "tflite-runtime", "tensorflow") and row["cpu"]
    # LiteRT delegates a float graph to XNNPACK by default; without default delegates nothing is delegated.
    assert row["xnnpack"] is True
    assert measure(float_units.path, runs=1, warmup=0, xnnpack=False)["xnnpack"] is False
    with pytest.raises(ValueError, match="runs >= 1"):
        measure(float_units.path, runs=0)


def test_append_csv_writes_the_header_once_and_makes_the_folder(tmp_path):
    path = tmp_path / "results" / "latency.csv"
    row = {"model": "m.tflite", "median_ms": 1.5, "threads": 1}
    append_csv(row, path, tag="first")
    append_csv(row, path)
    with open(path, newline="") as f:
        lines = list(csv.reader(f))
    assert lines[0] == list(COLUMNS) and len(lines) == 3
    assert [dict(zip(lines[0], line))["tag"] for line in lines[1:]] == ["first", ""]
    with pytest.raises(ValueError, match="unknown keys"):
        append_csv({"speed": 1}, path)
    path.write_text("date,model\n")
    with pytest.raises(ValueError, match="write to a new file"):
        append_csv(row, path)


def test_bench_command_imports_neither_keras_nor_tensorflow(float_units, tmp_path):
    # The real CLI path, run as `python -m kerasgp` would, then the loaded modules listed (it
    # must run on a Raspberry Pi that has only numpy and an interpreter).
    script = ("import json, runpy, sys\n"
              f"sys.argv = ['kerasgp', 'bench', {str(float_units.path)!r}, '--runs', '3', '--json', '--no-csv']\n"
              "try:\n    runpy.run_module('kerasgp', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
              "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'jax', 'torch'})\n"
              "print(json.dumps({'exit': code, 'heavy': heavy}))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    row, loaded = (json.loads(line) for line in proc.stdout.strip().splitlines()[-2:])
    assert loaded == {"exit": 0, "heavy": []}, proc.stderr
    assert row["runs"] == 3 and row["median_ms"] > 0
    assert not (tmp_path / "results").exists()  # --no-csv wrote nothing


@pytest.mark.every_backend
def test_a_model_saved_under_this_backend_exports_from_the_command_line_with_its_dict_outputs(tmp_path, capsys):
    from kerasgp.cli import main

    inputs = keras.Input((8, 8, 3), name="image")
    features = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(features)
    model = keras.Model(inputs, {"map": features, "vector": pooled}, name="two_heads")
    model.save(tmp_path / "two_heads.keras")  # under TensorFlow converted here, else in a subprocess
    out = tmp_path / "out" / "two_heads.tflite"
    assert main(["export", str(tmp_path / "two_heads.keras"), "--mode", "float32", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "TFLite float32" in printed and "CONV_2D" in printed and "(Keras pool)" in printed
    x = np.random.default_rng(1).uniform(size=(3, 8, 8, 3)).astype("float32")
    got, want = run_tflite(out, x), model(x)
    assert sorted(got) == ["map", "vector"]
    for key in got:
        assert np.abs(got[key] - keras.ops.convert_to_numpy(want[key])).max() <= 1e-4
    with pytest.raises(SystemExit):  # argparse refuses a mode it does not know
        main(["export", str(tmp_path / "two_heads.keras"), "--mode", "int4"])


def test_float_layers_keep_their_ops_float_by_name_and_unknown_names_fail(tmp_path):
    from kerasgp.deploy import float_decoding_layers

    rng = np.random.default_rng(5)
    keras.utils.set_random_seed(5)  # the same initial weights on every run of a backend
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(6, name="head")(x)
    model = keras.Model(inputs, keras.layers.Reshape((3, 2), name="out")(x), name="small")
    calibration = rng.uniform(size=(16, 8, 8, 3)).astype("float32")
    assert float_decoding_layers(model) == []  # no SimCC decoding: the default keeps every op int8
    plain = convert(model, "int8", representative=calibration, num_samples=16)
    kept = convert(model, "int8", representative=calibration, num_samples=16, float_layers=["head"])
    assert plain.op_report["float_ops"] == []
    assert [line.split()[1] for line in kept.op_report["float_ops"]] == ["FULLY_CONNECTED"]
    assert any("DEQUANTIZE" in line for line in kept.op_report["quantize_ops"])
    assert [d["dtype"] for d in kept.input_details + kept.output_details] == ["int8", "int8"]
    x = rng.uniform(size=(4, 8, 8, 3)).astype("float32")
    want = keras.ops.convert_to_numpy(model(x))
    # a few output steps: the conv and pool are int8, the head float
    assert np.abs(run_tflite(kept, x) - want).max() <= 0.02 * np.abs(want).max() + 4 * kept.output_details[0]["scale"]
    with pytest.raises(ValueError, match="are not layers"):
        convert(model, "int8", representative=calibration, num_samples=16, float_layers=["nope"])


def test_float_layers_expand_patterns_through_nested_models_and_the_decoding_word():
    from kerasgp.deploy.tflite import expand_float_layers
    from kerasgp.pose import build_pose_model

    model = build_pose_model("plain", None, (64, 64), 14, head="simcc", simcc_decoding="soft_argmax",
                             backbone_options={"repeats": (1, 1, 1, 1), "width": 0.25}, name="tiny_simcc")
    backbone = next(layer for layer in model.layers if hasattr(layer, "layers"))
    inner = [layer.name for layer in backbone.layers]
    assert expand_float_layers(model, None) == ["coordinates"] == expand_float_layers(model, ["decoding"])
    matched = expand_float_layers(model, [f"{backbone.name}/*", "decoding", "coordinates"])
    assert matched == [f"{backbone.name}/{name}" for name in inner] + ["coordinates"]  # in order, no repeats
    assert expand_float_layers(model, ["simcc_x"]) == ["simcc_x"]  # plain names pass through unchanged
    with pytest.raises(ValueError, match="pattern 'nope_\\*' matches no layer path"):
        expand_float_layers(model, ["nope_*"])


def test_a_pose_model_exports_in_its_deployable_form_with_simcc_decoding_in_float(tmp_path, capsys):
    from kerasgp.cli import main
    from kerasgp.pose import build_pose_model

    model = build_pose_model("plain", None, (64, 64), 14, head="simcc", simcc_decoding="soft_argmax",
                             backbone_options={"repeats": (1, 1, 1, 1), "width": 0.25}, name="tiny_simcc")
    model.save(tmp_path / "tiny.keras")
    np.save(tmp_path / "crops.npy", np.random.default_rng(2).uniform(size=(8, 64, 64, 3)).astype("float32"))
    out = tmp_path / "tiny_int8.tflite"
    assert main(["export", str(tmp_path / "tiny.keras"), "--deployable", "--mode", "int8", "--samples", "8",
                 "--representative", str(tmp_path / "crops.npy"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "output keypoints" in printed and "output confidence" in printed and "simcc_x" not in printed.split("ops:")[0]
    assert "coordinates_1/Sum" in printed  # the soft-argmax's sum, listed among the ops left in float
    with pytest.raises(SystemExit):
        main(["export", str(tmp_path / "tiny.keras"), "--mode", "float32", "--float-layers", "coordinates"])


def test_a_flip_test_export_runs_image_and_mirror_and_keeps_its_merge_in_float(tmp_path, capsys):
    from kerasgp.cli import main
    from kerasgp.deploy import float_decoding_layers, run_tflite
    from kerasgp.deploy.tflite import load_keras
    from kerasgp.pose import build_pose_model
    from kerasgp.pose.decoding import with_flip_test

    model = build_pose_model("plain", None, (64, 64), 14, head="simcc", simcc_decoding="soft_argmax",
                             backbone_options={"repeats": (1, 1, 1, 1), "width": 0.25}, name="tiny_simcc")
    model.save(tmp_path / "tiny.keras")
    flipped = with_flip_test(load_keras(tmp_path / "tiny.keras"))
    assert {"keypoints", "confidence"} <= set(float_decoding_layers(flipped))
    crops = np.random.default_rng(3).uniform(size=(8, 64, 64, 3)).astype("float32")
    np.save(tmp_path / "crops.npy", crops)
    out = tmp_path / "tiny_flip.tflite"
    with pytest.raises(SystemExit, match="--deployable"):
        main(["export", str(tmp_path / "tiny.keras"), "--flip-test", "--out", str(out)])
    assert main(["export", str(tmp_path / "tiny.keras"), "--deployable", "--flip-test", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "output keypoints" in printed and "REVERSE_V2" in printed  # the mirror runs inside the file
    got, want = run_tflite(out.read_bytes(), crops[:2]), flipped.predict_on_batch(crops[:2])
    np.testing.assert_allclose(got["keypoints"], want["keypoints"], atol=1e-3)


@pytest.mark.slow
def test_the_deployment_study_scores_and_times_a_trained_model(tmp_path):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("one backend is enough: the study converts under TensorFlow whatever the backend")
    require("lspet")
    from pathlib import Path

    from kerasgp.experiments import deployment

    model = Path(__file__).resolve().parents[1] / "results" / "models" / "heads-rle.keras"
    # 8 calibration crops, not the study's 200: this checks the study's bookkeeping, test_int8_accuracy.py
    # checks what int8 keeps of these models
    fast = {"threads": (1,), "runs": 3, "warmup": 1, "calibration": 8, "seed_rows": False, "log": None,
            "progress": False}
    frame = deployment.run([model], out=tmp_path / "d.csv", limit=30, **fast)
    assert list(frame.columns) == list(deployment.COLUMNS) and len(frame) == 1
    row = frame.iloc[0]
    assert row["model"] == "heads-rle" and row["family"] == "regression/RLE" and row["people"] == 30
    assert row["pckh05_float32"] == pytest.approx(row["pckh05_keras"], abs=0.01)
    assert row["int8_drop"] == pytest.approx(row["pckh05_float32"] - row["pckh05_int8"], abs=0.011)
    assert row["int8_speedup"] == pytest.approx(row["float32_ms"] / row["int8_ms"], rel=0.01)
    assert row["int8_bytes"] < row["float32_bytes"] and (tmp_path / "d.csv").is_file()
    # append: another model joins the finished CSV; a model run again replaces its own row
    import pandas as pd

    other = Path(__file__).resolve().parents[1] / "results" / "models" / "heads-heatmap.keras"
    deployment.run([other], out=tmp_path / "d.csv", limit=10, append=True, **fast)
    merged = pd.read_csv(tmp_path / "d.csv")
    assert list(merged["model"]) == ["heads-rle", "heads-heatmap"] and list(merged["people"]) == [30, 10]
    deployment.run([model], out=tmp_path / "d.csv", limit=10, append=True, **fast)
    assert list(pd.read_csv(tmp_path / "d.csv")["people"]) == [10, 10]
    pd.DataFrame({"model": ["x"]}).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(ValueError, match="not the deployment study's"):
        deployment.run([model], out=tmp_path / "other.csv", limit=10, append=True, **fast)
    with pytest.raises(FileNotFoundError, match="not .keras files"):
        deployment.run([tmp_path / "missing.keras"], out=None)


def test_models_timed_in_interleaved_rounds_get_their_median_spread_and_the_machine_load(float_units, tmp_path):
    from kerasgp.deploy.bench import measure_rounds, other_runnable_tasks

    copy = tmp_path / "copy.tflite"
    copy.write_bytes(float_units.path.read_bytes())
    rows = measure_rounds([float_units.path, copy], threads=1, rounds=3, runs=4, warmup=1)
    assert [row["model"] for row in rows] == [str(float_units.path), str(copy)]
    for row in rows:
        assert set(row) == set(COLUMNS) and row["rounds"] == 3 and row["runs"] == 12
        assert 0 < row["min_ms"] <= row["median_ms"] and row["spread_pct"] >= 0 and isinstance(row["busy"], bool)
    assert other_runnable_tasks() is None or other_runnable_tasks() >= 0
    with pytest.raises(FileNotFoundError, match="absent"):
        measure_rounds([float_units.path, tmp_path / "absent.tflite"])


def test_a_latency_log_from_before_the_round_columns_is_rewritten_with_them(tmp_path):
    from kerasgp.deploy.bench import ROUND_COLUMNS

    path = tmp_path / "latency.csv"
    old = [c for c in COLUMNS if c not in ROUND_COLUMNS]
    path.write_text(",".join(old) + "\n" + ",".join("x" if c == "model" else "" for c in old) + "\n")
    append_csv({"model": "new.tflite", "rounds": 5, "busy": False}, path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(COLUMNS) and [r["model"] for r in rows] == ["x", "new.tflite"]
    assert rows[0]["rounds"] == "" and rows[1]["rounds"] == "5"


def test_the_bench_command_times_several_models_in_rounds_and_logs_each(float_units, tmp_path, capsys):
    from kerasgp.cli import main

    copy = tmp_path / "copy.tflite"
    copy.write_bytes(float_units.path.read_bytes())
    log = tmp_path / "latency.csv"
    assert main(["bench", str(float_units.path), str(copy), "--runs", "6", "--rounds", "3", "--warmup", "1",
                 "--json", "--csv", str(log), "--tag", "pair"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [row["model"] for row in rows] == [str(float_units.path), str(copy)]
    assert all(row["rounds"] == 3 and row["runs"] == 6 and row["tag"] == "pair" for row in rows)
    with open(log, newline="") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_the_int8_probes_block_groups_cover_mobilenet_v2_once_each():
    from kerasgp.deploy.tflite import _layer_paths, expand_float_layers
    from kerasgp.experiments.int8_probe import BACKBONE, VARIANTS
    from kerasgp.pose import build_pose_model
    from kerasgp.pose.decoding import deployable_model

    model = deployable_model(build_pose_model("mobilenet_v2", None, (64, 64), 14, sigma=True,
                                              simcc_decoding="soft_argmax"))
    backbone = {p for p in _layer_paths(model) if p.startswith(BACKBONE + "/") and not p.endswith("/image")}
    groups = ["features_0-1_float", "features_2-3_float", "features_4-6_float", "features_7-13_float",
              "features_14-18_float"]
    covered = [set(expand_float_layers(model, VARIANTS[g][0])) for g in groups]
    assert set().union(*covered) == backbone and sum(map(len, covered)) == len(backbone)  # a partition
    assert set(expand_float_layers(model, VARIANTS["features_0-6_float"][0])) == covered[0] | covered[1] | covered[2]
    for name, (patterns, _, _) in VARIANTS.items():  # every default group names layers this model has
        expand_float_layers(model, ["decoding", *patterns])
