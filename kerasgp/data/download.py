"""Downloads a user can trust: sources tried in order, checked before use, extracted safely, staged.

    path = download(alternatives, tmp / "archive.zip")        # the first URL that gives the right bytes
    safe_extract(path, staging)                                # no member may land outside staging
    with staged(dest) as tmp_dest: ...                         # dest appears whole, or not at all

`alternatives` is a list of source dicts ({"url", "sha256", "size"}), tried in order; `KERASGP_MIRROR`
(comma-separated base URLs) puts `MIRROR/<file name>` before each URL, so a local server or a course's
own copy can stand in for the original hosts.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import shutil
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

MIRROR_VAR = "KERASGP_MIRROR"


def one_line(error: BaseException) -> str:
    """A download error on one line: its first line, then each URL's failure separated by '; '."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return " ".join(lines[:1] + ["; ".join(lines[1:])]).strip()


class DownloadError(OSError):
    """Every URL of a part failed; the message lists each one and why (also in `.failures`)."""

    def __init__(self, message: str, failures: list[str] | None = None):
        super().__init__(message)
        self.failures = list(failures or [])

    def __str__(self) -> str:
        return self.args[0]


class ChecksumError(ValueError):
    """A download or an extracted file is not what the manifest says (URL, expected, found)."""

    def __init__(self, message: str, failures: list[str] | None = None):
        super().__init__(message)
        self.failures = list(failures or [message])


def file_name(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def candidate_urls(url: str) -> list[str]:
    """The mirrors' copies of `url` (by file name) first, then `url` itself."""
    mirrors = [m.strip().rstrip("/") for m in os.environ.get(MIRROR_VAR, "").split(",") if m.strip()]
    return [f"{m}/{file_name(url)}" for m in mirrors] + [url]


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_url(url: str, path: Path, progress: bool, expected_size: int | None = None) -> None:
    from tqdm.auto import tqdm

    with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
        announced = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=announced or expected_size, unit="B", unit_scale=True, desc=file_name(url),
                  disable=not progress, leave=False) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                bar.update(len(block))
    # http.client ends a body quietly when the server closes early: only the announced length tells.
    found = path.stat().st_size
    if announced and found != announced:
        raise DownloadError(f"{url}: truncated, {found:,} of {announced:,} bytes arrived")


def check_file(path: Path, source: dict, url: str) -> None:
    """Size, then sha256, as the source lists them (None: not published)."""
    size = source.get("size")
    if size is not None and path.stat().st_size != size:
        raise ChecksumError(f"{url}: size {path.stat().st_size:,} bytes; the manifest expects {size:,}")
    expected = source.get("sha256")
    if expected:
        found = sha256_of(path)
        if found != expected:
            raise ChecksumError(f"{url}: sha256 {found} does not match the manifest's {expected}; "
                                f"the download is corrupt or the file changed upstream")


def _why(url: str, e: BaseException) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"{url}: HTTP {e.code} {e.reason}"
    if isinstance(e, DownloadError):
        return str(e)
    reason = getattr(e, "reason", None) or e
    return f"{url}: {reason}" if str(reason) else f"{url}: {type(e).__name__}"


def download(alternatives: list[dict], path: str | Path, progress: bool = True) -> dict:
    """Fetch the first alternative that arrives whole and passes its checks into `path`.

    Returns the source dict that worked, with "used_url" and "failed" (why each URL tried before it
    failed) added. Raises DownloadError (every URL failed
    to download) or ChecksumError (something arrived but none matched), listing each URL and why; the
    exception's `.failures` holds one line per URL. Nothing is left at `path` after a failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    failures, mismatch = [], False
    for source in alternatives:
        for url in candidate_urls(source["url"]):
            try:
                _fetch_url(url, path, progress, source.get("size"))
                check_file(path, source, url)
                return {**source, "used_url": url, "failed": failures}
            except ChecksumError as e:
                mismatch = True
                failures.append(str(e))
            except (OSError, ValueError, http.client.HTTPException) as e:  # URLError is an OSError
                failures.append(_why(url, e))
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    listed = "\n  ".join(failures)
    error = ChecksumError if mismatch else DownloadError
    raise error(f"no source of {file_name(alternatives[0]['url'])} worked:\n  {listed}", failures)


def _unsafe(name: str) -> bool:
    name = name.replace("\\", "/")
    parts = PurePosixPath(name).parts
    return (not name.strip("/") or name.startswith("/") or (len(name) > 1 and name[1] == ":")
            or ".." in parts)


_SPECIAL = (stat.S_IFLNK, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK)


def _refuse(archive: Path, dest: Path, name: str, why: str) -> None:
    raise ValueError(f"{archive.name}: member {name!r} {why}; refusing the whole archive, nothing was "
                     f"extracted into {dest}")


def safe_extract(archive: str | Path, dest: str | Path, members=None) -> list[str]:
    """Extract a zip or tar archive into dest; refuse (ValueError, nothing extracted) the whole archive if
    ANY member, wanted or not, has an absolute path or a `..` component, or is a link or a device.
    members: only these names (None: all). Returns the names extracted."""
    archive, dest = Path(archive), Path(dest)
    wanted = None if members is None else set(members)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            for info in infos:
                if _unsafe(info.filename):
                    _refuse(archive, dest, info.filename, "would write outside the folder")
                # Unix zips keep the mode in the high 16 bits: a symlink's target is its content.
                if stat.S_IFMT(info.external_attr >> 16) in _SPECIAL:
                    _refuse(archive, dest, info.filename, "is a link or a device")
            infos = [i for i in infos if wanted is None or i.filename in wanted]
            dest.mkdir(parents=True, exist_ok=True)
            for info in infos:
                z.extract(info, dest)
            return [i.filename for i in infos]
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            infos = t.getmembers()
            for m in infos:
                if _unsafe(m.name):
                    _refuse(archive, dest, m.name, "would write outside the folder")
                if not (m.isfile() or m.isdir()):
                    _refuse(archive, dest, m.name, "is a link or a device")
            infos = [m for m in infos if wanted is None or m.name in wanted]
            dest.mkdir(parents=True, exist_ok=True)
            # The "data" filter (PEP 706) re-checks every member as it is written, where Python has it.
            checked = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            t.extractall(dest, members=infos, **checked)
            return [m.name for m in infos]
    raise ValueError(f"{archive.name}: neither a zip nor a tar archive (a truncated or HTML download?)")


@contextlib.contextmanager
def staged(dest: str | Path):
    """Yield a fresh folder beside dest; on success it replaces dest in one rename, on any error it is
    removed, so a failed fetch leaves neither a half-written data set nor the old one damaged."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    try:
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
            dest.rename(old)
        tmp.rename(dest)
    except BaseException:
        if old is not None and not dest.exists():
            old.rename(dest)  # put the previous copy back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_files(dest: str | Path):
    """Like `staged`, for a folder several entries share (the weights): on success each file of the
    yielded folder replaces its namesake in dest (one rename each) and dest's other files stay."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest))
    try:
        yield tmp
        for item in sorted(tmp.rglob("*")):
            if item.is_file():
                target = dest / item.relative_to(tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
