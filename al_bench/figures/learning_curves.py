"""Learning curves (metric vs an annotation axis, mean and 95 % t-band over seeds), the AUC and paired tables.

Only complete runs count (``runs.split_runs``). The x axis is ``images`` (n_labeled), ``persons``,
``keypoints`` or ``cost`` (:mod:`al_bench.stats.axes`). Label-using controls (the oracle) are drawn
apart, grey and dotted, and ranked apart; the full-pool upper reference is a dashed horizontal line.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from al_bench.figures import style
from al_bench.figures.runs import (
    CONTROL_ROLE,
    FULL_POOL_ROLE,
    FiguresError,
    complete_runs,
    condition_order,
    condition_settings,
    with_axis,
)
from al_bench.figures.stats import auc_table, curve_band, full_pool_level, paired_table
from al_bench.stats import verdict as stats_verdict
from al_bench.stats.axes import axis_label


def _check_metric(runs: pd.DataFrame, metric: str) -> None:
    """Fail with the list of logged metrics when ``metric`` was never logged."""
    if metric not in runs.columns or runs[metric].isna().all():
        from al_bench.figures.runs import metric_columns

        raise FiguresError(
            f"metric {metric!r} was not logged by these runs; logged: {', '.join(metric_columns(runs))}"
        )
    if "n_labeled" not in runs.columns:
        raise FiguresError("runs did not log 'n_labeled', the x axis of learning curves")


def _usable(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Complete runs only (never a failed or cut-short run in a curve), with conditions."""
    _check_metric(runs, metric)
    usable = complete_runs(runs)
    if usable.empty:
        raise FiguresError("no complete run (FINISHED with every round logged) to draw")
    return usable


def condition_label(name: str, strategy: str) -> str:
    """Legend text: the strategy's readable name plus the settings that set the condition apart."""
    rest = condition_settings(name)
    return style.strategy_label(strategy) + (f": {rest}" if rest else "")


def condition_colors(runs: pd.DataFrame) -> dict[str, str]:
    """Colour per condition: the strategy's colour, in dark-to-light shades when it has several conditions."""
    order = condition_order(runs)
    strategy_of = runs.groupby("condition")["strategy"].first()
    colors: dict[str, str] = {}
    for strategy in dict.fromkeys(strategy_of[c] for c in order):
        mine = [c for c in order if strategy_of[c] == strategy]
        colors.update(zip(mine, style.shades(style.strategy_color(strategy), len(mine))))
    return colors


