"""Statistics behind the figures: confidence bands over seeds, the AULC table and the paired table.

Kept apart from plotting so that the numbers in every figure and table can be checked by hand. The
arithmetic itself (AULC, common x range, t-interval, sign-flip p-value) lives in :mod:`al_bench.stats`,
shared with the end-of-sweep report; this module only turns the tidy table into its inputs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from al_bench.stats import (
    PAIRED_COLUMNS,
    aulc_between,
    common_range,
    normalized_aulc,
    paired_differences,
    reference_candidates,
    reference_for,
    t_interval,
)

__all__ = ["auc_table", "curve_band", "full_pool_level", "normalized_auc", "paired_table", "t_interval"]

normalized_auc = normalized_aulc
"""The one normalised AULC (trapezoid / x range), :func:`al_bench.stats.normalized_aulc`."""

FULL_POOL, CONTROL = "full_pool", "control"


def _roles(runs: pd.DataFrame) -> pd.Series:
    return runs["role"] if "role" in runs.columns else pd.Series("method", index=runs.index)


def curve_band(
    runs: pd.DataFrame, metric: str, group: str = "condition", confidence: float = 0.95, x: str = "n_labeled"
) -> pd.DataFrame:
    """Mean learning curve and its confidence band over seeds, per group and round.

    Args:
        runs: tidy table (needs ``step``, ``seed``, ``x``, ``metric`` and ``group``).
        metric: metric column to summarise.
        group: column naming the curve each row belongs to.
        confidence: band coverage (NaN bounds where fewer than two seeds logged the round).
        x: x column; on axes other than images the x of one round differs between seeds, and
            the band is drawn at their mean.

    Returns:
        Columns ``group, step, n_labeled`` (mean ``x`` over seeds, under that name whatever ``x``
        is), ``mean, low, high, n_seeds`` (distinct seeds).
    """
    rows = []
    present = runs.dropna(subset=[metric, x])
    for (name, step), part in present.groupby([group, "step"], sort=True):
        mean, low, high = t_interval(part[metric].to_numpy(), confidence)
        rows.append(
            {
                group: name,
                "step": int(step),
                "n_labeled": float(part[x].mean()),
                "mean": mean,
                "low": low,
                "high": high,
                "n_seeds": int(part["seed"].nunique()),
            }
        )
    return pd.DataFrame(rows, columns=[group, "step", "n_labeled", "mean", "low", "high", "n_seeds"])


def _curves(runs: pd.DataFrame, metric: str, x: str) -> dict[str, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """``{condition: {seed: (x, metric)}}`` in round order, one curve per (condition, seed)."""
    curves: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    present = runs.dropna(subset=[metric, x])
    for (condition, seed), part in present.groupby(["condition", "seed"], sort=True):
        part = part.sort_values("step")
        curves.setdefault(condition, {})[int(seed)] = (part[x].to_numpy(float), part[metric].to_numpy(float))
    return curves


def full_pool_level(runs: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The upper reference: per full-pool condition, ``metric`` averaged over its seeds.

    Returns:
        Columns ``condition, condition_name, mean, n_seeds`` (empty without full-pool runs).
    """
    pool = runs[_roles(runs) == FULL_POOL].dropna(subset=[metric])
    rows = [
        {
            "condition": condition,
            "condition_name": part["condition_name"].iloc[0] if "condition_name" in part else condition,
            "mean": float(part.groupby("seed")[metric].mean().mean()),
            "n_seeds": int(part["seed"].nunique()),
        }
        for condition, part in pool.groupby("condition", sort=True)
    ]
    return pd.DataFrame(rows, columns=["condition", "condition_name", "mean", "n_seeds"])


AUC_COLUMNS = ["condition", "condition_name", "strategy", "role", "auc_mean", "auc_std", "auc_ci_low",
               "auc_ci_high", "n_seeds", "final_mean", "gap_share"]  # fmt: skip


