"""MPII Human Pose in mmpose's annotation form: a JSON list of {image, joints (16x2), joints_vis, center, scale}.

Andriluka et al., "2D Human Pose Estimation: New Benchmark and State of the Art Analysis", CVPR 2014.
`scale` is the person height / 200 px. The person box follows mmpose's MPII convention: the centre is
moved 15*scale px down and the box is a square of side 200*scale (the pipeline then pads it by 1.25).
Coordinates stay as the JSON gives them, in MATLAB's 1-based pixel frame, the frame of mpii_gt_val.mat's
`pos_gt_src` and `headboxes_src` too (mmpose adds 1 to its 0-based predictions instead); a model trained on
them predicts in the same frame, so PCKh is unaffected.

Head size (PCKh) uses MPII's head-box rule, 0.6 * the box diagonal, when the official head boxes are
given (`headboxes`: N x 2 x 2 from mpii_gt_val.mat's `headboxes_src`, the val split). mmpose's JSON has no
head boxes; then the upper-neck-head-top length is used and the report says so (the train split).

`fetch_mpii` downloads mmpose's annotations (train 22,246 people, val 2,958: Tompson et al.'s split) and
streams the 12.9 GB images archive once, keeping only the images of the people asked for.
"""
from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from .download import ChecksumError, DownloadError, _unsafe, candidate_urls, download, file_name, safe_extract, staged
from .images import image_size
from .layouts import MPII16
from .records import LoadReport, PersonInstance, PoseSet, checked_person

ANNOTATIONS = "annotations"
SPLIT_FILES = {"train": "mpii_train.json", "val": "mpii_val.json"}
GT_VAL = "mpii_gt_val.mat"
# mpii_gt_val.mat, the official val evaluation: arrays whose last axis is the val person, in mpii_val.json's order
GT_ARRAYS = {"headboxes_src": (2, 2), "jnt_missing": (16,), "pos_gt_src": (16, 2)}
DEFAULT_TRAIN_PEOPLE = 1000


def read_json(path: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: annotation file not found")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: malformed JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None


def head_size_from_headbox(headbox) -> float:
    """MPII's rule: 0.6 x the diagonal of the head box ((x1, y1), (x2, y2))."""
    box = np.asarray(headbox, dtype=np.float64).reshape(2, 2)
    return float(0.6 * np.linalg.norm(box[1] - box[0]))


def load_mpii(root: str, annotation: str = "test_mpii.json", image_dir: str = "", strict: bool = False,
              headboxes=None, name: str = "mpii-sample", split: str | None = None) -> PoseSet:
    path = os.path.join(root, annotation)
    items = read_json(path)
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a JSON list of people, found {type(items).__name__}")
    if headboxes is not None and len(headboxes) != len(items):
        raise ValueError(f"{path}: {len(items)} people but {len(headboxes)} head boxes; the head boxes must be "
                         f"one per person, in the JSON's order")
    report = LoadReport(source=name)
    records = []
    for index, item in enumerate(items):
        report.read += 1
        try:
            keypoints = np.asarray(item["joints"], dtype=np.float32)
            visibility = (np.asarray(item["joints_vis"], dtype=np.float32) > 0).astype(np.float32)
            center = np.asarray(item["center"], dtype=np.float32)
            scale = float(item["scale"])
            image_name = item["image"]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: person {index} lacks a valid field ({e}); each entry needs "
                             f"image, joints (16x2), joints_vis (16), center (2), scale") from None
        if keypoints.shape != (16, 2) or visibility.shape != (16,) or center.shape != (2,) or scale <= 0:
            raise ValueError(f"{path}: person {index} has joints {keypoints.shape}, joints_vis "
                             f"{visibility.shape}, center {center.shape}, scale {scale}; expected (16, 2), "
                             f"(16,), (2,), > 0")
        image_path = os.path.join(root, image_dir, image_name)
        size, visibility = checked_person(keypoints, visibility, image_path, index=index, strict=strict,
                                          report=report)
        if visibility is None:
            continue
        center = center + np.array([0.0, 15.0 * scale], dtype=np.float32)
        side = 200.0 * scale
        bbox = np.array([center[0] - side / 2, center[1] - side / 2, side, side], dtype=np.float32)
        if headboxes is not None:
            head_size = head_size_from_headbox(headboxes[index])
        else:
            neck, top = keypoints[MPII16.head_segment[0]], keypoints[MPII16.head_segment[1]]
            head_size = float(np.linalg.norm(neck - top))
            report.change("no MPII head box in the JSON: head size = upper-neck-head-top length")
        records.append(PersonInstance(image_path, keypoints, visibility, bbox, name, index, head_size, size))
    report.warn_if_anything()
    return PoseSet(name, records, MPII16, report, split, (path,))


