"""The LSPET test split and the original LSP (Johnson & Everingham, BMVC 2010) under its standard protocol.

Neither the 10,000-person LSPET file nor LSP is on the offline machines, so the fixtures are built at test
time from REAL LSPET rows and images (require("lspet")): an LSP-layout folder (joints.mat 3 x 14 x N, the
LSPET visible flag inverted into LSP's occluded flag, images linked as im0001.jpg...) and a 10,000-person
LSPET file whose people 8,000-9,999 are copies of real people 0-1,999 (images linked to the real files).
"""
import dataclasses
import os
import warnings

import numpy as np
import pytest
import scipy.io
from conftest import require

from kerasgp.data import LSP14, DataWarning, load
from kerasgp.data.lsp import LSPPerson, load_lsp, load_lsp_original, occlusion
from kerasgp.metrics import pck_torso, pckh

pytestmark = pytest.mark.backend_free



def lsp_rows(lspet_root, count=20):
    """The first `count` real LSPET people whose torso (left shoulder, right hip), neck and head top are
    visible: LSP annotates every joint, and an invisible LSPET joint is a placeholder, not a position.
    Some of their limb joints are invisible, so the LSP fixture has occluded joints."""
    visible = scipy.io.loadmat(os.path.join(lspet_root, "joints.mat"))["joints"][:, 2, :] > 0
    return [int(n) for n in np.flatnonzero(visible[[*LSP14.torso_segment, *LSP14.head_segment]].all(axis=0))[:count]]


def make_lsp_folder(dest, lspet_root, rows, people):
    """An LSP-layout folder of `people` persons; person n is real LSPET person rows[n % len(rows)]."""
    real = scipy.io.loadmat(os.path.join(lspet_root, "joints.mat"))["joints"]  # 14 x 3 x 8000
    source = [rows[n % len(rows)] for n in range(people)]
    joints = real[:, :, source].transpose(1, 0, 2).copy()  # 3 x 14 x N
    joints[2] = 1 - joints[2]  # LSP's third row is the occluded flag
    os.makedirs(os.path.join(dest, "images"))
    for n, row in enumerate(source):
        os.symlink(os.path.join(lspet_root, "images", f"im{row + 1:05d}.jpg"),
                   os.path.join(dest, "images", f"im{n + 1:04d}.jpg"))
    scipy.io.savemat(os.path.join(dest, "joints.mat"), {"joints": joints})
    return real[:, :, source].transpose(2, 0, 1)  # (N, 14, 3): x, y, LSPET visible flag


def make_lspet_10000(dest, lspet_root):
    """The public archive's shape: people 0-7,999 real, 8,000-9,999 copies of real people 0-1,999."""
    real = scipy.io.loadmat(os.path.join(lspet_root, "joints.mat"))["joints"][:, :, :8000]
    os.makedirs(os.path.join(dest, "images"))
    for n in range(10000):
        os.symlink(os.path.join(lspet_root, "images", f"im{n % 8000 + 1:05d}.jpg"),
                   os.path.join(dest, "images", f"im{n + 1:05d}.jpg"))
    scipy.io.savemat(os.path.join(dest, "joints.mat"), {"joints": np.concatenate([real, real[:, :, :2000]], axis=2)})


@pytest.fixture(scope="module")
def lsp_2000(tmp_path_factory):
    root = tmp_path_factory.mktemp("lsp")
    raw = make_lsp_folder(str(root), str(require("lspet")), lsp_rows(str(require("lspet"))), 2000)
    return root, raw


