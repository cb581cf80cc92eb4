"""Statistics behind the figures: confidence bands over seeds and area under the learning curve.

Kept apart from plotting so that the numbers in every figure and table can be checked by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats


def t_interval(values: np.ndarray | list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval of the mean.

    ``mean ± t_{(1+confidence)/2, n-1} * s / sqrt(n)`` with ``s`` the sample standard deviation
    (ddof=1). With one value there is no spread to estimate: the interval collapses to the value.

    Args:
        values: one value per seed (NaNs are ignored).
        confidence: coverage of the interval, in (0, 1).

    Returns:
        ``(mean, low, high)``; all NaN when no finite value is given.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (float("nan"),) * 3
    mean = float(x.mean())
    if x.size == 1:
        return mean, mean, mean
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2.0, df=x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def normalized_auc(x: np.ndarray | list[float], y: np.ndarray | list[float]) -> float:
    """Area under a learning curve by the trapezoid rule, divided by the width of the x range.

    The result is the curve's average height over the labeled-set sizes it covers, in the metric's
    own units (an AP curve gives a value in [0, 1]), so runs with different budgets stay comparable.

    Args:
        x: labeled-set sizes (any order; sorted here).
        y: metric value at each size.

    Returns:
        The normalised area; ``y`` itself for a single point; NaN when no finite point exists.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in shape: {xs.shape} vs {ys.shape}")
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    if xs.size == 0:
        return float("nan")
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    width = xs[-1] - xs[0]
    if width == 0:
        return float(ys.mean())
    return float(np.trapezoid(ys, xs) / width)


def curve_band(
    runs: pd.DataFrame, metric: str, group: str = "condition", confidence: float = 0.95
) -> pd.DataFrame:
    """Mean learning curve and its confidence band over seeds, per group and round.

    Args:
        runs: tidy table from ``load_runs`` (needs ``step``, ``seed``, ``n_labeled``, ``metric`` and ``group``).
        metric: metric column to summarise.
        group: column naming the curve each row belongs to.
        confidence: band coverage.

    Returns:
        Columns ``group, step, n_labeled`` (mean over seeds), ``mean, low, high, n_seeds``.
    """
    rows = []
    present = runs.dropna(subset=[metric, "n_labeled"])
    for (name, step), part in present.groupby([group, "step"], sort=True):
        mean, low, high = t_interval(part[metric].to_numpy(), confidence)
        rows.append(
            {
                group: name,
                "step": int(step),
                "n_labeled": float(part["n_labeled"].mean()),
                "mean": mean,
                "low": low,
                "high": high,
                "n_seeds": int(part["seed"].nunique()),
            }
        )
    return pd.DataFrame(rows, columns=[group, "step", "n_labeled", "mean", "low", "high", "n_seeds"])


def auc_table(runs: pd.DataFrame, metric: str, group: str = "condition") -> pd.DataFrame:
    """Normalised area under each run's learning curve, summarised over seeds per group.

    Args:
        runs: tidy table from ``load_runs``.
        metric: metric on the y axis (x is ``n_labeled``).
        group: column naming the compared conditions.

    Returns:
        One row per group, best mean first: ``group, auc_mean, auc_std`` (sample std over seeds,
        ddof=1; NaN with one seed), ``auc_ci_low, auc_ci_high`` (95 % t-interval), ``n_seeds``,
        ``final_mean`` (metric at each run's last round, averaged).
    """
    per_run = []
    present = runs.dropna(subset=[metric, "n_labeled"])
    for (name, run_id), part in present.groupby([group, "run_id"], sort=True):
        part = part.sort_values("step")
        per_run.append(
            {
                group: name,
                "auc": normalized_auc(part["n_labeled"], part[metric]),
                "final": float(part[metric].iloc[-1]),
            }
        )
    per_run_df = pd.DataFrame(per_run, columns=[group, "auc", "final"])
    rows = []
    for name, part in per_run_df.groupby(group, sort=True):
        mean, low, high = t_interval(part["auc"].to_numpy())
        std = float(part["auc"].std(ddof=1)) if len(part) > 1 else float("nan")
        rows.append(
            {
                group: name,
                "auc_mean": mean,
                "auc_std": std,
                "auc_ci_low": low,
                "auc_ci_high": high,
                "n_seeds": len(part),
                "final_mean": float(part["final"].mean()),
            }
        )
    table = pd.DataFrame(
        rows, columns=[group, "auc_mean", "auc_std", "auc_ci_low", "auc_ci_high", "n_seeds", "final_mean"]
    )
    return table.sort_values("auc_mean", ascending=False, kind="stable").reset_index(drop=True)
