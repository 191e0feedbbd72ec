"""Metrics against hand-worked cases and against pycocotools."""
import numpy as np
import pytest

from kerasgp import metrics
from kerasgp.data import COCO17, LSP14
from kerasgp.data.mpii import head_size_from_headbox

pytestmark = pytest.mark.backend_free


def test_pckh_by_hand():
    # Two people, three joints. Head sizes 10 and 20 -> thresholds 5 and 10 at PCKh@0.5.
    gt = np.zeros((2, 3, 2))
    pred = gt.copy()
    pred[0, :, 0] = [1.0, 6.0, 0.0]   # person 0: errors 1 (ok), 6 (miss), 0 (invisible)
    pred[1, :, 1] = [9.0, 11.0, 10.0]  # person 1: errors 9 (ok), 11 (miss), 10 (ok: <= threshold)
    visible = np.array([[1, 1, 0], [1, 1, 1]])
    r = metrics.pckh(pred, gt, visible, [10.0, 20.0], 0.5, joint_names=["a", "b", "c"])
    assert r.counted == 5
    assert r.total == pytest.approx(100 * 3 / 5)
    assert r.per_joint == {"a": 100.0, "b": 0.0, "c": 100.0}
    r01 = metrics.pckh(pred, gt, visible, [10.0, 20.0], 0.1)
    # thresholds 1 and 2 px: only person 0's 1 px error counts
    assert r01.total == pytest.approx(100 * 1 / 5) and r01.per_joint["joint_0"] == 50.0


def test_pckh_leaves_out_people_without_head_size_and_says_so():
    gt = np.zeros((3, 1, 2))
    r = metrics.pckh(gt + 1, gt, np.ones((3, 1)), [10.0, np.nan, 0.0])
    assert r.counted == 1 and r.people_without_norm == 2 and r.total == 100.0


def test_pckh_exclude_drops_joints_from_the_total():
    gt = np.zeros((1, 2, 2))
    pred = gt.copy()
    pred[0, 1] = 100
    assert metrics.pckh(pred, gt, np.ones((1, 2)), [10.0], exclude=(1,)).total == 100.0


def test_pckh_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="N, K, 2"):
        metrics.pckh(np.zeros((2, 3, 2)), np.zeros((2, 4, 2)), np.ones((2, 4)), [1, 1])
    with pytest.raises(ValueError, match="norm has 1 values for 2 people"):
        metrics.pckh(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), np.ones((2, 3)), [1])


def test_mpii_head_size_is_six_tenths_of_the_head_box_diagonal():
    assert head_size_from_headbox([[0, 0], [30, 40]]) == pytest.approx(30.0)


def test_lsp_head_size_is_neck_to_head_top_and_nan_unless_both_are_visible():
    gt = np.zeros((2, 14, 2))
    gt[:, 12], gt[:, 13] = [10, 10], [13, 14]
    visible = np.ones((2, 14))
    visible[1, 12] = 0  # an invisible LSPET neck is a placeholder, not a position
    size = metrics.head_size_from_joints(gt, LSP14.head_segment, visible)
    assert size[0] == pytest.approx(5.0) and np.isnan(size[1])


def test_pck_torso_leaves_out_people_whose_torso_is_not_visible():
    gt = np.zeros((2, 14, 2))
    gt[:, 2] = [30, 40]
    visible = np.ones((2, 14))
    visible[1, 9] = 0
    r = metrics.pck_torso(gt, gt, visible, LSP14.torso_segment)
    assert r.people_without_norm == 1 and r.counted == 14 and r.total == 100.0


def test_results_name_their_metric():
    gt = np.zeros((1, 1, 2))
    assert str(metrics.pckh(gt, gt, np.ones((1, 1)), [1.0])).startswith("PCKh@0.5: 100.00")


def test_pck_torso_uses_left_shoulder_to_right_hip():
    gt = np.zeros((1, 14, 2))
    gt[0, 9] = [0, 0]
    gt[0, 2] = [30, 40]  # torso 50 -> threshold 10 at PCK@0.2
    pred = gt.copy()
    pred[0, 0] += [9, 0]
    pred[0, 1] += [11, 0]
    r = metrics.pck_torso(pred, gt, np.ones((1, 14)), LSP14.torso_segment, 0.2)
    assert r.per_joint["joint_0"] == 100.0 and r.per_joint["joint_1"] == 0.0
    assert r.total == pytest.approx(100 * 13 / 14)


