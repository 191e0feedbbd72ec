"""The runner on other data sets than LSPET: the samples' split by image, the official splits of COCO 2017
and MPII, `ablate --data`, the rows, evaluate on saved models."""
from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest

from conftest import require
from kerasgp.data import LSP14, COCO17, LoadReport, PersonInstance, PoseSet
from kerasgp.experiments import runner
from kerasgp.experiments.runner import OFFICIAL_SPLITS, split_by_image
from kerasgp.experiments.studies import recipe


def _poseset(people_per_image, layout=COCO17, shuffle_seed=None):
    """A PoseSet of fake people: people_per_image[i] people on image "img{i:03d}.jpg" (no pixels read)."""
    records = []
    for image, count in enumerate(people_per_image):
        for _ in range(count):
            records.append(PersonInstance(f"/nowhere/img{image:03d}.jpg", np.zeros((layout.num_joints, 2), np.float32),
                                          np.ones(layout.num_joints, np.float32), np.array([0, 0, 10, 10], np.float32),
                                          "fake", len(records)))
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(len(records))
        records = [records[i] for i in order]
    return PoseSet("fake", records, layout, LoadReport("fake"))


def _images(people):
    return {record.image_path for record in people.records}


@pytest.mark.backend_free
def test_split_by_image_puts_no_image_in_both_and_loses_no_one():
    people = _poseset([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
    train, val = split_by_image(people, 0.2)
    assert not _images(train) & _images(val)
    assert len(train) + len(val) == len(people)
    assert sorted(r.index for r in train.records + val.records) == list(range(len(people)))
    assert len(_images(val)) == 2 and (train.split, val.split) == ("train", "val")


@pytest.mark.backend_free
def test_split_by_image_is_the_same_whatever_the_record_order():
    reference = [sorted(r.index for r in s.records) for s in split_by_image(_poseset([2, 3, 1, 4, 2, 2, 1]), 0.3)]
    for seed in range(3):
        shuffled = split_by_image(_poseset([2, 3, 1, 4, 2, 2, 1], shuffle_seed=seed), 0.3)
        assert [sorted(r.index for r in s.records) for s in shuffled] == reference


@pytest.mark.backend_free
def test_split_by_image_holds_out_evenly_spaced_images_from_the_first():
    train, val = split_by_image(_poseset([1] * 10), 0.3)
    assert sorted(_images(val)) == [f"/nowhere/img{i:03d}.jpg" for i in (0, 3, 6)]


@pytest.mark.backend_free
def test_split_by_image_keeps_one_image_on_each_side_of_a_tiny_set():
    for fraction in (0.01, 0.99):
        train, val = split_by_image(_poseset([2, 1]), fraction)
        assert len(_images(train)) == 1 and len(_images(val)) == 1


@pytest.mark.backend_free
def test_split_by_image_rejects_a_fraction_outside_0_1_and_a_single_image():
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_image(_poseset([1, 1]), 1.0)
    with pytest.raises(ValueError, match="at least 2"):
        split_by_image(_poseset([4]), 0.2)


@pytest.mark.backend_free
def test_a_people_limit_keeps_whole_images():
    people = _poseset([2, 3, 4])
    kept = runner._first_images(people, 6)
    assert len(kept) == 5 and len({r.image_path for r in kept}) == 2
    assert len(runner._first_images(people, 1)) == 2  # at least the first image, whole


@pytest.mark.backend_free
def test_lspet_keeps_its_official_split_and_first_n_people(monkeypatch):
    calls = []

    def fake_load(name, split=None, **kwargs):
        calls.append((name, split))
        return _poseset([1] * 12, layout=LSP14)

    monkeypatch.setattr(runner, "load", fake_load)  # the loader the runner calls
    assert "lspet" in OFFICIAL_SPLITS
    train, val = runner._people({**recipe("pretraining", "shufflenet_v2_x0.5_pretrained", "lesson"),
                                 "train_people": 5, "val_people": None})
    assert calls == [("lspet", "train"), ("lspet", "val")]
    assert [r.index for r in train.records] == list(range(5)) and train.split == "train5"
    assert len(val) == 12 and val.split is None  # uncut: the loader's PoseSet as it came


@pytest.mark.backend_free
def test_coco2017_keeps_its_official_split_ordered_by_image_and_cut_to_whole_images(monkeypatch):
    calls = []

    def fake_load(name, split=None, **kwargs):
        calls.append((name, split))
        return _poseset([2, 3, 4, 1], shuffle_seed=1)  # people of an image scattered through the file

    monkeypatch.setattr(runner, "load", fake_load)  # the loader the runner calls
    assert "coco2017" in OFFICIAL_SPLITS and "coco2017" not in runner.LSPET_ROWS
    train, val = runner._people({**recipe("datasets", "coco_sample", "smoke"), "data": "coco2017",
                                 "train_people": 6, "val_people": None})
    assert calls == [("coco2017", "train"), ("coco2017", "val")]
    assert sorted(_images(train)) == ["/nowhere/img000.jpg", "/nowhere/img001.jpg"] and len(train) == 5
    assert train.split == "train6" and len(val) == 10
    assert [r.image_path for r in val.records] == sorted(r.image_path for r in val.records)  # grouped by image


@pytest.mark.backend_free
def test_rows_on_another_data_set_are_kept_beside_the_lspet_rows_of_the_same_variant(tmp_path):
    out = tmp_path / "study.csv"
    lspet = {"study": "s", "variant": "v", "scale": "smoke", "pckh@0.5": 40.0}
    coco = {**lspet, "pckh@0.5": "", "data": "coco2017", "oks_ap": 12.5}
    runner.append_row(out, lspet)
    runner.append_row(out, coco)
    runner.append_row(out, {**coco, "oks_ap": 13.5})  # the same variant on the same data: replaced
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["data"], r["oks_ap"], r["pckh@0.5"]) for r in rows] == [("", "", "40.0"), ("coco2017", "13.5", "")]
    assert runner.done_variants(out, "smoke", "lspet") == {"v"} == runner.done_variants(out, "smoke", "coco2017")
    assert runner.done_variants(out, "smoke", "mpii") == set() and runner.done_variants(out, "lesson") == set()


