"""ShuffleNetV2's four guideline experiments, re-run on this machine (Ma, Zhang, Zheng, Sun, "ShuffleNet V2:
Practical Guidelines for Efficient CNN Architecture Design", ECCV 2018, Sec. 2, Tables 1-4, and the appendix
figure of the G3 building blocks; numbers from arXiv:1807.11164).

    python -m kerasgp guidelines --only G1,G3 --scales 1,2 --runtimes keras,tflite-int8 --runs 30

Each benchmark network stacks 10 blocks on a 56x56 feature map (batch 1, fixed shape):
- G1 (Table 1), equal channel width minimises memory access cost: a block is a 1x1 conv c1 -> c2 then a
  1x1 conv c2 -> c1; the four ratios 1:1, 1:2, 1:6, 1:12 keep c1*c2, hence the FLOPs, about fixed.
- G2 (Table 2), excessive group convolution increases MAC: 10 grouped 1x1 convs c -> c with g = 1, 2, 4, 8;
  c grows with g so that c*c/g, hence the FLOPs, stays about fixed.
- G3 (Table 3 and appendix Fig. 1), fragmentation reduces parallelism: a block of 1, 2 or 4 1x1 convs,
  in series or in parallel, at the FLOPs of the 1-fragment block of width c.
- G4 (Table 4), element-wise operations are not free: ResNet's bottleneck (1x1 -> 3x3 -> 1x1, ReLU after
  each and a shortcut), with the ReLUs and the shortcut removed separately.

What we chose where the paper is silent (simplifications, said here once):
- No BatchNorm and no bias anywhere: the paper times inference with "tensor fusion" on, where a BN folds
  into the conv; a bias would add an element-wise AddBias, which is G4's subject, not G1-G3's.
- G1-G3 have no activations: the paper names only the convolutions.
- Widths: the paper gives one set of widths for its GPU column and a smaller one for its ARM ("CPU")
  column. We time on a CPU with one thread (TFLite), so `widths="arm"` (the default) builds the ARM
  column's networks; `widths="gpu"` builds the GPU column's (16x the MACs in G1).
- x2 and x4 multiply every width by 2 and 4 (the paper's columns: its ARM speeds fall ~4x per step).
- G1: the paper's integer channel pairs equalise FLOPs only within ~5.5% (c1*c2 = 1024, 968, 1014, 972
  at ARM x1); we keep its pairs, and `macs_ratio` in the results shows the spread.
- G3: the appendix figure draws the arrangement only. Series: n convs of width round(c/sqrt(n)), so the
  block has the 1-fragment's FLOPs. Parallel: n branches read the block input (width c) and write c/n
  channels each, joined by a Concatenate as in an Inception block, so the block's width stays c and the
  FLOPs equal the 1-fragment's without an element-wise merge (which would mix G4 into G3). The merge
  op is our reading of the figure.
- G4: "c is the number of channels in unit": the unit's input/output width, with ResNet's bottleneck
  width c/4 (the paper's ARM speeds fit this: with a c-wide bottleneck the ARM would run 4x faster than
  in Table 2). ReLU follows each of the first two convs and the shortcut's Add, as in ResNet v1;
  without the shortcut the third ReLU follows the last conv.

Runtimes: "keras" is Keras 3's compiled predict function (`predict_on_batch`, a tf.function on the
TensorFlow backend) with the backend's default threads (all cores); "tflite-float32" and "tflite-int8"
are the model converted by `kerasgp.deploy.convert` (int8 calibrated on seeded random-normal inputs) and
timed by `kerasgp.deploy.bench.measure` with one thread. The point of each table is the ratio between
settings timed in the same run (`relative_speed`), which is what stands beside the paper's ratios; the
absolute speeds depend on the machine and on what else it was running. So that a load that changes
during a run does not skew those ratios, the settings of one table column take turns, in `rounds`
rounds of runs/rounds timed runs each (the paper averaged 100 runs per network; we report medians).
"""
from __future__ import annotations

import datetime
import math
import os
import tempfile
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np

from ..analysis import cost
from ..deploy import convert
from ..deploy.bench import measure
from ..machine import describe
from .timing import keras_latency

GUIDELINES = ("G1", "G2", "G3", "G4")
SCALES = (1, 2, 4)
RUNTIMES = ("keras", "tflite-float32", "tflite-int8")
WIDTHS = ("arm", "gpu")
INPUT_SIZE = 56  # "Input image size is 56 x 56" (captions of Tables 1-3)
BLOCKS = 10  # "stacking 10 building blocks" (Sec. 2, G1-G4)
REPRESENTATIVE_SAMPLES = 8

