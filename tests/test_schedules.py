"""The recipes' learning-rate schedules and the full scale's mmpose recipe."""
import keras
import numpy as np
import pytest

from kerasgp.experiments import recipe, runner
from kerasgp.experiments.schedules import WarmupMultiStep, learning_rate_schedule
from kerasgp.experiments.studies import FLIP_ONLY, FULL

from conftest import require


def _rates(schedule, steps):
    return np.array([float(keras.ops.convert_to_numpy(schedule(step))) for step in steps])


def test_multistep_warms_up_by_iteration_then_drops_tenfold_at_each_milestone():
    r = {"learning_rate": 1e-3, "epochs": 10, "lr_schedule": "multistep", "lr_milestones": (6, 8), "warmup_steps": 20}
    schedule = learning_rate_schedule(r, steps_per_epoch=10)  # milestones at steps 60 and 80
    rates = _rates(schedule, [0, 10, 20, 59, 60, 79, 80, 99])
    expected = 1e-3 * np.array([0.001, 0.001 + 0.999 * 0.5, 1, 1, 0.1, 0.1, 0.01, 0.01])
    np.testing.assert_allclose(rates, expected, rtol=1e-5)
    restored = WarmupMultiStep.from_config(schedule.get_config())
    np.testing.assert_allclose(_rates(restored, [0, 10, 60, 80]), expected[[0, 1, 4, 6]], rtol=1e-5)
    assert keras.saving.get_registered_name(WarmupMultiStep) == "kerasgp>WarmupMultiStep"


def test_the_lesson_schedule_is_the_cosine_it_always_was_and_cosine_can_warm_up():
    r = recipe("heads", "rle", "lesson")
    schedule = learning_rate_schedule(r, steps_per_epoch=100)
    assert schedule.get_config() == keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=1200).get_config()
    warm = learning_rate_schedule({**r, "warmup_steps": 50}, steps_per_epoch=100)
    np.testing.assert_allclose(_rates(warm, [0, 50, 1200]), [1e-6, 1e-3, 0.0], rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("overrides, message", [
    ({"lr_schedule": "step"}, "unknown lr_schedule 'step'"),
    ({"lr_schedule": "multistep", "lr_milestones": None}, "must be increasing epochs"),
    ({"lr_schedule": "multistep", "lr_milestones": (8, 6)}, "must be increasing epochs"),
    ({"lr_schedule": "multistep", "lr_milestones": (6, 12)}, "within the run's 12"),
    ({"warmup_steps": 1200}, "less than the run's 1200 steps"),
])
def test_a_bad_schedule_is_refused_with_its_reason(overrides, message):
    with pytest.raises(ValueError, match=message):
        learning_rate_schedule({**recipe("heads", "rle", "lesson"), **overrides}, steps_per_epoch=100)


@pytest.mark.backend_free
def test_the_full_scale_is_mmposes_recipe_and_the_lesson_scale_keeps_its_own():
    full, lesson = recipe("heads", "sa_simdr_sigma6_rle", "full"), recipe("heads", "sa_simdr_sigma6_rle", "lesson")
    assert (full["input_size"], full["epochs"], full["batch_size"], full["learning_rate"]) == (256, 210, 64, 1e-3)
    assert (full["lr_schedule"], full["lr_milestones"], full["warmup_steps"]) == ("multistep", (170, 200), 500)
    assert full["flip_test"] is True and full["augment"] is True  # the whole augmentation over 210 epochs
    assert lesson["augment"] == FLIP_ONLY and lesson["flip_test"] is False and lesson["lr_schedule"] == "cosine"
    assert recipe("best", "mobilenet_v2_160", "full")["epochs"] == 30  # a variant's own epochs hold at every scale
    assert {k: recipe("tricks", "base", "full")[k] for k in FULL} == {**FULL, "input_size": 256}


@pytest.mark.slow
def test_a_flip_tested_row_scores_the_image_and_its_mirror():
    from kerasgp.pose import evaluate
    from kerasgp.pose.decoding import with_flip_test

    require("lspet")
    r = {**recipe("heads", "rle", "smoke"), "weights": None, "train_people": 16, "val_people": 32, "flip_test": True}
    model, row = runner.train_recipe(r, "flipped", progress=False)
    _, val_cache = runner._caches(r, runner._people(r))
    flipped, plain = evaluate(with_flip_test(model), val_cache), evaluate(model, val_cache)
    assert row["flip_test"] is True and row["pckh@0.1"] == round(flipped["pckh@0.1"], 2)
    assert flipped["per_joint_pckh@0.5"] != plain["per_joint_pckh@0.5"] or flipped["pckh@0.1"] != plain["pckh@0.1"]
