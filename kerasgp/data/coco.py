"""COCO person keypoints through pycocotools (Lin et al., "Microsoft COCO", ECCV 2014).

Each annotation with keypoints is one person: keypoints (17, 3) as x, y, v with v = 0 unlabelled,
1 labelled but not visible, 2 visible; a joint is usable as a target when v > 0. Crowd annotations and
annotations without keypoints are skipped, and the report counts them.
"""
from __future__ import annotations

import contextlib
import io
import os

import numpy as np

from .images import image_size
from .layouts import COCO17
from .mpii import read_json
from .records import LoadReport, PersonInstance, PoseSet, check_keypoints_in_image


def coco_api(annotation_path: str):
    """A pycocotools COCO object, built from a JSON file whose errors name the file."""
    from pycocotools.coco import COCO

    data = read_json(annotation_path)
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ValueError(f"{annotation_path}: not a COCO annotation file (no {key!r} key)")
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        coco.createIndex()
    return coco


def load_coco(root: str, annotation: str, image_dir: str = "", strict: bool = False,
              name: str = "coco") -> PoseSet:
    path = os.path.join(root, annotation)
    coco = coco_api(path)
    report = LoadReport(source=name)
    records = []
    for index, ann_id in enumerate(sorted(coco.anns)):
        ann = coco.anns[ann_id]
        report.read += 1
        if ann.get("iscrowd", 0):
            report.skip("crowd annotation")
            continue
        raw = np.asarray(ann.get("keypoints", []), dtype=np.float32)
        if raw.size != 17 * 3:
            raise ValueError(f"{path}: annotation {ann_id} (person {index}) has {raw.size} keypoint values; "
                             f"expected 51 (17 x 3)")
        raw = raw.reshape(17, 3)
        keypoints, visibility = raw[:, :2].copy(), (raw[:, 2] > 0).astype(np.float32)
        if not visibility.any():
            report.skip("no labelled keypoint (num_keypoints = 0)")
            continue
        bbox = np.asarray(ann["bbox"], dtype=np.float32)
        if bbox.shape != (4,) or bbox[2] <= 0 or bbox[3] <= 0:
            raise ValueError(f"{path}: annotation {ann_id} (person {index}) has bbox {ann['bbox']}; expected x, y, w, h with w, h > 0")
        image = coco.imgs[ann["image_id"]]
        image_path = os.path.join(root, image_dir, image["file_name"])
        size = image_size(image_path, index)
        visibility = check_keypoints_in_image(keypoints, visibility, size, path=image_path, index=index,
                                              strict=strict, report=report)
        records.append(PersonInstance(image_path, keypoints, visibility, bbox, name, index,
                                      image_size=size, image_id=int(ann["image_id"]),
                                      area=float(ann.get("area", bbox[2] * bbox[3])), annotation_id=int(ann_id)))
    report.warn_if_anything()
    return PoseSet(name, records, COCO17, report, None, (path,))
