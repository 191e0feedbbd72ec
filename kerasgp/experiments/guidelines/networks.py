"""The benchmark networks of G1-G4 (10 blocks on a 56x56 map, batch 1, no BN and no bias; the package's
docstring says what we chose where the paper is silent) and the settings of every table."""
from __future__ import annotations

import math
from typing import NamedTuple

import keras
import numpy as np

from .paper import BLOCKS, INPUT_SIZE, PAPER, SCALES, WIDTHS


def _check_positive(**values) -> None:
    for key, value in values.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{key} must be a positive integer; got {value!r}")


def _input(channels: int, size: int):
    # Batch 1 and a concrete shape: TFLite gets static shapes (no Shape/StridedSlice ops).
    return keras.Input((size, size, channels), batch_size=1, name="features")


def _conv(filters: int, kernel_size: int = 1, name: str = "", groups: int = 1):
    return keras.layers.Conv2D(filters, kernel_size, padding="same", groups=groups, use_bias=False, name=name)


def g1_model(c1: int, c2: int, blocks: int = BLOCKS, size: int = INPUT_SIZE, name: str | None = None) -> keras.Model:
    """Table 1 (G1): `blocks` blocks of a 1x1 conv c1 -> c2 then a 1x1 conv c2 -> c1, on a size x size map."""
    _check_positive(c1=c1, c2=c2, blocks=blocks, size=size)
    inputs = _input(c1, size)
    x = inputs
    for i in range(blocks):
        x = _conv(c2, name=f"block{i}_conv1")(x)
        x = _conv(c1, name=f"block{i}_conv2")(x)
    return keras.Model(inputs, x, name=name or f"g1_{c1}_{c2}")


def g2_model(channels: int, groups: int, blocks: int = BLOCKS, size: int = INPUT_SIZE,
             name: str | None = None) -> keras.Model:
    """Table 2 (G2): `blocks` grouped 1x1 convs channels -> channels with `groups` groups (a block is one
    conv here: "stacking 10 pointwise group convolution layers")."""
    _check_positive(channels=channels, groups=groups, blocks=blocks, size=size)
    if channels % groups:
        raise ValueError(f"a grouped conv needs channels divisible by groups; got channels={channels}, groups={groups}")
    inputs = _input(channels, size)
    x = inputs
    for i in range(blocks):
        x = _conv(channels, groups=groups, name=f"block{i}_gconv")(x)
    return keras.Model(inputs, x, name=name or f"g2_{channels}_g{groups}")


def g3_widths(fragments: int, arrangement: str, channels: int) -> tuple[int, int]:
    """(block width, width of each conv's output) that give a block the 1-fragment block's FLOPs.

    Series: n convs w -> w with n*w^2 = c^2, w = round(c/sqrt(n)). Parallel: n convs c -> c/n, concatenated.
    """
    if arrangement not in ("series", "parallel"):
        raise ValueError(f"arrangement must be 'series' or 'parallel'; got {arrangement!r}")
    _check_positive(fragments=fragments, channels=channels)
    if arrangement == "series":
        width = max(1, round(channels / math.sqrt(fragments)))
        return width, width
    if channels % fragments:
        raise ValueError(f"a parallel block splits its {channels} output channels over {fragments} branches; "
                         "channels must be divisible by fragments")
    return channels, channels // fragments


def g3_model(fragments: int, arrangement: str = "series", channels: int = 64, blocks: int = BLOCKS,
             size: int = INPUT_SIZE, name: str | None = None) -> keras.Model:
    """Table 3 and appendix Fig. 1 (G3): `blocks` blocks of `fragments` 1x1 convs in series or in parallel,
    at the FLOPs of a 1-fragment block of width `channels` (widths: `g3_widths`)."""
    _check_positive(blocks=blocks, size=size)
    width, branch = g3_widths(fragments, arrangement, channels)
    inputs = _input(width, size)
    x = inputs
    for i in range(blocks):
        if arrangement == "series" or fragments == 1:
            for j in range(fragments):
                x = _conv(branch, name=f"block{i}_conv{j}")(x)
        else:
            branches = [_conv(branch, name=f"block{i}_branch{j}")(x) for j in range(fragments)]
            x = keras.layers.Concatenate(name=f"block{i}_concat")(branches)  # (1, H, W, fragments * c/n)
    return keras.Model(inputs, x, name=name or f"g3_{fragments}_{arrangement}_{channels}")


