"""Data-root lookup, `data fetch` (downloads checked by sha256; offline errors that say what to do), CLI.
The download machinery itself (real HTTP server, bad archives, mirrors) is tested in test_download.py."""
import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import zipfile

import pytest

from kerasgp.data import sources as F

pytestmark = pytest.mark.backend_free


@pytest.fixture
def fake_manifest(monkeypatch, tmp_path):
    payload = b"joint data"
    archive = tmp_path / "src.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("repo-abc123/toy/joints.mat", payload)
        z.writestr("repo-abc123/toy/images/im00001.jpg", b"jpg")
        z.writestr("repo-abc123/README", b"other")
    single = tmp_path / "ann.json"
    single.write_text("[]")
    entries = {
        "toy": {"description": "toy", "marker": "joints.mat",
                "sources": [{"url": archive.as_uri(), "sha256": None, "archive": "zip"}],
                "verify": {"joints.mat": hashlib.sha256(payload).hexdigest()}},
        "toyfile": {"description": "toy file", "marker": "ann.json",
                    "sources": [{"url": single.as_uri(), "sha256": F.sha256(single), "dest": "ann.json"}]},
        "offline": {"description": "unreachable", "marker": "x.json",
                    "sources": [{"url": "https://example.invalid/x.json", "sha256": "0" * 64, "dest": "x.json"}]},
    }
    monkeypatch.setattr(F, "manifest", lambda: entries)
    monkeypatch.setenv("KERASGP_DATA", str(tmp_path / "root"))
    return entries, tmp_path


def test_kerasgp_data_comes_first_in_the_lookup(monkeypatch, tmp_path):
    monkeypatch.setenv("KERASGP_DATA", str(tmp_path))
    roots = F.data_roots()
    assert roots[0] == tmp_path and roots[-1] == F.PROJECT_ROOT.parent / "shared" / "data"


def test_fetch_extracts_the_folder_that_holds_the_marker_and_checks_its_files(fake_manifest):
    _, tmp = fake_manifest
    path = F.fetch("toy", dest_root=tmp / "root", progress=False)
    assert (path / "joints.mat").read_bytes() == b"joint data" and (path / "images" / "im00001.jpg").exists()
    assert F.find("toy") == path  # KERASGP_DATA/toy is found by the lookup afterwards


def test_fetch_of_a_single_file_checks_its_sha256(fake_manifest):
    entries, tmp = fake_manifest
    assert (F.fetch("toyfile", dest_root=tmp / "root", progress=False) / "ann.json").read_text() == "[]"
    entries["toyfile"]["sources"][0]["sha256"] = "f" * 64
    with pytest.raises(ValueError, match="does not match the manifest"):
        F.fetch("toyfile", dest_root=tmp / "other", force=True, progress=False)


def test_fetch_offline_names_the_url_and_the_variable(fake_manifest, monkeypatch):
    from kerasgp.data import download as D

    _, tmp = fake_manifest

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(D.urllib.request, "urlopen", offline)
    with pytest.raises(D.DownloadError) as e:
        F.fetch("offline", dest_root=tmp / "root", progress=False)
    assert "https://example.invalid/x.json: network is unreachable" in str(e.value)
    assert "KERASGP_DATA" in str(e.value) and "KERASGP_MIRROR" in str(e.value)
    assert not (tmp / "root" / "offline").exists() and not list((tmp / "root").glob(".*partial*"))


def test_locating_a_missing_data_set_says_how_to_get_it(fake_manifest):
    with pytest.raises(FileNotFoundError, match=r"'offline' not found .*`python -m kerasgp data fetch offline`.*KERASGP_DATA"):
        F.locate("offline")


def test_real_manifest_names_a_url_and_checksum_for_every_entry():
    entries = F.manifest()
    assert {"lspet", "coco-mini", "coco-sample", "mpii-sample", "shufflenet_v2_x0.5", "mobilenet_v2"} <= set(entries)
    for name, spec in entries.items():
        every = [s for part in spec["sources"] for s in [part, *part.get("alternatives", [])]]
        assert spec["sources"] and all(s["url"] for s in every), name
        verified = [d for v in [spec.get("verify", {})] + [s.get("verify", {}) for s in every]
                    for d in v.values() for d in ([d] if isinstance(d, str) else d)]
        digests = [s["sha256"] for s in every if s.get("sha256")] + verified
        assert all(len(d) == 64 and set(d) <= set("0123456789abcdef") for d in digests), name
        # A download nobody publishes a checksum for is still refused when its contents are wrong.
        assert digests or spec.get("expect_array") or spec.get("expect_count") or spec.get("fetcher"), \
            f"{name}: nothing checks what was downloaded"
    assert entries["lspet"]["sources"][0]["verify"]["joints.mat"].startswith("cc66465117")


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "kerasgp", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_cli_data_info_lists_every_data_set():
    out = _cli("data", "info", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)["datasets"]}
    assert set(rows) == set(F.manifest())
    if rows["lspet"]["found"]:
        assert rows["lspet"]["files"] == 8000


def test_cli_fetch_of_an_unknown_name_exits_2_with_the_known_names():
    out = _cli("data", "fetch", "h36m")
    assert out.returncode == 2 and "unknown data set 'h36m'" in out.stderr and "lspet" in out.stderr


def test_cli_bench_measures_the_data_path(tmp_path):
    from conftest import require

    require("lspet")
    out = _cli("data", "bench", "--batches", "3", "--out", str(tmp_path / "bench.csv"), "--json")
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert row["people"] == 8000 and row["samples"] == 192 and row["samples_per_s"] > 0 and row["workers"] == 1
    assert (tmp_path / "bench.csv").read_text().startswith("date,people")


def test_data_bench_workers_make_every_batch_and_an_older_csv_gains_the_column(tmp_path):
    from conftest import require

    from kerasgp.data import bench

    require("lspet")
    out = tmp_path / "bench.csv"
    out.write_text("date,people,samples_per_s\n2026-01-01,8000,5000.0\n")  # a log from before the workers column
    row = bench.run(64, batch_size=16, batches=5, targets="simcc", out=out, progress=False, workers=3)
    assert row["samples"] == 80 and row["workers"] == 3
    import csv

    old, new = csv.DictReader(open(out, newline=""))
    assert (old["date"], old["samples_per_s"], old["workers"], old["input_size"]) == ("2026-01-01", "5000.0", "", "")
    assert (new["workers"], new["input_size"], new["samples"]) == ("3", "64", "80")
    with pytest.raises(ValueError, match="workers must be at least 1"):
        bench.run(64, batches=1, out=None, workers=0)
