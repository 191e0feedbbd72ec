"""COCO 2017 as subsets: `fetch_coco2017`, `load_coco2017`, and the runner and evaluate on it.

The fixtures are the REAL COCO layout built from the real samples we have, not synthetic data: a stand-in
"annotations_trainval2017.zip" holding annotations/person_keypoints_train2017.json (coco-mini's file: 80
train2017 images, their coco_url fields kept) and annotations/person_keypoints_val2017.json (coco-sample's
test_coco.json: 4 val2017 images), plus a captions JSON the fetch must not keep, and a stand-in
"val2017.zip" with those 4 images in val2017/. They and coco-mini's train images are served by a real HTTP
server on 127.0.0.1 that KERASGP_MIRROR points at; the manifest entry is the real one with the stand-ins'
own sizes and sha256.
"""
from __future__ import annotations

import collections
import contextlib
import copy
import csv
import functools
import http.server
import io
import json
import shutil
import threading
import zipfile
from pathlib import Path

import pytest

from conftest import require

from kerasgp.data import sources
from kerasgp.data.coco2017 import TRAIN_SUBSET_JSON, VAL_SUBSET_JSON, fetch_coco2017
from kerasgp.data.download import ChecksumError, sha256_of

pytest.importorskip("pycocotools", reason="the COCO loader and OKS AP read COCO files through pycocotools")
pytestmark = pytest.mark.filterwarnings("ignore::kerasgp.data.DataWarning")  # the loaders' skip reports


class _Mirror(http.server.ThreadingHTTPServer):
    """Serves a folder; records each requested file name; `overrides` replaces a file's bytes."""

    def __init__(self, folder: Path):
        self.requests, self.overrides = [], {}
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append(name)
                if name in server.overrides:
                    body = server.overrides[name]
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                super().do_GET()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))

    def train_requests(self) -> list[str]:
        return [name for name in self.requests if not name.endswith(".zip")]


def _people_images(data) -> collections.Counter:
    return collections.Counter(a["image_id"] for a in data["annotations"]
                               if not a["iscrowd"] and a["num_keypoints"] > 0)


def _expected_images(data, people):
    """The rule the fetch promises, written out: first image ids in order, whole images, <= people."""
    counts, chosen = _people_images(data), []
    for image_id in sorted(counts):
        if chosen and sum(counts[i] for i in chosen) + counts[image_id] > people:
            break
        chosen.append(image_id)
    return chosen


@pytest.fixture(scope="module")
def coco_fixture(tmp_path_factory):
    """(served folder, manifest spec, train JSON, val JSON): the stand-in archives in the real layout."""
    mini, sample = require("coco-mini"), require("coco-sample")
    folder = tmp_path_factory.mktemp("mirror")
    train = json.loads((mini / "annotations/person_keypoints_train2017.json").read_text())
    val = json.loads((sample / "test_coco.json").read_text())
    for data, split in ((train, "train2017"), (val, "val2017")):
        for image in data["images"]:  # the real files carry them; set them where a copy lacks them
            image.setdefault("coco_url", f"http://images.cocodataset.org/{split}/{image['file_name']}")
    with zipfile.ZipFile(folder / "annotations_trainval2017.zip", "w") as z:
        z.writestr("annotations/person_keypoints_train2017.json", json.dumps(train))
        z.writestr("annotations/person_keypoints_val2017.json", json.dumps(val))
        z.writestr("annotations/captions_train2017.json", json.dumps({"annotations": []}))
    with zipfile.ZipFile(folder / "val2017.zip", "w") as z:
        for image in val["images"]:
            z.write(sample / image["file_name"], f"val2017/{image['file_name']}")
    for image in train["images"]:
        shutil.copy(mini / "train2017" / image["file_name"], folder / image["file_name"])
    spec = copy.deepcopy(sources.entry("coco2017"))
    for source in spec["sources"]:
        local = folder / source["url"].rsplit("/", 1)[-1]
        source.update(size=local.stat().st_size, sha256=sha256_of(local))
    return folder, spec, train, val