def g4_model(channels: int, relu: bool = True, shortcut: bool = True, blocks: int = BLOCKS, size: int = INPUT_SIZE,
             expansion: int = 4, name: str | None = None) -> keras.Model:
    """Table 4 (G4): `blocks` ResNet bottleneck units (He et al. 2016, Fig. 5 right) of width `channels`
    with a channels/expansion bottleneck: 1x1 -> 3x3 -> 1x1, ReLU after the first two convs and after the
    shortcut's Add (relu=False drops all three, shortcut=False drops the Add)."""
    _check_positive(channels=channels, blocks=blocks, size=size, expansion=expansion)
    if channels % expansion:
        raise ValueError(f"the bottleneck width is channels/expansion; got channels={channels}, expansion={expansion}")
    middle = channels // expansion
    inputs = _input(channels, size)
    x = inputs
    for i in range(blocks):
        y = _conv(middle, 1, name=f"block{i}_conv1")(x)
        if relu:
            y = keras.layers.ReLU(name=f"block{i}_relu1")(y)
        y = _conv(middle, 3, name=f"block{i}_conv2")(y)
        if relu:
            y = keras.layers.ReLU(name=f"block{i}_relu2")(y)
        y = _conv(channels, 1, name=f"block{i}_conv3")(y)
        if shortcut:
            y = keras.layers.Add(name=f"block{i}_add")([x, y])
        if relu:
            y = keras.layers.ReLU(name=f"block{i}_relu3")(y)
        x = y
    return keras.Model(inputs, x, name=name or f"g4_{channels}_{'relu' if relu else 'norelu'}_"
                                              f"{'shortcut' if shortcut else 'plain'}")


BUILDERS = {"G1": g1_model, "G2": g2_model, "G3": g3_model, "G4": g4_model}


class Setting(NamedTuple):
    """One network of one table: guideline, the paper's row label, scale (1, 2, 4) and the builder's
    kwargs (`BUILDERS[guideline](**kwargs)`)."""
    guideline: str
    setting: str
    scale: int
    kwargs: dict


def settings(widths: str = "arm") -> list[Setting]:
    """Every (guideline, setting, scale) network, at the widths of the paper's ARM or GPU column."""
    if widths not in WIDTHS:
        raise ValueError(f"widths must be one of {WIDTHS}; got {widths!r}")
    out = []
    for guideline, spec in PAPER.items():
        for label, cell in spec["settings"].items():
            width = cell[f"{widths}_width"]
            for scale in SCALES:
                if guideline == "G1":
                    kwargs = {"c1": width[0] * scale, "c2": width[1] * scale}
                elif guideline == "G2":
                    first = next(iter(spec["settings"].values()))[f"{widths}_width"]
                    channels = _divisible_width(width * scale, cell["kwargs"]["groups"], first * scale)
                    kwargs = {"channels": channels, **cell["kwargs"]}
                else:
                    kwargs = {"channels": width * scale, **cell["kwargs"]}
                out.append(Setting(guideline, label, scale, kwargs))
    return out


def _divisible_width(channels: int, groups: int, dense_channels: int) -> int:
    """`channels` if `groups` divides it, else the multiple of `groups` next to it whose FLOPs (c^2/g) are
    nearest the dense conv's (dense_channels^2). The paper's ARM column asks for c=180 at g=8, which no
    grouped conv can split; we build 184 (FLOPs +3.3%; 176 would be -5.5%)."""
    if channels % groups == 0:
        return channels
    below = channels // groups * groups
    return min((below, below + groups), key=lambda c: abs(c * c / groups - dense_channels ** 2))


SETTINGS = settings("arm")


def build(setting: Setting, blocks: int = BLOCKS, size: int = INPUT_SIZE) -> keras.Model:
    """The Keras model of one Setting (blocks and size other than the paper's only for quick checks)."""
    label = setting.setting.replace(":", "to").replace("=", "").replace("+", "_").replace("-", "_")
    return BUILDERS[setting.guideline](**setting.kwargs, blocks=blocks, size=size,
                                       name=f"{setting.guideline.lower()}_{label}_x{setting.scale}")


def _channels(setting: Setting) -> str:
    if setting.guideline == "G1":
        return f"{setting.kwargs['c1']}:{setting.kwargs['c2']}"
    if setting.guideline == "G3":
        width, branch = g3_widths(**{k: setting.kwargs[k] for k in ("fragments", "arrangement", "channels")})
        return str(width) if width == branch else f"{width}->{setting.kwargs['fragments']}x{branch}"
    if setting.guideline == "G4":
        return f"{setting.kwargs['channels']}/{setting.kwargs['channels'] // 4}"
    return str(setting.kwargs["channels"])
