"""What every strategy shares: the narrow selection context, the result record, and the base class.

The base class owns everything that is not a strategy's own idea: budget checks ("exactly budget ids,
fewer only when the pool is smaller, with a warning"), stable ranking with ties broken by global id,
NaN checks, timing, and the guarantee that no already-labeled or duplicate id is ever returned.
Strategies only see global image ids; pool positions never leave this package.
"""

from __future__ import annotations

import math
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# The timing parts of every selection (Selection.timings; the loop logs each as a metric, total_s
# as sampling_time_s).
TIMING_KEYS = ("uncertainty_s", "embedding_s", "index_build_s", "query_s", "total_s")
_EPS = 1e-9  # guards ceil() against float noise, e.g. 3 / 0.1 = 30.000000000000004


def ceil_div(a: float, b: float) -> int:
    """``ceil(a / b)`` that is not fooled by float round-off."""
    return math.ceil(a / b - _EPS)


def clamp_budget(budget: Any, n_pool: int) -> int:
    """The number of ids a selection of ``budget`` returns from a pool of ``n_pool``: the one clamp.

    Raises:
        ValueError: ``budget`` is not a non-negative integer.
    """
    if isinstance(budget, bool) or int(budget) != budget or budget < 0:
        raise ValueError(f"budget must be a non-negative integer; got {budget!r}")
    return min(int(budget), n_pool)


def check_selection(ids: Any, pool_ids: np.ndarray, n: int, who: str) -> np.ndarray:
    """A selection's guarantees, the one place they are checked: exactly ``n`` distinct ids, all in
    the unlabeled ``pool_ids``. A broken strategy must fail loudly here, never label an image twice
    (baal #200).

    Returns:
        ``ids`` as int64.

    Raises:
        RuntimeError: naming ``who`` and the offending ids.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) != n:
        raise RuntimeError(f"{who} returned {len(ids)} ids for a budget of {n}")
    if len(np.unique(ids)) != len(ids):
        raise RuntimeError(f"{who} returned an id twice (duplicate ids)")
    outside = ids[~np.isin(ids, pool_ids)]
    if len(outside):
        raise RuntimeError(f"{who} returned ids not in the unlabeled pool: {outside[:10].tolist()}")
    return ids


def _as_ids(ids: Any, what: str) -> np.ndarray:
    arr = np.asarray(ids if ids is not None else [], dtype=np.int64).reshape(-1)
    if len(np.unique(arr)) != len(arr):
        raise ValueError(f"{what} contains duplicate image ids")
    return arr


@dataclass
class Selection:
    """The outcome of one selection round.

    Attributes:
        ids: global image ids, int64, in pick order.
        timings: ``uncertainty_s``, ``embedding_s``, ``index_build_s``, ``query_s``, ``total_s``
            (sampling time, excluding ``quality_s``) and ``quality_s`` (selection-quality measures).
        quality: selection-quality measures (overlap with exact, k-NN recall, coverage radius, ...).
        info: anything else worth logging (candidate counts, scores of the picked ids, ...).
    """

    ids: np.ndarray
    timings: dict[str, float]
    quality: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class SelectionContext:
    """What a strategy may see: the pool, the labeled set, an RNG and lazy, timed providers.

    Args:
        pool_ids: unlabeled global image ids (sorted ascending here if they are not).
        labeled_ids: global ids already labeled; must not overlap ``pool_ids``.
        rng: the run's generator (random order, random picks).
        peaks: ``() -> (N, 17, M)`` per-keypoint NMS peak values aligned with ``pool_ids``, sorted
            descending and padded with 0 (``pose.predict(..., want=("peaks",))``).
        embeddings: ``(ids) -> (n, d)`` float32, or an object with ``vectors`` (and optionally
            ``cache_hit``), e.g. :class:`al_bench.embed.EmbeddingResult`.
        image_errors: ``() -> (N,)`` the current model's error on each pool image, aligned with
            ``pool_ids``, computed from the pool's *ground truth* (``evaluate.image_oks_errors``). Only
            label-using controls (``Strategy.uses_labels``, e.g. ``oracle_loss``) are given one; it is
            the one way such a strategy reaches labels of unlabeled images.
    """

    def __init__(
        self,
        pool_ids: Any,
        labeled_ids: Any = None,
        rng: np.random.Generator | None = None,
        peaks: Callable[[], np.ndarray] | None = None,
        embeddings: Callable[[np.ndarray], Any] | None = None,
        image_errors: Callable[[], np.ndarray] | None = None,
    ) -> None:
        self.pool_ids = np.sort(_as_ids(pool_ids, "pool_ids"))
        self.labeled_ids = _as_ids(labeled_ids, "labeled_ids")
        both = np.intersect1d(self.pool_ids, self.labeled_ids)
        if len(both):
            raise ValueError(f"image ids {both[:10].tolist()} are both in the pool and already labeled")
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self._peaks_fn = peaks
        self._embeddings_fn = embeddings
        self._image_errors_fn = image_errors
        self._peaks: np.ndarray | None = None
        self._image_errors: np.ndarray | None = None
        self._embedding_cache: dict[bytes, np.ndarray] = {}
        self.timings: dict[str, float] = {"uncertainty_s": 0.0, "embedding_s": 0.0}
        self.info: dict[str, Any] = {}

    def peaks(self) -> np.ndarray:
        """``(N, 17, M)`` float32 peak values aligned with ``pool_ids`` (computed once, timed)."""
        if self._peaks is None:
            if self._peaks_fn is None:
                raise RuntimeError("this strategy needs heatmap peaks but the context has no peaks provider")
            start = time.perf_counter()
            peaks = np.asarray(self._peaks_fn(), dtype=np.float32)
            self.timings["uncertainty_s"] += time.perf_counter() - start
            if peaks.ndim != 3 or peaks.shape[0] != len(self.pool_ids) or peaks.shape[2] < 1:
                raise ValueError(
                    f"peaks must have shape (N={len(self.pool_ids)}, 17, M>=1) aligned with pool_ids; got {peaks.shape}"
                )
            bad = ~np.isfinite(peaks).all(axis=(1, 2))
            if bad.any():
                raise ValueError(f"peaks of image ids {self.pool_ids[bad][:10].tolist()} contain NaN or inf")
            self._peaks = peaks
        return self._peaks

    def image_errors(self) -> np.ndarray:
        """``(N,)`` float64 per-image model error from ground truth, aligned with ``pool_ids`` (computed
        once, timed into ``uncertainty_s``: it takes the place of the uncertainty stage)."""
        if self._image_errors is None:
            if self._image_errors_fn is None:
                raise RuntimeError(
                    "this strategy reads ground truth (uses_labels) but the context has no image_errors "
                    "provider: the loop gives one only to strategies with uses_labels = True"
                )
            start = time.perf_counter()
            errors = np.asarray(self._image_errors_fn(), dtype=np.float64)
            self.timings["uncertainty_s"] += time.perf_counter() - start
            if errors.shape != self.pool_ids.shape:
                raise ValueError(
                    f"image_errors must have shape (N={len(self.pool_ids)},) aligned with pool_ids; got {errors.shape}"
                )
            bad = ~np.isfinite(errors)
            if bad.any():
                raise ValueError(
                    f"image errors of image ids {self.pool_ids[bad][:10].tolist()} are NaN or inf"
                )
            self._image_errors = errors
        return self._image_errors

    def embeddings(self, ids: Any) -> np.ndarray:
        """``(len(ids), d)`` float32 embeddings of global ``ids`` (timed into ``embedding_s``)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        key = ids.tobytes()
        if key not in self._embedding_cache:
            if self._embeddings_fn is None:
                raise RuntimeError(
                    "this strategy needs embeddings but the context has no embeddings provider"
                )
            start = time.perf_counter()
            result = self._embeddings_fn(ids)
            self.timings["embedding_s"] += time.perf_counter() - start
            if hasattr(result, "cache_hit"):
                self.info["embedding_cache_hit"] = int(bool(result.cache_hit))
            vectors = np.asarray(getattr(result, "vectors", result), dtype=np.float32)
            if vectors.ndim != 2 or vectors.shape[0] != len(ids):
                raise ValueError(
                    f"embeddings for {len(ids)} ids must have shape ({len(ids)}, d); got {vectors.shape}"
                )
            bad = ~np.isfinite(vectors).all(axis=1)
            if bad.any():
                raise ValueError(f"embeddings of image ids {ids[bad][:10].tolist()} contain NaN or inf")
            self._embedding_cache[key] = vectors
        return self._embedding_cache[key]