@pytest.fixture(scope="module")
def mirror(coco_fixture):
    server = _Mirror(coco_fixture[0])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def served(coco_fixture, mirror, monkeypatch):
    """The mirror, fresh request log, with KERASGP_MIRROR pointing at it."""
    monkeypatch.setenv("KERASGP_MIRROR", f"http://127.0.0.1:{mirror.server_address[1]}")
    mirror.requests.clear()
    mirror.overrides.clear()
    yield mirror
    mirror.overrides.clear()


@pytest.fixture(scope="module")
def fetched(coco_fixture, mirror, tmp_path_factory):
    """coco2017 fetched once with people=20 (what the module's loading and training tests read)."""
    _, spec, _, _ = coco_fixture
    with pytest.MonkeyPatch.context() as m:
        m.setenv("KERASGP_MIRROR", f"http://127.0.0.1:{mirror.server_address[1]}")
        mirror.requests.clear()
        dest = fetch_coco2017(spec, tmp_path_factory.mktemp("data") / "coco2017", progress=False, people=20)
        requests = list(mirror.requests)
    return dest, requests


@pytest.mark.backend_free
def test_fetch_downloads_the_archives_once_and_exactly_the_chosen_train_images(coco_fixture, fetched):
    _, _, train, val = coco_fixture
    dest, requests = fetched
    names = {image["id"]: image["file_name"] for image in train["images"]}
    expected = sorted(names[i] for i in _expected_images(train, 20))
    assert 1 < len(expected) < 28  # a real cut: coco-mini holds 86 people on 28 images
    assert sorted(r for r in requests if not r.endswith(".zip")) == expected  # each once, nothing else
    assert sorted(r for r in requests if r.endswith(".zip")) == ["annotations_trainval2017.zip", "val2017.zip"]
    assert sorted(p.name for p in (dest / "train2017").iterdir()) == expected
    assert sorted(p.name for p in (dest / "val2017").iterdir()) == sorted(i["file_name"] for i in val["images"])
    assert sorted(p.name for p in (dest / "annotations").iterdir()) == [
        "person_keypoints_train2017.json", "person_keypoints_train2017_subset.json", "person_keypoints_val2017.json"]
    assert not (dest / ".parts").exists() and not list(dest.parent.glob(".coco2017.partial-*"))


@pytest.mark.backend_free
def test_the_subset_json_is_a_valid_coco_file_of_the_chosen_images_and_all_their_people(coco_fixture, fetched):
    from kerasgp.data.coco import coco_api

    _, _, train, _ = coco_fixture
    dest, _ = fetched
    chosen = _expected_images(train, 20)
    coco = coco_api(str(dest / TRAIN_SUBSET_JSON))
    assert sorted(coco.imgs) == chosen
    assert sorted(coco.anns) == sorted(a["id"] for a in train["annotations"] if a["image_id"] in chosen)
    people = sum(_people_images(train)[i] for i in chosen)
    assert people <= 20 < people + _people_images(train)[sorted(_people_images(train))[len(chosen)]]
    note = json.loads((dest / TRAIN_SUBSET_JSON).read_text())["info"]["kerasgp_subset"]
    assert (note["requested_people"], note["people"], note["images"]) == (20, people, len(chosen))


@pytest.mark.backend_free
def test_load_reads_the_train_subset_and_val2017(coco_fixture, fetched):
    from kerasgp.data import COCO17, load

    _, _, train, val = coco_fixture
    dest, _ = fetched
    people = sum(_people_images(train)[i] for i in _expected_images(train, 20))
    subset = load("coco2017", split="train", root=dest)
    assert (len(subset), subset.split, subset.layout) == (people, "train", COCO17)
    assert all(Path(r.image_path).parent == dest / "train2017" for r in subset.records)
    assert [r.image_id for r in subset.records] == sorted(r.image_id for r in subset.records)
    held_out = load("coco2017", split="val", root=dest)
    assert len(held_out) == sum(_people_images(val).values()) == 12 and held_out.split == "val"
    assert held_out.source_files[0].endswith("person_keypoints_val2017.json")
    with pytest.raises(ValueError, match="unknown coco2017 split 'test'"):
        load("coco2017", split="test", root=dest)


