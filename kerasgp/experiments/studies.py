"""Studies: a base recipe plus named variants, each a short dict of overrides (mmpose style).

Every variant of a study trains on the same LSPET train split with the same augmentation, schedule and
seed; only its overrides differ, and its CSV row records them. Scales:
- "lesson": sized for a 2-core CPU (12 epochs at 128x128);
- "full": the same study larger, for a machine with a GPU;
- "smoke": a few batches, for the tests.
"""
from __future__ import annotations

BASE_RECIPE = {
    "data": "lspet",
    "backbone": "shufflenet_v2_x0.5",
    "backbone_options": {},  # keyword arguments for kerasgp.backbones.get (width, depth, plan, ...)
    "weights": "shufflenet_v2_x0.5",  # the ported pretrained backbone (kerasgp.weights)
    "head": "simcc",  # SA-SimDR: Gaussian 1-D targets, soft-label cross-entropy
    "feature": "stride32",
    # Two SimpleBaseline deconvs (stride 32 -> 8) and ScaleNorm tokens before the SimCC linear layers:
    # on the bare 4x4 map (16 values per joint) the loss stalled near 9; without ScaleNorm it diverged.
    "deconv_channels": (64, 64),
    "input_size": 128,
    "split_ratio": 2.0,
    "simcc_sigma": 3.0,  # bins; the seed's 6 at a 256 input, scaled to 128
    "epochs": 12,
    "batch_size": 32,
    "learning_rate": 1e-3,  # Adam, cosine decay to 0 over the run
    "augment": True,  # flip 0.5, scale +-0.25, rotation +-30 deg with p 0.6
    "seed": 0,
    "train_people": None,  # None: the whole train split (6,000)
    "val_people": None,  # None: the whole val split (2,000)
}

SCALES = {
    "lesson": {},
    "full": {"input_size": 256, "simcc_sigma": 6.0, "epochs": 60, "batch_size": 64},
    "smoke": {"input_size": 64, "simcc_sigma": 1.5, "epochs": 1, "batch_size": 16, "train_people": 64,
              "val_people": 64},
}


class Deferred:
    """An override computed when the recipe is built, not when this module is imported: e.g. an
    architecture that a search wrote to a file. Called with no arguments; its errors surface at
    `recipe()` (so `ablate` fails before any training), never at import."""

    def __init__(self, function, description: str):
        self.function, self.description = function, description

    def __call__(self):
        return self.function()

    def __repr__(self) -> str:
        return f"Deferred({self.description})"


def _found_quadranet(path: str = "results/search.json"):
    """A Deferred reading the backbone options of a search result (kerasgp.experiments.search)."""

    def options() -> dict:
        from .search import found_backbone_options

        return found_backbone_options(path)

    return Deferred(options, path)


