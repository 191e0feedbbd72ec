"""Lesson 02's exercises: gradient timestamps counted by hand."""
from __future__ import annotations

from .core import Wrong, call, exercise


def residual_stem_paths(units: int, convs_per_unit: int) -> tuple[list[int], int]:
    """The stem's gradient timestamps and path count in stem -> `units` residual units (each `convs_per_unit`
    convs beside an identity) -> global pool -> fc: each unit is skipped or crossed, the stem and fc count."""
    return [2 + convs_per_unit * crossed for crossed in range(units + 1)], 2 ** units


@exercise("02.residual_timestamps")
def residual_timestamps(answer) -> str:
    """answer(units, convs_per_unit) -> (sorted distinct path lengths from the stem, number of paths)."""
    for units, convs in ((1, 2), (3, 2), (16, 2), (4, 3), (0, 2)):
        want_lengths, want_paths = residual_stem_paths(units, convs)
        got = call(answer, units, convs)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise Wrong(f"return two things, (timestamps, number of paths); got {type(got).__name__}")
        lengths, paths = got
        try:
            lengths = sorted(int(v) for v in lengths)
        except (TypeError, ValueError):
            raise Wrong(f"the timestamps are a list of path lengths (whole numbers); got {lengths!r}") from None
        case = f"{units} unit(s) of {convs} convs"
        if lengths != want_lengths:
            if lengths == [v - 2 for v in want_lengths]:
                why = " A path's length counts every weighted layer on it: the stem itself and the fc too."
            elif lengths == [want_lengths[0], want_lengths[-1]]:
                why = " Every number of crossed units from 0 to all of them gives a timestamp, not only the two ends."
            else:
                why = " Each unit is either skipped (identity) or crossed (its convs add to the length)."
            raise Wrong(f"{case}: the stem's timestamps are {want_lengths}; got {lengths}.{why}")
        if paths != want_paths:
            why = (" Each unit doubles the paths (skip or cross), so the count is 2 ** units, not one per timestamp."
                   if paths == len(want_lengths) else " Each unit doubles the paths: skip it or cross it.")
            raise Wrong(f"{case}: {want_paths:,} paths reach the stem; got {paths!r}.{why}")
    return "right: lengths 2 + c·k for k = 0 .. units crossed, and 2 ** units paths (each unit skipped or crossed)"