@pytest.mark.backend_free
def test_a_larger_fetch_reuses_what_it_has_and_downloads_only_the_new_images(coco_fixture, fetched, served,
                                                                               tmp_path):
    _, spec, train, _ = coco_fixture
    dest = tmp_path / "coco2017"
    shutil.copytree(fetched[0], dest)
    fetch_coco2017(spec, dest, progress=False, people=40)
    names = {image["id"]: image["file_name"] for image in train["images"]}
    new = set(_expected_images(train, 40)) - set(_expected_images(train, 20))
    assert new and sorted(served.requests) == sorted(names[i] for i in new)  # no archive, no image twice
    assert len(list((dest / "train2017").iterdir())) == len(_expected_images(train, 40))


@pytest.mark.backend_free
def test_val_people_keeps_the_first_whole_val_images(coco_fixture, served, tmp_path):
    from kerasgp.data import load

    _, spec, _, val = coco_fixture
    dest = fetch_coco2017(spec, tmp_path / "coco2017", progress=False, people=5, val_people=3)
    # test_coco.json: image 785 holds 1 person, 40083 2, 196141 4, 197388 5 -> 785 and 40083
    assert sorted(p.name for p in (dest / "val2017").iterdir()) == ["000000000785.jpg", "000000040083.jpg"]
    assert len(load("coco2017", split="val", root=dest)) == 3
    assert json.loads((dest / VAL_SUBSET_JSON).read_text())["info"]["kerasgp_subset"]["images"] == 2


@pytest.mark.backend_free
@pytest.mark.parametrize("tamper", ["garbage", "another image", "truncated"])
def test_a_tampered_train_image_is_refused_and_nothing_is_left(coco_fixture, served, tmp_path, tamper):
    folder, spec, train, _ = coco_fixture
    names = {image["id"]: image["file_name"] for image in train["images"]}
    victim = names[_expected_images(train, 20)[-1]]
    original = (folder / victim).read_bytes()
    other = require("coco-sample") / "000000000785.jpg"  # a real COCO image, 640x425: not the victim's size
    assert [(i["width"], i["height"]) for i in train["images"] if i["file_name"] == victim] != [(640, 425)]
    served.overrides[victim] = {"garbage": b"\xff\xd8 not a jpeg " * 100, "another image": other.read_bytes(),
                                "truncated": original[: len(original) // 2]}[tamper]
    with pytest.raises(ChecksumError, match=victim):
        fetch_coco2017(spec, tmp_path / "coco2017", progress=False, people=20)
    assert list(tmp_path.iterdir()) == []  # no data set, no staging folder, no archive


@pytest.mark.backend_free
def test_a_tampered_archive_is_refused_before_extraction(coco_fixture, served, tmp_path):
    _, spec, _, _ = coco_fixture
    served.overrides["val2017.zip"] = b"PK" + b"\0" * 100
    with pytest.raises(ChecksumError, match="val2017.zip"):
        fetch_coco2017(spec, tmp_path / "coco2017", progress=False, people=5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.backend_free
def test_people_must_be_a_positive_count(coco_fixture, tmp_path):
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="people must be a whole number"):
            fetch_coco2017(coco_fixture[1], tmp_path / "coco2017", progress=False, people=bad)
    with pytest.raises(ValueError, match="val_people must be"):
        fetch_coco2017(coco_fixture[1], tmp_path / "coco2017", progress=False, val_people=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.backend_free
def test_the_train_split_without_a_subset_says_how_to_fetch_one(tmp_path):
    from kerasgp.data.coco2017 import load_coco2017

    with pytest.raises(FileNotFoundError, match="data fetch coco2017 --people N"):
        load_coco2017(str(tmp_path), split="train")


@pytest.mark.backend_free
def test_data_fetch_dispatches_to_the_fetcher_with_its_options(coco_fixture, served, tmp_path, monkeypatch):
    folder, spec, _, _ = coco_fixture
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"coco2017": spec}))
    monkeypatch.setenv("KERASGP_MANIFEST", str(manifest))
    dest = sources.fetch("coco2017", dest_root=tmp_path / "data", progress=False, people=3, val_people=None)
    assert dest == tmp_path / "data" / "coco2017" and (dest / TRAIN_SUBSET_JSON).is_file()
    assert json.loads((dest / "fetched.json").read_text())["people"] == 3
    assert len(served.train_requests()) == len(list((dest / "train2017").iterdir())) >= 1


