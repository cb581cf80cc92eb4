"""Learning curves (metric vs labeled images, mean and 95 % t-band over seeds) and the AUC table."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from al_bench.figures import style
from al_bench.figures.runs import CONDITION_SEPARATOR, FiguresError, add_conditions, condition_order
from al_bench.figures.stats import auc_table, curve_band


def _check_metric(runs: pd.DataFrame, metric: str) -> None:
    """Fail with the list of logged metrics when ``metric`` was never logged."""
    if metric not in runs.columns or runs[metric].isna().all():
        from al_bench.figures.runs import metric_columns

        raise FiguresError(
            f"metric {metric!r} was not logged by these runs; logged: {', '.join(metric_columns(runs))}"
        )
    if "n_labeled" not in runs.columns:
        raise FiguresError("runs did not log 'n_labeled', the x axis of learning curves")


def _with_conditions(runs: pd.DataFrame) -> pd.DataFrame:
    return runs if "condition" in runs.columns else add_conditions(runs)


def condition_label(condition: str, strategy: str) -> str:
    """Legend text: the strategy's readable name plus the swept values that set the condition apart."""
    rest = condition.split(CONDITION_SEPARATOR, 1)[1] if CONDITION_SEPARATOR in condition else ""
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
) -> list[Path]:
    """Plot ``metric`` vs labeled images, one line per condition with its confidence band over seeds.

    Args:
        runs: tidy table from ``load_runs`` (``condition`` is added when missing).
        out_dir: folder for the PNG and PDF.
        metric: metric column on the y axis (``ap``, ``person_count_accuracy``, ...).
        confidence: band coverage (Student-t over seeds).
        name: file stem; default ``learning_curve_<metric>``.

    Returns:
        Paths of the PNG and PDF.

    Raises:
        FiguresError: the metric or ``n_labeled`` was never logged.
    """
    _check_metric(runs, metric)
    runs = _with_conditions(runs)
    band = curve_band(runs, metric, "condition", confidence)
    strategy_of = runs.groupby("condition")["strategy"].first()
    colors = condition_colors(runs)
    order = condition_order(runs)
    band_alpha = 0.15 if len(order) <= 4 else 0.07  # many overlapping bands turn into mud
    style.apply_style()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    # One strategy swept over a param: name it once (legend title), entries only say the swept values.
    single = strategy_of.nunique() == 1 and len(order) > 1
    for condition in order:
        part = band[band["condition"] == condition]
        if part.empty:
            continue
        seeds = int(part["n_seeds"].max())
        text = (
            condition.split(CONDITION_SEPARATOR, 1)[-1]
            if single
            else condition_label(condition, strategy_of[condition])
        )
        ax.plot(
            part["n_labeled"],
            part["mean"],
            "-",
            marker="o",
            clip_on=False,  # a curve on the axis limit (AP 0) stays visible
            ms=3.5,
            color=colors[condition],
            label=f"{text} ({seeds} seed{'s' * (seeds != 1)})",
        )
        low, high = part["low"], part["high"]
        if style.is_fraction(metric):  # a t-band can leave [0, 1]; the metric cannot
            low, high = low.clip(0.0, 1.0), high.clip(0.0, 1.0)
        ax.fill_between(
            part["n_labeled"],
            low,
            high,
            color=colors[condition],
            alpha=band_alpha,
            linewidth=0,
        )
    if style.is_fraction(metric):
        ax.set_ylim(bottom=0.0)
    ax.set_xlabel(style.metric_label("n_labeled"))
    ax.set_ylabel(style.metric_label(metric))
    ax.set_title(
        f"{style.metric_short(metric)} vs labeled images\n"
        f"mean over seeds, shaded: {confidence:.0%} t-interval"
    )
    style.place_legend(ax, len(order), title=style.strategy_label(strategy_of.iloc[0]) if single else None)
    return style.save_figure(fig, out_dir, name or f"learning_curve_{metric}")


def write_auc_table(runs: pd.DataFrame, out_dir: str | Path, metric: str = "ap") -> tuple[pd.DataFrame, Path]:
    """Compute the normalised area under each condition's learning curve and write it as CSV.

    Args:
        runs: tidy table from ``load_runs``.
        out_dir: folder for ``auc_<metric>.csv``.
        metric: metric on the y axis.

    Returns:
        The table (see ``stats.auc_table``; column ``condition``) and the CSV path.
    """
    _check_metric(runs, metric)
    table = auc_table(_with_conditions(runs), metric, "condition")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"auc_{metric}.csv"
    table.to_csv(path, index=False, float_format="%.6g")
    return table, path


def format_auc_table(table: pd.DataFrame, metric: str = "ap") -> str:
    """Plain-text rendering of the AUC table for terminals and notebooks."""
    header = f"Normalised area under the {metric} learning curve (trapezoid / labeled range), over seeds"
    shown = table.rename(
        columns={
            "auc_mean": "AUC mean",
            "auc_std": "AUC std",
            "auc_ci_low": "95% CI low",
            "auc_ci_high": "95% CI high",
            "n_seeds": "seeds",
            "final_mean": f"final {metric}",
        }
    )
    return header + "\n" + shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")
