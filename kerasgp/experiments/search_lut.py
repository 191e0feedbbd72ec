"""The latency lookup table of the hardware-aware search (`kerasgp.experiments.search`): every candidate block
at every stage's input shape converted to its own TFLite int8 model and timed by `kerasgp.deploy.bench.measure`
(1 thread); the fixed part (stem, norms, downsamples, the feature outputs) timed as the all-"skip" network. A
network's predicted latency is fixed + the sum of its blocks' entries (`LatencyTable.predict`); `check_lut`
compares that prediction with whole networks measured the same way."""
from __future__ import annotations

import csv
import dataclasses
import datetime
import tempfile
from pathlib import Path

import keras
import numpy as np

from .. import backbones
from ..backbones.quadranet import OFFICIAL_INITIALIZER, SKIP
from ..deploy import convert, representative_crops
from ..deploy.bench import measure
from ..layers.quadratic import quadra_block
from ..machine import describe
from ..results import write_csv, write_json
from .search_space import SearchSpace, arch_string, flatten_arch, parse_candidate

# The columns of the latency lookup table, in order.
LUT_COLUMNS = ("part", "candidate", "stage", "height", "width", "channels", "median_ms", "p90_ms", "runs",
               "threads", "runtime", "xnnpack", "machine", "cores", "arch", "date")
LUT_PATH = "results/quadranet_lut.csv"


@dataclasses.dataclass
class LatencyTable:
    """fixed_ms: the all-skip network; blocks: {(stage, candidate): median ms}; runtime/threads/machine:
    where the figures come from (one LUT is valid for one runtime, thread count and machine)."""

    fixed_ms: float
    blocks: dict
    runtime: str = ""
    threads: int = 1
    machine: str = ""

    def matrix(self, space: SearchSpace) -> np.ndarray:
        """(num_positions, num_candidates) ms, rows in position order, columns in space.candidates order."""
        stages = space.stage_of_position()
        missing = sorted({(s, c) for s in set(stages) for c in space.candidates} - set(self.blocks))
        if missing:
            raise ValueError(f"the latency table has no entry for (stage, candidate) {missing[:6]}"
                             f"{' ...' if len(missing) > 6 else ''}; measure it with measure_lut for this space")
        return np.array([[self.blocks[(s, c)] for c in space.candidates] for s in stages], dtype=np.float64)

    def predict(self, arch, space: SearchSpace) -> float:
        """fixed + the sum of the chosen candidates' entries (ms)."""
        codes = flatten_arch(arch)
        space.arch(codes)  # checks the count and the codes
        matrix = self.matrix(space)
        index = [space.candidates.index(c) for c in codes]
        return float(self.fixed_ms + matrix[np.arange(len(codes)), index].sum())


