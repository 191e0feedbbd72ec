"""The runner's training graphs (kerasgp.experiments.training): every head/loss pair of the pose study trains,
the training-only parts stay out of the inference model, and the recipe keys behave."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasgp.data import targets as T
from kerasgp.experiments import runner
from kerasgp.experiments.studies import BASE_RECIPE, STUDIES, recipe
from kerasgp.experiments.training import Plan, copy_backbone, loss_of, model_options, simcc_sigma
from kerasgp.pose import build_pose_model

SIZE = 64
JOINTS = 14


def _recipe(**overrides):
    return {**BASE_RECIPE, "input_size": SIZE, "weights": None, "deconv_channels": None, **overrides}


TINY = {"repeats": (1, 1, 1, 1), "width": 0.25}  # a plain backbone of one unit per stage


def _model(r, seed=0, tiny=False):
    """The recipe's pose model on ShuffleNetV2 0.5x; tiny: on a one-unit plain backbone instead (the two-map
    sigma branch needs ShuffleNetV2's conv5), which traces its training step several times faster."""
    keras.utils.set_random_seed(seed)
    backbone, options = ("plain", TINY) if tiny and r["sigma_feature"] is None else ("shufflenet_v2_x0.5", None)
    return build_pose_model(backbone, None, (SIZE, SIZE), JOINTS, r["head"], r["feature"], r["split_ratio"],
                            backbone_options=options, deconv_channels=r["deconv_channels"], **model_options(r))


def _batch(plan, r, n=8, seed=0):
    """A PoseBatches.batch-like dict with every target the plan may need."""
    rng = np.random.default_rng(seed)
    keypoints = rng.uniform(4, SIZE - 5, (n, JOINTS, 2)).astype(np.float32)
    weights = (rng.random((n, JOINTS)) < 0.8).astype(np.float32)
    size = (SIZE, SIZE)
    return {"images": rng.random((n, SIZE, SIZE, 3), dtype=np.float32), "keypoints": keypoints,
            "target_weight": weights, "coords": T.coordinate_targets(keypoints, size),
            "simcc": T.simcc_targets(keypoints, weights, size, r["split_ratio"], simcc_sigma(r)),
            "heatmap": T.heatmap_targets(keypoints, weights, size, plan.heatmap_stride or 4)}


CASES = {
    "deeppose_smoothl1": {"head": "deeppose"},
    "deeppose_rle": {"head": "deeppose", "loss": "rle"},
    "deeppose_rle_bce_two_map": {"head": "deeppose", "loss": "rle", "sigma_loss": "bce", "sigma_feature": "conv5"},
    "deeppose_rle_qfl_gamma": {"head": "deeppose", "loss": "rle", "sigma_loss": "qfl", "gamma": 0.5},
    "heatmap_light": {"head": "heatmap", "heatmap_form": "light"},
    "ipr_rle": {"head": "ipr", "loss": "rle"},
    "dsnt_rle": {"head": "dsnt", "loss": "dsnt+rle", "dsnt_weight": 0.1},
    "simcc_plain": {"head": "simcc", "deconv_channels": (16,)},
    "simdr_rle_cosine": {"head": "simcc", "loss": "simcc+rle", "simcc_sigma": 0.0, "cosine_scale": 15.0,
                         "deconv_channels": (16,)},
    "sa_simdr_rle_neck_dropout": {"head": "simcc", "loss": "simcc+rle", "simcc_sigma_seed": 6.0, "neck_channels": 32,
                                  "dropout": 0.2, "deconv_channels": (16,)},
}


# One case per loss family (SmoothL1, RLE, heatmap MSE, DSNT+RLE, SimCC, SimCC+RLE) runs under every backend;
# the other variants of a family (QFL, IPR, the cosine head, RLE without presence) under TensorFlow.
FAMILY_CASES = ("deeppose_smoothl1", "deeppose_rle_bce_two_map", "heatmap_light", "dsnt_rle", "simcc_plain",
                "sa_simdr_rle_neck_dropout")


@pytest.mark.slow
@pytest.mark.parametrize("case", [pytest.param(case, marks=pytest.mark.every_backend) if case in FAMILY_CASES
                                  else case for case in sorted(CASES)])
def test_every_head_and_loss_of_the_study_trains_its_inference_model(case):
    r = _recipe(**CASES[case])
    model = _model(r, tiny=True)
    before = [w.copy() for w in model.get_weights()]
    plan = Plan(model, r, JOINTS)
    plan.model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=plan.losses, loss_weights=plan.loss_weights)
    x, y = plan.pack(_batch(plan, r))
    history = [float(np.ravel(plan.model.train_on_batch(x, y))[0]) for _ in range(6)]
    assert all(np.isfinite(history)), history
    assert min(history[1:]) < history[0], f"{case}: the loss never fell below its first value: {history}"
    after = model.get_weights()  # the training graph shares the inference model's layers
    changed = [not np.allclose(a, b) for a, b in zip(before, after)]
    assert sum(changed) > len(changed) // 2


def test_the_rle_flow_is_in_the_training_graph_only():
    r = _recipe(head="deeppose", loss="rle", sigma_loss="bce")
    model = _model(r)
    inference_params = model.count_params()
    plan = Plan(model, r, JOINTS)
    flow = plan.model.get_layer("rle_loss").flow
    flow_params = sum(int(np.prod(w.shape)) for w in flow.weights)
    assert flow_params > 0
    assert plan.model.count_params() == inference_params + flow_params
    assert model.count_params() == inference_params
    assert set(plan.model.input) == {"image", "target", "target_weight", "presence_target"}
    assert set(model.output) == {"coordinates", "sigma"}


