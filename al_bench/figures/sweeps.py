"""Sweep figures: final metric and sampling time vs a swept config key (selection ratio, Annoy trees)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from al_bench.figures import style
from al_bench.figures.runs import FULL_POOL_ROLE, PARAM_PREFIX, FiguresError, complete_runs
from al_bench.figures.stats import t_interval

SWEEP_PARAMS = ("strategy.selection_ratio", "index.n_trees")
"""Keys the sweep figures are drawn for, when an experiment varies them."""


def swept_params(runs: pd.DataFrame, candidates: tuple[str, ...] = SWEEP_PARAMS) -> list[str]:
    """The candidate keys that take more than one value among the runs (numeric values only)."""
    found = []
    for key in candidates:
        column = PARAM_PREFIX + key
        if column in runs.columns and pd.to_numeric(runs[column], errors="coerce").dropna().nunique() > 1:
            found.append(key)
    return found


def _hold_others_fixed(
    runs: pd.DataFrame, key: str, others: list[str]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Keep only runs where every other swept key sits at its most common value (one-at-a-time sweep)."""
    fixed = {}
    for other in others:
        column = PARAM_PREFIX + other
        if column not in runs.columns:
            continue
        mode = runs.drop_duplicates("run_id")[column].mode()
        if mode.empty:
            continue
        fixed[other] = mode.iloc[0]
        runs = runs[runs[column] == fixed[other]]
    return runs, fixed


QUALITY_PANEL = ("quality_knn_recall", "k-NN recall@10 of the index (0–1)", "index recall vs exact")
"""Drawn as a third panel when logged: the ANN trade-off that the tree count controls."""


def _per_run_summary(part: pd.DataFrame, metric: str) -> dict[str, float]:
    """One run's numbers: ``final`` metric (last round), mean ``time`` and mean ``recall`` over its rounds."""

    def column(name: str) -> pd.Series:
        return part[name].dropna() if name in part else pd.Series(dtype=float)

    finals, times, recall = column(metric), column("sampling_time_s"), column(QUALITY_PANEL[0])
    return {
        "final": float(finals.iloc[-1]) if len(finals) else np.nan,
        "time": float(times.mean()) if len(times) else np.nan,
        "recall": float(recall.mean()) if len(recall) else np.nan,
    }


def sweep_table(
    runs: pd.DataFrame, key: str, metric: str = "ap", others: tuple[str, ...] = SWEEP_PARAMS
) -> pd.DataFrame:
    """Final ``metric``, mean sampling time and index recall per strategy and value of ``key``, over seeds.

    Args:
        runs: tidy table from ``load_runs``.
        key: swept config key (``strategy.selection_ratio``, ``index.n_trees``).
        metric: metric read at each run's last round.
        others: other swept keys, held at their most common value.

    Returns:
        Columns ``strategy, value, n_seeds`` and ``<q>_mean, <q>_low, <q>_high`` for q in ``final``,
        ``time`` (sampling_time_s averaged over a run's rounds) and ``recall`` (quality_knn_recall
        averaged likewise; NaN when not logged), 95 % t-intervals over seeds; ``attrs["fixed"]`` = the
        values the other keys were held at.
    """
    column = PARAM_PREFIX + key
    if column not in runs.columns:
        raise FiguresError(f"no run logged param {key!r}")
    runs = complete_runs(runs)  # a failed or cut-short run has no final value
    runs = runs[runs["role"] != FULL_POOL_ROLE]
    subset, fixed = _hold_others_fixed(runs[runs[column].notna()], key, [o for o in others if o != key])
    per_run = []
    for _, part in subset.groupby("run_id", sort=False):
        part = part.sort_values("step")
        summary = _per_run_summary(part, metric)
        per_run.append(
            {
                "strategy": part["strategy"].iloc[0],
                "value": float(part[column].iloc[0]),
                "seed": part["seed"].iloc[0],
                **summary,
            }
        )
    per_run_df = pd.DataFrame(per_run)
    rows = []
    for (strategy, value), part in per_run_df.groupby(["strategy", "value"], sort=True):
        row = {"strategy": strategy, "value": value, "n_seeds": int(part["seed"].nunique())}
        for quantity in ("final", "time", "recall"):
            row.update(
                zip((f"{quantity}_mean", f"{quantity}_low", f"{quantity}_high"), t_interval(part[quantity]))
            )
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["fixed"] = fixed
    return table


def plot_sweep(runs: pd.DataFrame, key: str, out_dir: str | Path, metric: str = "ap") -> list[Path]:
    """Panels vs the swept value: final ``metric``, sampling time (and index k-NN recall when logged).

    One line per strategy, mean over seeds with a 95 % t-band.

    Args:
        runs: tidy table from ``load_runs``.
        key: swept config key.
        out_dir: folder for ``sweep_<key>.png/.pdf``.
        metric: metric at the last round.

    Returns:
        Paths of the PNG and PDF.

    Raises:
        FiguresError: the key does not take at least two values.
    """
    if key not in swept_params(runs, (key,)):
        raise FiguresError(f"the experiment does not sweep {key} (it takes fewer than two values)")
    table = sweep_table(runs, key, metric)
    if table["value"].nunique() < 2:
        raise FiguresError(f"param {key!r} takes fewer than two values: nothing to sweep")
    panels = [
        ("final", style.metric_label(metric), f"final {style.metric_short(metric)} (last round)"),
        ("time", "sampling time per round (s)", "sampling time"),
    ]
    if table["recall_mean"].notna().any():
        panels.append(("recall", QUALITY_PANEL[1], QUALITY_PANEL[2]))
    style.apply_style()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 4.0))
    for ax, (prefix, ylabel, title) in zip(axes, panels):
        for strategy in sorted(table["strategy"].unique(), key=style.strategy_rank):
            part = table[table["strategy"] == strategy].sort_values("value")
            color = style.strategy_color(strategy)
            ax.plot(
                part["value"],
                part[f"{prefix}_mean"],
                "-o",
                clip_on=False,  # a curve on the axis limit (AP 0) stays visible
                ms=4,
                color=color,
                label=f"{style.strategy_label(strategy)} ({int(part['n_seeds'].max())} seeds)",
            )
            # Times are >= 0 and AP / recall lie in [0, 1]: a t-band must not suggest otherwise.
            upper = 1.0 if prefix == "recall" or (prefix == "final" and style.is_fraction(metric)) else None
            ax.fill_between(
                part["value"],
                part[f"{prefix}_low"].clip(0.0, upper),
                part[f"{prefix}_high"].clip(0.0, upper),
                color=color,
                alpha=0.15,
                linewidth=0,
            )
        values = table["value"]
        if values.min() > 0 and values.max() / values.min() >= 10:
            ax.set_xscale("log")  # tree counts span decades
        ax.set_xticks(sorted(values.unique()), [f"{v:g}" for v in sorted(values.unique())])
        ax.minorticks_off()
        if prefix in ("time", "recall") or style.is_fraction(metric):
            ax.set_ylim(bottom=0)  # a flat curve must not look like a steep one
        ax.set_xlabel(style.param_label(key))
        ax.set_ylabel(ylabel)
        ax.set_title(title)
    axes[0].legend(loc="best", frameon=False)
    fixed = table.attrs.get("fixed", {})
    held = "; ".join(f"{k} = {v}" for k, v in fixed.items())
    fig.suptitle(
        f"Sweep over {key}: mean over seeds, shaded 95% t-interval"
        + (f"\n(held fixed: {held})" if held else "")
    )
    fig.tight_layout()
    return style.save_figure(fig, out_dir, f"sweep_{key.replace('.', '_')}")
