"""The searched macro-architecture (`SearchSpace`) and the search's result file: a leaf module, so the
studies can name the found network without importing the search."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..backbones.quadranet import BLOCK_CODES, arch_to_string, parse_block_code

CANDIDATES = BLOCK_CODES  # QuadraBlock with kernel {3, 5, 7} x expansion {2, 4}, or "skip" (no block)
SEARCH_PATH = "results/search.json"


def parse_candidate(code: str) -> tuple[int, int] | None:
    """"k5e2" -> (5, 2); "skip" -> None; anything else a ValueError (the backbone's rule)."""
    return parse_block_code(code)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """The searched macro-architecture: QuadraNet's layout with `positions` block choices per stage.

    width: C, the first stage's channels (stages [C, 2C, 4C, 8C]); input_size: the deployment input
    (square), which fixes every position's input shape and hence the LUT's entries.
    """

    width: int = 16
    positions: tuple = (2, 2, 4, 2)
    input_size: int = 128
    candidates: tuple = CANDIDATES

    def __post_init__(self):
        object.__setattr__(self, "positions", tuple(self.positions))
        object.__setattr__(self, "candidates", tuple(self.candidates))
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"width must be an integer >= 1, got {self.width!r}")
        if len(self.positions) != 4 or any(not isinstance(p, int) or p < 1 for p in self.positions):
            raise ValueError(f"positions must be 4 integers >= 1 (one count per stage), got {self.positions!r}")
        if not isinstance(self.input_size, int) or self.input_size < 32 or self.input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32 (four halvings after the stride-4 stem), "
                             f"got {self.input_size!r}")
        if not self.candidates or len(set(self.candidates)) != len(self.candidates):
            raise ValueError(f"candidates must be distinct block codes, got {self.candidates!r}")
        for code in self.candidates:
            parse_candidate(code)

    @property
    def num_positions(self) -> int:
        return sum(self.positions)

    def stage_shapes(self) -> list[tuple[int, int, int]]:
        """(height, width, channels) of every position's input, per stage (all positions of a stage
        share it)."""
        return [(self.input_size // 2 ** (2 + s), self.input_size // 2 ** (2 + s), self.width * 2 ** s)
                for s in range(4)]

    def stage_of_position(self) -> list[int]:
        return [s for s, count in enumerate(self.positions) for _ in range(count)]

    def arch(self, codes) -> list[list[str]]:
        """A flat list of num_positions codes -> the per-stage lists `quadranet(arch=...)` takes."""
        codes = list(codes)
        if len(codes) != self.num_positions:
            raise ValueError(f"expected {self.num_positions} block codes, one per position; got {len(codes)}")
        for code in codes:
            if code not in self.candidates:
                raise ValueError(f"{code!r} is not a candidate of this space: {self.candidates}")
        out, start = [], 0
        for count in self.positions:
            out.append(codes[start:start + count])
            start += count
        return out

    def uniform(self, code: str) -> list[list[str]]:
        return self.arch([code] * self.num_positions)

    def to_dict(self) -> dict:
        return {"width": self.width, "positions": list(self.positions), "input_size": self.input_size,
                "candidates": list(self.candidates)}

    @classmethod
    def from_dict(cls, data: dict) -> "SearchSpace":
        return cls(int(data["width"]), tuple(data["positions"]), int(data["input_size"]), tuple(data["candidates"]))


def flatten_arch(arch) -> list[str]:
    return [code for stage in arch for code in stage]


def arch_string(arch) -> str:
    """"k3e2,k7e4|skip,k5e2|..." : stages separated by | (kerasgp.backbones.quadranet.arch_to_string)."""
    return arch_to_string(arch)


def read_search(path=SEARCH_PATH) -> dict:
    """The search result JSON, checked: a clear error if it is missing or lacks a valid arch."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no search result; run `python -m kerasgp search run` first "
                                "(kerasgp.experiments.search.search)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    for key in ("arch", "space"):
        if key not in data:
            raise ValueError(f"{path} has no {key!r}; expected the output of kerasgp.experiments.search.search")
    space = SearchSpace.from_dict(data["space"])
    space.arch(flatten_arch(data["arch"]))  # the codes and their count fit the space
    if [len(stage) for stage in data["arch"]] != list(space.positions):
        raise ValueError(f"{path}: arch has {[len(s) for s in data['arch']]} positions per stage; the space has "
                         f"{list(space.positions)}")
    return data


def found_backbone_options(path=SEARCH_PATH) -> dict:
    """kerasgp.backbones.get("quadranet", **options) options of the found network, read from `path`."""
    data = read_search(path)
    return {"width": int(data["space"]["width"]), "arch": [list(stage) for stage in data["arch"]], "norm": "batch"}
