"""Real human-pose data: loaders for LSPET, MPII and COCO, the top-down crop pipeline, targets, cache.

    ds = kerasgp.data.load("lspet", split="train")       # PoseSet of PersonInstance records
    cache = kerasgp.data.build_cache(ds, input_size=(128, 128))
    batches = kerasgp.data.PoseBatches(cache, targets="heatmap", augment=True)
    model.fit(batches, epochs=...)
"""
from __future__ import annotations

import importlib

from .cache import CropCache, build_cache, load_cache
from .coco import load_coco
from .sources import data_roots, fetch, find, info, locate
from .layouts import COCO17, LAYOUTS, LSP14, MPII16, MPII_TO_LSP, JointLayout, get_layout
from .lsp import SPLITS as LSPET_SPLITS
from .lsp import load_lsp
from .mpii import load_mpii
from .records import DataWarning, LoadReport, PersonInstance, PoseSet
from .transforms import Augment

# name -> (loader as "module:function" under kerasgp.data, keyword arguments, its splits or None, the split
# `evaluate` scores by default). A loader is imported when its data set is loaded.
_LOADERS = {
    "lspet": ("lsp:load_lsp", {}, ("train", "val", "test", "all"), "val"),
    "lsp": ("lsp:load_lsp_original", {}, ("train", "test", "all"), "test"),
    "coco2017": ("coco2017:load_coco2017", {}, ("train", "val"), "val"),
    "mpii": ("mpii:load_mpii_official", {}, ("train", "val"), "val"),
    "mpii-sample": ("mpii:load_mpii", {"annotation": "test_mpii.json"}, None, None),
    "coco-sample": ("coco:load_coco", {"annotation": "test_coco.json"}, None, None),
    "coco-mini": ("coco:load_coco", {"annotation": "annotations/person_keypoints_train2017.json",
                                     "image_dir": "train2017"}, None, None),
}
DATASETS = tuple(_LOADERS)


def splits_of(name: str) -> tuple[str, ...] | None:
    """The splits data set `name` knows (None: it has none; split it with the runner's split_by_image)."""
    if name not in _LOADERS:
        raise ValueError(f"unknown data set {name!r}; known: {list(DATASETS)}")
    return _LOADERS[name][2]


def default_split(name: str) -> str | None:
    """The split `python -m kerasgp evaluate` scores unless told (LSPET val, LSP test, ...)."""
    splits_of(name)
    return _LOADERS[name][3]


def load(name: str, split: str | None = None, root: str | None = None, strict: bool = False) -> PoseSet:
    """Load data set `name` (one of DATASETS) from `root` or the data-root lookup.

    split: one of `splits_of(name)` (LSPET: "train" = people 0-5,999, "val" = 6,000-7,999, "test" =
    8,000-9,999 where the file holds them, "all"); None loads "all" where it exists, else the loader's
    default. strict: raise on a visible joint outside its image instead of marking it invisible and
    reporting it."""
    splits = splits_of(name)
    target, kwargs, _, _ = _LOADERS[name]
    if splits is None and split is not None:
        raise ValueError(f"{name} has no splits (split={split!r}); data sets with splits: "
                         f"{[n for n in DATASETS if splits_of(n)]}")
    if splits is not None and split is not None and split not in splits:
        raise ValueError(f"unknown {name} split {split!r}; known: {list(splits)}")
    module, function = target.split(":")
    loader = getattr(importlib.import_module(f".{module}", __name__), function)
    root = str(root) if root is not None else str(locate(name))
    if splits is not None:
        kwargs = {**kwargs, "split": split or ("all" if "all" in splits else splits[0])}
    return loader(root, strict=strict, name=name, **kwargs)


def __getattr__(name):
    # PoseBatches needs Keras; import it only when asked, so `data info` and loaders stay light.
    if name == "PoseBatches":
        from .pipeline import PoseBatches

        return PoseBatches
    raise AttributeError(f"module 'kerasgp.data' has no attribute {name!r}")


__all__ = ["load", "DATASETS", "PoseSet", "PersonInstance", "LoadReport", "DataWarning", "JointLayout",
           "LSP14", "MPII16", "COCO17", "LAYOUTS", "MPII_TO_LSP", "get_layout", "load_lsp", "load_mpii",
           "load_coco", "LSPET_SPLITS", "build_cache", "load_cache", "CropCache", "PoseBatches", "Augment",
           "data_roots", "find", "locate", "fetch", "info", "splits_of", "default_split"]
