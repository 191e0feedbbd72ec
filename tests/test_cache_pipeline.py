"""The crop cache and the batches fed to `fit`, on real LSPET people, under the active Keras backend."""
import dataclasses

import keras
import numpy as np
import pytest

from kerasgp.data import Augment, PoseBatches, build_cache, load_cache
from kerasgp.data.transforms import apply_affine


@pytest.fixture(scope="module")
def subset(lspet_val):
    return dataclasses.replace(lspet_val, records=lspet_val.records[:96], split="val96")


@pytest.fixture(scope="module")
def cache(subset, tmp_path_factory):
    return build_cache(subset, (64, 64), directory=tmp_path_factory.mktemp("c"), progress=False)


@pytest.mark.backend_free
def test_cache_holds_margin_sized_crops_of_every_person(cache, subset):
    assert len(cache) == 96 and cache.images.shape == (96, 80, 80, 3) and cache.images.dtype == np.uint8
    assert cache.index.tolist() == [r.index for r in subset.records]
    # the joints, mapped back through to_crop's inverse, are the annotations
    inv = np.linalg.inv(np.concatenate([cache.to_crop, np.tile([[[0, 0, 1]]], (96, 1, 1))], 1))[:, :2]
    assert np.allclose(apply_affine(cache.keypoints, inv.astype(np.float32)), subset.keypoints(), atol=1e-2)
    assert cache.images.mean() > 20  # real pixels, not an empty canvas


@pytest.mark.backend_free
def test_cache_is_reused_for_the_same_people_and_settings_and_rebuilt_otherwise(cache, subset):
    again = build_cache(subset, (64, 64), directory=cache.path.parent, progress=False)
    assert again.path == cache.path
    other = build_cache(subset, (64, 48), directory=cache.path.parent, progress=False)
    assert other.path != cache.path and other.images.shape[1:3] == (60, 80)
    fewer = dataclasses.replace(subset, records=subset.records[:10])
    assert build_cache(fewer, (64, 64), directory=cache.path.parent, progress=False).path != cache.path
    assert load_cache(cache.path).keypoints.shape == (96, 14, 2)


@pytest.mark.backend_free
def test_evaluation_batches_are_centred_crops_that_map_back_to_the_annotations(cache, subset):
    batches = PoseBatches(cache, batch_size=32, targets="coords")
    assert len(batches) == 3
    b = batches.batch(1)
    assert b["images"].shape == (32, 64, 64, 3) and b["images"].dtype == np.float32
    assert 0.0 <= b["images"].min() and b["images"].max() <= 1.0
    back = apply_affine(b["keypoints"], b["to_original"])
    assert np.allclose(back, subset.keypoints()[32:64], atol=1e-2)


@pytest.mark.backend_free
def test_augmented_batches_are_reproducible_and_change_with_the_epoch(cache):
    a = PoseBatches(cache, batch_size=16, targets="heatmap", augment=True, seed=3)
    b = PoseBatches(cache, batch_size=16, targets="heatmap", augment=True, seed=3)
    assert np.array_equal(a[2][0], b[2][0]) and np.array_equal(a[2][1], b[2][1])
    a.on_epoch_end()
    assert not np.array_equal(a[2][0], b[2][0])


@pytest.mark.backend_free
def test_augmentation_flips_swap_joints_so_that_left_stays_left(cache, subset):
    flip_only = Augment(flip=1.0, scale=0.0, rotation=0.0)
    b = PoseBatches(cache, batch_size=8, targets="coords", augment=flip_only, shuffle=False).batch(0)
    back = apply_affine(b["keypoints"], b["to_original"])
    # after a flip and the joint swap, joint j maps back onto the original position of its mirror joint
    perm = cache.layout.flip_permutation()
    assert np.allclose(back, subset.keypoints()[:8][:, perm], atol=1e-2)


@pytest.mark.backend_free
def test_targets_have_the_shapes_each_head_needs(cache):
    b = PoseBatches(cache, batch_size=4, targets=("heatmap", "simcc", "coords")).batch(0)
    assert b["heatmap"].shape == (4, 16, 16, 14)
    assert b["simcc"][0].shape == (4, 14, 128) and b["simcc"][1].shape == (4, 14, 128)
    assert b["coords"].shape == (4, 14, 2) and b["target_weight"].shape == (4, 14)
    x, y = PoseBatches(cache, batch_size=4, targets=("heatmap", "coords"))[0]
    assert set(y) == {"heatmap", "coords", "target_weight"}


@pytest.mark.backend_free
def test_bad_batch_settings_are_errors(cache):
    with pytest.raises(ValueError, match="unknown target 'mask'"):
        PoseBatches(cache, targets="mask")
    with pytest.raises(ValueError, match="not divisible by the heatmap stride 3"):
        PoseBatches(cache, targets="heatmap", heatmap_stride=3)
    with pytest.raises(ValueError, match="indices must lie in"):
        PoseBatches(cache, indices=[0, 500])
    with pytest.raises(IndexError):
        PoseBatches(cache, batch_size=32).batch(3)


def test_batches_train_a_keras_model_with_fit(cache):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.Conv2D(8, 3, strides=4, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Reshape((14, 2))(keras.layers.Dense(28)(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    train = PoseBatches(cache, batch_size=16, targets="coords", augment=True)
    history = model.fit(train, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert len(losses) == 3 and all(np.isfinite(losses)) and losses[-1] < losses[0]
    heat = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Conv2D(14, 4, strides=4, padding="same")])
    heat.compile(optimizer="adam", loss="mse")
    assert np.isfinite(heat.fit(PoseBatches(cache, batch_size=32, targets="heatmap"), epochs=1, verbose=0).history["loss"][0])


@pytest.mark.backend_free
def test_a_change_in_what_the_loader_made_rebuilds_the_cache(cache, subset):
    # e.g. a fixed head-size rule: same people, same files, different records -> a new cache
    changed = dataclasses.replace(subset, records=[dataclasses.replace(r) for r in subset.records])
    changed.records[0].head_size = 123.0
    again = build_cache(changed, (64, 64), directory=cache.path.parent, progress=False)
    assert again.path != cache.path and again.head_size[0] == 123.0
