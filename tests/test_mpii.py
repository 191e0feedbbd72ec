"""MPII through mmpose's annotations: `fetch_mpii` against a local HTTP server, `load("mpii")`, official PCKh.

The fixture is built in the real layout from the real MPII sample (mmpose's tests/data/mpii: 5 images and
test_mpii.json): an mpii_annotations.tar with annotations/mpii_train.json (sample people 0-2),
mpii_val.json (people 3-4) and mpii_gt_val.mat, and an mpii_human_pose_v1.tar.gz with images/<name>.jpg
plus decoys. The sample has no head boxes, so the fixture's are made from each person's upper neck and
head top (a fixture value; the real mpii_gt_val.mat holds MPII's annotated boxes).
"""
from __future__ import annotations

import functools
import http.server
import io
import json
import os
import shutil
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from conftest import require
from kerasgp.data import MPII_TO_LSP, download, sources
from kerasgp.data.download import ChecksumError, DownloadError
from kerasgp.data.mpii import fetch_mpii

MPII_NAMES = ["rank", "rkne", "rhip", "lhip", "lkne", "lank", "pelv", "thor", "neck", "head",
              "rwri", "relb", "rsho", "lsho", "lelb", "lwri"]


def fixture_headbox(joints) -> np.ndarray:
    """A head box around the upper neck (8) and head top (9), half a head length wider on each side."""
    neck, top = np.asarray(joints[8]), np.asarray(joints[9])
    margin = 0.5 * np.linalg.norm(top - neck)
    lo, hi = np.minimum(neck, top), np.maximum(neck, top)
    return np.stack([lo - [margin, 0], hi + [margin, 0]])  # ((x1, y1), (x2, y2))


def _add(tar, name, data: bytes = b"", kind=tarfile.REGTYPE, target=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, target, len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def build_fixture(sample: Path, out: Path, extra_members=(), drop_image: str | None = None, shuffle_gt=False):
    """Write mpii_annotations.tar and mpii_human_pose_v1.tar.gz into out; returns (train, val) people."""
    people = json.loads((sample / "test_mpii.json").read_text())
    train, val = people[:3], people[3:]
    joints = np.array([p["joints"] for p in val], dtype=np.float64)
    gt = {"headboxes_src": np.stack([fixture_headbox(p["joints"]) for p in val], axis=-1),  # 2 x 2 x N
          "jnt_missing": 1 - np.array([p["joints_vis"] for p in val]).T,  # 16 x N
          "pos_gt_src": np.transpose(joints, (1, 2, 0)),  # 16 x 2 x N
          "dataset_joints": np.array([MPII_NAMES], dtype=object)}
    if shuffle_gt:
        gt = {k: (v[..., ::-1] if k != "dataset_joints" else v) for k, v in gt.items()}
    mat = io.BytesIO()
    scipy.io.savemat(mat, gt)
    out.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out / "mpii_annotations.tar", "w") as tar:
        _add(tar, "annotations/", kind=tarfile.DIRTYPE)
        for name, items in (("mpii_train.json", train), ("mpii_val.json", val), ("mpii_test.json", []),
                            ("mpii_trainval.json", train + val)):
            _add(tar, f"annotations/{name}", json.dumps(items).encode())
        _add(tar, "annotations/mpii_gt_val.mat", mat.getvalue())
    some_jpeg = (sample / people[0]["image"]).read_bytes()
    with tarfile.open(out / "mpii_human_pose_v1.tar.gz", "w:gz") as tar:
        _add(tar, "images/", kind=tarfile.DIRTYPE)
        _add(tar, "images/000000001.jpg", some_jpeg)  # decoys: images nobody asked for
        _add(tar, "README", b"decoy")
        for member in extra_members:  # before the wanted images: reading stops after the last of them
            _add(tar, **member)
        for p in people:
            if p["image"] != drop_image:
                _add(tar, f"images/{p['image']}", (sample / p["image"]).read_bytes())
        _add(tar, "images/999999999.jpg", some_jpeg)
    return train, val


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving tmp/www (mirror/ and origin/), KERASGP_MIRROR at mirror/,
    and a manifest whose mpii entry points at origin/ and expects the fixture's people counts."""
    www = tmp_path / "www"
    (www / "mirror").mkdir(parents=True)
    (www / "origin").mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    monkeypatch.setenv(download.MIRROR_VAR, f"{base}/mirror")
    manifest = json.loads(sources.MANIFEST_PATH.read_text())  # the project's, whatever the environment says
    spec = manifest["mpii"]
    for source in spec["sources"]:
        source["url"] = f"{base}/origin/{download.file_name(source['url'])}"
        source.pop("alternatives", None)
    spec["expect_people"] = {"train": 3, "val": 2}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv(sources.MANIFEST_VAR, str(tmp_path / "manifest.json"))
    yield www
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def sample():
    return require("mpii-sample")


