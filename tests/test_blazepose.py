"""BlazePose beside our models (kerasgp.experiments.blazepose): the joint mapping, the upright rotation of
the aligned crop, the wrapper's outputs on a stand-in landmark model, and, where the real file has been
fetched, that its left and right joints land on LSPET's (a swapped mapping scores far lower)."""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from kerasgp.data.layouts import LSP14
from kerasgp.data.transforms import apply_affine, crop_matrices
from kerasgp.deploy import convert
from kerasgp.experiments import blazepose as B

from conftest import require


@pytest.mark.backend_free
def test_the_mapping_covers_the_twelve_limb_joints_with_sides_kept():
    assert len(B.FROM_BLAZEPOSE) == 12 and [LSP14.joint_names[j] for j in B.NOT_SHARED] == ["neck", "head_top"]
    for name, index in B.FROM_BLAZEPOSE.items():  # BlazePose: odd indices are the person's left
        assert (index % 2 == 1) == name.startswith("l_"), name


@pytest.mark.backend_free
@pytest.mark.parametrize("lean", [0.0, 30.0, -75.0, 180.0])
def test_the_aligned_crop_puts_the_shoulders_straight_above_the_hips(lean):
    rng = np.random.default_rng(int(lean) % 7)
    upright = np.zeros((1, 14, 2))
    upright[0, [2, 3]] = [[45, 80], [55, 80]]  # hips
    upright[0, [8, 9]] = [[43, 40], [57, 40]]  # shoulders
    upright[0, [0, 1, 4, 5, 6, 7, 10, 11, 12, 13]] = rng.uniform(20, 80, (10, 2))
    tilt = crop_matrices([[50, 60]], [[100, 100]], (100, 100), [lean])  # the person as photographed
    person = apply_affine(upright, tilt)
    visible = np.ones((1, 14))
    angle = B.upright_angles(person, visible)
    straightened = apply_affine(person, crop_matrices([[50, 60]], [[100, 100]], (100, 100), angle))
    up = straightened[0, [8, 9]].mean(0) - straightened[0, [2, 3]].mean(0)
    assert abs(up[0]) < 1e-3 and up[1] < 0
    visible[0, [8, 9]] = 0  # no shoulder seen: no angle, the crop stays as it is
    assert np.isnan(B.upright_angles(person, visible)).all()
    visible[0, 8] = 1  # one shoulder is enough
    assert np.isfinite(B.upright_angles(person, visible)).all()


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """A landmark model of BlazePose's interface whose 39 x 5 outputs are constants: x = 100 + index,
    y = 200 + index, visibility logit = index / 10."""
    image = keras.Input((256, 256, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(image)
    values = np.zeros((B.LANDMARKS, B.VALUES), dtype=np.float32)
    values[:, 0], values[:, 1], values[:, 3] = 100 + np.arange(39), 200 + np.arange(39), np.arange(39) / 10
    dense = keras.layers.Dense(B.LANDMARKS * B.VALUES, kernel_initializer="zeros",
                               bias_initializer=keras.initializers.Constant(values.ravel()))
    model = keras.Model(image, [dense(pooled), keras.layers.Dense(1)(pooled)])
    return convert(model, "float32", out=tmp_path_factory.mktemp("blazepose") / "stand_in.tflite").path


@pytest.mark.tflite
def test_the_wrapper_reads_landmarks_in_lsp_order(stand_in):
    out = B.BlazePoseLandmarks(stand_in).predict_on_batch(np.zeros((2, 256, 256, 3), np.float32))
    assert out["keypoints"].shape == (2, 14, 2) and np.isnan(out["keypoints"][:, list(B.NOT_SHARED)]).all()
    for name, index in B.FROM_BLAZEPOSE.items():
        j = LSP14.index(name)
        np.testing.assert_allclose(out["keypoints"][:, j], [[100 + index, 200 + index]] * 2, atol=1e-4)
        np.testing.assert_allclose(out["confidence"][:, j], 1 / (1 + np.exp(-index / 10)), atol=1e-5)


@pytest.mark.tflite
def test_a_model_that_is_not_blazepose_is_refused(tmp_path):
    image = keras.Input((128, 128, 3))
    small = convert(keras.Model(image, keras.layers.GlobalAveragePooling2D()(image)), "float32",
                    out=tmp_path / "small.tflite").path
    with pytest.raises(ValueError, match=r"takes \(1, 128, 128, 3\).*BlazePose's landmark model takes"):
        B.BlazePoseLandmarks(small)
    with pytest.raises(FileNotFoundError, match="data fetch blazepose_full"):
        B.BlazePoseLandmarks(tmp_path / "missing.tflite")


@pytest.mark.tflite
def test_the_real_model_sees_lspet_people_from_their_own_side(lspet_val, monkeypatch):
    from kerasgp.data import build_cache

    path = require("blazepose_full") / "pose_landmark_full.tflite"
    people = dataclasses.replace(lspet_val, records=lspet_val.records[:64], split="val-first64")
    cache = build_cache(people, B.INPUT_SIZE, progress=False)
    model = B.BlazePoseLandmarks(path)
    right = B.score(model, cache, "aligned")
    swapped = {name: B.FROM_BLAZEPOSE[name.replace("l_", "x_").replace("r_", "l_").replace("x_", "r_")]
               for name in B.FROM_BLAZEPOSE}
    monkeypatch.setattr(B, "FROM_BLAZEPOSE", swapped)
    wrong = B.score(model, cache, "aligned")
    print(f"limb PCKh@0.5 on 64 people: {right['pckh05_limbs']:.1f} as mapped, {wrong['pckh05_limbs']:.1f} swapped")
    assert right["pckh05_limbs"] > wrong["pckh05_limbs"] + 20