def test_ablate_data_overrides_every_variant_and_records_it(monkeypatch, tmp_path):
    seen = []

    def fake_train_recipe(r, name, progress=True, save_path=None, desc=None, init_dir=None, init_data=None,
                          checkpoint_dir=None, devices=None, workers=1):
        assert devices is None and workers == 1  # run_study's defaults: one device, no batch threads
        seen.append((r["data"], str(save_path), init_data, str(checkpoint_dir)))
        return None, {"pckh@0.5": "", "data": r["data"]}

    monkeypatch.setattr(runner, "train_recipe", fake_train_recipe)
    monkeypatch.chdir(tmp_path)
    rows = runner.run_study("pretraining", "smoke", variants=["shufflenet_v2_x0.5_scratch"], progress=False,
                            save_dir="models", data="coco2017")
    assert seen == [("coco2017", "models/pretraining-shufflenet_v2_x0.5_scratch-smoke-coco2017.keras", "coco2017",
                     "models/checkpoints/pretraining-shufflenet_v2_x0.5_scratch-smoke-coco2017")]
    assert json.loads(rows[0]["overrides"]) == {"data": "coco2017", "weights": None}
    assert (tmp_path / "results" / "pretraining-coco2017.csv").is_file()  # not the LSPET study's CSV
    assert runner.run_study("pretraining", "smoke", variants=["shufflenet_v2_x0.5_scratch"], progress=False,
                            data="coco2017") == []  # resumes: already done on coco2017
    with pytest.raises(ValueError, match="unknown data set 'coco'"):
        runner.run_study("pretraining", "smoke", progress=False, data="coco")