def read_gt_val(path: str) -> dict:
    """mpii_gt_val.mat's arrays (headboxes_src 2x2xN, jnt_missing 16xN, pos_gt_src 16x2xN), shapes checked."""
    import scipy.io

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: not found; MPII's val split needs it for the official head boxes "
                                f"(`python -m kerasgp data fetch mpii`)")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises several types for a damaged file
        raise ValueError(f"{path}: not a readable MATLAB file ({e})") from None
    people = None
    for key, lead in GT_ARRAYS.items():
        if key not in mat:
            raise ValueError(f"{path}: no array {key!r}; mpii_gt_val.mat holds {sorted(GT_ARRAYS)}")
        shape = mat[key].shape
        people = shape[-1] if people is None else people
        if shape != (*lead, people):
            raise ValueError(f"{path}: {key} has shape {shape}; expected {(*lead, people)} "
                             f"(one column per val person)")
    return mat


def load_mpii_official(root: str, split: str = "val", strict: bool = False, name: str = "mpii") -> PoseSet:
    """MPII as `data fetch mpii` leaves it: annotations/mpii_{train,val}.json (mmpose) + images/.

    val: head size from mpii_gt_val.mat's official head boxes (0.6 x diagonal). train: mmpose's JSON has
    no head boxes, so the upper-neck-head-top length stands in (the report counts it)."""
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown mpii split {split!r}; known: {sorted(SPLIT_FILES)}")
    headboxes = None
    if split == "val":
        gt = read_gt_val(os.path.join(root, ANNOTATIONS, GT_VAL))
        headboxes = np.transpose(gt["headboxes_src"], (2, 0, 1))
    return load_mpii(root, f"{ANNOTATIONS}/{SPLIT_FILES[split]}", "images", strict, headboxes, name, split)


# ---- fetching: annotations checked by content, images streamed out of the archive ----

def _find_members(archive: Path, names) -> dict:
    import tarfile

    with tarfile.open(archive) as tar:
        found = {}
        for member in tar.getmembers():
            base = member.name.rstrip("/").rsplit("/", 1)[-1]
            if base in names and member.isfile():
                if base in found:
                    raise ValueError(f"{archive}: holds {base} twice ({found[base]}, {member.name})")
                found[base] = member.name
    missing = sorted(set(names) - set(found))
    if missing:
        raise ValueError(f"{archive}: no {', '.join(missing)} in the archive; mmpose's mpii_annotations.tar "
                         f"holds annotations/{{{', '.join(sorted(names))}}}")
    return found


