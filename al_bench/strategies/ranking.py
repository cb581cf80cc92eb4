"""Strategies that rank the pool by one score: ``random``, ``uncertainty`` and ``mpe``; and
``uncertainty_random``, the ablation of heatmap_annoy that replaces its diversity walk by a random draw.

:func:`uncertain_candidates` is the uncertainty stage shared by ``heatmap_annoy``, ``heatmap_exact``
and ``uncertainty_random``: the ``ceil(budget / selection_ratio)`` most uncertain pool images.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from al_bench.strategies.base import Picked, SelectionContext, Strategy, ceil_div, rank
from al_bench.strategies.scores import mpe_peak_mask, mpe_scores, uncertainty_scores


class RandomStrategy(Strategy):
    """Uniform random picks without replacement, from the context's seeded RNG."""

    name = "random"

    def _select(self, context: SelectionContext, budget: int) -> Picked:
        rows = context.rng.choice(len(context.pool_ids), size=budget, replace=False)
        return Picked(context.pool_ids[rows])


class UncertaintyStrategy(Strategy):
    """The ``budget`` most uncertain images by heatmap activation (``scores.uncertainty_scores``).

    Args:
        uncertainty: ``mode`` (mean_max|min|mean_topk|peak_count), ``topk``, ``th_hm``, ``th_kp``.
    """

    name = "uncertainty"

    def __init__(self, name: str | None = None, uncertainty: Mapping[str, Any] | None = None) -> None:
        super().__init__(name)
        self.uncertainty = dict(uncertainty or {})

    def ranked_pool(self, context: SelectionContext) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Pool ids from most to least uncertain, their primary scores, and filter statistics."""
        scores = uncertainty_scores(context.peaks(), **self.uncertainty)
        order = rank(scores.primary, context.pool_ids, scores.secondary)
        info: dict[str, Any] = {"uncertainty_mode": self.uncertainty.get("mode", "mean_max")}
        if scores.passed is not None:
            info["filter_passed"] = int(scores.passed.sum())
            info["filter_pass_fraction"] = float(scores.passed.mean())
        return context.pool_ids[order], scores.primary[order], info

    def _select(self, context: SelectionContext, budget: int) -> Picked:
        ids, scores, info = self.ranked_pool(context)
        quality = {k: info[k] for k in ("filter_pass_fraction",) if k in info}
        return Picked(ids[:budget], quality=quality, info={**info, "scores": scores[:budget].tolist()})


def uncertain_candidates(
    uncertainty: UncertaintyStrategy, context: SelectionContext, budget: int, selection_ratio: float
) -> Picked:
    """The ``ceil(budget / selection_ratio)`` most uncertain pool ids (all of the pool when smaller).

    Returns the candidates from most to least uncertain, with ``info["scores"]`` aligned with them and,
    for ``peak_count``, the filter statistics (``quality["filter_pass_fraction"]``,
    ``info["candidates_from_fill"]``: more passes than needed keep the top-ranked; fewer are filled by
    the ranking).
    """
    ranked, scores, info = uncertainty.ranked_pool(context)
    n_candidates = min(ceil_div(budget, selection_ratio), len(ranked))
    quality = {}
    if "filter_passed" in info:
        info["candidates_from_fill"] = max(0, n_candidates - info["filter_passed"])
        quality["filter_pass_fraction"] = info["filter_pass_fraction"]
    info["scores"] = scores[:n_candidates].tolist()
    return Picked(ranked[:n_candidates], quality=quality, info=info)


class UncertaintyRandom(Strategy):
    """Ablation of heatmap_annoy: the same uncertainty candidates, then a seeded random ``budget`` of them.

    Against heatmap_annoy / heatmap_exact it isolates what the diversity walk adds to the uncertainty
    filter; with ``selection_ratio`` 1.0 it picks the same images as ``uncertainty``.

    Args:
        uncertainty: the uncertainty stage's config, as for heatmap_annoy.
        selection_ratio: fraction of the ``ceil(budget / selection_ratio)`` candidates kept.
    """

    name = "uncertainty_random"

    def __init__(
        self,
        name: str | None = None,
        uncertainty: Mapping[str, Any] | None = None,
        selection_ratio: float = 0.2,
    ) -> None:
        super().__init__(name)
        if selection_ratio is None or not 0 < selection_ratio <= 1:
            raise ValueError(
                f"{self.name}: selection_ratio must be a number in (0, 1]; got {selection_ratio}"
            )
        self.selection_ratio = float(selection_ratio)
        self.uncertainty = UncertaintyStrategy(uncertainty=uncertainty)

    def _select(self, context: SelectionContext, budget: int) -> Picked:
        candidates = uncertain_candidates(self.uncertainty, context, budget, self.selection_ratio)
        rows = context.rng.choice(len(candidates.ids), size=budget, replace=False)
        info = {
            **candidates.info,
            "selection_ratio": self.selection_ratio,
            "n_candidates": len(candidates.ids),
            "scores": [candidates.info["scores"][r] for r in rows.tolist()],
        }
        return Picked(candidates.ids[rows], quality=candidates.quality, info=info)


class MPEStrategy(Strategy):
    """Multiple-peak entropy (Liu & Ferrari 2017): highest summed keypoint entropy first.

    Args:
        peak_threshold: peaks below this are not candidates (config: ``${infer.decode.peak_threshold}``,
            the decoder's own threshold; 0.1 is that key's default).
        relative_threshold: peaks below this fraction of their keypoint's maximum are not candidates
            either (0 = off).
    """

    name = "mpe"

    def __init__(self, name: str | None = None, peak_threshold: float = 0.1, relative_threshold: float = 0.0):
        super().__init__(name)
        mpe_peak_mask(np.zeros((0, 17, 1)), peak_threshold, relative_threshold)  # validate now
        self.peak_threshold = float(peak_threshold)
        self.relative_threshold = float(relative_threshold)

    def _select(self, context: SelectionContext, budget: int) -> Picked:
        peaks = context.peaks()
        scores = mpe_scores(peaks, self.peak_threshold, self.relative_threshold)
        order = rank(scores, context.pool_ids)[:budget]
        counted = mpe_peak_mask(peaks, self.peak_threshold, self.relative_threshold).sum(axis=2)
        info = {
            "scores": scores[order].tolist(),
            # How ambiguous the pool looks: keypoints with two or more counted peaks.
            "mpe_multi_peak_fraction": float((counted >= 2).mean()),
        }
        return Picked(context.pool_ids[order], info=info)