@pytest.mark.backend_free
def test_lspet_rows_keep_their_metric_columns_and_append_nothing(monkeypatch):
    metrics = {"pckh@0.5": 41.234, "pckh@0.1": 9.876, "pck@0.2": 30.05, "per_joint_pckh@0.5": {"neck": 50.04},
               "people": 64, "people_without_head_size": 2}
    monkeypatch.setattr(runner, "evaluate", lambda model, cache: metrics)
    columns, appended = runner.evaluate_split(None, None, recipe("heads", "deeppose", "smoke"))
    assert appended == {}
    assert columns == {"pckh@0.5": 41.23, "pckh@0.1": 9.88, "pck@0.2": 30.05, "per_joint_pckh@0.5": '{"neck": 50.0}',
                       "val_people": 64, "val_people_without_head_size": 2}


@pytest.mark.backend_free
def test_the_real_samples_split_by_image():
    for name in ("mpii-sample", "coco-sample"):
        require(name)
        if name.startswith("coco"):
            pytest.importorskip("pycocotools", reason="the COCO loader reads its JSON through pycocotools")
        train, val = runner._people(recipe("datasets", name.replace("-", "_"), "smoke"))
        assert len(train) > 0 and len(val) > 0
        assert not _images(train) & _images(val)


@pytest.mark.backend_free
def test_coco_without_pycocotools_says_how_to_install_it(monkeypatch):
    require("coco-sample")
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    monkeypatch.setitem(sys.modules, "pycocotools.coco", None)
    with pytest.raises(ImportError, match="pip install pycocotools"):
        runner._people(recipe("datasets", "coco_sample", "smoke"))


def _perfect_predictions(monkeypatch):
    """Make every model predict the ground truth, so a metric that reads the wrong people, joints or units
    shows below 100."""
    from kerasgp.data.transforms import apply_affine, invert_affine
    from kerasgp.pose import estimator

    def predict(model, batches, split_ratio=2.0, head=None, with_confidence=False):
        cache, rows = batches.cache, np.arange(len(batches.cache))[::-1]  # any order: rows say whose they are
        gt = apply_affine(cache.keypoints[rows], invert_affine(cache.to_crop[rows]))
        return (gt, rows, None) if with_confidence else (gt, rows)

    monkeypatch.setattr(estimator, "predict_keypoints", predict)


@pytest.mark.backend_free
@pytest.mark.parametrize("variant", ["mpii_sample", "coco_sample"])
def test_perfect_predictions_score_100_by_the_data_sets_own_metric(monkeypatch, variant):
    require(variant.replace("_", "-"))
    if variant.startswith("coco"):
        pytest.importorskip("pycocotools", reason="OKS AP is computed by pycocotools")
    _perfect_predictions(monkeypatch)
    r = recipe("datasets", variant, "smoke")
    _, val_cache = runner._caches(r)
    columns, appended = runner.evaluate_split(None, val_cache, r)
    assert appended["val_images"] == 1 and columns["val_people"] == len(val_cache)
    if variant.startswith("coco"):
        assert [appended[k] for k in ("oks_ap", "oks_ap50", "oks_ap75", "oks_ar")] == [100.0] * 4
        assert columns["pckh@0.5"] == "" and columns["val_people_without_head_size"] == ""
    else:
        assert columns["pckh@0.5"] == 100.0 and columns["pckh@0.1"] == 100.0 and appended["oks_ap"] == ""


@pytest.fixture(scope="module")
def smoke_rows(tmp_path_factory):
    """One smoke-scale run of the datasets study on the MPII and COCO samples: (rows by variant, csv, models)."""
    require("mpii-sample")
    require("coco-sample")
    pytest.importorskip("pycocotools", reason="OKS AP (and the COCO loader) need pycocotools")
    folder = tmp_path_factory.mktemp("datasets")
    out = folder / "datasets.csv"
    original = runner.keras_latency
    runner.keras_latency = lambda model, runs=30: {"median_ms": 0.0}  # speed is not what these tests check
    try:
        rows = runner.run_study("datasets", "smoke", out=out, variants=["mpii_sample", "coco_sample"], progress=False,
                                save_dir=folder / "models")
    finally:
        runner.keras_latency = original
    return {row["variant"]: row for row in rows}, out