def test_the_base_recipe_trains_the_model_itself_with_cross_entropy_on_both_vectors():
    r = _recipe(head="simcc", deconv_channels=(16,))
    model = _model(r)
    plan = Plan(model, r, JOINTS)
    assert plan.model is model and plan.targets == ("simcc",)
    assert all(isinstance(loss, keras.losses.CategoricalCrossentropy) for loss in plan.losses)


def test_a_heatmap_plan_reads_its_stride_from_the_model():
    light = _recipe(head="heatmap", heatmap_form="light")
    assert Plan(_model(light), light, JOINTS).heatmap_stride == 8
    simple = _recipe(head="heatmap", deconv_channels=(8, 8, 8))
    assert Plan(_model(simple), simple, JOINTS).heatmap_stride == 4


def test_simdr_targets_are_one_hot_at_the_nearest_bin():
    keypoints = np.array([[[10.2, 30.7], [0.0, 63.0]]], np.float32)
    x, y = T.simcc_targets(keypoints, np.ones((1, 2)), (64, 64), split_ratio=2.0, sigma=0.0)
    assert x.shape == (1, 2, 128) and set(np.unique(x)) == {0.0, 1.0}
    np.testing.assert_array_equal(x.sum(-1), 1.0)
    np.testing.assert_array_equal(x.argmax(-1), [[20, 0]])
    np.testing.assert_array_equal(y.argmax(-1), [[61, 126]])
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        T.simcc_targets(keypoints, np.ones((1, 2)), (64, 64), sigma=-1.0)


def test_recipe_keys_scale_with_the_input_and_unknown_keys_fail():
    assert recipe("heads", "heatmap_larger_input", "lesson")["input_size"] == 160
    assert recipe("heads", "heatmap_larger_input", "full")["input_size"] == 320
    assert simcc_sigma(recipe("heads", "sa_simdr_sigma6", "lesson")) == pytest.approx(3.0)
    assert simcc_sigma(recipe("heads", "sa_simdr_sigma4_rle", "full")) == pytest.approx(4.0)
    STUDIES["_bad"] = {"typo": {"learnig_rate": 1.0}, "zero_batch": {"batch_size": 0}}
    try:
        with pytest.raises(ValueError, match="unknown recipe keys"):
            recipe("_bad", "typo")
        with pytest.raises(ValueError, match="batch_size is a whole number >= 1"):  # checked when it is made
            recipe("_bad", "zero_batch")
    finally:
        del STUDIES["_bad"]


@pytest.mark.parametrize("overrides, message", [
    ({"head": "heatmap", "loss": "rle"}, "trains heads"),
    ({"head": "deeppose", "loss": "rle", "sigma_loss": "focal"}, "sigma_loss is one of"),
    ({"head": "deeppose", "sigma_loss": "bce"}, "use it with an RLE loss"),
    ({"head": "simcc", "loss": "l2"}, "unknown loss"),
])
def test_mismatched_heads_and_losses_fail_with_a_reason(overrides, message):
    with pytest.raises(ValueError, match=message):
        loss_of(_recipe(**overrides))


def test_every_heads_variant_has_a_valid_head_and_loss():
    for variant in STUDIES["heads"]:
        r = recipe("heads", variant, "lesson")
        assert loss_of(r) in ("smoothl1", "rle", "heatmap", "dsnt+rle", "simcc", "simcc+rle")
        assert runner._augment(r["augment"]).rotation == 0.0  # the study's flip-only augmentation


def test_cosine_linear_macs_follow_the_dense_rule():
    from kerasgp.analysis import cost
    from kerasgp.pose import CosineLinear

    inputs = keras.Input((14, 32))
    model = keras.Model(inputs, CosineLinear(10, 15.0)(inputs))
    assert cost(model).macs == 14 * 32 * 10  # as Dense(10) on the same input


def test_init_from_copies_the_backbone_and_names_the_missing_run(tmp_path):
    r = _recipe(head="heatmap", heatmap_form="light")
    source = _model(r, seed=1)
    source.save(tmp_path / "heads-heatmap-lesson.keras")
    target = _model(_recipe(head="deeppose", loss="rle"), seed=2)
    runner._init_from(target, "heads/heatmap", "lesson", tmp_path)
    body = lambda m: next(layer for layer in m.layers if isinstance(layer, keras.Model))  # noqa: E731
    for a, b in zip(body(source).get_weights(), body(target).get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="ablate heads --variants heatmap_160"):
        runner._init_from(target, "heads/heatmap_160", "lesson", tmp_path)
    r_wide = _recipe(head="deeppose", loss="rle")
    wide = build_pose_model("shufflenet_v2_x1.0", None, (SIZE, SIZE), JOINTS, r_wide["head"], r_wide["feature"],
                            r_wide["split_ratio"], **model_options(r_wide))
    with pytest.raises(ValueError, match="init_from needs the same backbone"):
        copy_backbone(source, wide)


def test_init_layers_all_copies_the_whole_model_and_refuses_another_recipe(tmp_path):
    r = _recipe(loss="simcc+rle", deconv_channels=(16, 16))
    source = _model(r, seed=1)
    source.save(tmp_path / "best-first-lesson.keras")
    target = _model(r, seed=2)
    assert not all(np.allclose(a, b) for a, b in zip(source.get_weights(), target.get_weights()))  # seeds differ
    runner._init_from(target, "best/first", "lesson", tmp_path, layers="all")
    for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    other = _model(_recipe(loss="simcc+rle", deconv_channels=(32, 32)))
    with pytest.raises(ValueError, match="same recipe"):
        runner._init_from(other, "best/first", "lesson", tmp_path, layers="all")
    with pytest.raises(ValueError, match="init_layers"):
        runner._init_from(target, "best/first", "lesson", tmp_path, layers="head")
