"""QuadraNet (Xu, Chen et al., "QuadraNet: Improving High-Order Neural Interaction Efficiency with
Hardware-Aware Quadratic Neural Networks", ASP-DAC 2024, arXiv 2311.17956; Sec. III-B and Fig. 2 for the
block and the macro-architecture, Sec. IV for the hardware-aware search space).

The layout is the official code's `QuadraNet` class (ConvNeXt's macro-architecture):
- stem: 4×4 stride-4 conv to C channels + norm;
- four stages of widths [C, 2C, 4C, 8C], depths e.g. [3, 3, 27, 3] or [2, 3, 18, 2], of QuadraBlocks
  (`kerasgp.layers.quadra_block`, official `QuadraBlock1_dw`: 7×7 quadratic depthwise conv, expansion 4);
- between stages: norm + 2×2 stride-2 conv (with bias);
- include_top: global average pool + norm + Dense(num_classes). The official `QuadraNet_tiny36_dw`
  (C=64, [3,3,27,3]) has 23,598,824 parameters and `QuadraNet_base_dw36` (C=128) 90,450,408; the
  tests pin both.
Every conv and linear weight starts from a truncated normal of std 0.02 and every bias at zero, as the
official `_init_weights` (timm's trunc_normal_ cuts at ±2 absolute, Keras' at ±2 std: with std 0.02
nothing is cut by the former, 4.6% redrawn by the latter).

Not in the official code:
- norm="batch": every LayerNorm (stem, downsamplers, blocks, final) becomes a BatchNorm, the variant
  that converts to TFLite builtins in int8 (the LayerNorm one keeps float ops).
- Without include_top: the dict of feature maps "stride4" ... "stride32" (the outputs of the four
  stages), as every backbone of the registry.
- arch: a per-position choice of block (the search space of the paper's hardware-aware search, Sec. IV:
  kernel {3, 5, 7} × expansion {2, 4} or identity), written as codes "k5e2" or "skip"; a "skip" position
  has no block at all. Drop path (stochastic depth) is left out.
"""
from __future__ import annotations

import re

import keras

from ..layers.quadratic import check_norm, fresh_initializer, norm_layer, quadra_block

# The search space of the hardware-aware search: QuadraBlock with kernel {3,5,7} x expansion {2,4}, or none.
BLOCK_CODES = ("k3e2", "k3e4", "k5e2", "k5e4", "k7e2", "k7e4", "skip")
SKIP = "skip"
_CODE = re.compile(r"k(\d+)e(\d+)")
# The official code's initialisation (timm trunc_normal_(std=.02) on every Conv2d and Linear).
OFFICIAL_INITIALIZER = {"class_name": "TruncatedNormal", "config": {"mean": 0.0, "stddev": 0.02}}


def parse_block_code(code: str):
    """"k5e2" -> (kernel_size, expansion) = (5, 2); "skip" -> None (identity: no block)."""
    if code == SKIP:
        return None
    match = _CODE.fullmatch(code) if isinstance(code, str) else None
    if match is None or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ValueError(f"a block code is 'k<kernel>e<expansion>' (e.g. one of {BLOCK_CODES}) or 'skip'; "
                         f"got {code!r}")
    return int(match.group(1)), int(match.group(2))


def check_arch(arch) -> list[list[str]]:
    """An arch as 4 lists of valid block codes (one list per stage); ValueError otherwise."""
    if isinstance(arch, str) or not hasattr(arch, "__len__") or len(arch) != 4:
        raise ValueError(f"arch must be a list of 4 lists of block codes (one per stage); got {arch!r}")
    stages = []
    for stage in arch:
        if isinstance(stage, str) or not hasattr(stage, "__iter__"):
            raise ValueError(f"each stage of arch must be a list of block codes; got {stage!r} in {arch!r}")
        stage = list(stage)
        for code in stage:
            parse_block_code(code)
        stages.append(stage)
    return stages