def check_annotations(folder: Path, expected: dict | None) -> tuple[list, list, dict]:
    """Read and check mmpose's MPII annotations by content (no checksum is published for them): JSON lists
    of the expected lengths, mpii_gt_val.mat with one column per val person whose `pos_gt_src` agrees with
    mpii_val.json's joints (so its rows line up)."""
    splits = {}
    for split, file in SPLIT_FILES.items():
        items = read_json(str(folder / file))
        want = (expected or {}).get(split)
        if not isinstance(items, list) or (want is not None and len(items) != want):
            found = len(items) if isinstance(items, list) else type(items).__name__
            raise ChecksumError(f"{file}: {found} people; mmpose's MPII {split} annotations hold {want}")
        for index, item in enumerate(items):
            image = item.get("image") if isinstance(item, dict) else None
            if not isinstance(image, str) or not image or "/" in image or "\\" in image or image.startswith("."):
                raise ChecksumError(f"{file}: person {index} names the image {image!r}; expected a plain file "
                                    f"name such as 000001163.jpg")
        splits[split] = items
    gt = read_gt_val(str(folder / GT_VAL))
    val = splits["val"]
    if gt["pos_gt_src"].shape[-1] != len(val):
        raise ChecksumError(f"{GT_VAL}: {gt['pos_gt_src'].shape[-1]} val people; {SPLIT_FILES['val']} has {len(val)}")
    joints = np.asarray([p["joints"] for p in val], dtype=np.float64)  # (N, 16, 2)
    labelled = gt["jnt_missing"].T == 0
    error = np.abs(joints - np.transpose(gt["pos_gt_src"], (2, 0, 1))).max(axis=-1)
    off = (np.where(labelled, error, 0.0) > 1.0).any(axis=1)
    if off.mean() > 0.05:  # a few relabelled joints are tolerated; shuffled rows are not
        raise ChecksumError(f"{GT_VAL}: pos_gt_src disagrees with {SPLIT_FILES['val']}'s joints for "
                            f"{int(off.sum())} of {len(val)} people; its columns do not line up with the JSON")
    return splits["train"], val, gt


def _subset_count(option, default, available: int, split: str) -> int:
    n = default if option is None else int(option)
    if n < 0 or n > available:
        raise ValueError(f"MPII {split}: {n} people asked for; mmpose's {split} annotations hold {available} "
                         f"(0 to {available})")
    return n


class _CountingReader:
    """A response body that moves a tqdm bar by the bytes read (the archive is gzip: bytes, not files)."""

    def __init__(self, raw, bar):
        self.raw, self.bar = raw, bar

    def read(self, n=-1):
        block = self.raw.read(n)
        self.bar.update(len(block))
        return block


def stream_images(urls: list[str], wanted: set[str], folder: Path, progress: bool = True) -> str:
    """Stream a tar.gz of `images/<name>.jpg` from the first URL that works and write only the `wanted`
    file names into folder; stops reading once all are found. Every member read is checked as
    `safe_extract` does (no absolute path, no `..`, no link or device): one bad member refuses the archive
    (members after the last wanted image are never read, so never written either). Returns the URL
    used; raises DownloadError (every URL unreachable) or ChecksumError (an archive refused or lacking
    images), listing each URL and why."""
    import tarfile

    from tqdm.auto import tqdm

    failures, refused = [], False
    for url in urls:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        found = set()
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=f"{file_name(url)} ({len(wanted)} images)",
                          disable=not progress, leave=False) as bar, \
                        tarfile.open(fileobj=_CountingReader(response, bar), mode="r|gz") as tar:
                    for member in tar:
                        if _unsafe(member.name) or not (member.isfile() or member.isdir()):
                            raise ValueError(f"member {member.name!r} would write outside the data set or is a "
                                             f"link or device; refusing the archive")
                        parts = member.name.split("/")
                        if parts[0] == ".":
                            parts = parts[1:]
                        if member.isfile() and len(parts) == 2 and parts[0] == "images" and parts[1] in wanted:
                            source = tar.extractfile(member)
                            with open(folder / parts[1], "wb") as out:
                                shutil.copyfileobj(source, out, 1 << 20)
                            found.add(parts[1])
                            if found == wanted:
                                break  # the rest of the 12.9 GB is not needed
            if found != wanted:
                missing = sorted(wanted - found)
                shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
                raise ValueError(f"{len(missing)} of {len(wanted)} needed images are not in the archive: "
                                 f"images/{shown}")
            return url
        except ValueError as e:  # a refused or incomplete archive (tarfile.TarError is caught below)
            refused = True
            failures.append(f"{url}: {e}")
        except (urllib.error.URLError, OSError, EOFError, tarfile.TarError) as e:
            failures.append(f"{url}: {getattr(e, 'reason', None) or e}")
    shutil.rmtree(folder, ignore_errors=True)
    listed = "\n  ".join(failures)
    error = ChecksumError if refused else DownloadError
    raise error(f"no source of the MPII images gave the {len(wanted)} images needed:\n  {listed}", failures)