def read_lut(path=LUT_PATH, space: SearchSpace | None = None) -> LatencyTable:
    """Read and validate a LUT CSV written by `measure_lut`. With `space`, every (stage, candidate) the
    space needs must be there and the stage shapes must match the space's (else a ValueError)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no latency table; build it with `python -m kerasgp search lut` "
                                "(kerasgp.experiments.search_lut.measure_lut)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        rows = list(reader)
    missing = [c for c in ("part", "candidate", "stage", "height", "width", "channels", "median_ms", "runtime",
                           "threads", "machine") if c not in header]
    if missing:
        raise ValueError(f"{path} lacks the columns {missing}; a latency table has {list(LUT_COLUMNS)}")
    fixed, blocks, origins = [], {}, set()
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        try:
            ms = float(row["median_ms"])
            stage = int(row["stage"])
            shape = (int(row["height"]), int(row["width"]), int(row["channels"]))
        except (TypeError, ValueError):
            raise ValueError(f"{path} line {number}: median_ms, stage, height, width and channels must be numbers; "
                             f"got {row}") from None
        if not np.isfinite(ms) or ms < 0:
            raise ValueError(f"{path} line {number}: median_ms must be a finite number >= 0, got {row['median_ms']!r}")
        origins.add((row["runtime"], row["threads"], row["machine"]))
        if row["part"] == "fixed":
            fixed.append(ms)
        elif row["part"] == "block":
            parse_candidate(row["candidate"])
            key = (stage, row["candidate"])
            if key in blocks:
                raise ValueError(f"{path} line {number}: a second entry for stage {stage}, candidate "
                                 f"{row['candidate']!r}")
            if space is not None and 0 <= stage < 4 and shape != space.stage_shapes()[stage]:
                raise ValueError(f"{path} line {number}: stage {stage} was measured at {shape}; this space needs "
                                 f"{space.stage_shapes()[stage]} (another width or input size)")
            blocks[key] = ms
        else:
            raise ValueError(f"{path} line {number}: part must be 'fixed' or 'block', got {row['part']!r}")
    if len(fixed) != 1:
        raise ValueError(f"{path} must have exactly one 'fixed' row (the all-skip network); it has {len(fixed)}")
    if len(origins) != 1:
        raise ValueError(f"{path} mixes runtimes, thread counts or machines {sorted(origins)}; one table, one setting")
    runtime, threads, machine = origins.pop()
    table = LatencyTable(fixed[0], blocks, runtime, int(threads), machine)
    if space is not None:
        table.matrix(space)
    return table


def convert_and_measure(model, representative, threads: int, runs: int, warmup: int, folder) -> dict:
    path = Path(folder) / f"{model.name}.tflite"
    convert(model, mode="int8", representative=representative, num_samples=len(representative), out=path)
    return measure(str(path), threads=threads, runs=runs, warmup=warmup)


def block_model(code: str, shape, name: str | None = None):
    """One candidate as a standalone Keras model on a (H, W, C) input: what a LUT entry times."""
    kernel_size, expansion = parse_candidate(code)
    inputs = keras.Input(tuple(shape), name="features")
    outputs = quadra_block(inputs, kernel_size, expansion, norm="batch", name=code,
                           kernel_initializer=OFFICIAL_INITIALIZER)  # quadra_block draws each conv afresh
    return keras.Model(inputs, outputs, name=name or f"{code}_{'x'.join(map(str, shape))}")


def network(arch, space: SearchSpace, norm: str = "batch", input_size: int | None = None):
    """The QuadraNet backbone of `arch` in this space (a dict of the four stride maps)."""
    size = input_size or space.input_size
    return backbones.get("quadranet", width=space.width, arch=[list(stage) for stage in arch], norm=norm,
                         input_shape=(size, size, 3))


def measure_network(arch, space: SearchSpace, threads: int = 1, runs: int = 100, warmup: int = 10,
                    calibration: int = 32, norm: str = "batch") -> dict:
    """Convert the backbone of `arch` to TFLite int8 (calibrated on LSPET training crops) and time it."""
    crops = representative_crops(space.input_size, count=calibration)
    with tempfile.TemporaryDirectory(prefix="kerasgp-search-") as folder:
        row = convert_and_measure(network(arch, space, norm), crops, threads, runs, warmup, folder)
    keras.backend.clear_session()
    return row


def _lut_row(part, candidate, stage, shape, timed, machine, date) -> dict:
    return {"part": part, "candidate": candidate, "stage": stage, "height": shape[0], "width": shape[1],
            "channels": shape[2], "median_ms": timed["median_ms"], "p90_ms": timed["p90_ms"], "runs": timed["runs"],
            "threads": timed["threads"], "runtime": timed["runtime"], "xnnpack": timed["xnnpack"],
            "machine": machine["cpu"], "cores": machine["cores"], "arch": machine["arch"], "date": date}


def measure_lut(space: SearchSpace = SearchSpace(), threads: int = 1, runs: int = 100, warmup: int = 10,
                calibration: int = 32, out=LUT_PATH, progress: bool = True) -> list[dict]:
    """Time every non-skip candidate at every stage's input shape as a standalone TFLite int8 model
    (calibrated on standard-normal inputs: a block's latency does not depend on its values), and the
    fixed part as the all-skip network; "skip" costs 0 by definition. Writes the CSV `out`."""
    from tqdm.auto import tqdm

    machine, date = describe(), datetime.datetime.now().isoformat(timespec="seconds")
    rng = np.random.default_rng(0)
    jobs = [(s, shape, c) for s, shape in enumerate(space.stage_shapes()) for c in space.candidates if c != SKIP]
    rows = []
    fixed = measure_network(space.uniform(SKIP), space, threads, runs, warmup, calibration)
    rows.append(_lut_row("fixed", "all-skip", -1, (space.input_size, space.input_size, 3), fixed, machine, date))
    with tempfile.TemporaryDirectory(prefix="kerasgp-lut-") as folder:
        for stage, shape, code in tqdm(jobs, desc="latency table", unit="block", disable=not progress):
            samples = rng.standard_normal((calibration,) + shape).astype("float32")
            timed = convert_and_measure(block_model(code, shape), samples, threads, runs, warmup, folder)
            rows.append(_lut_row("block", code, stage, shape, timed, machine, date))
            keras.backend.clear_session()
    for stage, shape in enumerate(space.stage_shapes()):
        if SKIP in space.candidates:
            rows.append(_lut_row("block", SKIP, stage, shape, {**fixed, "median_ms": 0.0, "p90_ms": 0.0, "runs": 0},
                                 machine, date))
    if out:
        write_csv(rows, out, LUT_COLUMNS)
    return rows


def check_lut(archs: dict, space: SearchSpace = SearchSpace(), lut=LUT_PATH, threads: int = 1, runs: int = 100,
              warmup: int = 10, out="results/search_lut_check.json") -> list[dict]:
    """Predicted (fixed + sum of LUT entries) against measured latency for whole networks {name: arch}."""
    table = read_lut(lut, space) if not isinstance(lut, LatencyTable) else lut
    rows = []
    for name, arch in archs.items():
        predicted = table.predict(arch, space)
        measured = measure_network(arch, space, threads, runs, warmup)["median_ms"]
        rows.append({"name": name, "arch": arch_string(arch), "predicted_ms": round(predicted, 3),
                     "measured_ms": measured, "error_pct": round(100 * (predicted - measured) / measured, 1)})
    if out:
        write_json({"space": space.to_dict(), "runtime": table.runtime, "threads": table.threads,
                     "machine": table.machine, "networks": rows,
                     "mean_abs_error_pct": round(float(np.mean([abs(r["error_pct"]) for r in rows])), 1)}, out)
    return rows