def _leftovers(parent: Path):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(".mpii"))


@pytest.mark.backend_free
def test_fetch_keeps_exactly_the_subsets_images_and_aligned_gt_columns(server, sample, tmp_path):
    train, val = build_fixture(sample, server / "mirror")
    dest = sources.fetch("mpii", tmp_path / "data", progress=False, people=2, val_people=1)  # the manifest's fetcher
    assert dest == tmp_path / "data" / "mpii"
    wanted = {train[0]["image"], train[1]["image"], val[0]["image"]}
    assert {p.name for p in (dest / "images").iterdir()} == wanted  # no decoy, no other sample image
    assert [p["image"] for p in json.loads((dest / "annotations/mpii_train.json").read_text())] == \
        [train[0]["image"], train[1]["image"]]
    gt = scipy.io.loadmat(dest / "annotations/mpii_gt_val.mat")
    assert gt["headboxes_src"].shape == (2, 2, 1) and gt["jnt_missing"].shape == (16, 1)
    assert np.allclose(gt["headboxes_src"][..., 0], fixture_headbox(val[0]["joints"]))
    record = json.loads((dest / "subset.json").read_text())
    assert (record["train_people"], record["val_people"], record["of"]) == (2, 1, {"train": 3, "val": 2})
    assert "/mirror/" in record["images_from"]  # KERASGP_MIRROR first; origin/ holds nothing here
    assert sorted(p.name for p in dest.iterdir()) == ["annotations", "images", "subset.json"]
    assert _leftovers(dest.parent) == []


@pytest.mark.backend_free
def test_a_mirror_without_the_images_falls_back_to_the_next_source(server, sample, tmp_path):
    build_fixture(sample, server / "mirror")
    (server / "mirror" / "mpii_human_pose_v1.tar.gz").rename(server / "origin" / "mpii_human_pose_v1.tar.gz")
    dest = fetch_mpii(sources.entry("mpii"), tmp_path / "mpii", progress=False, people=1, val_people=0)
    assert "/origin/" in json.loads((dest / "subset.json").read_text())["images_from"]
    assert len(list((dest / "images").iterdir())) == 1


@pytest.mark.backend_free
@pytest.mark.parametrize("member", [
    {"name": "../evil.jpg", "data": b"x"},
    {"name": "images/link.jpg", "kind": tarfile.SYMTYPE, "target": "/etc/passwd"},
], ids=["dotdot", "symlink"])
def test_an_unsafe_member_refuses_the_archive_and_leaves_nothing(server, sample, tmp_path, member):
    build_fixture(sample, server / "mirror", extra_members=[member])
    (tmp_path / "data").mkdir()
    with pytest.raises(ChecksumError, match=f"{member['name']!r}.*refusing the archive"):
        fetch_mpii(sources.entry("mpii"), tmp_path / "data" / "mpii", progress=False)
    assert list((tmp_path / "data").iterdir()) == []
    assert not (tmp_path / "evil.jpg").exists()


@pytest.mark.backend_free
def test_a_missing_image_is_named(server, sample, tmp_path):
    dropped = json.loads((sample / "test_mpii.json").read_text())[1]["image"]  # a train person's image
    build_fixture(sample, server / "mirror", drop_image=dropped)
    with pytest.raises(ChecksumError, match=rf"1 of 5 needed images are not in the archive: images/{dropped}"):
        fetch_mpii(sources.entry("mpii"), tmp_path / "mpii", progress=False)
    assert not (tmp_path / "mpii").exists() and _leftovers(tmp_path) == []


