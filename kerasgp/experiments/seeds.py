"""A study's rows over several seeds (`ablate --seeds 0,1,2`): mean and spread per variant, and whether
a claim ("this variant scores higher than that one") held against the measured noise.

The rule: the difference of the two means counts when it is larger than twice the pooled standard
deviation of the two variants' runs. Larger in the claimed direction: "held"; in the other: "did not
hold"; otherwise "within noise". A variant with one run has no measured spread, so no verdict.
"""
from __future__ import annotations

import math
from statistics import mean, stdev

HELD, NOT_HELD, NOISE = "held", "did not hold", "within noise"


def scores(rows, metric: str = "pckh@0.5") -> dict[str, list[float]]:
    """variant -> its runs' values of `metric`, in seed order (empty cells left out)."""
    runs: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        if row.get(metric, "") not in ("", None):
            runs.setdefault(row["variant"], []).append((int(row.get("seed") or 0), float(row[metric])))
    return {variant: [value for _, value in sorted(pairs)] for variant, pairs in runs.items()}


def summary(values) -> dict:
    """{"runs", "mean", "std"} of one variant's values; std is the sample standard deviation (n - 1), NaN
    for a single run."""
    values = list(values)
    if not values:
        raise ValueError("no runs to summarise")
    return {"runs": len(values), "mean": mean(values), "std": stdev(values) if len(values) > 1 else math.nan}


def pooled_std(a, b) -> float:
    """The pooled sample standard deviation of two groups of runs (each of two runs or more)."""
    a, b = list(a), list(b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a spread needs two runs or more of each; got {len(a)} and {len(b)}")
    return math.sqrt(((len(a) - 1) * stdev(a) ** 2 + (len(b) - 1) * stdev(b) ** 2) / (len(a) + len(b) - 2))


def verdict(claimed, other, higher: bool = True, k: float = 2.0) -> str:
    """Did `claimed` score higher (higher=False: lower) than `other`? HELD, NOT_HELD or NOISE by the rule
    above (|difference of means| > k x pooled std)."""
    difference = (mean(claimed) - mean(other)) * (1 if higher else -1)
    margin = k * pooled_std(claimed, other)
    if difference > margin:
        return HELD
    if difference < -margin:
        return NOT_HELD
    return NOISE


def format_mean_std(values, digits: int = 1) -> str:
    """"34.2 ± 0.8 (3)" for several runs, "34.2 (1)" for one."""
    s = summary(values)
    spread = "" if s["runs"] == 1 else f" ± {s['std']:.{digits}f}"
    return f"{s['mean']:.{digits}f}{spread} ({s['runs']})"
