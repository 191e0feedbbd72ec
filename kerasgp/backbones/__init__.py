"""One way to build any backbone: `kerasgp.backbones.get(name, **kw)` (timm-style registry).

A backbone maps an image to a dict of named feature maps ("stride8", "stride16", "stride32", ...) and
knows nothing of the task; `include_top=True` gives the ImageNet-style classifier instead (used to pin
parameter counts against the reference implementations). `weights=` loads ported pretrained weights
(see kerasgp.weights): "shufflenet_v2_x0.5", "mobilenet_v2", or the path of a ported `.npz`.
"""
from __future__ import annotations

import random

from ..weights import PRETRAINED, load_pretrained, resolve
from ..weights import port as port_weights
from .cspnet import csp_resnet, cspdarknet
from .elan import elan, elan_tiny
from .mobilenet_v2 import mobilenet_v2
from .quadranet import quadranet
from .resnet import plain, prn_resnet, resnet
from .shufflenet_v2 import shufflenet_v2
from .vovnet import vovnet

REGISTRY = {"shufflenet_v2": shufflenet_v2, "mobilenet_v2": mobilenet_v2}
# Fixed-width aliases: "shufflenet_v2_x0.5" == get("shufflenet_v2", width=0.5).
ALIASES = {f"shufflenet_v2_x{w}": ("shufflenet_v2", {"width": w}) for w in (0.5, 1.0, 1.5, 2.0)}
REGISTRY.update({"elan": elan, "elan_tiny": elan_tiny, "vovnet": vovnet})
REGISTRY.update({"plain": plain, "resnet": resnet, "prn_resnet": prn_resnet, "csp_resnet": csp_resnet,
                 "cspdarknet": cspdarknet})
ALIASES["vovnet_planned"] = ("vovnet", {"plan": "planned"})  # only the last OSA of a stage has a transition
REGISTRY["quadranet"] = quadranet
# The official QuadraNet_tiny36_dw and QuadraNet_base_dw36 (C=64 / 128, depths [3, 3, 27, 3]).
ALIASES.update({"quadranet_tiny36": ("quadranet", {"width": 64, "depths": (3, 3, 27, 3)}),
                "quadranet_base36": ("quadranet", {"width": 128, "depths": (3, 3, 27, 3)})})


def names() -> list[str]:
    return sorted(REGISTRY) + sorted(ALIASES)


def get(name: str, weights: str | None = None, **kwargs):
    """Build backbone `name`; with `weights`, the architecture options the weights need are applied
    (and a conflicting option is an error) and the pretrained arrays are loaded."""
    if name in ALIASES:
        name, fixed = ALIASES[name]
        kwargs = {**fixed, **kwargs}
    if name not in REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; known: {names()}")
    if weights is None:
        return REGISTRY[name](**kwargs)
    path, kwargs = resolve(name, weights, kwargs)
    if weights in PRETRAINED and not path.exists():
        port(weights)  # first use: the torch file -> .npz
    return load_pretrained(REGISTRY[name](**kwargs), path)


def port(weights: str, source=None, out=None):
    """Port pretrained `weights` (a name in `kerasgp.weights.PRETRAINED`) from their torch file to `.npz`,
    checked against the backbone built with the weights' options (`kerasgp.weights.port`); the path."""
    if weights not in PRETRAINED:
        raise ValueError(f"no pretrained weights named {weights!r}; known: {sorted(PRETRAINED)}")
    spec = PRETRAINED[weights]
    # Building draws the initialisers' seeds from Python's global random state (keras.utils.set_random_seed
    # seeds it): restore it, so a training that ports the weights on first use initialises its head as every
    # later run does.
    state = random.getstate()
    try:
        model = REGISTRY[spec["family"]](**{**spec["defaults"], **spec["options"]})
    finally:
        random.setstate(state)
    return port_weights(weights, model, source=source, out=out)


__all__ = ["get", "names", "port", "REGISTRY", "shufflenet_v2", "mobilenet_v2"]
