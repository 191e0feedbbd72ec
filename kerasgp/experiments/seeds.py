"""A study's rows over several seeds (`ablate --seeds 0,1,2`): mean and spread per variant, and whether
a claim ("this variant scores higher than that one") held against the measured noise.

How far another seed moves a run is measured where variants have two runs or more: one run's standard
deviation, pooled over those variants (`pooled_sd`). A gap between two rows is judged against a bound of
twice the spread that gap has by chance (`gap_bound`): beyond it in the claimed direction it "holds", in
the other it is "reversed", otherwise it is "within noise" (`judge`). The lessons' claim tables use these
three; `verdict` applies the same rule to the runs of two variants alone.
"""
from __future__ import annotations

import math
from statistics import mean, stdev

HELD, NOT_HELD, NOISE = "held", "did not hold", "within noise"
HOLDS, REVERSED, WAITING = "holds", "reversed", "waiting for rows"  # the lessons' claim tables


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


def pooled_sd(groups) -> float | None:
    """One run's standard deviation, pooled over groups of runs (one group per variant): the square root of
    sum((n - 1) s^2) / sum(n - 1). A group of one run has no spread and counts for nothing; None when no
    group has two runs."""
    groups = [list(values) for values in groups]
    several = [values for values in groups if len(values) >= 2]
    if not several:
        return None
    dof = sum(len(values) - 1 for values in several)
    return math.sqrt(sum((len(values) - 1) * stdev(values) ** 2 for values in several) / dof)


def pooled_std(a, b) -> float:
    """The pooled sample standard deviation of two groups of runs (each of two runs or more)."""
    a, b = list(a), list(b)
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a spread needs two runs or more of each; got {len(a)} and {len(b)}")
    return pooled_sd([a, b])


def gap_bound(sd: float | None, runs: tuple[int, int] | None = None, k: float = 2.0,
              convention: float = 1.0) -> float:
    """How far a gap between two rows may go by chance: k x sd, where sd is one run's spread. With
    runs=(n1, n2) the rows are means over n1 and n2 runs, whose gap varies by sd x sqrt(1/n1 + 1/n2): the
    bound is k times that. Before any spread is measured (sd None) the bound is `convention` points."""
    if sd is None:
        return convention
    if runs is None:
        return k * sd
    n1, n2 = runs
    if n1 < 1 or n2 < 1:
        raise ValueError(f"each row needs one run or more; got {n1} and {n2}")
    return k * sd * math.sqrt(1 / n1 + 1 / n2)


def judge(gap: float | None, bound: float) -> str:
    """A claimed gap (the claimed row minus the other, positive when the claim is right) against its bound:
    HOLDS beyond it, REVERSED beyond it the other way, NOISE within it; WAITING while a row is missing
    (gap None)."""
    if gap is None:
        return WAITING
    return HOLDS if gap > bound else REVERSED if gap < -bound else NOISE


def verdict(claimed, other, higher: bool = True, k: float = 2.0) -> str:
    """Did `claimed` score higher (higher=False: lower) than `other`? HELD, NOT_HELD or NOISE by the rule
    above, the spread pooled over these two variants' runs alone (|difference of means| > k x pooled std)."""
    difference = (mean(claimed) - mean(other)) * (1 if higher else -1)
    outcome = judge(difference, gap_bound(pooled_std(claimed, other), k=k))
    return {HOLDS: HELD, REVERSED: NOT_HELD, NOISE: NOISE}[outcome]


def format_mean_std(values, digits: int = 1) -> str:
    """"34.2 ± 0.8 (3)" for several runs, "34.2 (1)" for one."""
    s = summary(values)
    spread = "" if s["runs"] == 1 else f" ± {s['std']:.{digits}f}"
    return f"{s['mean']:.{digits}f}{spread} ({s['runs']})"
