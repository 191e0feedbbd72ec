"""The pose model (base recipe), its evaluation, and the study runner at smoke scale."""
import csv
import dataclasses

import keras
import numpy as np
import pytest

from kerasgp.data import build_cache
from kerasgp.experiments import recipe, run_study
from kerasgp.pose import build_pose_model, evaluate


def test_simcc_model_outputs_a_vector_per_joint_and_axis():
    model = build_pose_model("shufflenet_v2_x0.5", None, (64, 64), num_joints=14)
    x, y = model.outputs
    assert tuple(x.shape) == (None, 14, 128) and tuple(y.shape) == (None, 14, 128)
    assert model.get_layer("normalize").channel_order == "bgr"  # the 0.5x weights' input convention


def test_pose_model_round_trips_through_a_keras_file_in_safe_mode(tmp_path):
    model = build_pose_model("mobilenet_v2", None, (64, 64), num_joints=14)
    model.save(tmp_path / "pose.keras")
    again = keras.saving.load_model(tmp_path / "pose.keras", safe_mode=True)
    x = np.random.default_rng(0).uniform(size=(1, 64, 64, 3)).astype("float32")
    for a, b in zip(model.predict(x, verbose=0), again.predict(x, verbose=0)):
        assert np.allclose(a, b, atol=1e-5)


def test_evaluation_of_a_perfect_decoder_is_100_percent(lspet_val):
    people = dataclasses.replace(lspet_val, records=lspet_val.records[:40], split="val40")
    cache = build_cache(people, (64, 64), progress=False)

    class Oracle:  # returns the SimCC targets themselves: argmax decoding must land on the joints
        def __init__(self):
            from kerasgp.data import PoseBatches

            self.batches = PoseBatches(cache, batch_size=40, targets="simcc", simcc_sigma=1.0)

        def predict_on_batch(self, images):
            x, y = self.batches.batch(0)["simcc"]
            return [x, y]

    result = evaluate(Oracle(), cache, batch_size=40, head="simcc")
    assert result["pckh@0.1"] == pytest.approx(100.0) and result["people"] == 40
    assert result["people_without_head_size"] == int(np.sum(~np.isfinite(cache.head_size) | (cache.head_size <= 0)))


def test_unknown_head_or_feature_is_an_error():
    with pytest.raises(ValueError, match="unknown head 'hrnet'"):
        build_pose_model(head="hrnet")
    with pytest.raises(ValueError, match="has no feature 'conv5'"):
        build_pose_model("shufflenet_v2_x0.5", None, (64, 64), feature="conv5")


def test_recipe_is_the_base_plus_the_variants_overrides():
    r = recipe("pretraining", "shufflenet_v2_x0.5_scratch", "lesson")
    assert r["weights"] is None and r["epochs"] == 12 and r["input_size"] == 128
    with pytest.raises(ValueError, match="has no variant 'resnet'"):
        recipe("pretraining", "resnet")


@pytest.mark.slow
def test_runner_trains_a_variant_writes_its_row_and_skips_it_next_time(tmp_path, lspet_val):
    out = tmp_path / "study.csv"
    rows = run_study("pretraining", "smoke", out, variants=["shufflenet_v2_x0.5_scratch"], progress=False)
    assert len(rows) == 1
    with open(out, newline="") as f:
        saved = list(csv.DictReader(f))
    assert saved[0]["variant"] == "shufflenet_v2_x0.5_scratch" and saved[0]["weights"] == "none (from scratch)"
    assert 0.0 <= float(saved[0]["pckh@0.5"]) <= 100.0 and int(saved[0]["train_people"]) == 64
    assert saved[0]["overrides"] == '{"weights": null}' and saved[0]["backend"] == keras.backend.backend()
    assert int(saved[0]["macs"]) > 1_000_000 and float(saved[0]["keras_cpu_ms"]) > 0
    assert run_study("pretraining", "smoke", out, variants=["shufflenet_v2_x0.5_scratch"], progress=False) == []


def test_heatmap_head_gives_stride_4_maps_and_decodes_its_own_targets():
    from kerasgp.data import targets as T
    from kerasgp.pose import decode_heatmaps, head_of

    model = build_pose_model("shufflenet_v2_x0.5", None, (64, 64), head="heatmap")
    assert tuple(model.output.shape) == (None, 16, 16, 14) and head_of(model) == "heatmap"
    kp = np.random.default_rng(0).uniform(0, 63, (3, 14, 2)).astype("float32")
    maps = T.heatmap_targets(kp, np.ones((3, 14)), (64, 64), stride=4, sigma=1.0)
    cell = 63 / 15
    assert np.abs(decode_heatmaps(maps, (64, 64)) - kp).max() <= 0.5 * cell + 1e-4


@pytest.mark.slow
def test_backbone_study_matches_every_model_to_shufflenet_v2_within_10_percent_of_parameters():
    from kerasgp.experiments import STUDIES

    params = {}
    for variant in STUDIES["backbones"]:
        r = recipe("backbones", variant)
        model = build_pose_model(r["backbone"], r["weights"], (r["input_size"],) * 2, 14, r["head"], r["feature"],
                                 r["split_ratio"], deconv_channels=r["deconv_channels"],
                                 backbone_options=r["backbone_options"])
        params[variant] = model.count_params()
        keras.backend.clear_session()
    reference = params["shufflenet_v2_x1.0"]
    assert {v: abs(p / reference - 1) < 0.10 for v, p in params.items()} == {v: True for v in params}