# The paper's figures (arXiv:1807.11164, Sec. 2, Tables 1-4). "gpu": batches/s on one GTX 1080Ti with
# CUDNN 7.0 (the batch size is not stated in Sec. 2; Fig. 1 uses 8); "arm": images/s on a Qualcomm
# Snapdragon 810, one thread (Tables 2-4 head this column "CPU"). Speeds are (x1, x2, x4). "gpu_width" and
# "arm_width" are the x1 widths of each column: (c1, c2) in G1, c elsewhere. "kwargs" are the builder
# arguments that do not scale.
PAPER = {
    "G1": {"table": 1, "title": "equal channel width minimises memory access cost", "settings": {
        "1:1": {"gpu_width": (128, 128), "arm_width": (32, 32), "gpu": (1480, 723, 232), "arm": (76.2, 21.7, 5.3)},
        "1:2": {"gpu_width": (90, 180), "arm_width": (22, 44), "gpu": (1296, 586, 206), "arm": (72.9, 20.5, 5.1)},
        "1:6": {"gpu_width": (52, 312), "arm_width": (13, 78), "gpu": (876, 489, 189), "arm": (69.1, 17.9, 4.6)},
        "1:12": {"gpu_width": (36, 432), "arm_width": (9, 108), "gpu": (748, 392, 163), "arm": (57.6, 15.1, 4.4)},
    }},
    "G2": {"table": 2, "title": "excessive group convolution increases MAC", "settings": {
        "g=1": {"gpu_width": 128, "arm_width": 64, "kwargs": {"groups": 1}, "gpu": (2451, 1289, 437),
                "arm": (40.0, 10.2, 2.3)},
        "g=2": {"gpu_width": 180, "arm_width": 90, "kwargs": {"groups": 2}, "gpu": (1725, 873, 341),
                "arm": (35.0, 9.5, 2.2)},
        "g=4": {"gpu_width": 256, "arm_width": 128, "kwargs": {"groups": 4}, "gpu": (1026, 644, 338),
                "arm": (32.9, 8.7, 2.1)},
        "g=8": {"gpu_width": 360, "arm_width": 180, "kwargs": {"groups": 8}, "gpu": (634, 445, 230),
                "arm": (27.8, 7.5, 1.8)},
    }},
    "G3": {"table": 3, "title": "network fragmentation reduces the degree of parallelism", "settings": {
        "1-fragment": {"gpu_width": 128, "arm_width": 64, "kwargs": {"fragments": 1, "arrangement": "series"},
                       "gpu": (2446, 1274, 434), "arm": (40.2, 10.1, 2.3)},
        "2-fragment-series": {"gpu_width": 128, "arm_width": 64, "kwargs": {"fragments": 2, "arrangement": "series"},
                              "gpu": (1790, 909, 336), "arm": (38.6, 10.1, 2.2)},
        "4-fragment-series": {"gpu_width": 128, "arm_width": 64, "kwargs": {"fragments": 4, "arrangement": "series"},
                              "gpu": (752, 745, 349), "arm": (38.4, 10.1, 2.3)},
        "2-fragment-parallel": {"gpu_width": 128, "arm_width": 64,
                                "kwargs": {"fragments": 2, "arrangement": "parallel"},
                                "gpu": (1537, 803, 320), "arm": (33.4, 9.1, 2.2)},
        "4-fragment-parallel": {"gpu_width": 128, "arm_width": 64,
                                "kwargs": {"fragments": 4, "arrangement": "parallel"},
                                "gpu": (691, 572, 292), "arm": (35.0, 8.4, 2.1)},
    }},
    "G4": {"table": 4, "title": "element-wise operations are non-negligible", "settings": {
        "relu+shortcut": {"gpu_width": 32, "arm_width": 32, "kwargs": {"relu": True, "shortcut": True},
                          "gpu": (2427, 2066, 1436), "arm": (56.7, 16.9, 5.0)},
        "relu": {"gpu_width": 32, "arm_width": 32, "kwargs": {"relu": True, "shortcut": False},
                 "gpu": (2647, 2256, 1735), "arm": (61.9, 18.8, 5.2)},
        "shortcut": {"gpu_width": 32, "arm_width": 32, "kwargs": {"relu": False, "shortcut": True},
                     "gpu": (2672, 2121, 1458), "arm": (57.3, 18.2, 5.1)},
        "neither": {"gpu_width": 32, "arm_width": 32, "kwargs": {"relu": False, "shortcut": False},
                    "gpu": (2842, 2376, 1782), "arm": (66.3, 20.2, 5.4)},
    }},
}

