"""The guideline results shaped like the paper's tables (`table`) and drawn as latency against MACs (`plot`)."""
from __future__ import annotations

from .paper import GUIDELINES, PAPER, RUNTIMES


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
