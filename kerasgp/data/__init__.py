"""Real human-pose data: loaders for LSPET, MPII and COCO, the top-down crop pipeline, targets, cache.

    ds = kerasgp.data.load("lspet", split="train")       # PoseSet of PersonInstance records
    cache = kerasgp.data.build_cache(ds, input_size=(128, 128))
    batches = kerasgp.data.PoseBatches(cache, targets="heatmap", augment=True)
    model.fit(batches, epochs=...)
"""
from __future__ import annotations

from .cache import CropCache, build_cache, load_cache
from .coco import load_coco
from .sources import data_roots, fetch, find, info, locate
from .layouts import COCO17, LAYOUTS, LSP14, MPII16, MPII_TO_LSP, JointLayout, get_layout
from .lsp import SPLITS as LSPET_SPLITS
from .lsp import load_lsp
from .mpii import load_mpii
from .records import DataWarning, LoadReport, PersonInstance, PoseSet
from .transforms import Augment

# name -> (loader, keyword arguments); the folder is found by the data-root lookup.
_LOADERS = {
    "lspet": (load_lsp, {}),
    "mpii-sample": (load_mpii, {"annotation": "test_mpii.json"}),
    "coco-sample": (load_coco, {"annotation": "test_coco.json"}),
    "coco-mini": (load_coco, {"annotation": "annotations/person_keypoints_train2017.json", "image_dir": "train2017"}),
}
DATASETS = tuple(_LOADERS)


def load(name: str, split: str | None = None, root: str | None = None, strict: bool = False) -> PoseSet:
    """Load data set `name` (one of DATASETS) from `root` or the data-root lookup.

    split: LSPET only, "train" (first 6,000 people), "val" (next 2,000) or "all". strict: raise on a
    visible joint outside its image instead of marking it invisible and reporting it.
    """
    if name not in _LOADERS:
        raise ValueError(f"unknown data set {name!r}; known: {list(DATASETS)}")
    loader, kwargs = _LOADERS[name]
    root = str(root) if root is not None else str(locate(name))
    if name == "lspet":
        kwargs = {**kwargs, "split": split or "all"}
    elif split is not None:
        raise ValueError(f"{name} has no splits; split={split!r} applies to lspet only")
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
           "data_roots", "find", "locate", "fetch", "info"]
