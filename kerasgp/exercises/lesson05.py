"""Lesson 05's exercises: what the planned VoVNet's concatenations cost."""
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