def rank(scores: np.ndarray, ids: np.ndarray, secondary: np.ndarray | None = None) -> np.ndarray:
    """Positions sorted by ``scores`` descending, then ``secondary`` descending, then id ascending.

    Raises:
        ValueError: a NaN score (the message names the image ids).
    """
    scores = np.asarray(scores, dtype=np.float64)
    for values in (scores, secondary):
        if values is not None and np.isnan(values).any():
            raise ValueError(f"NaN scores for image ids {ids[np.isnan(values)][:10].tolist()}")
    keys = [ids] if secondary is None else [ids, -np.asarray(secondary, dtype=np.float64)]
    return np.lexsort([*keys, -scores])  # lexsort: last key is the primary one; stable


@dataclass
class Picked:
    """What a strategy's ``_select`` returns to the base class."""

    ids: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    quality: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """Base class: ``select(context, budget) -> Selection``; subclasses implement ``_select``.

    ``uses_labels``: True for a control that reads the pool's ground truth (through
    ``SelectionContext.image_errors``); the loop then hands it the labels and tags its runs, and it is
    kept out of the method ranking. ``uses_index``: True for a strategy whose constructor takes
    ``index``, a zero-argument factory of unbuilt k-NN indexes (``build_strategy`` passes the
    configured one).
    """

    name: str = "base"
    uses_labels: bool = False
    uses_index: bool = False

    def __init__(self, name: str | None = None) -> None:
        if name is not None:
            self.name = name

    def select(self, context: SelectionContext, budget: int) -> Selection:
        """Pick ``budget`` unlabeled global ids (all of the pool, with a warning, when it is smaller)."""
        n_pool = len(context.pool_ids)
        n = clamp_budget(budget, n_pool)
        if n < budget:
            warnings.warn(f"budget {budget} > pool size {n_pool}: selecting the whole pool", stacklevel=2)
        budget = n
        start = time.perf_counter()
        picked = self._select(context, budget) if budget else Picked(np.zeros(0, dtype=np.int64))
        wall = time.perf_counter() - start
        ids = check_selection(picked.ids, context.pool_ids, budget, f"strategy {self.name}")
        timings = {
            "uncertainty_s": context.timings["uncertainty_s"],
            "embedding_s": context.timings["embedding_s"],
            "index_build_s": picked.timings.get("index_build_s", 0.0),
            "query_s": picked.timings.get("query_s", 0.0),
        }
        timings["quality_s"] = picked.timings.get("quality_s", 0.0)
        timings["total_s"] = wall - timings["quality_s"]  # sampling time excludes the quality measures
        info = {"strategy": self.name, "budget": budget, **context.info, **picked.info}
        return Selection(ids=ids, timings=timings, quality=dict(picked.quality), info=info)

    @abstractmethod
    def _select(self, context: SelectionContext, budget: int) -> Picked:
        """Return exactly ``budget`` (>= 1, <= pool size) distinct pool ids in pick order."""
