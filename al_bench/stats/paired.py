"""Paired per-seed differences against a reference condition, with a t-interval and an exact p-value.

Seeds are paired by design (same initial set and round-0 model per seed across strategies), so the
comparison that uses that pairing is the per-seed difference ``d_s = AULC(condition, s) - AULC(reference, s)``:
its mean, a 95 % Student-t interval (sample std, ddof = 1) and an exact two-sided sign-flip permutation
p-value. Under "no difference" each ``d_s`` is as likely positive as negative, so all ``2^n`` sign patterns
are equally likely; the p-value is the share of patterns whose ``|sum|`` reaches the observed one. With
``n`` seeds it can never go below ``2 / 2^n`` (the observed pattern and its mirror): 0.25 at 3 seeds,
0.0625 at 5, 0.031 at 6. That floor is returned beside every p-value.

A condition whose interval covers 0 is *not distinguishable* from the reference at this number of seeds;
with fewer than two seeds there is no interval at all (NaN bounds, never a zero-width one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as scipy_stats

from al_bench.stats.aulc import paired_aulc

EXACT_MAX_SEEDS = 22
"""Up to this many seeds all 2^n sign patterns are enumerated (4 M sums); above, a seeded Monte-Carlo."""

MONTE_CARLO_PATTERNS = 1 << 20

PAIRED_COLUMNS = (
    "condition",
    "seeds",
    "delta_aulc_mean",
    "delta_aulc_ci_low",
    "delta_aulc_ci_high",
    "delta_final_mean",
    "p_value",
)
"""Columns of the paired table, in order (``paired_vs_<reference>.csv``; extras go after them)."""


def t_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t interval of the mean: ``mean ± t_{(1+c)/2, n-1} * s / sqrt(n)``.

    ``s`` is the sample standard deviation (ddof = 1). One value has no spread to estimate: its
    bounds are NaN, never the value itself (a zero-width interval would claim certainty).

    Args:
        values: one value per seed (NaNs are ignored).
        confidence: coverage, in (0, 1).

    Returns:
        ``(mean, low, high)``; all NaN without a finite value.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(scipy_stats.t.ppf(0.5 + confidence / 2.0, df=x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def sign_flip_p_floor(n: int) -> float:
    """Smallest two-sided p-value an exact sign-flip test can give with ``n`` pairs: ``2 / 2^n`` (NaN for 0)."""
    return math.nan if n < 1 else min(1.0, 2.0 / 2.0**n)


def sign_flip_p(differences: Sequence[float] | np.ndarray) -> float:
    """Exact two-sided sign-flip permutation p-value of paired differences (H0: symmetric about 0).

    The share of the ``2^n`` sign patterns ``(±d_1, ..., ±d_n)`` whose ``|sum|`` is at least the
    observed ``|sum|`` (the observed pattern included, so p >= 2 / 2^n). Above
    :data:`EXACT_MAX_SEEDS` pairs a seeded Monte-Carlo over :data:`MONTE_CARLO_PATTERNS` patterns.

    Returns:
        p in (0, 1]; NaN without a finite difference.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan
    observed = abs(float(d.sum()))
    tolerance = 1e-12 * max(1.0, float(np.abs(d).sum()))  # equal sums must count as "as extreme"
    if d.size <= EXACT_MAX_SEEDS:
        sums = np.zeros(1)
        for value in d:  # all 2^n signed sums, built one pair at a time
            sums = np.concatenate([sums + value, sums - value])
        return float(np.mean(np.abs(sums) >= observed - tolerance))
    rng = np.random.default_rng(0)
    signs = rng.choice([-1.0, 1.0], size=(MONTE_CARLO_PATTERNS, d.size))
    hits = np.abs(signs @ d) >= observed - tolerance
    return float((hits.sum() + 1) / (MONTE_CARLO_PATTERNS + 1))


def paired_summary(
    delta_aulc: Sequence[float], delta_final: Sequence[float], confidence: float = 0.95
) -> dict[str, float]:
    """Mean, interval, p-value and floor of per-seed ΔAULC, and the mean Δ final metric."""
    mean, low, high = t_interval(delta_aulc, confidence)
    finite = np.asarray(delta_aulc, dtype=float)
    n = int(np.isfinite(finite).sum())
    finals = np.asarray(delta_final, dtype=float)
    finals = finals[np.isfinite(finals)]
    return {
        "seeds": n,
        "delta_aulc_mean": mean,
        "delta_aulc_ci_low": low,
        "delta_aulc_ci_high": high,
        "delta_final_mean": float(finals.mean()) if finals.size else math.nan,
        "p_value": sign_flip_p(delta_aulc),
        "p_floor": sign_flip_p_floor(n),
    }


