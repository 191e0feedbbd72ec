"""The rotation-prediction proxy task of lessons 02-05."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from conftest import require
from kerasgp.experiments.proxy import fit_classifier, rotation_task


@pytest.fixture(scope="module")
def task():
    require("lspet")
    return rotation_task("val", count=6, size=16)


def test_rotation_task_shows_each_person_in_four_rotations_with_exact_labels(task):
    images, labels = task
    assert images.shape == (24, 16, 16, 3) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6 + [3] * 6
    upright = images[:6]
    for k in range(4):
        np.testing.assert_array_equal(images[6 * k:6 * (k + 1)], np.rot90(upright, k, axes=(1, 2)))


def test_rotation_task_rejects_bad_counts_and_sizes():
    require("lspet")
    with pytest.raises(ValueError, match="count"):
        rotation_task("val", count=0)
    with pytest.raises(ValueError, match="size"):
        rotation_task("val", count=2, size=4)
    with pytest.raises(ValueError, match="has 2000 people"):
        rotation_task("val", count=10**6)


def test_fit_classifier_records_the_first_batch_then_every_epoch_and_scores_val(task):
    images, labels = task
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, strides=2)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    result = fit_classifier(model, (images, labels), (images, labels), epochs=3, batch_size=8)
    assert len(result["curve"]) == 4 and result["curve"][0] == result["first_batch_loss"]
    assert result["final_loss"] == result["curve"][-1]
    # An untrained 4-way classifier starts near ln 4; the first batch's loss is taken before any update.
    assert abs(result["first_batch_loss"] - np.log(4)) < 0.5
    assert 0.0 <= result["val_accuracy"] <= 1.0 and result["params"] == model.count_params()
    assert fit_classifier(model, (images, labels), epochs=1)["val_accuracy"] is None