def arch_to_string(arch) -> str:
    """[["k7e4", "skip"], ["k3e2"], [], ["k5e4"]] -> "k7e4,skip|k3e2||k5e4" (stages split by "|")."""
    return "|".join(",".join(stage) for stage in check_arch(arch))


def arch_from_string(text: str) -> list[list[str]]:
    """The inverse of `arch_to_string`."""
    if not isinstance(text, str) or text.count("|") != 3:
        raise ValueError(f"an arch string has 4 stages split by '|' (e.g. 'k7e4,skip|k3e2||k5e4'); got {text!r}")
    return check_arch([[code for code in stage.split(",") if code] for stage in text.split("|")])


def uniform_arch(depths=(3, 3, 27, 3), kernel_size: int = 7, expansion: int = 4) -> list[list[str]]:
    """The hand-designed network as an arch: every position the same block."""
    return [[f"k{kernel_size}e{expansion}"] * depth for depth in depths]


def quadranet(width: int = 64, depths=(3, 3, 27, 3), kernel_size: int = 7, expansion: int = 4, norm: str = "layer",
              arch=None, input_shape=(None, None, 3), include_top: bool = False, num_classes: int = 1000,
              layer_scale: float = 1e-6, name: str | None = None) -> keras.Model:
    """QuadraNet of base width C=`width` (stages [C, 2C, 4C, 8C]); see the module docstring.

    arch (optional): 4 lists of block codes ("k3e2" ... "k7e4", "skip"); overrides depths, kernel_size and
    expansion. norm: "layer" (official) or "batch" (deployable to TFLite int8).
    """
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be an integer >= 1, got {width!r}")
    check_norm(norm)
    if arch is None:
        if len(depths) != 4 or any(not isinstance(d, int) or d < 0 for d in depths):
            raise ValueError(f"depths must be 4 integers >= 0, got {depths!r}")
        arch = uniform_arch(depths, kernel_size, expansion)
        default_name = f"quadranet_c{width}_d{'-'.join(map(str, depths))}_k{kernel_size}e{expansion}"
    else:
        arch = check_arch(arch)
        default_name = f"quadranet_c{width}_searched"
    if norm == "batch":
        default_name += "_bn"
    dims = [width, 2 * width, 4 * width, 8 * width]

    inputs = keras.Input(input_shape, name="image")
    x = keras.layers.Conv2D(dims[0], 4, strides=4, kernel_initializer=fresh_initializer(OFFICIAL_INITIALIZER), name="stem_conv")(inputs)
    x = norm_layer(norm, "stem_norm")(x)
    features = {}
    for stage, (channels, codes) in enumerate(zip(dims, arch), start=1):
        if stage > 1:
            x = norm_layer(norm, f"down{stage}_norm")(x)
            x = keras.layers.Conv2D(channels, 2, strides=2, kernel_initializer=fresh_initializer(OFFICIAL_INITIALIZER), name=f"down{stage}_conv")(x)
        for position, code in enumerate(codes):
            choice = parse_block_code(code)
            if choice is None:  # identity: the position holds no block
                continue
            x = quadra_block(x, kernel_size=choice[0], expansion=choice[1], norm=norm, layer_scale=layer_scale,
                             kernel_initializer=fresh_initializer(OFFICIAL_INITIALIZER), name=f"stage{stage}_block{position}")
        features[f"stride{2 ** (stage + 1)}"] = x
    name = name or default_name
    if not include_top:
        return keras.Model(inputs, features, name=name)
    x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = norm_layer(norm, "head_norm")(x)
    logits = keras.layers.Dense(num_classes, kernel_initializer=fresh_initializer(OFFICIAL_INITIALIZER), name="head_fc")(x)
    return keras.Model(inputs, logits, name=name)


__all__ = ["quadranet", "parse_block_code", "arch_to_string", "arch_from_string", "uniform_arch", "check_arch",
           "BLOCK_CODES"]