def plot_learning_curves(
    runs: pd.DataFrame,
    out_dir: str | Path,
    metric: str = "ap",
    confidence: float = 0.95,
    name: str | None = None,
    axis: str = "images",
    ceiling: bool = True,
) -> list[Path]:
    """Plot ``metric`` vs ``axis``, one line per condition with its confidence band over seeds.

    Controls (runs that read labels) are grey dotted lines labelled "control"; each full-pool
    condition is a dashed horizontal line at its mean over seeds; with ``ceiling`` and ``metric="ap"``,
    the runs' ``decoder_ceiling_ap`` (val ground truth encoded and decoded) is a thin black line.

    Args:
        runs: tidy table from ``load_runs`` (incomplete runs are left out here).
        out_dir: folder for the PNG and PDF.
        metric: metric column on the y axis (``ap``, ``person_count_accuracy``, ...).
        confidence: band coverage (Student-t over seeds).
        name: file stem; default ``learning_curve_<metric>`` (``_<axis>`` appended off images).
        axis: ``images``, ``persons``, ``keypoints`` or ``cost``.

    Returns:
        Paths of the PNG and PDF.

    Raises:
        FiguresError: the metric, the axis' metrics or any complete run are missing.
    """
    runs = _usable(runs, metric)
    runs, x = with_axis(runs, axis)
    curves = runs[runs["role"] != FULL_POOL_ROLE]
    band = curve_band(curves, metric, "condition", confidence, x=x)
    info = runs.drop_duplicates("condition").set_index("condition")
    colors = condition_colors(curves)
    order = condition_order(curves)
    band_alpha = 0.15 if len(order) <= 4 else 0.07  # many overlapping bands turn into mud
    style.apply_style()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    methods = [c for c in order if info.loc[c, "role"] != CONTROL_ROLE]
    # One strategy swept over a param: name it once (legend title), entries only say the settings.
    single = info.loc[methods, "strategy"].nunique() == 1 and len(methods) > 1
    for condition in order:
        part = band[band["condition"] == condition]
        if part.empty:
            continue
        seeds = int(part["n_seeds"].max())
        control = info.loc[condition, "role"] == CONTROL_ROLE
        cname, strategy = info.loc[condition, "condition_name"], info.loc[condition, "strategy"]
        text = condition_settings(cname) if single and not control else condition_label(cname, strategy)
        color = style.CONTROL_COLOR if control else colors[condition]
        ax.plot(
            part["n_labeled"],
            part["mean"],
            ":" if control else "-",
            marker="o",
            clip_on=False,  # a curve on the axis limit (AP 0) stays visible
            ms=3.0 if control else 3.5,
            color=color,
            label=f"{'control: ' if control else ''}{text} ({seeds} seed{'s' * (seeds != 1)})",
        )
        low, high = part["low"], part["high"]
        if style.is_fraction(metric):  # a t-band can leave [0, 1]; the metric cannot
            low, high = low.clip(0.0, 1.0), high.clip(0.0, 1.0)
        ax.fill_between(part["n_labeled"], low, high, color=color, alpha=band_alpha, linewidth=0)
    pool = full_pool_level(runs, metric)
    for row in pool.itertuples(index=False):
        seeds = f"{row.n_seeds} seed{'s' * (row.n_seeds != 1)}"
        text = "full pool" + (f" ({condition_settings(row.condition_name)})" if len(pool) > 1 else "")
        ax.axhline(
            row.mean, color=style.FULL_POOL_COLOR, linestyle="--", linewidth=1.2, label=f"{text} ({seeds})"
        )
    n_ceilings = _draw_decoder_ceiling(ax, runs) if ceiling and metric == "ap" else 0
    if style.is_fraction(metric):
        ax.set_ylim(bottom=0.0)
    ax.set_xlabel(axis_label(axis))
    ax.set_ylabel(style.metric_label(metric))
    ax.set_title(
        f"{style.metric_short(metric)} vs {axis_label(axis).split(' (')[0]}\n"
        f"mean over seeds, shaded: {confidence:.0%} t-interval"
    )
    strategy_title = style.strategy_label(info.loc[methods[0], "strategy"]) if single else None
    style.place_legend(ax, len(order) + len(pool) + n_ceilings, title=strategy_title)
    stem = name or f"learning_curve_{metric}" + ("" if axis == "images" else f"_{axis}")
    return style.save_figure(fig, out_dir, stem)


def _draw_decoder_ceiling(ax, runs: pd.DataFrame) -> int:
    """A line per distinct ``decoder_ceiling_ap`` of the runs (one per val set and encoding); how many."""
    if "decoder_ceiling_ap" not in runs:
        return 0
    levels = sorted(set(runs["decoder_ceiling_ap"].dropna().round(4)))
    for level in levels:
        ax.axhline(level, color="black", linestyle="-", linewidth=0.8, label=f"decoder ceiling ({level:.3f})")
    return len(levels)


def _suffix(axis: str) -> str:
    return "" if axis == "images" else f"_{axis}"


def write_auc_table(
    runs: pd.DataFrame,
    out_dir: str | Path,
    metric: str = "ap",
    axis: str = "images",
    reference: str = "random",
) -> tuple[pd.DataFrame, Path]:
    """Compute the normalised area under each condition's learning curve and write it as CSV.

    Args:
        runs: tidy table from ``load_runs`` (incomplete runs are left out here).
        out_dir: folder for ``auc_<metric>[_<axis>].csv``.
        metric: metric on the y axis.
        axis: x axis (on all but images, every run's AULC is taken over the range all runs cover).
        reference: lower end of the gap share (the upper end is the full-pool run).

    Returns:
        The table (see ``stats.auc_table``) and the CSV path.
    """
    runs, x = with_axis(_usable(runs, metric), axis)
    table = auc_table(runs, metric, "condition", x=x, reference=reference)
    table.attrs["axis"] = axis
    table.attrs["full_pool"] = full_pool_level(runs, metric)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"auc_{metric}{_suffix(axis)}.csv"
    table.to_csv(path, index=False, float_format="%.6g")
    return table, path