def test_oks_by_hand():
    gt = np.zeros((1, 17, 2))
    pred = gt.copy()
    pred[0, 0] = [1.0, 0.0]  # nose off by 1 px, area 1 -> exp(-1 / (2 * (2 * 0.026)^2))
    vis = np.zeros((1, 17))
    vis[0, :2] = 1
    expected = (np.exp(-1 / (2 * (2 * 0.026) ** 2 * 1.0)) + 1.0) / 2
    assert metrics.oks(pred, gt, vis, [1.0], COCO17.sigmas)[0] == pytest.approx(expected, rel=1e-6)


def _coco_predictions(coco, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    preds = []
    for ann in coco.dataset["annotations"]:
        if ann.get("num_keypoints", 0) == 0 or ann.get("iscrowd", 0):
            continue
        kp = np.array(ann["keypoints"], np.float64).reshape(17, 3)
        kp[:, :2] += rng.normal(0, noise, (17, 2))
        kp[:, 2] = 1.0
        preds.append({"image_id": ann["image_id"], "category_id": 1, "keypoints": kp.ravel().tolist(), "score": 1.0})
    return preds


def test_coco_ap_is_one_for_ground_truth_and_drops_with_noise():
    from conftest import require

    from kerasgp.data.coco import coco_api

    coco = coco_api(str(require("coco-sample") / "test_coco.json"))
    perfect = metrics.coco_keypoint_ap(coco, _coco_predictions(coco))
    assert perfect["AP"] == pytest.approx(1.0) and perfect["AR"] == pytest.approx(1.0)
    noisy = metrics.coco_keypoint_ap(coco, _coco_predictions(coco, noise=8.0))
    assert noisy["AP"] < 0.9


def test_our_oks_matches_pycocotools():
    from conftest import require
    from pycocotools.cocoeval import COCOeval

    from kerasgp.data.coco import coco_api

    coco = coco_api(str(require("coco-sample") / "test_coco.json"))
    preds = _coco_predictions(coco, noise=5.0, seed=3)
    dt = coco.loadRes(preds)
    ev = COCOeval(coco, dt, "keypoints")
    ev.params.imgIds = sorted(coco.getImgIds())
    ev.evaluate()
    ann = next(a for a in coco.dataset["annotations"] if a["num_keypoints"] > 0 and not a.get("iscrowd"))
    gt = np.array(ann["keypoints"], np.float64).reshape(1, 17, 3)
    dets = [d for d in dt.dataset["annotations"] if d["image_id"] == ann["image_id"]]
    theirs = ev.computeOks(ann["image_id"], 1)
    gts = [g for g in coco.loadAnns(coco.getAnnIds(imgIds=ann["image_id"], iscrowd=None))]
    col = [g["id"] for g in gts].index(ann["id"])
    ev_dets = sorted(dets, key=lambda d: -d["score"])
    for row, det in enumerate(ev_dets):
        pred = np.array(det["keypoints"]).reshape(1, 17, 3)[:, :, :2]
        ours = metrics.oks(pred, gt[:, :, :2], gt[:, :, 2] > 0, [ann["area"]], COCO17.sigmas)[0]
        assert ours == pytest.approx(theirs[row, col], rel=1e-6)


def test_coco_ap_rejects_malformed_predictions():
    from conftest import require
    from kerasgp.data.coco import coco_api

    path = require("coco-sample") / "test_coco.json"
    with pytest.raises(ValueError, match="expected 51"):
        metrics.coco_keypoint_ap(coco_api(str(path)),
                                 [{"image_id": 785, "category_id": 1, "keypoints": [0, 0, 1], "score": 1}])
    with pytest.raises(TypeError, match="coco_api"):  # a path is not a COCO object: the error says how to read one
        metrics.coco_keypoint_ap(path, [])