def test_lsp_reads_positions_every_joint_as_a_target_and_the_inverted_occluded_flag(tmp_path, tiny_lsp):
    raw = make_lsp_folder(str(tmp_path / "lsp"), str(require("lspet")), lsp_rows(str(require("lspet"))), 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # nothing is dropped or changed
        people = load("lsp", root=tmp_path / "lsp")
    assert people.split == "all" and len(people) == 20 and people.layout is LSP14
    assert all(isinstance(r, LSPPerson) for r in people.records)
    assert np.array_equal(people.keypoints(), raw[:, :, :2].astype(np.float32))
    assert (people.visibility() == 1).all()  # occluded joints are annotated: all count
    occluded = occlusion(people)
    assert np.array_equal(occluded, 1 - raw[:, :, 2])  # back to LSPET's visible flag
    assert 0 < occluded.sum() < occluded.size
    first = people[0]
    assert first.image_path.endswith(os.path.join("images", "im0001.jpg")) and people[19].index == 19
    assert first.image_size == _size(require("lspet") / "images" / "im00001.jpg")
    assert np.isfinite(people.head_sizes()).all()  # neck-head-top, defined for every person
    for r in people.records:  # the box holds all 14 joints
        x, y, w, h = r.bbox
        assert np.isclose(x, r.keypoints[:, 0].min()) and np.isclose(x + w, r.keypoints[:, 0].max())
        assert np.isclose(y, r.keypoints[:, 1].min()) and np.isclose(y + h, r.keypoints[:, 1].max())
    with pytest.raises(ValueError, match=r"occlusion flags exist for the original LSP only"):
        occlusion(load_lsp(str(tiny_lsp[0])))


def _size(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.size


def test_lsp_splits_are_images_1_to_1000_and_1001_to_2000(lsp_2000):
    root, raw = lsp_2000
    train, test = load("lsp", split="train", root=root), load("lsp", split="test", root=root)
    assert len(train) == 1000 and [train[0].index, train[-1].index] == [0, 999]
    assert train[0].image_path.endswith("im0001.jpg") and train[-1].image_path.endswith("im1000.jpg")
    assert len(test) == 1000 and [test[0].index, test[-1].index] == [1000, 1999]
    assert test[0].image_path.endswith("im1001.jpg") and test[-1].image_path.endswith("im2000.jpg")
    assert np.array_equal(test.keypoints(), raw[1000:, :, :2].astype(np.float32))
    assert np.array_equal(occlusion(test), 1 - raw[1000:, :, 2])
    assert len(load("lsp", root=root)) == 2000


def test_lsp_file_without_the_whole_split_is_an_error(tmp_path):
    make_lsp_folder(str(tmp_path), str(require("lspet")), [0, 1], 1500)
    with pytest.raises(ValueError, match=r"holds 1,500 people; the LSP test split is images 1,001-2,000"):
        load_lsp_original(str(tmp_path), split="test")
    assert len(load_lsp_original(str(tmp_path), split="train")) == 1000


def test_lsp_pck_at_0_2_torso_counts_all_14_joints_occluded_ones_too(lsp_2000):
    root, _ = lsp_2000
    test = load("lsp", split="test", root=root)
    gt, visible = test.keypoints(), test.visibility()
    exact = pck_torso(gt, gt, visible, LSP14.torso_segment, 0.2)
    assert exact.total == 100.0 and exact.counted == 14 * 1000 and exact.people_without_norm == 0
    torso = np.linalg.norm(gt[:, 9] - gt[:, 2], axis=-1)  # left shoulder - right hip
    near = np.where(np.arange(14) < 7, 0.15, 0.25)  # half the joints inside 0.2 x torso, half outside
    shifted = gt.copy()
    shifted[:, :, 0] += near[None] * torso[:, None]
    assert pck_torso(shifted, gt, visible, LSP14.torso_segment, 0.2).total == pytest.approx(50.0)
    occluded = occlusion(test)
    missed = gt.copy()
    missed[:, :, 0] += 0.25 * torso[:, None] * occluded  # only the occluded joints miss
    result = pck_torso(missed, gt, visible, LSP14.torso_segment, 0.2)
    assert result.counted == 14000 and result.total == pytest.approx(100.0 * (1 - occluded.mean()))
    assert pckh(gt, gt, visible, test.head_sizes(), 0.5).counted == 14000


def test_lsp_and_lspet_layouts_are_told_apart(tmp_path, tiny_lsp):
    lspet_root, joints = tiny_lsp  # 14 x 3 x 3
    with pytest.raises(ValueError, match=r"expected 3 x 14 x N .*\(that is the LSPET layout\).*LSPET: 14 x 3 x N"):
        load_lsp_original(str(lspet_root))
    scipy.io.savemat(lspet_root / "joints.mat", {"joints": joints.transpose(1, 0, 2)})  # 3 x 14 x 3
    with pytest.raises(ValueError, match=r"expected 14 x 3 x N .*\(that is the LSP layout\).*LSP: 3 x 14 x N"):
        load_lsp(str(lspet_root))


def test_lsp_joint_outside_its_image_is_kept_unless_strict(tmp_path):
    make_lsp_folder(str(tmp_path), str(require("lspet")), [1], 1)  # person 1: every joint visible
    joints = scipy.io.loadmat(tmp_path / "joints.mat")["joints"]
    width, _ = _size(tmp_path / "images" / "im0001.jpg")
    joints[0, 0, 0] = width + 10  # a right ankle beyond the right edge
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": joints})
    person = load_lsp_original(str(tmp_path))[0]
    assert person.keypoints[0, 0] == width + 10 and person.visibility[0] == 1
    with pytest.raises(ValueError, match=r"im0001\.jpg: person 0, joint 0 is visible at .* outside the"):
        load_lsp_original(str(tmp_path), strict=True)
    joints[2, 0, 0] = 1  # occluded: its position is a guess, not an error
    scipy.io.savemat(tmp_path / "joints.mat", {"joints": joints})
    assert load_lsp_original(str(tmp_path), strict=True)[0].occluded[0] == 1


@pytest.fixture(scope="module")
def lspet_10000(tmp_path_factory):
    root = tmp_path_factory.mktemp("lspet10k")
    make_lspet_10000(str(root), str(require("lspet")))
    return root


def _quiet_load(name, split, root=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return load(name, split=split, root=root)


@pytest.fixture(scope="module")
def lspet_copy():
    """train and val of the LSPET found by the lookup (the 8,000-person copy offline)."""
    require("lspet")
    return {split: _quiet_load("lspet", split) for split in ("train", "val")}


def _same_records(a, b, offset=0):
    assert [r.index for r in a.records] == [r.index + offset for r in b.records]
    for x, y in zip(a.records, b.records):
        assert np.array_equal(x.keypoints, y.keypoints) and np.array_equal(x.visibility, y.visibility)
        assert np.array_equal(x.bbox, y.bbox) and np.array_equal(x.head_size, y.head_size, equal_nan=True)
        assert x.image_size == y.image_size


def test_lspet_test_split_is_people_8000_to_9999_of_the_10000_person_file(lspet_10000, lspet_copy):
    test = _quiet_load("lspet", "test", lspet_10000)
    assert len(test) == 2000 and [test[0].index, test[-1].index] == [8000, 9999]  # real people 0-1,999: no skips
    assert test[0].image_path.endswith("im08001.jpg") and test[-1].image_path.endswith("im10000.jpg")
    first = lspet_copy["train"]
    _same_records(test, dataclasses.replace(first, records=first.records[:2000]), offset=8000)


def test_lspet_train_and_val_are_the_same_records_in_both_files(lspet_10000, lspet_copy):
    for split, (first, last) in {"val": (6000, 7999), "train": (0, 5999)}.items():
        copy = lspet_copy[split]
        assert [copy[0].index, copy[-1].index] == [first, last]
        _same_records(_quiet_load("lspet", split, lspet_10000), copy)
    with pytest.raises(ValueError, match="unknown lspet split 'dev'"):
        load("lspet", split="dev", root=lspet_10000)


def test_lspet_8000_person_copy_says_it_has_no_test_split():
    root = require("lspet")
    if scipy.io.whosmat(str(root / "joints.mat"))[0][1] != (14, 3, 8000):
        pytest.skip("the LSPET found is not the 8,000-person copy")
    with pytest.raises(ValueError, match=r"holds 8,000 people \(the copy without the test people\), so it has no "
                                         r"LSPET test split .*python -m kerasgp data fetch lspet --force"):
        load("lspet", split="test")
