"""Lesson 05's exercises: what the planned VoVNet's concatenations cost, and the stem's gradient paths."""
from __future__ import annotations

from .core import Wrong, call, exercise


def concat_widths_reference(design: str, modules: int, stem: int, growth: int, convs: int) -> list[int]:
    """Channels of each OSA module's concat: input + convs x growth; per_module: every input is the previous
    transition's `stem` channels; planned: every module but the last passes its whole concat on."""
    widths, width_in = [], stem
    for _ in range(modules):
        widths.append(width_in + convs * growth)
        width_in = stem if design == "per_module" else widths[-1]
    return widths


@exercise("05.concat_widths")
def concat_widths(answer) -> str:
    """answer(design, modules, stem, growth, convs) -> [concat channels of module 1, ..., module k]."""
    for design, modules, stem, growth, convs in (("per_module", 4, 32, 16, 4), ("planned", 4, 32, 16, 4),
                                                 ("planned", 3, 64, 32, 5), ("per_module", 1, 48, 8, 3)):
        want = concat_widths_reference(design, modules, stem, growth, convs)
        got = call(answer, design, modules, stem, growth, convs)
        try:
            got = [int(v) for v in got]
        except (TypeError, ValueError):
            raise Wrong(f"return a list with one width per module; got {got!r}") from None
        if got == want:
            continue
        case = f"{design}, {modules} module(s), stem {stem}, growth {growth}, {convs} convs"
        if got == [w - (stem if design == "per_module" or i == 0 else want[i - 1]) for i, w in enumerate(want)]:
            why = " The concat holds the module's input too, besides its convs' outputs."
        elif design == "planned" and got == concat_widths_reference("per_module", modules, stem, growth, convs):
            why = (" Without its transition, a planned module hands its whole concat to the next module, whose "
                   "concat then holds it again.")
        else:
            why = ""
        raise Wrong(f"{case}: the concats have {want} channels; got {got}.{why}")
    return "right: input + convs × growth each; planned stacks carry every concat into the next, so widths grow"


def stem_paths_reference(design: str, k: int, convs: int) -> tuple[int, int]:
    """(shortest, longest) gradient path of the stem, in weighted layers with the stem and the fc head, in
    section 2's stack net with k units of `convs` 3x3 convs: k OSA modules (per_module: a 1x1 transition in
    each; planned: in the last only) or one ELAN block whose chain holds all k * convs convs (two 1x1
    branches, the concat takes both branches and every pair's end, one transition)."""
    if design == "per_module":
        return k + 2, (convs + 1) * k + 2
    if design == "planned":
        return 3, convs * k + 3
    return 4, convs * k + 4


@exercise("05.stem_paths")
def stem_paths(answer) -> str:
    """answer(design, k, convs) -> (the stem's shortest gradient path, its longest), as gradient_paths counts."""
    for design, k, convs in (("per_module", 4, 4), ("per_module", 3, 5), ("planned", 3, 5), ("elan", 2, 4),
                             ("elan", 3, 2), ("planned", 1, 4), ("per_module", 8, 2)):
        want = stem_paths_reference(design, k, convs)
        got = call(answer, design, k, convs)
        try:
            got = tuple(int(v) for v in got)
        except (TypeError, ValueError):
            raise Wrong(f"return two numbers, (shortest, longest); got {got!r}") from None
        if got == want:
            continue
        case = f"{design}, k={k} units of {convs} 3×3 convs"
        shortest, longest = want
        if got == (shortest - 2, longest - 2):
            why = " Count the stem itself and the fc head: a path's length is every weighted layer on it."
        elif got[0] != shortest and design == "per_module" and got[0] in (2, 3):
            why = (" Each module's transition lies in series on every path from the stem: the shortest path "
                   "crosses all k of them.")
        elif got[0] != shortest and design == "elan" and got[0] == 3:
            why = " The stem reaches ELAN's concat through one of the block's two 1×1 branches: one more layer."
        elif got[1] != longest and design == "per_module" and got[1] == convs * k + 2:
            why = " The longest path crosses every module's transition as well as its convs."
        elif got[1] != longest and design == "elan" and got[1] in (convs * k + 3, convs * k + 2):
            why = " ELAN's longest path runs stem, 1×1 branch, every conv of the chain, transition, fc."
        elif got[1] != longest and design == "planned" and got[1] == (convs + 1) * k + 2:
            why = " A planned stack keeps only the last module's transition."
        else:
            why = ""
        raise Wrong(f"{case}: the stem's paths are (shortest, longest) = {want}; got {got}.{why}")
    return ("right: per-module (k + 2, (convs + 1)·k + 2), planned (3, convs·k + 3), ELAN (4, convs·k + 4): "
            "only per-module's shortest path grows with k")
