"""The typed recipe: every study variant checks, the model section is the builder's arguments, bad recipes are
refused with every reason at once, and the pose studies' rows rebuild from their recipes."""
import csv
import inspect
import json
from pathlib import Path

import keras
import pytest

from kerasgp.experiments import runner
from kerasgp.experiments.recipe import BASE_RECIPE, ModelSection, Recipe, as_recipe
from kerasgp.experiments.studies import SCALES, STUDIES, recipe
from kerasgp.pose import build_pose_model

RESULTS = Path(__file__).resolve().parents[1] / "results"


def test_the_model_section_is_the_builders_keyword_arguments():
    fields = set(ModelSection.__dataclass_fields__)
    parameters = set(inspect.signature(build_pose_model).parameters)
    assert fields <= parameters and parameters - fields == {"num_joints", "name", "joint_layout"}


@pytest.mark.parametrize("scale", sorted(SCALES))
def test_every_variant_of_every_study_makes_a_checked_recipe(scale):
    for study, variants in STUDIES.items():
        for variant in variants:
            spec = Recipe.from_dict(recipe(study, variant, scale))
            assert spec.model.input_size[0] % 32 == 0, (study, variant)
            assert spec.training.epochs >= 1 and spec.loss.name, (study, variant)


def test_a_recipe_is_split_as_the_runner_used_to_read_it():
    r = recipe("tricks", "base", "lesson")
    spec = as_recipe(r)
    assert as_recipe(spec) is spec
    assert spec.model.input_size == (128, 128) and spec.model.head == "simcc" and spec.model.sigma
    assert spec.model.simcc_decoding == "soft_argmax"  # RLE on SimCC needs differentiable coordinates
    assert spec.loss.name == "simcc+rle" and spec.loss.simcc_sigma == pytest.approx(6.0 * 128 / 256)
    assert spec.data.augment == r["augment"] and spec.training.seed == 0 and spec.training.scale == "lesson"
    plain = as_recipe(recipe("heads", "deeppose", "lesson"))
    assert not plain.model.sigma and plain.model.simcc_decoding is None and plain.loss.name == "smoothl1"
    assert as_recipe({}).model == as_recipe(dict(BASE_RECIPE)).model  # missing keys are the base recipe's


def test_a_bad_recipe_names_every_problem_at_once():
    bad = {**recipe("heads", "rle", "lesson"), "epochs": 0, "head": "hourglass", "augment": {"flip": 0.5, "flop": 1},
           "init_layers": "head", "learnig_rate": 1e-3}
    with pytest.raises(ValueError) as error:
        Recipe.from_dict(bad)
    message = str(error.value)
    for reason in ("unknown recipe keys ['learnig_rate']", "unknown head 'hourglass'", "epochs is a whole number >= 1",
                   "augment has unknown fields ['flop']", "init_layers is 'backbone' or 'all'"):
        assert reason in message
    with pytest.raises(ValueError, match="lr_milestones"):
        Recipe.from_dict({"lr_schedule": "multistep", "lr_milestones": (6, 20), "epochs": 12})
    with pytest.raises(ValueError, match="unknown data set 'lsp-typo'"):
        Recipe.from_dict({"data": "lsp-typo"})
    with pytest.raises(TypeError, match="a recipe is a dict"):
        Recipe.from_dict(["not", "a", "recipe"])


def _as_json(r: dict):
    return json.loads(json.dumps(r, sort_keys=True, default=str))  # as a row records it: tuples are lists


@pytest.mark.slow
@pytest.mark.parametrize("study", ["heads", "tricks", "best", "quadranet_search"])
def test_every_pose_study_row_rebuilds_from_its_recipe_with_its_parameters_and_macs(study):
    # The rows were trained before the recipe was typed: the model the typed recipe builds must be theirs. So
    # must the model the row's own record builds (its overrides column, read with today's meaning of each
    # option): a renamed or reinterpreted option, say QuadraNet's `width` (its first stage's channel count C,
    # 16 in these rows), would make the stored rows describe other networks.
    from kerasgp.analysis import cost

    with open(RESULTS / f"{study}.csv", newline="") as f:
        rows = {row["variant"]: row for row in csv.DictReader(f) if row["scale"] == "lesson"}
    assert rows
    for variant, row in rows.items():
        study_recipe = {**recipe(study, variant, "lesson"), "weights": None}
        recorded = {**study_recipe, **json.loads(row["overrides"]), "weights": None}
        for r in [study_recipe] + ([recorded] if _as_json(recorded) != _as_json(study_recipe) else []):
            model = runner.build_model(r, 14, variant)
            report = cost(model)
            assert (model.count_params(), report.macs) == (int(row["params"]), int(row["macs"])), variant
            keras.backend.clear_session()
