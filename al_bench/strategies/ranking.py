"""Strategies that rank the pool by one score: ``random``, ``uncertainty`` and ``mpe``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from al_bench.strategies.base import Picked, SelectionContext, Strategy, rank
from al_bench.strategies.scores import mpe_scores, uncertainty_scores


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


class MPEStrategy(Strategy):
    """Multiple-peak entropy (Liu & Ferrari 2017): highest summed keypoint entropy first."""

    name = "mpe"

    def _select(self, context: SelectionContext, budget: int) -> Picked:
        scores = mpe_scores(context.peaks())
        order = rank(scores, context.pool_ids)[:budget]
        return Picked(context.pool_ids[order], info={"scores": scores[order].tolist()})
