"""One way to build any backbone: `kerasgp.backbones.get(name, **kw)` (timm-style registry).

A backbone maps an image to a dict of named feature maps ("stride8", "stride16", "stride32", ...) and
knows nothing of the task; `include_top=True` gives the ImageNet-style classifier instead (used to pin
parameter counts against the reference implementations). `weights=` loads ported pretrained weights
(see kerasgp.weights): "shufflenet_v2_x0.5", "mobilenet_v2", or the path of a ported `.npz`.
"""
from __future__ import annotations

import random

from ..presets import PRESETS, pretrained
from ..weights import load_pretrained, resolve
from ..weights import port as port_weights
from .cspnet import csp_resnet, cspdarknet
from .elan import elan, elan_tiny
from .mobilenet_v2 import mobilenet_v2
from .quadranet import quadranet
from .resnet import plain, prn_resnet, resnet
from .shufflenet_v2 import shufflenet_v2
from .vovnet import vovnet

# The families; a named configuration of one ("shufflenet_v2_x0.5" == get("shufflenet_v2", width=0.5)) is a
# preset of kerasgp.presets, with its weights and preprocessing.
REGISTRY = {"shufflenet_v2": shufflenet_v2, "mobilenet_v2": mobilenet_v2, "elan": elan, "elan_tiny": elan_tiny,
            "vovnet": vovnet, "plain": plain, "resnet": resnet, "prn_resnet": prn_resnet, "csp_resnet": csp_resnet,
            "cspdarknet": cspdarknet, "quadranet": quadranet}


def names() -> list[str]:
    """The families, then the presets that are not a family's own name."""
    return sorted(REGISTRY) + sorted(name for name in PRESETS if name not in REGISTRY)


def get(name: str, weights: str | None = None, **kwargs):
    """Build backbone `name`; with `weights`, the architecture options the weights need are applied
    (and a conflicting option is an error) and the pretrained arrays are loaded."""
    if name in PRESETS and name not in REGISTRY:
        preset = PRESETS[name]
        name, kwargs = preset.family, {**preset.options, **kwargs}
    if name not in REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; known: {names()}")
    if weights is None:
        return REGISTRY[name](**kwargs)
    path, kwargs = resolve(name, weights, kwargs)
    if weights in pretrained() and not path.exists():
        port(weights)  # first use: the torch file -> .npz
    return load_pretrained(REGISTRY[name](**kwargs), path)


def port(weights: str, source=None, out=None):
    """Port pretrained `weights` (a preset with weights, `kerasgp.presets.pretrained()`) from their torch file to `.npz`,
    checked against the backbone built with the weights' options (`kerasgp.weights.port`); the path."""
    known = pretrained()
    if weights not in known:
        raise ValueError(f"no pretrained weights named {weights!r}; known: {sorted(known)}")
    preset = known[weights]
    # Building draws the initialisers' seeds from Python's global random state (keras.utils.set_random_seed
    # seeds it): restore it, so a training that ports the weights on first use initialises its head as every
    # later run does.
    state = random.getstate()
    try:
        model = REGISTRY[preset.family](**{**preset.weights.defaults, **preset.weights.options})
    finally:
        random.setstate(state)
    return port_weights(weights, model, source=source, out=out)


__all__ = ["get", "names", "port", "REGISTRY", "shufflenet_v2", "mobilenet_v2"]