Curve = tuple[Sequence[float], Sequence[float]]
"""``(x, y)`` of one run, in round order."""


def _final(curve: Curve) -> float:
    """The metric at the run's last round (its last logged point)."""
    y = np.asarray(curve[1], dtype=float)
    y = y[np.isfinite(y)]
    return float(y[-1]) if y.size else math.nan


def paired_differences(
    curves: Mapping[str, Mapping[int, Curve]],
    references: Mapping[str, str | None],
    confidence: float = 0.95,
) -> list[dict]:
    """The paired table: each condition against its reference, seed by seed.

    For every seed both conditions ran, ΔAULC = AULC(condition) - AULC(reference), both taken over the
    x range common to the two runs (:func:`al_bench.stats.aulc.paired_aulc`), and Δ final = difference
    of the metric at the last round.

    Args:
        curves: ``{condition: {seed: (x, y)}}``, one curve per run.
        references: ``{condition: its reference condition}`` for the conditions to compare (None: no
            reference matched; the row then has 0 seeds and NaN values).
        confidence: interval coverage.

    Returns:
        One dict per condition of ``references`` (in its order): ``condition``, ``reference``,
        ``seeds`` (number of paired seeds), ``delta_aulc_mean``, ``delta_aulc_ci_low``,
        ``delta_aulc_ci_high``, ``delta_final_mean``, ``p_value``, ``p_floor``, ``delta_aulc`` (the
        per-seed differences, by seed).
    """
    rows = []
    for condition, reference in references.items():
        mine = curves.get(condition, {})
        theirs = curves.get(reference, {}) if reference is not None else {}
        seeds = sorted(set(mine) & set(theirs))
        d_aulc, d_final = {}, []
        for seed in seeds:
            (xa, ya), (xb, yb) = mine[seed], theirs[seed]
            a, b, _, _ = paired_aulc(xa, ya, xb, yb)
            d_aulc[seed] = a - b
            d_final.append(_final(mine[seed]) - _final(theirs[seed]))
        summary = paired_summary(list(d_aulc.values()), d_final, confidence)
        rows.append({"condition": condition, "reference": reference, **summary, "delta_aulc": d_aulc})
    return rows


def _settings(name: str) -> set[str]:
    """The ``key=value`` tokens of a condition name (everything after the strategy)."""
    return set(name.split()[1:])


def reference_candidates(
    reference: str, names: Mapping[str, str], strategies: Mapping[str, str]
) -> list[str]:
    """The conditions ``reference`` designates: the one of that name, else all of that name or strategy."""
    exact = [c for c in names if names[c] == reference]
    if len(exact) == 1:
        return exact
    return exact or [c for c in names if strategies.get(c) == reference]


def reference_for(
    condition: str, reference: str, names: Mapping[str, str], strategies: Mapping[str, str]
) -> str | None:
    """The reference condition that ``condition`` is compared with, or None.

    ``reference`` is a condition name (``random``, ``random n_val=200``) or a strategy. When exactly one
    condition carries that name it is the reference of every other condition. Otherwise the
    candidates are the conditions of that name or strategy, and the one whose settings (the
    ``key=value`` tokens of its name) are all among ``condition``'s, with most of them, is chosen: a
    sweep over ``data.n_val`` compares ``heatmap_annoy n_val=200`` with ``random n_val=200``, never
    with the n_val=100 random. Ambiguous or no match: None (the row is reported with no seeds).

    Args:
        condition: the condition to compare.
        reference: the ``--reference`` given.
        names: ``{condition: condition_name}`` of all conditions.
        strategies: ``{condition: strategy}``.
    """
    candidates = reference_candidates(reference, names, strategies)
    if condition in candidates or not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    own = _settings(names[condition])
    fitting = [c for c in candidates if _settings(names[c]) <= own]
    if not fitting:
        return None
    best = max(len(_settings(names[c])) for c in fitting)
    chosen = [c for c in fitting if len(_settings(names[c])) == best]
    return chosen[0] if len(chosen) == 1 else None


def verdict(seeds: int, low: float, high: float, reference: str = "random") -> str:
    """How a paired interval reads: better / worse than, or not distinguishable from, the reference.

    "not distinguishable" means the 95 % interval of the mean per-seed difference covers 0: at this
    number of seeds the data cannot tell the two apart (which is not evidence that they are equal).
    """
    if seeds < 2 or not (math.isfinite(low) and math.isfinite(high)):
        return f"n/a ({seeds} seed{'s' * (seeds != 1)})"
    if low > 0:
        return f"better than {reference}"
    if high < 0:
        return f"worse than {reference}"
    return f"not distinguishable from {reference}"
