"""Strategies built on the neighbourhood-suppression walk: ``diversity``, ``heatmap_annoy``, ``heatmap_exact``.

- ``heatmap_annoy`` (the paper): the uncertainty stage keeps the ``ceil(budget / selection_ratio)``
  most uncertain images; the walk over their embeddings (index from ``cfg.index``, Annoy) keeps
  ``budget`` of them.
- ``heatmap_exact``: the same walk with the exact backend (same metric as ``cfg.index``), so any
  difference in accuracy or time is the index's alone.
- ``diversity``: no uncertainty stage; the walk covers the whole pool in a seeded random order
  (``order: random``, from the context RNG) or by ascending id (``order: id``), with the index from
  ``cfg.index``. ``selection_ratio: null`` means ``budget / pool size``, so the suppression radius is
  what the whole pool needs to be covered by ``budget`` picks.

Every selection also measures its own quality (``quality: true``): overlap with the exact walk on
the same candidates and order, the index's k-NN recall on ``quality_sample`` candidates (drawn from
a generator seeded with ``quality_seed``, not the run's RNG, so turning the measures off does not change
later rounds), and the coverage radius. ``knn_recall`` is measured at the walk's own ``k = n_suppress``
through the same ``index.query`` call the walk makes (so with the index's configured ``search_k``);
``knn_recall_at{quality_k}`` (default ``knn_recall_at10``) is the same measure at ``quality_k``. With
``n_suppress = 0`` (ratio 1.0) the walk queries nothing and ``knn_recall`` is not reported. For an
exact index, overlap and recall are 1 by definition and are reported as such without recomputation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np

from al_bench.search import AnnoyIndex, ExactIndex, KnnIndex
from al_bench.strategies.base import Picked, SelectionContext, Strategy
from al_bench.strategies.quality import coverage_radius, knn_recall, overlap
from al_bench.strategies.ranking import UncertaintyStrategy, uncertain_candidates
from al_bench.strategies.walk import suppression_size, suppression_walk


class WalkStrategy(Strategy):
    """Shared machinery: candidates -> embeddings -> index -> walk -> quality measures.

    Args:
        name: strategy name.
        index: ``() -> KnnIndex``, a factory of unbuilt indexes (``hydra.utils.instantiate`` of an
            ``index`` config with ``_partial_=True``); one index is built per selection. Default: Annoy.
        selection_ratio: fraction of candidates the walk keeps (``None``: subclass decides).
        exact: constructor arguments of the exact reference index (``chunk_size``, ``device``).
        quality: compute the selection-quality measures.
        quality_sample: queries sampled for the recall measure.
        quality_k: neighbours of the second recall measure, ``knn_recall_at{quality_k}`` (the first,
            ``knn_recall``, uses the walk's own ``k = n_suppress``).
        quality_seed: seed of the sampling generator for the recall measure.
    """

    uses_index = True

    def __init__(
        self,
        name: str | None = None,
        index: Callable[[], KnnIndex] | None = None,
        selection_ratio: float | None = 0.2,
        exact: Mapping[str, Any] | None = None,
        quality: bool = True,
        quality_sample: int = 200,
        quality_k: int = 10,
        quality_seed: int = 0,
    ) -> None:
        super().__init__(name)
        self.index = index or AnnoyIndex
        self.metric = self.index().metric  # an unbuilt index: checks its arguments now, not at round 3
        if selection_ratio is not None:
            suppression_size(selection_ratio)  # validates the range now, not at round 3
        self.selection_ratio = selection_ratio
        self.exact_cfg = dict(exact or {})
        self.quality = quality
        self.quality_sample = int(quality_sample)
        self.quality_k = int(quality_k)
        self.quality_seed = int(quality_seed)

    def _candidates(self, context: SelectionContext, budget: int) -> tuple[np.ndarray, float, Picked]:
        """Candidate ids in walk order, the selection ratio, and scores/info to pass on."""
        raise NotImplementedError

    def _select(self, context: SelectionContext, budget: int) -> Picked:
        candidates, ratio, extra = self._candidates(context, budget)
        vectors = context.embeddings(candidates)
        start = time.perf_counter()
        index = self.index().build(vectors)
        build_s = time.perf_counter() - start
        n_suppress = suppression_size(ratio)
        walk = suppression_walk(np.arange(len(candidates)), index, n_suppress, budget)
        info = {
            **extra.info,
            "index": index.name,
            "selection_ratio": ratio,
            "n_candidates": len(candidates),
            "n_suppress": n_suppress,
            "n_walked": walk.n_walked,
            "n_suppressed": walk.n_suppressed,
            "n_filled": walk.n_filled,
        }
        if "scores" in info:
            info["scores"] = [info["scores"][r] for r in walk.rows]
        quality, quality_s = dict(extra.quality), 0.0
        if self.quality:
            start = time.perf_counter()
            quality.update(self._quality(index, vectors, walk.rows, n_suppress, budget))
            quality_s = time.perf_counter() - start
        timings = {"index_build_s": build_s, "query_s": walk.query_s, "quality_s": quality_s}
        return Picked(candidates[walk.rows], timings=timings, quality=quality, info=info)

    def _quality(self, index: KnnIndex, vectors: np.ndarray, rows: np.ndarray, n_suppress: int, budget: int):
        exact_kwargs = {"progress": False, **self.exact_cfg}
        quality = {"coverage_radius": coverage_radius(vectors, rows, self.metric, **exact_kwargs)}
        n = len(vectors)
        # The walk's own k (suppression_walk clips n_suppress to n - 1 the same way), and recall@quality_k.
        recall_k = {"knn_recall": min(n_suppress, n - 1), self._recall_at_key: min(self.quality_k, n - 1)}
        recall_k = {key: k for key, k in recall_k.items() if k >= 1}  # no queries, no recall
        if isinstance(index, ExactIndex):
            quality.update(overlap_exact=1.0, **dict.fromkeys(recall_k, 1.0))
        elif n > 1:
            exact = ExactIndex(self.metric, **exact_kwargs).build(vectors)
            exact_rows = suppression_walk(np.arange(n), exact, n_suppress, budget).rows
            sample = np.sort(np.random.default_rng(self.quality_seed).permutation(n)[: self.quality_sample])
            quality["overlap_exact"] = overlap(rows, exact_rows)
            # knn_recall goes through index.query(rows, k), the very call the walk makes (same k, same
            # search_k): an ANN index inspects more nodes for a larger k, so recall@10 overstates the walk's.
            quality.update({key: knn_recall(index, exact, sample, k) for key, k in recall_k.items()})
        return quality

    @property
    def _recall_at_key(self) -> str:
        return f"knn_recall_at{self.quality_k}"


class DiversityStrategy(WalkStrategy):
    """Diversity only: the walk over the whole pool in seeded random (or id) order.

    Args:
        order: ``random`` (a permutation from the context RNG) or ``id`` (ascending global id).
        selection_ratio: ``None`` = ``budget / pool size``; a number fixes the suppression size.
    """

    name = "diversity"

    def __init__(self, order: str = "random", selection_ratio: float | None = None, **kwargs: Any) -> None:
        super().__init__(selection_ratio=selection_ratio, **kwargs)
        if order not in ("random", "id"):
            raise ValueError(f"diversity order must be 'random' or 'id'; got {order!r}")
        self.order = order

    def _candidates(self, context: SelectionContext, budget: int):
        ids = context.pool_ids
        if self.order == "random":
            ids = ids[context.rng.permutation(len(ids))]
        ratio = self.selection_ratio if self.selection_ratio is not None else budget / len(ids)
        return ids, ratio, Picked(ids, info={"order": self.order})


class HeatmapDiversity(WalkStrategy):
    """Uncertainty stage (``uncertainty`` config) then the walk; the base of heatmap_annoy/heatmap_exact."""

    def __init__(self, uncertainty: Mapping[str, Any] | None = None, selection_ratio: float = 0.2, **kwargs):
        if selection_ratio is None:
            raise ValueError(f"{kwargs.get('name', self.name)}: selection_ratio must be a number in (0, 1]")
        super().__init__(selection_ratio=selection_ratio, **kwargs)
        self.uncertainty = UncertaintyStrategy(uncertainty=uncertainty)

    def _candidates(self, context: SelectionContext, budget: int):
        candidates = uncertain_candidates(self.uncertainty, context, budget, self.selection_ratio)
        return candidates.ids, self.selection_ratio, candidates


class HeatmapAnnoy(HeatmapDiversity):
    """The paper's method: uncertainty filter + Annoy neighbourhood suppression (index from ``cfg.index``)."""

    name = "heatmap_annoy"

    def __init__(self, index: Callable[[], KnnIndex] | None = None, **kwargs: Any) -> None:
        super().__init__(index=index, **kwargs)
        if isinstance(self.index(), ExactIndex):
            raise ValueError(  # noqa: TRY004 - a config that does not fit, not a caller's type error
                "strategy heatmap_annoy needs an approximate index (index=annoy); got index=exact. "
                "Use strategy=heatmap_exact for the exact walk."
            )


class HeatmapExact(HeatmapDiversity):
    """The same walk as heatmap_annoy with exact neighbours (same metric as ``cfg.index``)."""

    name = "heatmap_exact"

    def __init__(
        self,
        index: Callable[[], KnnIndex] | None = None,
        exact: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        # Always the exact backend (with strategy.exact's settings), in the configured index's metric.
        metric = (index or AnnoyIndex)().metric
        exact_index = partial(ExactIndex, metric=metric, **dict(exact or {}))
        super().__init__(index=exact_index, exact=exact, **kwargs)