def format_auc_table(table: pd.DataFrame, metric: str = "ap") -> str:
    """Plain-text rendering of the AUC table for terminals and notebooks."""
    axis = table.attrs.get("axis", "images")
    x_range = table.attrs.get("x_range")
    over = "labeled range" if x_range is None else f"common range {x_range[0]:g}-{x_range[1]:g}"
    header = (
        f"Normalised area under the {metric} learning curve (trapezoid / {over}, x = {axis}), over seeds; "
        "controls (use labels) last, not ranked"
    )
    shown = table.drop(columns=["condition", "strategy"]).rename(
        columns={
            "condition_name": "condition",
            "auc_mean": "AUC mean",
            "auc_std": "AUC std",
            "auc_ci_low": "95% CI low",
            "auc_ci_high": "95% CI high",
            "n_seeds": "seeds",
            "final_mean": f"final {metric}",
            "gap_share": "gap share",
        }
    )
    if shown["gap share"].isna().all():
        shown = shown.drop(columns="gap share")
    text = header + "\n" + shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")
    pool = table.attrs.get("full_pool")
    if pool is not None and len(pool):
        levels = ", ".join(f"{r.condition_name}: {r.mean:.4f} ({r.n_seeds} seeds)" for r in pool.itertuples())
        text += f"\nfull pool (upper reference) {metric}: {levels}; gap share = (final - reference) / (full pool - reference)"
    return text


def write_paired_table(
    runs: pd.DataFrame,
    out_dir: str | Path,
    metric: str = "ap",
    reference: str = "random",
    axis: str = "images",
) -> tuple[pd.DataFrame, Path]:
    """The paired table against ``reference`` as ``paired_vs_<reference>[_<axis>].csv``.

    Raises:
        FiguresError: no condition is called ``reference``, or the axis was not logged.
    """
    runs, x = with_axis(_usable(runs, metric), axis)
    try:
        table = paired_table(runs, metric, reference, x=x, axis=axis)
    except ValueError as exc:
        raise FiguresError(str(exc)) from exc
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in reference)
    path = out / f"paired_vs_{stem}{_suffix(axis)}.csv"
    table.to_csv(path, index=False, float_format="%.6g")
    table.attrs.update({"axis": axis, "reference": reference, "metric": metric})
    return table, path


def verdict(row, reference: str = "random") -> str:
    """How a paired row reads (:func:`al_bench.stats.verdict`)."""
    return stats_verdict(int(row.seeds), row.delta_aulc_ci_low, row.delta_aulc_ci_high, reference)


def format_paired_table(table: pd.DataFrame) -> str:
    """Plain-text paired table with a verdict per row and the p-value floor beside each p-value."""
    reference = table.attrs.get("reference", "random")
    metric, axis = table.attrs.get("metric", "ap"), table.attrs.get("axis", "images")
    header = (
        f"Paired by seed vs {reference} (x = {axis}, {metric}): ΔAULC over each pair's common x range, "
        "95% t-interval, exact sign-flip p (floor 2/2^n)"
    )
    lines = [header]
    for row in table.itertuples(index=False):
        lines.append(
            f"  {row.condition_name:<40} seeds={row.seeds}  ΔAULC={row.delta_aulc_mean:+.4f} "
            f"[{row.delta_aulc_ci_low:+.4f}, {row.delta_aulc_ci_high:+.4f}]  Δfinal={row.delta_final_mean:+.4f}  "
            f"p={row.p_value:.3g} (floor {row.p_floor:.3g})  {verdict(row, reference)}"
        )
    return "\n".join(lines)
