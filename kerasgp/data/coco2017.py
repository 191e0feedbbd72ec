"""COCO 2017 person keypoints (Lin et al., "Microsoft COCO", ECCV 2014) as subsets, without the 18 GB train zip.

    python -m kerasgp data fetch coco2017 --people 2000     # annotations, val2017, a 2,000-person train subset
    kerasgp.data.load("coco2017", split="val")             # val2017 people with keypoints (COCO-17)

`fetch_coco2017` downloads the manifest's two parts, each checked (size, sha256) before extraction:
annotations_trainval2017.zip, of which only annotations/person_keypoints_{train,val}2017.json are kept, and
val2017.zip, of which only the images that hold a person with keypoints are kept (the others are never read
by the loader or OKS AP). The train subset is the first images in image-id order that hold
non-crowd people with num_keypoints > 0, whole images only, up to `people` such people; they are fetched one
by one from the annotations' own coco_url fields (through `download`, so KERASGP_MIRROR serves them by file
name) and each must decode at the width and height its annotation gives. COCO publishes no per-image
checksums, so the decode check is what an image must pass. The chosen images and all their person
annotations are written as a COCO file, annotations/person_keypoints_train2017_subset.json, so loading
never parses the 238 MB train JSON. Everything is built in `staged(dest)`: a failure leaves nothing.

A later fetch re-uses what the last one kept (fetched.json records the sha256 of every kept file and of
the archives it came from): a larger `people` downloads only the new images, and the archives only when
a kept file is missing or changed.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

from .coco import load_coco
from .download import ChecksumError, download, file_name, safe_extract, sha256_of, staged
from .mpii import read_json

ANNOTATIONS_ZIP = "annotations_trainval2017.zip"
VAL_ZIP = "val2017.zip"
TRAIN_JSON = "annotations/person_keypoints_train2017.json"
VAL_JSON = "annotations/person_keypoints_val2017.json"
TRAIN_SUBSET_JSON = "annotations/person_keypoints_train2017_subset.json"
VAL_SUBSET_JSON = "annotations/person_keypoints_val2017_subset.json"
RECORD = "fetched.json"
DEFAULT_PEOPLE = 2000
TRAIN_URL = "http://images.cocodataset.org/train2017/"


def people_per_image(data: dict) -> collections.Counter:
    """image_id -> its people that train and score: non-crowd annotations with num_keypoints > 0."""
    return collections.Counter(a["image_id"] for a in data["annotations"]
                               if not a.get("iscrowd", 0) and a.get("num_keypoints", 0) > 0)


def choose_images(data: dict, people: int | None) -> tuple[list[int], int]:
    """The first image ids (sorted) holding people, whole images, while the people total stays within
    `people` (at least one image; None: every image) -> (image ids, people on them). A larger `people`
    gives a superset, so a later fetch re-uses the earlier images."""
    counts = people_per_image(data)
    chosen, total = [], 0
    for image_id in sorted(counts):
        if people is not None and chosen and total + counts[image_id] > people:
            break
        chosen.append(image_id)
        total += counts[image_id]
    return chosen, total


def subset(data: dict, image_ids, note: dict) -> dict:
    """A valid COCO keypoint file of these images and all their annotations (crowd and keypoint-less ones
    too, which COCOeval needs to ignore regions and unlabelled people); `note` goes into its "info"."""
    keep = set(image_ids)
    return {"info": {**data.get("info", {}), "kerasgp_subset": note}, "licenses": data.get("licenses", []),
            "images": [image for image in data["images"] if image["id"] in keep],
            "annotations": [a for a in data["annotations"] if a["image_id"] in keep],
            "categories": data["categories"]}


def check_image(path: Path, width: int, height: int, url: str) -> None:
    """The image must decode whole (PIL refuses a truncated file) at the annotation's width x height."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            size = image.size
    except Exception as e:  # PIL raises several types for a bad file
        raise ChecksumError(f"{url}: not a readable image ({e}); the download is corrupt or not the COCO "
                            f"image") from None
    if size != (width, height):
        raise ChecksumError(f"{url}: decodes to {size[0]}x{size[1]}, but its annotation gives {width}x{height}; "
                            f"not the COCO image")