COLUMNS = ("guideline", "table", "setting", "scale", "widths", "channels", "macs", "macs_ratio", "memory_access",
           "params", "runtime", "threads", "runs", "median_ms", "p90_ms", "images_per_s", "relative_speed",
           "paper_gpu_batches_per_s", "paper_arm_images_per_s", "paper_gpu_relative", "paper_arm_relative",
           "device", "arch", "runtime_package", "xnnpack", "date")


# ---------------------------------------------------------------------------------------------- builders

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


# ---------------------------------------------------------------------------------------------- settings

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


# ---------------------------------------------------------------------------------------------- timing

def _keras_timer(model):
    """A function (runs, warmup) -> timing dict for Keras' compiled predict function on `model`."""
    backend = keras.backend.backend()
    # The backend's default intra-op threads: every core (TensorFlow, XLA on CPU and torch alike).
    info = {"threads": os.cpu_count(), "xnnpack": None,
            "runtime_package": f"keras {keras.__version__} ({backend} {_package_version(backend)}, default threads)"}
    return lambda runs, warmup: {**keras_latency(model, runs=runs, warmup=warmup), **info}


def _tflite_timer(model, mode: str, folder: Path, seed: int):
    """Convert `model` once (`kerasgp.deploy.convert`); a function (runs, warmup) -> timing dict that times
    the `.tflite` with one thread (`kerasgp.deploy.bench.measure`)."""
    representative = None
    if mode == "int8":
        # Synthetic networks have no data: calibrate on seeded random-normal feature maps.
        shape = tuple(model.input_shape[1:])
        representative = np.random.default_rng(seed).normal(size=(REPRESENTATIVE_SAMPLES, *shape)).astype("float32")
    path = folder / f"{model.name}_{mode}.tflite"
    convert(model, mode=mode, representative=representative, out=path)

    def timer(runs, warmup):
        result = measure(str(path), threads=1, runs=runs, warmup=warmup)
        return {"median_ms": result["median_ms"], "p90_ms": result["p90_ms"], "threads": 1,
                "runtime_package": result["runtime"], "xnnpack": result["xnnpack"], "device": result["cpu"],
                "arch": result["arch"]}
    return timer


