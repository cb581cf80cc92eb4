"""Normalised area under a learning curve (AULC), and curves put on a common x range.

AULC = trapezoid area / width of the x range: the curve's mean height in the metric's own units
(an AP curve gives a value in [0, 1]). On the images axis every run of a sweep covers the same range;
on persons, keypoints or cost the runs of one seed end at different x, so comparing each run's AULC
over its own range would reward a run for stopping early at a high value. :func:`paired_aulc` takes
two curves over the range both cover (latest start, earliest end), linearly interpolated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ArrayLike = np.ndarray | Sequence[float]


def _clean(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Finite points of a curve, sorted by x (stable, so repeated x keep their order)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in shape: {xs.shape} vs {ys.shape}")
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    order = np.argsort(xs, kind="stable")
    return xs[order], ys[order]


def normalized_aulc(x: ArrayLike, y: ArrayLike) -> float:
    """Trapezoid area under ``y`` vs ``x`` divided by the x span (the curve's mean height).

    Args:
        x: x values (labeled images, persons, keypoints or seconds; any order, sorted here).
        y: metric at each x.

    Returns:
        The normalised area; the mean of ``y`` when all points share one x (a single round);
        NaN when no finite point exists.
    """
    xs, ys = _clean(x, y)
    if xs.size == 0:
        return math.nan
    width = xs[-1] - xs[0]
    if width == 0:
        return float(ys.mean())
    return float(np.trapezoid(ys, xs) / width)


def interpolate(x: ArrayLike, y: ArrayLike, grid: ArrayLike) -> np.ndarray:
    """The curve's piecewise-linear value at each ``grid`` point; NaN outside its x range.

    Never extrapolates: a run that stopped at 9,000 keypoints says nothing about 10,000.
    """
    xs, ys = _clean(x, y)
    at = np.asarray(grid, dtype=float)
    if xs.size == 0:
        return np.full(at.shape, math.nan)
    values = np.interp(at, xs, ys)
    values[(at < xs[0]) | (at > xs[-1])] = math.nan
    return values


def common_range(*curves_x: ArrayLike) -> tuple[float, float]:
    """``(latest start, earliest end)`` of several curves' x values; ``start > end`` when they do not overlap."""
    starts, ends = [], []
    for x in curves_x:
        xs = np.asarray(x, dtype=float)
        xs = xs[np.isfinite(xs)]
        if xs.size == 0:
            return math.nan, math.nan
        starts.append(xs.min())
        ends.append(xs.max())
    return float(max(starts)), float(min(ends))


def aulc_between(x: ArrayLike, y: ArrayLike, low: float, high: float) -> float:
    """AULC of a curve over ``[low, high]`` only, the ends linearly interpolated (NaN outside its range).

    The curve is evaluated on its own x values inside the range plus the two ends, so the trapezoid
    rule stays exact for the piecewise-linear curve.
    """
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        return math.nan
    xs = np.asarray(x, dtype=float)
    grid = np.unique(np.array([low, *xs[(xs > low) & (xs < high)], high]))
    return normalized_aulc(grid, interpolate(x, y, grid))


def paired_aulc(
    xa: ArrayLike, ya: ArrayLike, xb: ArrayLike, yb: ArrayLike
) -> tuple[float, float, float, float]:
    """AULC of two curves over the x range common to both (:func:`common_range`, :func:`aulc_between`).

    Returns:
        ``(aulc_a, aulc_b, low, high)``; the AULCs are NaN when the ranges do not overlap. When the
        common range is one point (single-round curves) each AULC is the curve's value there.
    """
    low, high = common_range(xa, xb)
    return aulc_between(xa, ya, low, high), aulc_between(xb, yb, low, high), low, high