def _safe_name(name: str, where: str) -> str:
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"{where}: image file name {name!r} is not a plain file name")
    return name


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, separators=(",", ":"))


class _Kept:
    """What the previous fetch in dest kept (its fetched.json), for re-use: a file is re-used only if its
    sha256 is the one recorded and, for a file from an archive, the archive is the one the manifest names."""

    def __init__(self, dest: Path):
        self.dest, self.record = dest, {}
        try:
            with open(dest / RECORD) as f:
                self.record = json.load(f)
        except (OSError, ValueError):
            pass

    def usable(self, rel: str, archive: str | None = None, archive_sha256: str | None = None) -> bool:
        digest = self.record.get("files", {}).get(rel)
        if not digest or not (self.dest / rel).is_file():
            return False
        if archive is not None and (not archive_sha256
                                    or self.record.get("archives", {}).get(archive) != archive_sha256):
            return False
        return sha256_of(self.dest / rel) == digest

    def link(self, rel: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(self.dest / rel, target)  # staging sits beside dest: same file system, no copy
        except OSError:
            shutil.copy2(self.dest / rel, target)


def _part(spec: dict, name: str) -> dict:
    for source in spec["sources"]:
        if file_name(source["url"]) == name:
            return source
    raise ValueError(f"the coco2017 manifest entry has no {name} source; it lists "
                     f"{[file_name(s['url']) for s in spec['sources']]}")


def _extract(spec: dict, name: str, members: list[str], tmp: Path, progress: bool) -> None:
    """Download part `name` (checked) into the staging folder, extract `members` from it, delete it."""
    source = _part(spec, name)
    parts = tmp / ".parts"
    parts.mkdir(exist_ok=True)
    archive = parts / name
    used = download([source, *source.get("alternatives", [])], archive, progress)["used_url"]
    extracted = set(safe_extract(archive, tmp, members))
    missing = sorted(set(members) - extracted)
    if missing:
        raise ValueError(f"{used}: the archive lacks {len(missing)} file(s) the data set needs, e.g. {missing[:3]}")
    archive.unlink()


def _count(value, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a whole number of people >= 1; got {value!r}")
    return value


def fetch_coco2017(spec: dict, dest, *, progress: bool = True, people: int | None = None,
                   val_people: int | None = None, workers: int = 8, **_) -> Path:
    """Fetch COCO 2017 person keypoints into dest (see the module docstring) -> dest.

    people: train people of the subset (whole images, default 2,000); val_people: keep only the first
    val2017 images (by id) up to this many people, written as person_keypoints_val2017_subset.json
    (None: every val2017 person with keypoints). workers: train images downloaded at once."""
    from tqdm.auto import tqdm

    people = _count(DEFAULT_PEOPLE if people is None else people, "people")
    val_people = _count(val_people, "val_people")
    dest = Path(dest)
    kept = _Kept(dest)
    sources = {name: _part(spec, name).get("sha256") for name in (ANNOTATIONS_ZIP, VAL_ZIP)}
    record = {"archives": sources, "people": people, "val_people": val_people, "files": {}}
    with staged(dest) as tmp:
        jsons = [TRAIN_JSON, VAL_JSON]
        if all(kept.usable(rel, ANNOTATIONS_ZIP, sources[ANNOTATIONS_ZIP]) for rel in jsons):
            for rel in jsons:
                kept.link(rel, tmp / rel)
        else:
            _extract(spec, ANNOTATIONS_ZIP, jsons, tmp, progress)

        val = read_json(str(tmp / VAL_JSON))
        val_ids, val_total = choose_images(val, val_people)
        val_files = {image["id"]: f"val2017/{_safe_name(image['file_name'], VAL_JSON)}" for image in val["images"]}
        val_members = [val_files[i] for i in val_ids]
        if all(kept.usable(rel, VAL_ZIP, sources[VAL_ZIP]) for rel in val_members):
            for rel in val_members:
                kept.link(rel, tmp / rel)
        else:
            _extract(spec, VAL_ZIP, val_members, tmp, progress)
        if val_people is not None:
            _write_json(tmp / VAL_SUBSET_JSON, subset(val, val_ids, {
                "requested_people": val_people, "people": val_total, "images": len(val_ids),
                "rule": "the first val2017 images by id holding non-crowd people with keypoints, whole images"}))
        del val

        train = read_json(str(tmp / TRAIN_JSON))  # 238 MB: parsed here once, never by the loader
        train_ids, train_total = choose_images(train, people)
        _write_json(tmp / TRAIN_SUBSET_JSON, subset(train, train_ids, {
            "requested_people": people, "people": train_total, "images": len(train_ids),
            "rule": "the first train2017 images by id holding non-crowd people with keypoints, whole images"}))
        images = {image["id"]: image for image in train["images"]}
        chosen = [images[i] for i in train_ids]
        del train, images

        def fetch_image(image: dict) -> None:
            rel = f"train2017/{_safe_name(image['file_name'], TRAIN_JSON)}"
            if kept.usable(rel):
                kept.link(rel, tmp / rel)
                return
            url = image.get("coco_url") or TRAIN_URL + image["file_name"]
            used = download([{"url": url, "sha256": None, "size": None}], tmp / rel, progress=False)["used_url"]
            check_image(tmp / rel, int(image["width"]), int(image["height"]), used)

        (tmp / "train2017").mkdir()
        with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool, \
                tqdm(total=len(chosen), desc="COCO train2017 images", unit="image", disable=not progress) as bar:
            futures = [pool.submit(fetch_image, image) for image in chosen]
            try:
                for future in concurrent.futures.as_completed(futures):
                    future.result()  # the first bad image stops the fetch; staged() removes everything
                    bar.update(1)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

        shutil.rmtree(tmp / ".parts", ignore_errors=True)
        for path in sorted(tmp.rglob("*")):
            if path.is_file():
                rel = path.relative_to(tmp).as_posix()
                record["files"][rel] = sha256_of(path)
        record.update({"train_people": train_total, "train_images": len(train_ids), "val_people_kept": val_total,
                       "val_images": len(val_ids)})
        _write_json(tmp / RECORD, record)
    if progress:
        print(f"coco2017: train subset {train_total:,} people on {len(train_ids):,} images (asked {people:,}); "
              f"val2017 {val_total:,} people on {len(val_ids):,} images", file=sys.stderr)
    return dest


def load_coco2017(root: str, split: str = "val", strict: bool = False, name: str = "coco2017"):
    """COCO 2017 person keypoints as fetched by `fetch_coco2017` (layout COCO17), people ordered by image id
    then annotation id. split "train": the fetched train subset; "val": the val2017 people with keypoints
    (the val subset when the fetch capped them). Read by `coco.load_coco`."""
    if split not in ("train", "val"):
        raise ValueError(f"unknown coco2017 split {split!r}; known: ['train', 'val']")
    if split == "train":
        annotation = TRAIN_SUBSET_JSON
        if not os.path.isfile(os.path.join(root, annotation)):
            raise FileNotFoundError(f"{root}: no {annotation}; the train subset is made by "
                                    f"`python -m kerasgp data fetch coco2017 --people N`")
    else:
        annotation = VAL_SUBSET_JSON if os.path.isfile(os.path.join(root, VAL_SUBSET_JSON)) else VAL_JSON
    people = load_coco(root, annotation, image_dir=f"{split}2017", strict=strict, name=name)
    ordered = sorted(people.records, key=lambda record: (record.image_id, record.annotation_id))
    return dataclasses.replace(people, records=ordered, split=split)
