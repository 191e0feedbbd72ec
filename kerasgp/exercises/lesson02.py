"""Lesson 02's exercises: gradient timestamps counted by hand, through a residual stack and a dense block."""
from __future__ import annotations

from .core import Wrong, call, exercise


def residual_stem_paths(units: int, convs_per_unit: int) -> tuple[list[int], int]:
    """The stem's gradient timestamps and path count in stem -> `units` residual units (each `convs_per_unit`
    convs beside an identity) -> global pool -> fc: each unit is skipped or crossed, the stem and fc count."""
    return [2 + convs_per_unit * crossed for crossed in range(units + 1)], 2 ** units


def _timestamps_and_paths(got) -> tuple[list[int], object]:
    """The answer's (sorted timestamps, number of paths), or Wrong saying what shape it should have."""
    if not (isinstance(got, tuple) and len(got) == 2):
        raise Wrong(f"return two things, (timestamps, number of paths); got {type(got).__name__}")
    lengths, paths = got
    try:
        return sorted(int(v) for v in lengths), paths
    except (TypeError, ValueError):
        raise Wrong(f"the timestamps are a list of path lengths (whole numbers); got {lengths!r}") from None


@exercise("02.residual_timestamps")
def residual_timestamps(answer) -> str:
    """answer(units, convs_per_unit) -> (sorted distinct path lengths from the stem, number of paths)."""
    for units, convs in ((1, 2), (3, 2), (16, 2), (4, 3), (0, 2)):
        want_lengths, want_paths = residual_stem_paths(units, convs)
        lengths, paths = _timestamps_and_paths(call(answer, units, convs))
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


def dense_stem_paths(num_layers: int, convs_per_layer: int) -> tuple[list[int], int]:
    """The stem's gradient timestamps and path count in stem -> a dense block of `num_layers` layers (each
    `convs_per_layer` convs, reading the concatenation of the stem and every earlier layer; the block's
    output is the concatenation of all) -> global pool -> fc: a path crosses any subset of the layers, in
    order, so each layer is crossed or skipped; the stem and fc count: the residual stack's count."""
    return residual_stem_paths(num_layers, convs_per_layer)


@exercise("02.dense_block_paths")
def dense_block_paths(answer) -> str:
    """answer(num_layers, convs_per_layer) -> (sorted distinct path lengths from the stem, number of paths)."""
    for layers, convs in ((3, 1), (1, 1), (4, 2), (6, 1), (12, 2), (0, 1)):
        want_lengths, want_paths = dense_stem_paths(layers, convs)
        lengths, paths = _timestamps_and_paths(call(answer, layers, convs))
        case = f"a dense block of {layers} layer(s) of {convs} conv(s)"
        if lengths != want_lengths:
            if lengths == [want_lengths[0], want_lengths[-1]]:
                why = (" A path may cross any number of the layers, from none to all of them: every count gives a "
                       "timestamp, not only the two ends.")
            elif lengths == [2 + crossed for crossed in range(layers + 1)]:
                why = f" Every layer crossed adds its {convs} convs to the length (a 1×1 bottleneck and a 3×3 are 2)."
            else:
                why = (" Each layer is either crossed (its convs add to the length) or skipped through the "
                       "concatenations; count the stem and the fc too.")
            raise Wrong(f"{case}: the stem's timestamps are {want_lengths}; got {lengths}.{why}")
        if paths != want_paths:
            if paths == layers + 1:
                why = (" One path per length is VoVNet's one-shot aggregation, where each conv feeds only the next "
                       "one and the final concatenation. In a dense block every layer reads all earlier outputs, "
                       "so each layer is crossed or skipped on its own: 2 ** n paths.")
            else:
                why = " Each layer is crossed or skipped independently of the others."
            raise Wrong(f"{case}: {want_paths:,} paths reach the stem; got {paths!r}.{why}")
    return ("right: lengths 2 + c·k (k = 0 .. n layers crossed) and 2 ** n paths, as for n residual units: a "
            "concatenation lets each layer be skipped as an add does; the two differ on the data path, not the "
            "gradient path")
