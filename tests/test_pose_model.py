"""A pose model that knows itself: head, split ratio, joint layout and preprocessing in its saved config."""
import keras
import numpy as np
import pytest

from kerasgp.data import PoseBatches, build_cache
from kerasgp.data.lsp import load_lsp
from kerasgp.pose import (
    IMAGENET,
    PoseModel,
    build_pose_model,
    decode,
    deployable_model,
    evaluate,
    head_of,
    load_pose_model,
    predict_keypoints,
)
from kerasgp.pose.preprocess import BGR_UNIT


def _random(size=(32, 32)):
    return np.random.default_rng(0).uniform(0, 1, (2, size[1], size[0], 3)).astype("float32")


@pytest.mark.parametrize("head", ["simcc", "heatmap", "deeppose", "ipr", "dsnt"])
def test_a_built_model_records_its_head_split_ratio_layout_and_preprocessing_and_keeps_them_on_disk(head, tmp_path):
    model = build_pose_model("shufflenet_v2_x0.5", None, (64, 64), 14, head, split_ratio=3.0)
    assert isinstance(model, PoseModel)
    assert (model.head, model.split_ratio, model.joint_layout) == (head, 3.0 if head == "simcc" else None, "lsp14")
    assert model.preprocessing == {key: list(v) if isinstance(v, tuple) else v for key, v in BGR_UNIT.items()}
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(loaded) is PoseModel and loaded.get_config()["head"] == head
    assert (loaded.head, loaded.split_ratio, loaded.joint_layout, loaded.preprocessing) == \
        (model.head, model.split_ratio, model.joint_layout, model.preprocessing)
    image = _random((64, 64))
    for ours, theirs in zip(keras.tree.flatten(model.predict_on_batch(image)),
                            keras.tree.flatten(loaded.predict_on_batch(image))):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_head_of_reads_the_config_and_falls_back_to_layer_names_for_older_files():
    model = build_pose_model("shufflenet_v2_x0.5", None, (64, 64), 16, "ipr", backbone_options={"width": 0.5})
    assert model.joint_layout == "mpii16" and head_of(model) == "ipr"
    model.head = "dsnt"  # what the config says wins over what the layer names suggest
    assert head_of(model) == "dsnt"
    older = keras.Model(model.inputs, model.outputs)  # a Functional model with no record, as files saved before
    assert not isinstance(older, PoseModel) and head_of(older) == "ipr"
    assert head_of(deployable_model(model)) == "deployed"
    mobilenet = build_pose_model("mobilenet_v2", None, (64, 64), 17, "deeppose")
    assert mobilenet.joint_layout == "coco17" and mobilenet.preprocessing["channel_order"] == IMAGENET["channel_order"]


def test_a_bad_record_is_refused():
    image = keras.Input((8, 8, 3))
    with pytest.raises(ValueError, match="unknown joint layout"):
        PoseModel(image, keras.layers.Flatten()(image), joint_layout="lsp15")
    with pytest.raises(ValueError, match="split_ratio must be > 0"):
        PoseModel(image, keras.layers.Flatten()(image), split_ratio=0)


def test_simcc_decodes_scores_and_deploys_with_its_own_split_ratio(tiny_lsp, tmp_path):
    # 3 bins per pixel: decoding with the default 2 would put every joint 1.5x too far from the corner
    model = build_pose_model("shufflenet_v2_x0.5", None, (32, 32), 14, "simcc", split_ratio=3.0)
    model.save(tmp_path / "m.keras")
    loaded = load_pose_model(tmp_path / "m.keras")
    image = _random()
    told = decode(loaded.predict_on_batch(image), "simcc", (32, 32), 3.0)
    np.testing.assert_allclose(deployable_model(loaded).predict_on_batch(image)["keypoints"], told, atol=1e-4)
    root, _ = tiny_lsp
    cache = build_cache(load_lsp(str(root)), (32, 32), directory=tmp_path / "cache", progress=False)
    assert evaluate(loaded, cache) == evaluate(loaded, cache, split_ratio=3.0)
    batches = PoseBatches(cache, batch_size=3, targets="coords")
    own, _ = predict_keypoints(loaded, batches)
    np.testing.assert_allclose(own, predict_keypoints(loaded, batches, split_ratio=3.0)[0])
    assert not np.allclose(own, predict_keypoints(loaded, batches, split_ratio=2.0)[0])
