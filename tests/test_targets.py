import numpy as np
import pytest

from kerasgp.data import targets as T

pytestmark = pytest.mark.backend_free


def test_heatmap_sigma_is_two_on_a_64_map_and_scales_with_it():
    assert T.default_heatmap_sigma(64) == 2.0 and T.default_heatmap_sigma(32) == 1.0


def test_heatmap_peaks_at_the_keypoint_with_the_gaussian_width():
    # input 128 -> 32x32 map; pixel 127 -> cell 31, so pixel 31*127/31 = 127 ... pick an exact cell.
    kp = np.array([[[127 * 10 / 31, 127 * 20 / 31]]], np.float32)  # cell (10, 20)
    hm = T.heatmap_targets(kp, np.ones((1, 1)), (128, 128), stride=4)
    assert hm.shape == (1, 32, 32, 1)
    assert np.unravel_index(hm[0, :, :, 0].argmax(), (32, 32)) == (20, 10)
    assert np.isclose(hm[0, 20, 10, 0], 1.0)
    assert np.isclose(hm[0, 20, 11, 0], np.exp(-1 / 2))  # one cell away at sigma 1


def test_heatmap_of_a_zero_weight_joint_is_empty():
    hm = T.heatmap_targets(np.full((1, 2, 2), 50.0), np.array([[1.0, 0.0]]), (128, 128))
    assert hm[..., 0].max() > 0.9 and hm[..., 1].max() == 0


def test_heatmap_rejects_an_input_the_stride_does_not_divide():
    with pytest.raises(ValueError, match="stride"):
        T.heatmap_targets(np.zeros((1, 1, 2)), np.ones((1, 1)), (130, 128))


def test_encoders_and_decoders_round_trip():
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 127, (4, 14, 2)).astype(np.float32)
    w = np.ones((4, 14), np.float32)
    decoded, peak = T.decode_heatmaps(T.heatmap_targets(kp, w, (128, 128)), (128, 128))
    assert np.abs(decoded - kp).max() <= 0.5 * 127 / 31 + 1e-4  # half a cell of argmax
    assert peak.min() > 0.5
    x, y = T.simcc_targets(kp, w, (128, 128), split_ratio=2.0, sigma=6.0)
    assert x.shape == (4, 14, 256) and np.allclose(x.sum(-1), 1.0) and np.allclose(y.sum(-1), 1.0)
    assert np.abs(T.decode_simcc(x, y, 2.0) - kp).max() <= 0.25 + 1e-6  # half a bin of 1/k px
    assert np.allclose(T.decode_coordinates(T.coordinate_targets(kp, (128, 128)), (128, 128)), kp, atol=1e-4)


def test_coordinates_span_minus_half_to_half():
    c = T.coordinate_targets(np.array([[[0, 0], [64, 32]]], np.float32), (128, 64))
    assert np.allclose(c, [[[-0.5, -0.5], [0.0, 0.0]]])


def test_weights_drop_joints_outside_the_crop_or_unlabelled():
    kp = np.array([[[10, 10], [-1, 10], [10, 200], [20, 20]]], np.float32)
    w = T.target_weights(kp, np.array([[1, 1, 1, 0]]), (128, 128))
    assert w.tolist() == [[True, False, False, False]]
