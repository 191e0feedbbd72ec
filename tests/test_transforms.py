import numpy as np
import pytest

from kerasgp.data.transforms import (Augment, apply_affine, box_to_center_scale, compose_affine, crop_matrices,
                                     flip_joints, invert_affine, warp)

pytestmark = pytest.mark.backend_free


def test_box_is_grown_to_the_aspect_ratio_then_padded():
    center, scale = box_to_center_scale([10, 20, 40, 100], aspect_ratio=1.0, padding=1.25)
    assert np.allclose(center, [30, 70]) and np.allclose(scale, [125, 125])
    center, scale = box_to_center_scale([0, 0, 200, 100], aspect_ratio=0.75, padding=1.0)
    assert np.allclose(scale, [200, 200 / 0.75])


def test_box_without_area_is_an_error():
    with pytest.raises(ValueError, match="no area"):
        box_to_center_scale([0, 0, 0, 10], 1.0)


def test_crop_maps_the_box_centre_to_the_output_centre_and_its_width_to_the_output_width():
    m = crop_matrices([[100, 50]], [[40, 40]], (128, 128))
    pts = apply_affine(np.array([[[100, 50], [120, 50], [100, 30]]], np.float32), m)[0]
    assert np.allclose(pts[0], [63.5, 63.5])
    assert np.allclose(pts[1] - pts[0], [64, 0]) and np.allclose(pts[2] - pts[0], [0, -64])


def test_flip_mirrors_about_the_output_centre_and_rotation_keeps_distances():
    m = crop_matrices([[0, 0]], [[128, 128]], (128, 128), rotations=[90], flips=[True])
    p = apply_affine(np.array([[[10, 0]]], np.float32), m)[0, 0]
    assert np.allclose(np.linalg.norm(p - 63.5), 10, atol=1e-4)
    plain = crop_matrices([[0, 0]], [[128, 128]], (128, 128), flips=[True])
    assert np.allclose(apply_affine(np.array([[[10, 5]]], np.float32), plain)[0, 0], [63.5 - 10, 63.5 + 5])


def test_invert_and_compose_are_exact():
    rng = np.random.default_rng(0)
    m = crop_matrices(rng.uniform(0, 100, (4, 2)), rng.uniform(20, 80, (4, 2)), (96, 128),
                      rng.uniform(-30, 30, 4), [True, False, True, False])
    pts = rng.uniform(0, 100, (4, 5, 2)).astype(np.float32)
    assert np.allclose(apply_affine(apply_affine(pts, m), invert_affine(m)), pts, atol=1e-3)
    both = compose_affine(invert_affine(m), m)
    assert np.allclose(both[:, :, :2], np.eye(2), atol=1e-5) and np.allclose(both[:, :, 2], 0, atol=1e-3)


def test_warp_moves_a_pixel_where_the_matrix_sends_its_coordinates():
    image = np.zeros((50, 60, 3), np.uint8)
    image[20, 30] = 255
    m = crop_matrices([[30, 20]], [[16, 16]], (33, 33))[0]  # centre pixel -> (16, 16), 2x zoom
    out = warp(image, m, (33, 33))
    assert np.unravel_index(out[..., 0].argmax(), out.shape[:2]) == (16, 16)


def test_flip_swaps_left_and_right_joints_of_flipped_samples_only():
    kp = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    w = np.array([[1, 0, 1], [1, 0, 1]], np.float32)
    perm = np.array([2, 1, 0])
    kp2, w2 = flip_joints(kp, w, np.array([True, False]), perm)
    assert np.array_equal(kp2[0], kp[0][perm]) and np.array_equal(kp2[1], kp[1])
    assert np.array_equal(w2, w)


def test_augment_draws_within_its_ranges():
    scale, rotation, flip = Augment(flip=0.5, scale=0.25, rotation=30, rotation_prob=0.6).sample(
        np.random.default_rng(0), 2000)
    assert scale.min() >= 0.75 and scale.max() <= 1.25
    assert np.abs(rotation).max() <= 30 and 0.3 < (rotation != 0).mean() < 0.9
    assert 0.4 < flip.mean() < 0.6
