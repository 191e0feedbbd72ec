"""Each kind of bad input gets a clear error naming the file and the person, or a report of what was
skipped and why. One test per case."""
import json
import warnings

import numpy as np
import pytest
import scipy.io
from conftest import write_image

from kerasgp.data import DataWarning, build_cache, load, load_coco, load_lsp, load_mpii

pytestmark = pytest.mark.backend_free


def test_missing_image_names_the_file_and_the_person(tiny_lsp):
    root, _ = tiny_lsp
    (root / "images" / "im00002.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"im00002\.jpg \(person 1\): image file not found"):
        load_lsp(str(root))


def test_unreadable_image_names_the_file_and_the_person(tiny_lsp):
    root, _ = tiny_lsp
    (root / "images" / "im00003.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(ValueError, match=r"im00003\.jpg \(person 2\): not a readable image"):
        load_lsp(str(root))


def test_image_that_breaks_while_caching_names_the_file_and_the_person(tiny_lsp, tmp_path):
    root, _ = tiny_lsp
    people = load_lsp(str(root))
    data = (root / "images" / "im00002.jpg").read_bytes()
    (root / "images" / "im00002.jpg").write_bytes(data[: len(data) // 8])  # header intact, pixels cut
    with pytest.raises(ValueError, match=r"im00002\.jpg \(person 1\)"):
        build_cache(people, (32, 32), directory=tmp_path / "cache", progress=False)
    assert not list((tmp_path / "cache").glob("*")), "a failed build must leave no cache behind"


def test_joints_mat_of_the_wrong_shape_is_an_error(tiny_lsp):
    root, joints = tiny_lsp
    scipy.io.savemat(root / "joints.mat", {"joints": joints[:13]})
    with pytest.raises(ValueError, match=r"joints\.mat: 'joints' has shape \(13, 3, 3\); expected 14 x 3 x N"):
        load_lsp(str(root))


def test_joints_mat_without_a_joints_array_is_an_error(tiny_lsp):
    root, joints = tiny_lsp
    scipy.io.savemat(root / "joints.mat", {"points": joints})
    with pytest.raises(ValueError, match="no 'joints' array"):
        load_lsp(str(root))


def test_joints_mat_that_is_not_matlab_is_an_error(tiny_lsp):
    root, _ = tiny_lsp
    (root / "joints.mat").write_text("garbage")
    with pytest.raises(ValueError, match="not a readable MATLAB file"):
        load_lsp(str(root))


def test_person_with_no_visible_joint_is_skipped_and_reported(tiny_lsp):
    root, joints = tiny_lsp
    joints[:, 2, 1] = 0
    scipy.io.savemat(root / "joints.mat", {"joints": joints})
    with pytest.warns(DataWarning, match="skipped 1: no visible joint"):
        people = load_lsp(str(root))
    assert [r.index for r in people.records] == [0, 2]
    assert people.report.read == 3 and people.report.kept == 2


def test_visible_keypoint_outside_the_image_is_reported_or_raised_in_strict_mode(tiny_lsp):
    root, joints = tiny_lsp
    joints[4, 0, 2] = 70.0  # image is 64 wide
    scipy.io.savemat(root / "joints.mat", {"joints": joints})
    with pytest.warns(DataWarning, match="changed 1: visible joint outside its image, marked invisible"):
        people = load_lsp(str(root))
    assert people[2].visibility[4] == 0 and people[2].visibility.sum() == 13
    with pytest.raises(ValueError, match=r"im00003\.jpg: person 2, joint 4 is visible at \(70\.0, .*\), outside the 64x48 image"):
        load_lsp(str(root), strict=True)


def test_malformed_mpii_json_names_the_file_and_position(tmp_path):
    (tmp_path / "ann.json").write_text('[{"image": "a.jpg", "joints": [[1, 2],]}]')
    with pytest.raises(ValueError, match=r"ann\.json: malformed JSON at line 1, column"):
        load_mpii(str(tmp_path), annotation="ann.json")


def test_mpii_person_with_a_missing_field_names_the_person(tmp_path):
    write_image(tmp_path / "a.jpg")
    item = {"image": "a.jpg", "joints": [[10, 10]] * 16, "joints_vis": [1] * 16, "center": [30, 20], "scale": 0.2}
    (tmp_path / "ann.json").write_text(json.dumps([item, {k: v for k, v in item.items() if k != "center"}]))
    with pytest.raises(ValueError, match=r"ann\.json: person 1 lacks a valid field"):
        load_mpii(str(tmp_path), annotation="ann.json")


def test_mpii_joints_of_the_wrong_shape_name_the_person(tmp_path):
    write_image(tmp_path / "a.jpg")
    item = {"image": "a.jpg", "joints": [[10, 10]] * 14, "joints_vis": [1] * 16, "center": [30, 20], "scale": 0.2}
    (tmp_path / "ann.json").write_text(json.dumps([item]))
    with pytest.raises(ValueError, match=r"person 0 has joints \(14, 2\)"):
        load_mpii(str(tmp_path), annotation="ann.json")


def _coco(tmp_path, annotations):
    write_image(tmp_path / "img.jpg")
    data = {"images": [{"id": 1, "file_name": "img.jpg", "width": 64, "height": 48}],
            "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    (tmp_path / "kp.json").write_text(json.dumps(data))


def _ann(i, keypoints, **kw):
    return {"id": i, "image_id": 1, "category_id": 1, "bbox": [5, 5, 30, 30], "area": 900, "iscrowd": 0,
            "num_keypoints": sum(1 for v in keypoints[2::3] if v > 0), "keypoints": keypoints, **kw}


def test_malformed_coco_json_names_the_file(tmp_path):
    (tmp_path / "kp.json").write_text('{"images": [')
    with pytest.raises(ValueError, match=r"kp\.json: malformed JSON"):
        load_coco(str(tmp_path), "kp.json")


def test_json_that_is_not_coco_is_an_error(tmp_path):
    (tmp_path / "kp.json").write_text('{"images": []}')
    with pytest.raises(ValueError, match="not a COCO annotation file"):
        load_coco(str(tmp_path), "kp.json")


def test_coco_person_without_keypoints_and_crowds_are_skipped_and_reported(tmp_path):
    good = [10, 10, 2] * 17
    _coco(tmp_path, [_ann(1, good), _ann(2, [0, 0, 0] * 17), _ann(3, good, iscrowd=1)])
    with pytest.warns(DataWarning) as caught:
        people = load_coco(str(tmp_path), "kp.json")
    assert len(people) == 1
    assert "skipped 1: crowd annotation" in str(caught[0].message)
    assert "skipped 1: no labelled keypoint" in str(caught[0].message)


def test_coco_keypoints_of_the_wrong_length_name_the_annotation(tmp_path):
    _coco(tmp_path, [_ann(7, [10, 10, 2] * 16)])
    with pytest.raises(ValueError, match=r"annotation 7 \(person 0\) has 48 keypoint values; expected 51"):
        load_coco(str(tmp_path), "kp.json")


def test_coco_missing_image_names_the_file_and_the_person(tmp_path):
    _coco(tmp_path, [_ann(1, [10, 10, 2] * 17)])
    (tmp_path / "img.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"img\.jpg \(person 0\): image file not found"):
        load_coco(str(tmp_path), "kp.json")


def test_coco_visible_keypoint_outside_the_image_raises_in_strict_mode(tmp_path):
    kp = [10, 10, 2] * 17
    kp[3 * 5] = 500
    _coco(tmp_path, [_ann(1, kp)])
    with pytest.raises(ValueError, match=r"person 0, joint 5 is visible at \(500\.0, 10\.0\)"):
        load_coco(str(tmp_path), "kp.json", strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        assert load_coco(str(tmp_path), "kp.json")[0].visibility[5] == 0


def test_unknown_data_set_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown data set 'h36m'; known: \['lspet'"):
        load("h36m")


def test_unknown_lspet_split_lists_the_known_ones(tiny_lsp):
    root, _ = tiny_lsp
    with pytest.raises(ValueError, match=r"unknown LSPET split 'dev'; known: \['all', 'test', 'train', 'val'\]"):
        load_lsp(str(root), split="dev")


def test_lspet_split_beyond_the_file_is_an_error(tiny_lsp):
    root, _ = tiny_lsp
    with pytest.raises(ValueError, match="split 'val' starts at person 6000 but the file holds 3"):
        load_lsp(str(root), split="val")


def test_missing_joints_mat_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"joints\.mat not found"):
        load_lsp(str(tmp_path))
