"""`python -m kerasgp evaluate MODEL --data lspet|mpii-sample|coco`: a tiny saved `.keras` or `.tflite` pose model
on the real data (a few people each), PCKh for LSPET and MPII, OKS AP for COCO, and its errors."""
import json

import keras
import numpy as np
import pytest

from kerasgp.cli import main
from kerasgp.pose import build_pose_model, evaluate_file

from conftest import require


def _save(tmp_path_factory, name, **options):
    model = build_pose_model("shufflenet_v2_x0.5", None, (64, 64), name=name, **options)
    path = tmp_path_factory.mktemp("models") / f"{name}.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def lsp_model(tmp_path_factory):
    return _save(tmp_path_factory, "lsp_rle", head="deeppose", sigma=True)


@pytest.fixture(scope="module")
def coco_model(tmp_path_factory):
    return _save(tmp_path_factory, "coco_simcc", num_joints=17)


@pytest.fixture(scope="module")
def lsp_float32(lsp_model, tmp_path_factory):
    """lsp_model converted to TFLite float32 once, for the tests that read a .tflite file."""
    from kerasgp.deploy import convert_file

    return convert_file(lsp_model, "float32", out=tmp_path_factory.mktemp("tflite") / "lsp_rle.tflite").path


def _run_json(capsys, *argv):
    code = main(["evaluate", *map(str, argv), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_evaluate_on_lspet_val_reports_pckh_for_the_first_people(lsp_model, capsys):
    require("lspet")
    result = _run_json(capsys, lsp_model, "--data", "lspet", "--limit", "12")
    assert result["data"] == "lspet" and result["split"].startswith("val") and result["people"] == 12
    assert result["input_size"] == [64, 64] and 0.0 <= result["pckh@0.1"] <= result["pckh@0.5"] <= 100.0
    assert len(result["per_joint_pckh@0.5"]) == 14


def test_a_14_joint_model_is_scored_on_mpiis_lsp_joints(lsp_model, capsys):
    require("mpii-sample")
    result = _run_json(capsys, lsp_model, "--data", "mpii-sample")
    assert result["data"] == "mpii-sample" and result["people"] == 5
    assert "pelvis" not in result["per_joint_pckh@0.5"] and "head_top" in result["per_joint_pckh@0.5"]


def test_evaluate_on_the_coco_sample_reports_oks_ap(coco_model, capsys):
    require("coco-sample")
    pytest.importorskip("pycocotools")
    result = _run_json(capsys, coco_model, "--data", "coco")
    assert result["data"] == "coco-sample" and result["people"] == 12 and result["images"] >= 1
    assert -1.0 <= result["AP"] <= 1.0 and {"AP50", "AP75", "AR"} <= set(result)


@pytest.mark.tflite
def test_flip_test_scores_the_mirror_too_and_a_tflite_file_cannot_be_flipped_afterwards(lsp_model, lsp_float32,
                                                                                         capsys):
    require("lspet")
    plain = _run_json(capsys, lsp_model, "--data", "lspet", "--limit", "12")
    flipped = _run_json(capsys, lsp_model, "--data", "lspet", "--limit", "12", "--flip-test")
    assert flipped["flip_test"] is True and plain["flip_test"] is False and flipped["people"] == 12
    with pytest.raises(ValueError, match="export it with --flip-test"):
        evaluate_file(lsp_float32, "lspet", limit=4, flip_test=True)


@pytest.mark.tflite
def test_a_tflite_model_evaluates_like_the_keras_model_it_was_converted_from(lsp_model, lsp_float32):
    require("mpii-sample")
    from_keras = evaluate_file(lsp_model, "mpii-sample")
    from_tflite = evaluate_file(lsp_float32, "mpii-sample")
    assert from_tflite["input_size"] == [64, 64] and from_tflite["people"] == from_keras["people"]
    assert from_tflite["pckh@0.5"] == pytest.approx(from_keras["pckh@0.5"], abs=1e-6)


@pytest.mark.tflite
def test_against_scores_the_float_model_on_the_same_people_and_reports_the_drop(lsp_model, tmp_path, capsys):
    require("lspet")
    from kerasgp.deploy import convert_file

    tflite = tmp_path / "lsp_rle_int8.tflite"
    convert_file(lsp_model, "int8", representative=np.random.default_rng(0).uniform(size=(8, 64, 64, 3)),
                 num_samples=8, out=tflite)
    result = _run_json(capsys, tflite, "--limit", "12", "--against", lsp_model)
    alone = evaluate_file(lsp_model, "lspet", limit=12)
    against = result["against"]
    assert against["model"] == str(lsp_model) and against["pckh@0.5"] == pytest.approx(alone["pckh@0.5"])
    assert against["pckh@0.5_drop"] == pytest.approx(alone["pckh@0.5"] - result["pckh@0.5"])
    assert main(["evaluate", str(tflite), "--limit", "12", "--against", str(lsp_model)]) == 0
    assert "(drop " in capsys.readouterr().out


def test_a_model_whose_joints_do_not_fit_the_data_is_a_clear_error(lsp_model, capsys):
    require("coco-sample")
    pytest.importorskip("pycocotools")
    assert main(["evaluate", str(lsp_model), "--data", "coco"]) == 2
    assert "17-joint (COCO) model" in capsys.readouterr().err


def test_an_unknown_data_set_or_model_file_is_a_clear_error(lsp_model, tmp_path, capsys):
    assert main(["evaluate", str(lsp_model), "--data", "h36m"]) == 2
    assert "unknown data set 'h36m'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing.keras")]) == 2
    assert "no such .keras file" in capsys.readouterr().err