def _interleaved(timers: dict, runs: int, warmup: int, rounds: int) -> dict:
    """Time every timer in `rounds` rounds of runs/rounds runs each, the settings taking turns (the order
    reversed every other round), so a load that drifts over the minutes of a run (other processes on a
    shared machine) shifts all settings of a table alike instead of skewing their ratios. Returns, per
    key, the last round's dict with median_ms and p90_ms replaced by the medians of the rounds' figures."""
    rounds = max(1, min(rounds, runs))
    per_round = max(1, runs // rounds)
    results = {key: [] for key in timers}
    order = list(timers)
    for r in range(rounds):
        for key in (order if r % 2 == 0 else order[::-1]):
            # A full warm-up the first time; later rounds re-create an interpreter, which needs one call.
            results[key].append(timers[key](per_round, warmup if r == 0 else 1))
    return {key: {**parts[-1], "median_ms": float(np.median([p["median_ms"] for p in parts])),
                  "p90_ms": float(np.median([p["p90_ms"] for p in parts])), "runs": per_round * rounds}
            for key, parts in results.items()}


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    for candidate in (name, f"{name}-cpu", f"{name}_cpu"):
        try:
            return version(candidate)
        except PackageNotFoundError:
            continue
    return "unknown"


# ---------------------------------------------------------------------------------------------- runner

def _check_choice(kind: str, given, allowed) -> tuple:
    given = tuple(given)
    bad = [g for g in given if g not in allowed]
    if bad or not given:
        raise ValueError(f"{kind} must be a non-empty subset of {tuple(allowed)}; got {given}")
    return given


def run(guidelines=GUIDELINES, scales=SCALES, runtimes=RUNTIMES, runs: int = 30, out="results/guidelines.csv",
        progress: bool = True, warmup: int = 5, widths: str = "arm", rounds: int = 5, seed: int = 0):
    """Time every setting of `guidelines` at `scales` on each of `runtimes`; one row per
    (guideline, setting, scale, runtime) with the COLUMNS above; writes the CSV to `out` (overwritten;
    None for no file) and returns the pandas DataFrame.

    The settings of one table column (guideline, scale, runtime) are timed in `rounds` interleaved rounds
    of runs/rounds runs (see `_interleaved`): median_ms and p90_ms are the medians of the rounds' median
    and p90, `runs` the runs timed in all. relative_speed = images_per_s / images_per_s of the guideline's
    first setting (1:1, g=1, 1-fragment, relu+shortcut) at the same scale and runtime, in this run;
    paper_*_relative is the same ratio of the paper's figures; macs_ratio the MACs ratio to that setting.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    guidelines = _check_choice("guidelines", guidelines, GUIDELINES)
    scales = _check_choice("scales", (int(s) for s in scales), SCALES)
    runtimes = _check_choice("runtimes", runtimes, RUNTIMES)
    if runs < 1 or warmup < 0 or rounds < 1:
        raise ValueError(f"runs must be >= 1, warmup >= 0 and rounds >= 1; got runs={runs}, warmup={warmup}, "
                         f"rounds={rounds}")
    columns = {}  # (guideline, scale) -> the settings of that table column, in the paper's order
    for setting in settings(widths):
        if setting.guideline in guidelines and setting.scale in scales:
            columns.setdefault((setting.guideline, setting.scale), []).append(setting)
    machine = describe()
    date = datetime.datetime.now().isoformat(timespec="seconds")
    rows = []
    bar = tqdm(total=sum(map(len, columns.values())) * len(runtimes), desc="guidelines", unit="network",
               disable=not progress)
    with tempfile.TemporaryDirectory(prefix="kerasgp-guidelines-") as folder:
        for (guideline, scale), members in columns.items():
            models = {setting.setting: build(setting) for setting in members}  # by the paper's row label
            reports = {label: cost(model) for label, model in models.items()}
            for runtime in runtimes:
                bar.set_postfix_str(f"{guideline} x{scale} {runtime}")
                if runtime == "keras":
                    timers = {label: _keras_timer(model) for label, model in models.items()}
                else:
                    timers = {label: _tflite_timer(model, runtime.split("-", 1)[1], Path(folder), seed)
                              for label, model in models.items()}
                timings = _interleaved(timers, runs, warmup, rounds)
                for setting in members:
                    timing, report = timings[setting.setting], reports[setting.setting]
                    cell = PAPER[guideline]["settings"][setting.setting]
                    index = SCALES.index(scale)
                    rows.append({
                        "guideline": guideline, "table": PAPER[guideline]["table"], "setting": setting.setting,
                        "scale": scale, "widths": widths, "channels": _channels(setting), "macs": report.macs,
                        "memory_access": report.memory_access, "params": report.params, "runtime": runtime,
                        "threads": timing["threads"], "runs": timing["runs"],
                        "median_ms": round(timing["median_ms"], 4), "p90_ms": round(timing["p90_ms"], 4),
                        "images_per_s": round(1000.0 / timing["median_ms"], 3),
                        "paper_gpu_batches_per_s": cell["gpu"][index], "paper_arm_images_per_s": cell["arm"][index],
                        "device": timing.get("device") or machine["cpu"],
                        "arch": timing.get("arch") or machine["arch"],
                        "runtime_package": timing["runtime_package"], "xnnpack": timing["xnnpack"], "date": date,
                    })
                    bar.update(1)
            del models, timers
            keras.backend.clear_session()  # drop the traced predict functions of the finished column
    bar.close()
    frame = _add_ratios(pd.DataFrame(rows))
    if out:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out, index=False)
    return frame


def _add_ratios(frame):
    """relative_speed, macs_ratio and the paper's ratios, each against the guideline's first setting at the
    same scale (and runtime)."""
    import pandas as pd

    if frame.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    first = {g: next(iter(spec["settings"])) for g, spec in PAPER.items()}
    base = frame[frame["setting"] == frame["guideline"].map(first)]
    keys = ["guideline", "scale", "runtime"]
    base = base[keys + ["images_per_s", "macs", "paper_gpu_batches_per_s", "paper_arm_images_per_s"]]
    merged = frame.merge(base, on=keys, how="left", suffixes=("", "_first"))
    merged["relative_speed"] = (merged["images_per_s"] / merged["images_per_s_first"]).round(3)
    merged["macs_ratio"] = (merged["macs"] / merged["macs_first"]).round(4)
    for paper, column in (("paper_gpu_relative", "paper_gpu_batches_per_s"),
                          ("paper_arm_relative", "paper_arm_images_per_s")):
        merged[paper] = (merged[column] / merged[f"{column}_first"]).round(3)
    return merged[list(COLUMNS)]


# ---------------------------------------------------------------------------------------------- reporting

def table(df, guideline: str, value: str = "images_per_s"):
    """A pivot shaped like the paper's table: one row per setting (the paper's order), columns
    (source, scale) with our `value` per runtime and the paper's GPU and ARM figures.

    value="images_per_s": ours in images/s, the paper's GPU in batches/s and ARM in images/s;
    value="relative_speed": every figure as a ratio to the guideline's first setting (the tables' point).
    """
    import pandas as pd

    if guideline not in PAPER:
        raise ValueError(f"guideline must be one of {GUIDELINES}; got {guideline!r}")
    if value not in ("images_per_s", "relative_speed"):
        raise ValueError(f"value must be 'images_per_s' or 'relative_speed'; got {value!r}")
    rows = df[df["guideline"] == guideline]
    if rows.empty:
        raise ValueError(f"no rows for {guideline} in the results (guidelines present: "
                         f"{sorted(df['guideline'].unique())})")
    order = [s for s in PAPER[guideline]["settings"] if s in set(rows["setting"])]
    runtimes = [r for r in RUNTIMES if r in set(rows["runtime"])] + \
        sorted(set(rows["runtime"]) - set(RUNTIMES))
    ours = rows.pivot_table(index="setting", columns=["runtime", "scale"], values=value, aggfunc="first")
    ours = ours.reindex(columns=[(r, s) for r in runtimes for s in sorted(set(rows["scale"]))
                                 if (r, s) in ours.columns])
    if value == "images_per_s":
        paper_columns = {"paper GPU (batches/s)": "paper_gpu_batches_per_s",
                         "paper ARM (images/s)": "paper_arm_images_per_s"}
    else:
        paper_columns = {"paper GPU": "paper_gpu_relative", "paper ARM": "paper_arm_relative"}
    parts = [ours]
    for label, column in paper_columns.items():
        paper = rows.pivot_table(index="setting", columns="scale", values=column, aggfunc="first")
        paper.columns = pd.MultiIndex.from_tuples([(label, s) for s in paper.columns])
        parts.append(paper)
    result = pd.concat(parts, axis=1).reindex(order)
    result.columns = pd.MultiIndex.from_tuples([(source, f"x{scale}") for source, scale in result.columns])
    result.index.name = f"{guideline} (Table {PAPER[guideline]['table']})"
    return result


def plot(df, guideline: str | None = None, ax=None):
    """Latency (median ms) against MACs: one panel per guideline, a marker per setting, a colour per
    runtime, log-log. Returns the matplotlib Figure (no pyplot state, no show: safe under Agg)."""
    from matplotlib.figure import Figure

    present = [g for g in GUIDELINES if g in set(df["guideline"])]
    if guideline is not None:
        if guideline not in present:
            raise ValueError(f"no rows for guideline {guideline!r}; present: {present}")
        present = [guideline]
    if not present:
        raise ValueError("plot() needs at least one row of results")
    if ax is not None and len(present) > 1:
        raise ValueError(f"one axis holds one guideline; pass guideline= (one of {present}) with ax")
    if ax is None:
        figure = Figure(figsize=(4.2 * len(present), 3.6), layout="constrained")
        axes = figure.subplots(1, len(present), squeeze=False)[0]
    else:
        figure, axes = ax.figure, [ax]
    from matplotlib.lines import Line2D
    from matplotlib.ticker import EngFormatter, NullFormatter

    markers = "osD^vP*X"
    colours = {runtime: f"C{i}" for i, runtime in enumerate(RUNTIMES)}
    for panel, name in zip(axes, present):
        rows = df[df["guideline"] == name]
        order = [s for s in PAPER[name]["settings"] if s in set(rows["setting"])]
        runtimes = [r for r in RUNTIMES if r in set(rows["runtime"])] + sorted(set(rows["runtime"]) - set(RUNTIMES))
        for i, setting in enumerate(order):
            for runtime in runtimes:
                group = rows[(rows["setting"] == setting) & (rows["runtime"] == runtime)].sort_values("macs")
                panel.plot(group["macs"], group["median_ms"], marker=markers[i % len(markers)], linestyle="-",
                           linewidth=0.8, color=colours.get(runtime, "C7"))
        panel.set_xscale("log")
        panel.set_yscale("log")
        for axis in (panel.xaxis, panel.yaxis):
            axis.set_major_formatter(EngFormatter(sep=""))
            axis.set_minor_formatter(NullFormatter())  # minor labels overlap on a narrow log range
        panel.set_xlabel("MACs")
        panel.set_ylabel("median latency (ms)")
        panel.set_title(f"{name} (Table {PAPER[name]['table']}): {PAPER[name]['title']}", fontsize=8)
        handles = [Line2D([], [], color="0.4", marker=markers[i % len(markers)], linestyle="", label=s)
                   for i, s in enumerate(order)]
        handles += [Line2D([], [], color=colours.get(r, "C7"), label=r) for r in runtimes]
        panel.legend(handles=handles, fontsize=6, loc="upper left")
    return figure
