"""Writing the CSV and JSON files under results/: atomic writes, appending a row whose columns may be new, and
the commit stamp every row carries."""
from __future__ import annotations

import csv
import functools
import json
import os
import subprocess
from pathlib import Path

# The project's results/ (README installs the package editable, so this is the clone's): lessons read it
# from here, so a lesson runs the same from lessons/ or from an nbgrader course folder.
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def write_csv(rows, path, columns, extrasaction: str = "raise") -> Path:
    """Write `rows` under a header of `columns`, atomically (a temporary file, then a rename), so an
    interrupted run never leaves a half-written results file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction=extrasaction)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def write_json(data, path) -> Path:
    """Write `data` as indented JSON, atomically (as `write_csv`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def append_row(out, row: dict, replaces=None) -> Path:
    """Add `row` to the CSV `out` (created if missing). The header is the row's columns, then any others
    the file has; a row lacking a column leaves it empty. replaces: a test on the file's rows; those it
    accepts are dropped, the new row taking their place (a variant trained again)."""
    out = Path(out)
    rows, fields = [], list(row)
    if out.exists():
        with open(out, newline="") as f:
            reader = csv.DictReader(f)
            rows = [r for r in reader if not (replaces and replaces(r))]
            fields += [k for k in (reader.fieldnames or []) if k not in fields]
    return write_csv([*rows, row], out, fields)


def read_commit() -> str:
    """The checkout's short commit, "+dirty" when tracked files differ from it, "unknown" outside git."""
    try:
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.cache
def commit() -> str:
    """The commit, read once per process: a study reads it before its first training, so edits made to the
    tree while a long study runs do not relabel its later rows (they did: "+dirty" on clean code)."""
    return read_commit()