def auc_table(
    runs: pd.DataFrame,
    metric: str,
    group: str = "condition",
    x: str = "n_labeled",
    common: bool | None = None,
    reference: str = "random",
) -> pd.DataFrame:
    """Normalised area under each run's learning curve, summarised over seeds per condition.

    Args:
        runs: tidy table (complete runs; ``condition`` and ``seed``).
        metric: metric on the y axis.
        group: column naming the compared conditions.
        x: x column (``n_labeled``, ``n_persons``, ``n_keypoints``, ``annotation_cost_s``).
        common: take every run's AULC over the x range all runs cover (latest start, earliest end);
            default: on every axis but images, whose runs end at different x.
        reference: condition name (or strategy) of the lower end of the gap share.

    Returns:
        Methods best mean first, then the controls (label-using runs): ``condition, condition_name,
        strategy, role``, ``auc_mean, auc_std`` (sample std over seeds, ddof=1; NaN with one seed),
        ``auc_ci_low, auc_ci_high`` (95 % t-interval; NaN with one seed), ``n_seeds`` (distinct),
        ``final_mean`` (metric at each run's last round, averaged) and ``gap_share`` = (final_mean -
        reference final_mean) / (full-pool mean - reference final_mean) when there is exactly one
        full-pool condition and one reference (else NaN). Full-pool runs are not rows.
        ``attrs["x_range"]`` = the common range used (None when each run's own).
    """
    roles = _roles(runs)
    curves = _curves(runs[roles != FULL_POOL], metric, x)
    common = x != "n_labeled" if common is None else common
    x_range = None
    if common:
        x_range = common_range(*(c[0] for seeds in curves.values() for c in seeds.values()))
    info = runs.drop_duplicates(group).set_index(group)
    rows = []
    for name, seeds in curves.items():
        if x_range is None:
            areas = [normalized_aulc(xs, ys) for xs, ys in seeds.values()]
        else:
            areas = [aulc_between(xs, ys, *x_range) for xs, ys in seeds.values()]
        mean, low, high = t_interval(areas)
        finite = [a for a in areas if math.isfinite(a)]
        rows.append(
            {
                group: name,
                "condition_name": info.loc[name].get("condition_name", name),
                "strategy": info.loc[name].get("strategy", ""),
                "role": info.loc[name].get("role", "method"),
                "auc_mean": mean,
                "auc_std": float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan,
                "auc_ci_low": low,
                "auc_ci_high": high,
                "n_seeds": len(seeds),
                "final_mean": float(np.mean([ys[-1] for _, ys in seeds.values()])),
            }
        )
    table = pd.DataFrame(rows, columns=[group, *AUC_COLUMNS[1:-1]])
    table["gap_share"] = _gap_shares(table, full_pool_level(runs, metric), reference)
    table["is_control"] = table["role"] == CONTROL
    table = table.sort_values(["is_control", "auc_mean"], ascending=[True, False], kind="stable")
    table = table.drop(columns="is_control").reset_index(drop=True)
    table.attrs["x_range"] = x_range
    return table


def _gap_shares(table: pd.DataFrame, pool: pd.DataFrame, reference: str) -> pd.Series:
    """Each condition's share of the reference -> full-pool gap in final metric (NaN when undefined)."""
    names = dict(zip(table["condition"], table["condition_name"])) if "condition" in table else {}
    strategies = dict(zip(table["condition"], table["strategy"])) if "condition" in table else {}
    refs = reference_candidates(reference, names, strategies)
    if len(pool) != 1 or len(refs) != 1:
        return pd.Series(math.nan, index=table.index)
    low = float(table.loc[table["condition"] == refs[0], "final_mean"].iloc[0])
    gap = float(pool["mean"].iloc[0]) - low
    if gap == 0:
        return pd.Series(math.nan, index=table.index)
    return (table["final_mean"] - low) / gap


def paired_table(
    runs: pd.DataFrame,
    metric: str = "ap",
    reference: str = "random",
    x: str = "n_labeled",
    axis: str = "images",
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per-seed paired differences of every condition against its reference condition.

    Each condition is paired with the reference that :func:`al_bench.stats.reference_for` matches
    (the one ``reference`` names, or in a sweep the one with the same settings); per seed ΔAULC is
    taken over the x range common to the two runs, so on persons / keypoints / cost a run that went
    further is never credited for it.

    Args:
        runs: tidy table of complete runs (``condition``, ``condition_name``, ``strategy``, ``seed``).
        metric: metric on the y axis.
        reference: condition name or strategy of the reference (``--reference``).
        x: x column of ``axis``.
        axis: axis name written in column ``x``.
        confidence: interval coverage.

    Returns:
        :data:`al_bench.stats.PAIRED_COLUMNS`, then ``condition_name, p_floor, x``: methods by
        ΔAULC (best first), then the controls. ``seeds`` = paired seeds; intervals NaN below two.

    Raises:
        ValueError: no condition is called ``reference`` (the message lists the names).
    """
    roles = _roles(runs)
    curves = _curves(runs[roles != FULL_POOL], metric, x)
    info = runs.drop_duplicates("condition").set_index("condition")
    names = {c: info.loc[c, "condition_name"] for c in curves}
    strategies = {c: info.loc[c, "strategy"] for c in curves}
    refs = reference_candidates(reference, names, strategies)
    if not refs:
        raise ValueError(
            f"no condition or strategy called {reference!r} to compare with; conditions: "
            + ", ".join(sorted(names.values()))
        )
    compared = {c: reference_for(c, reference, names, strategies) for c in curves if c not in refs}
    rows = paired_differences(curves, compared, confidence)
    table = pd.DataFrame(rows)
    columns = [*PAIRED_COLUMNS, "condition_name", "p_floor", "x"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    table["condition_name"] = table["condition"].map(names)
    table["x"] = axis
    table["is_control"] = table["condition"].map(info.get("role", {})) == CONTROL
    table = table.sort_values(["is_control", "delta_aulc_mean"], ascending=[True, False], kind="stable")
    return table[columns].reset_index(drop=True)