@pytest.mark.backend_free
def test_perfect_predictions_on_coco2017_val_score_100_oks_ap(fetched, monkeypatch):
    from test_runner_datasets import _perfect_predictions

    from kerasgp.experiments import runner
    from kerasgp.experiments.studies import recipe

    monkeypatch.setenv("KERASGP_DATA", str(fetched[0].parent))
    _perfect_predictions(monkeypatch)
    r = {**recipe("datasets", "coco_sample", "smoke"), "data": "coco2017"}
    people = runner._people(r)
    _, val_cache = runner._caches(r, people)
    columns, appended = runner.evaluate_split(None, val_cache, r, people)
    assert [appended[k] for k in ("oks_ap", "oks_ap50", "oks_ap75", "oks_ar")] == [100.0] * 4
    assert (appended["val_images"], columns["val_people"], appended["val_fraction"]) == (4, 12, "")


@pytest.fixture(scope="module")
def coco2017_smoke(fetched, tmp_path_factory):
    """`python -m kerasgp ablate datasets --variants coco_sample --data coco2017 --scale smoke` on the
    fetched fixture: (the CSV row, the saved model, the data set's folder, the command's output)."""
    from kerasgp.cli import main
    from kerasgp.experiments import runner

    dest, _ = fetched
    folder = tmp_path_factory.mktemp("ablate")
    out = folder / "datasets-coco2017.csv"
    with pytest.MonkeyPatch.context() as m:
        m.setenv("KERASGP_DATA", str(dest.parent))
        m.setattr(runner, "keras_latency", lambda model, runs=30: {"median_ms": 0.0})  # not what is tested
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            assert main(["ablate", "datasets", "--variants", "coco_sample", "--data", "coco2017", "--scale", "smoke",
                         "--out", str(out), "--save-models", str(folder / "models")]) == 0
    with open(out, newline="") as f:
        (row,) = list(csv.DictReader(f))
    return row, folder / "models" / "datasets-coco_sample-smoke-coco2017.keras", dest, printed.getvalue()


@pytest.mark.slow
def test_ablate_on_coco2017_writes_a_17_joint_row_with_oks_ap(coco2017_smoke, coco_fixture):
    row, model, _, printed = coco2017_smoke
    assert (row["data"], row["num_joints"], row["val_fraction"]) == ("coco2017", "17", "")
    assert json.loads(row["overrides"]) == {"data": "coco2017"}
    assert all(0.0 <= float(row[k]) <= 100.0 for k in ("oks_ap", "oks_ap50", "oks_ap75", "oks_ar"))
    assert row["pckh@0.5"] == "" and int(row["val_people"]) == 12 and int(row["val_images"]) == 4
    assert int(row["train_images"]) == len(_expected_images(coco_fixture[2], 20)) and model.is_file()
    assert "OKS AP" in printed and "coco_sample" in printed


@pytest.mark.slow
def test_evaluate_scores_the_17_joint_model_on_coco2017_val(coco2017_smoke, capsys):
    from kerasgp.cli import main

    _, model, dest, _ = coco2017_smoke
    assert main(["evaluate", str(model), "--data", "coco2017", "--root", str(dest), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["data"], result["split"], result["people"], result["images"]) == ("coco2017", "val", 12, 4)
    assert 0.0 <= result["AP"] <= 1.0 and 0.0 <= result["AR"] <= 1.0
