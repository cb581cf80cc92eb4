"""Sampling time per strategy: stacked bars of its parts (uncertainty, embedding, index build, query)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from al_bench.figures import style
from al_bench.figures.learning_curves import condition_label
from al_bench.figures.runs import (
    FULL_POOL_ROLE,
    FiguresError,
    complete_runs,
    condition_order,
    condition_settings,
)


def timing_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean sampling time per condition and part, over the rounds that selected and over seeds.

    Each run is first averaged over its selection rounds, then runs (seeds) are averaged, so a seed
    with more rounds does not weigh more.

    Args:
        runs: tidy table from ``load_runs``.

    Returns:
        One row per condition in legend order (complete runs only): ``condition, condition_name, strategy``, one column per part in
        ``style.TIMING_PARTS`` (seconds; 0 where a strategy never logged that part),
        ``total_s`` (sum of the parts), ``total_std_s`` (std over seeds, ddof=1), ``logged_total_s`` (mean of
        the logged ``sampling_time_s``, which also counts the overhead between parts; NaN when not logged),
        ``n_seeds``, ``n_rounds``.

    Raises:
        FiguresError: no run logged any timing part.
    """
    parts = [p for p in style.TIMING_PARTS if p in runs.columns]
    if not parts:
        raise FiguresError(
            f"no sampling-time metrics logged (expected some of {', '.join(style.TIMING_PARTS)})"
        )
    runs = complete_runs(runs)
    runs = runs[runs["role"] != FULL_POOL_ROLE]
    # Only rounds that ran a selection carry timings (the last round trains and evaluates only).
    sampled = runs.dropna(subset=parts, how="all")
    filled = sampled.assign(**{p: sampled[p].fillna(0.0) for p in parts})
    per_run = filled.groupby(["condition", "strategy", "run_id"], sort=False)[parts].mean().reset_index()
    per_run["total_s"] = per_run[parts].sum(axis=1)
    if "sampling_time_s" in filled.columns:  # the loop's own total: the parts plus any overhead between them
        logged = filled.groupby("run_id", sort=False)["sampling_time_s"].mean()
        per_run["logged_total_s"] = per_run["run_id"].map(logged)
    else:
        per_run["logged_total_s"] = np.nan
    rows = []
    for condition in condition_order(filled):
        mine = per_run[per_run["condition"] == condition]
        first = filled[filled["condition"] == condition].iloc[0]
        row = {
            "condition": condition,
            "condition_name": first["condition_name"],
            "strategy": first["strategy"],
        }
        row.update({p: float(mine[p].mean()) for p in parts})
        row.update({p: 0.0 for p in style.TIMING_PARTS if p not in parts})
        row["total_s"] = float(mine["total_s"].mean())
        row["total_std_s"] = float(mine["total_s"].std(ddof=1)) if len(mine) > 1 else float("nan")
        row["logged_total_s"] = float(mine["logged_total_s"].mean())
        row["n_seeds"] = int(filled.loc[filled["condition"] == condition, "seed"].nunique())
        row["n_rounds"] = int(filled[filled["condition"] == condition]["step"].nunique())
        rows.append(row)
    columns = ["condition", "condition_name", "strategy", *style.TIMING_PARTS, "total_s", "total_std_s", "logged_total_s", "n_seeds",
               "n_rounds"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def plot_sampling_time(runs: pd.DataFrame, out_dir: str | Path, name: str = "sampling_time") -> list[Path]:
    """Stacked bars of the mean sampling time per round, one bar per condition, parts stacked.

    Args:
        runs: tidy table from ``load_runs``.
        out_dir: folder for the PNG and PDF.
        name: file stem.

    Returns:
        Paths of the PNG and PDF.
    """
    table = timing_table(runs)
    style.apply_style()
    fig, ax = plt.subplots(figsize=(max(4.5, 1.4 * len(table) + 1.5), 4.2))
    x = np.arange(len(table))
    bottom = np.zeros(len(table))
    for part, label in style.TIMING_PARTS.items():
        ax.bar(x, table[part], 0.6, bottom=bottom, label=label, color=style.TIMING_COLORS[part])
        bottom += table[part].to_numpy()
    errors = table["total_std_s"].fillna(0.0)
    ax.errorbar(x, table["total_s"], yerr=errors, fmt="none", ecolor="black", capsize=3, linewidth=1)
    top = float((table["total_s"] + errors).max()) or 1.0
    for xi, total, error in zip(x, table["total_s"], errors):
        ax.annotate(  # above the whisker, so the two never overlap
            f"{total:.3g} s",
            (xi, total + error),
            xytext=(0, 4),
            textcoords="offset points",
            ha="center",
            fontsize="small",
        )
    ax.set_ylim(0, top * 1.18)
    single = table["strategy"].nunique() == 1 and len(table) > 1
    if single:  # one strategy swept: ticks say the swept values, the title names the strategy
        ticks = [condition_settings(c).replace(" ", "\n") for c in table["condition_name"]]
        ax.tick_params(axis="x", labelsize="small")
    else:
        ticks = [
            condition_label(c, s).replace(": ", "\n")
            for c, s in zip(table["condition_name"], table["strategy"])
        ]
    ax.set_xticks(
        x,
        ticks,
        rotation=20 if len(table) > 4 and not single else 0,
        ha="right" if len(table) > 4 and not single else "center",
    )
    ax.set_ylabel("sampling time per round (s)")
    who = f" of {style.strategy_label(table['strategy'].iloc[0])}" if single else ""
    ax.set_title(
        f"Sampling time per selection round{who}\nmean over rounds and seeds; whisker: std of the total over seeds"
    )
    ax.grid(axis="x", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="part")
    return style.save_figure(fig, out_dir, name)