@pytest.mark.backend_free
def test_annotations_are_checked_by_content(server, sample, tmp_path):
    build_fixture(sample, server / "mirror")
    spec = sources.entry("mpii")
    with pytest.raises(ChecksumError, match="mpii_train.json: 3 people; mmpose's MPII train annotations hold 22246"):
        fetch_mpii({**spec, "expect_people": {"train": 22246, "val": 2958}}, tmp_path / "a", progress=False)
    build_fixture(sample, server / "mirror", shuffle_gt=True)
    with pytest.raises(ChecksumError, match="do not line up"):
        fetch_mpii(spec, tmp_path / "b", progress=False)
    build_fixture(sample, server / "mirror")
    with pytest.raises(ValueError, match="4 people asked for; mmpose's train annotations hold 3"):
        fetch_mpii(spec, tmp_path / "c", progress=False, people=4)
    assert _leftovers(tmp_path) == []


@pytest.mark.backend_free
def test_no_reachable_source_lists_each_url(server, tmp_path):
    with pytest.raises(DownloadError, match=r"(?s)mirror/mpii_annotations.tar.*origin/mpii_annotations.tar"):
        fetch_mpii(sources.entry("mpii"), tmp_path / "mpii", progress=False)


@pytest.fixture
def fetched(server, sample, tmp_path):
    build_fixture(sample, server / "mirror")
    return fetch_mpii(sources.entry("mpii"), tmp_path / "mpii", progress=False)


@pytest.mark.backend_free
def test_val_head_sizes_are_the_official_head_box_rule(fetched):
    from kerasgp.data import MPII16, load

    people = load("mpii", split="val", root=fetched)
    gt = scipy.io.loadmat(fetched / "annotations/mpii_gt_val.mat")
    assert len(people) == 2 and people.layout is MPII16 and people.split == "val"
    for record, n in zip(people.records, range(2)):
        box = gt["headboxes_src"][..., n]
        assert record.head_size == pytest.approx(0.6 * np.hypot(*(box[1] - box[0])))
        assert record.head_size != pytest.approx(np.linalg.norm(record.keypoints[8] - record.keypoints[9]))
    with pytest.warns(UserWarning, match="no MPII head box"):
        train = load("mpii", split="train", root=fetched)
    assert len(train) == 3 and train.split == "train"


@pytest.mark.backend_free
def test_val_without_the_gt_file_says_what_is_missing(fetched):
    from kerasgp.data import load

    os.remove(fetched / "annotations/mpii_gt_val.mat")
    with pytest.raises(FileNotFoundError, match="mpii_gt_val.mat.*official head boxes"):
        load("mpii", split="val", root=fetched)


def test_official_pckh_leaves_out_pelvis_and_thorax(fetched, monkeypatch):
    from kerasgp.data import build_cache, load
    from kerasgp.data.transforms import apply_affine, invert_affine
    from kerasgp.pose import estimator

    cache = build_cache(load("mpii", split="val", root=fetched), (64, 64), progress=False)
    gt = apply_affine(cache.keypoints, invert_affine(cache.to_crop))
    rows = np.arange(len(gt))

    def scored(pred):
        monkeypatch.setattr(estimator, "predict_keypoints", lambda *a, **k: (pred, rows))
        return estimator.evaluate(None, cache)

    perfect = scored(gt.copy())
    assert perfect["pckh@0.5"] == perfect["pckh@0.5_official"] == 100.0
    wrong = gt.copy()
    wrong[:, 6:8] += 1000.0  # pelvis and thorax far off
    result = scored(wrong)
    assert result["pckh@0.5_official"] == 100.0 and result["pckh@0.5"] < 100.0
    lsp = scored(gt[:, MPII_TO_LSP])  # a 14-joint LSP model is scored on MPII's LSP joints
    assert lsp["pckh@0.5_official"] == lsp["pckh@0.5"] == 100.0