def _alternatives(source: dict) -> list[dict]:
    return [source, *source.get("alternatives", [])]


def fetch_mpii(spec: dict, dest, *, progress: bool = True, people: int | None = None,
               val_people: int | None = None, **_) -> Path:
    """`data fetch mpii [--people N] [--val-people M]`: MPII with the first N train people (default 1,000)
    and the first M val people (default all 2,958) of mmpose's annotations, in file order.

    spec: the manifest entry; its first source is mmpose's mpii_annotations.tar, its second the MPII images
    archive (mpii_human_pose_v1.tar.gz), each with optional alternatives; KERASGP_MIRROR is tried first.
    `expect_people` ({"train": 22246, "val": 2958}) checks the annotations, for which no checksum is
    published. The images archive is streamed once and only the kept people's images are written (whole
    images). dest gets annotations/ (the subset's mpii_train.json, mpii_val.json, and mpii_gt_val.mat with
    the kept val people's columns), images/ and subset.json (what was kept, from where)."""
    import scipy.io

    sources = spec.get("sources", [])
    if len(sources) != 2:
        raise ValueError(f"the mpii manifest entry needs two sources (annotations tar, images tar.gz); it has "
                         f"{len(sources)}")
    annotation_source, image_source = sources
    dest = Path(dest)
    with staged(dest) as tmp:
        work = tmp / ".download"
        work.mkdir()
        archive = work / "mpii_annotations.tar"
        used = download(_alternatives(annotation_source), archive, progress)
        names = [*SPLIT_FILES.values(), GT_VAL]
        members = _find_members(archive, names)
        safe_extract(archive, work / "raw", members=list(members.values()))
        raw = work / "raw" / "flat"
        raw.mkdir()
        for base, member in members.items():
            (work / "raw" / member).rename(raw / base)
        train, val, gt = check_annotations(raw, spec.get("expect_people"))

        n_train = _subset_count(people, min(DEFAULT_TRAIN_PEOPLE, len(train)), len(train), "train")
        n_val = _subset_count(val_people, len(val), len(val), "val")
        totals = {"train": len(train), "val": len(val)}
        train, val = train[:n_train], val[:n_val]
        wanted = {p["image"] for p in train} | {p["image"] for p in val}
        if not wanted:
            raise ValueError("no people asked for (people=0 and val_people=0); nothing to fetch")

        urls = [u for alt in _alternatives(image_source) for u in candidate_urls(alt["url"])]
        image_url = stream_images(urls, wanted, tmp / "images", progress)

        for name in sorted(wanted):
            image_size(str(tmp / "images" / name))  # a kept file must at least be a readable image

        out = tmp / ANNOTATIONS
        out.mkdir()
        for split, items in (("train", train), ("val", val)):
            with open(out / SPLIT_FILES[split], "w") as f:
                json.dump(items, f)
        kept = {k: v for k, v in gt.items() if not k.startswith("__")}
        for key in GT_ARRAYS:
            kept[key] = kept[key][..., :n_val]
        scipy.io.savemat(out / GT_VAL, kept)
        record = {"train_people": n_train, "val_people": n_val, "images": len(wanted),
                  "annotations": used["used_url"], "images_from": image_url,
                  "of": totals}
        with open(tmp / "subset.json", "w") as f:
            json.dump(record, f, indent=1)
        shutil.rmtree(work)
    return dest