@pytest.mark.slow
def test_a_smoke_run_on_mpii_writes_a_16_joint_pckh_row(smoke_rows):
    rows, out = smoke_rows
    row = rows["mpii_sample"]
    assert (row["data"], row["num_joints"]) == ("mpii-sample", 16)
    assert 0.0 <= row["pckh@0.5"] <= 100.0 and 0.0 <= row["pckh@0.1"] <= row["pckh@0.5"]
    assert len(json.loads(row["per_joint_pckh@0.5"])) == 16
    assert row["oks_ap"] == "" and row["val_images"] >= 1 and row["train_images"] >= 1
    assert json.loads(row["overrides"]) == {"data": "mpii-sample"}


@pytest.mark.slow
def test_a_smoke_run_on_coco_writes_a_17_joint_oks_row_without_pckh(smoke_rows):
    rows, out = smoke_rows
    row = rows["coco_sample"]
    assert (row["data"], row["num_joints"]) == ("coco-sample", 17)
    assert all(0.0 <= row[k] <= 100.0 for k in ("oks_ap", "oks_ap50", "oks_ap75", "oks_ar"))
    assert row["pckh@0.5"] == "" and row["pckh@0.1"] == "" and row["per_joint_pckh@0.5"] == ""


@pytest.mark.slow
def test_the_csv_keeps_the_lspet_columns_first_and_appends_the_data_set_ones(smoke_rows):
    rows, out = smoke_rows
    with open(out, newline="") as f:
        header = next(csv.reader(f))
    lspet_columns = ["study", "variant", "scale", "overrides", "backbone", "weights", "head", "loss", "input_size",
                     "epochs", "seed", "pckh@0.5", "pckh@0.1", "pck@0.2", "per_joint_pckh@0.5", "params"]
    assert header[:len(lspet_columns)] == lspet_columns
    appended = ["data", "num_joints", "val_fraction", "train_images", "val_images", "oks_ap", "oks_ap50", "oks_ap75",
                "oks_ar"]
    assert header[-len(appended):] == appended


@pytest.mark.slow
@pytest.mark.parametrize("variant, data, joints", [("mpii_sample", "mpii-sample", 16), ("coco_sample", "coco", 17)])
def test_evaluate_scores_a_model_the_runner_saved(smoke_rows, variant, data, joints):
    from kerasgp.pose.estimator import evaluate_file

    rows, _ = smoke_rows
    result = evaluate_file(rows[variant]["model_file"], data)
    if joints == 16:
        assert len(result["per_joint_pckh@0.5"]) == 16 and 0.0 <= result["pckh@0.5"] <= 100.0
    else:
        assert 0.0 <= result["AP"] <= 1.0 and result["images"] == 4


def test_another_global_batch_scales_the_learning_rate_and_the_row_records_both(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(runner, "train_recipe", lambda r, name, *a, **k: (seen.append(r), (None, {"pckh@0.5": ""}))[1])
    monkeypatch.chdir(tmp_path)
    (row,) = runner.run_study("heads", "lesson", variants=["rle"], progress=False, batch_size=128)
    assert (seen[0]["batch_size"], seen[0]["learning_rate"]) == (128, pytest.approx(4e-3))  # 32 -> 128: x4
    overrides = json.loads(row["overrides"])
    assert overrides["batch_size"] == 128 and overrides["learning_rate"] == pytest.approx(4e-3)
    with pytest.raises(ValueError, match="whole number >= 1"):
        runner.run_study("heads", "lesson", variants=["rle"], progress=False, batch_size=0, force=True)