STUDIES = {
    # Issue 3: what the ported ImageNet weights buy, and an outside-reference backbone.
    "pretraining": {
        "shufflenet_v2_x0.5_pretrained": {},
        "shufflenet_v2_x0.5_scratch": {"weights": None},
        "mobilenet_v2_pretrained": {"backbone": "mobilenet_v2", "weights": "mobilenet_v2"},
    },
    # Issue 4/5: ShuffleNetV2 against the gradient-path backbones at matched parameters (whole pose model
    # within 10% of ShuffleNetV2 1.0x's 1.46 M with this head), all from scratch: no ImageNet weights
    # exist offline for these families, so every row starts equal. Widths found with kerasgp.analysis.cost.
    "backbones": {
        "shufflenet_v2_x1.0": {"backbone": "shufflenet_v2_x1.0", "weights": None,
                               "backbone_options": {"include_conv5": False}},
        "resnet": {"backbone": "resnet", "weights": None, "backbone_options": {"width": 0.3125}},
        "prn_resnet": {"backbone": "prn_resnet", "weights": None, "backbone_options": {"width": 0.3125}},
        "csp_resnet": {"backbone": "csp_resnet", "weights": None, "backbone_options": {"width": 0.4375}},
        "elan_tiny": {"backbone": "elan_tiny", "weights": None, "backbone_options": {"width": 0.625}},
        "vovnet_planned": {"backbone": "vovnet_planned", "weights": None, "backbone_options": {"width": 0.1875}},
        # The rest of issue 5's families. ELAN's channels round to multiples of 8 and jump from -11% to +12%
        # between widths 0.25 and 0.26, so its row rounds to multiples of 4 instead.
        "plain": {"backbone": "plain", "weights": None, "backbone_options": {"width": 0.3125}},
        "cspdarknet": {"backbone": "cspdarknet", "weights": None, "backbone_options": {"width": 0.2}},
        "elan": {"backbone": "elan", "weights": None, "backbone_options": {"width": 0.26, "divisor": 4}},
        "vovnet": {"backbone": "vovnet", "weights": None, "backbone_options": {"width": 0.203125}},
    },
    # Issue 8, item 4: the network the hardware-aware search found (read from results/search.json, written
    # by `python -m kerasgp search run`) against hand-designed QuadraNets of uniform k7e4 blocks (the
    # paper's), made shallower or narrower to come as close as they can to the found network's measured
    # TFLite int8 latency (results/search_hand.json, kerasgp.experiments.search.hand_design_latency). On
    # LiteRT's XNNPACK a 7x7 int8 quadratic block costs ~40-80x a 5x5 one (results/quadranet_lut.csv), so
    # no uniform k7e4 net comes down to a found net's latency: the closest are one block at stride 32
    # (~1.1 ms) and the full depth at width 1 (~2.5 ms).
    # All from scratch (no QuadraNet weights exist offline), norm="batch" (the deployable variant); the
    # layernorm row is the shallow net with the official LayerNorm: the accuracy cost of the swap (item 1).
    "quadranet_search": {
        "searched": {"backbone": "quadranet", "weights": None, "backbone_options": _found_quadranet()},
        "uniform_k7e4_shallow": {"backbone": "quadranet", "weights": None,
                                 "backbone_options": {"width": 16, "depths": (0, 0, 0, 1), "norm": "batch"}},
        "uniform_k7e4_shallow_layernorm": {"backbone": "quadranet", "weights": None,
                                           "backbone_options": {"width": 16, "depths": (0, 0, 0, 1), "norm": "layer"}},
        "uniform_k7e4_narrow": {"backbone": "quadranet", "weights": None,
                                "backbone_options": {"width": 1, "depths": (2, 2, 4, 2), "norm": "batch"}},
        # A designer who knows the 7x7 penalty: uniform 3x3 blocks at the space's full depth, ~0.65 ms, the
        # closest hand design to the found net's ~0.6 ms (results/search_hand.json).
        "uniform_k3e2": {"backbone": "quadranet", "weights": None,
                         "backbone_options": {"width": 16, "depths": (2, 2, 4, 2), "kernel_size": 3, "expansion": 2,
                                              "norm": "batch"}},
        # The same search with a 10x larger lambda (`search run --latency-weight 5 --out ...`).
        "searched_lambda5": {"backbone": "quadranet", "weights": None,
                             "backbone_options": _found_quadranet("results/search_lambda5.json")},
        # The paper's design at the search space's full depth, no latency matching (~40 ms): what the
        # latency buys.
        "uniform_k7e4_full": {"backbone": "quadranet", "weights": None,
                              "backbone_options": {"width": 16, "depths": (2, 2, 4, 2), "norm": "batch"}},
    },
}


def recipe(study: str, variant: str, scale: str = "lesson") -> dict:
    if study not in STUDIES:
        raise ValueError(f"unknown study {study!r}; known: {sorted(STUDIES)}")
    if variant not in STUDIES[study]:
        raise ValueError(f"study {study!r} has no variant {variant!r}; it has {list(STUDIES[study])}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; known: {sorted(SCALES)}")
    merged = {**BASE_RECIPE, **SCALES[scale], **STUDIES[study][variant]}
    return {key: value() if isinstance(value, Deferred) else value for key, value in merged.items()}
