"""The neighbourhood-suppression walk that turns ranked candidates into a diverse selection.

DESIGN.md, "Selection semantics": walk the candidates in the given order (most to least uncertain
for heatmap_*, seeded random or id order for diversity); take one, suppress its
``ceil(1/ratio) - 1`` nearest *candidate* neighbours (already taken or suppressed ones count among
those neighbours: the neighbourhood is a property of the candidate set, not of the walk's state);
repeat until the budget is met. If the walk runs out first, fill from candidates neither taken nor
suppressed (none are left after a complete walk, so in practice:) then from the suppressed ones, both
in walk order. Neighbours are queried lazily for taken candidates only (the exact backend fetches
them for the next unvisited candidates in batches, one matmul instead of many tiny ones), so an index
backend and an exact one run the very same walk and differ only in the neighbours they return.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from al_bench.search import KnnIndex
from al_bench.strategies.base import ceil_div


def suppression_size(ratio: float) -> int:
    """Neighbours suppressed per pick: ``ceil(1 / ratio) - 1`` (0 for ratio 1.0)."""
    if not 0 < ratio <= 1:
        raise ValueError(f"selection_ratio must be in (0, 1]; got {ratio}")
    return ceil_div(1, ratio) - 1


@dataclass
class WalkResult:
    """Rows (positions in the candidate set) taken, in pick order, and how the walk went."""

    rows: np.ndarray
    query_s: float
    n_walked: int
    n_suppressed: int
    n_filled: int


def suppression_walk(
    order: np.ndarray, index: KnnIndex, n_suppress: int, budget: int, query_batch: int | None = None
) -> WalkResult:
    """Run the walk over an index built on the candidates' vectors.

    Args:
        order: candidate rows (``0..n-1`` of ``index``) in walk order.
        index: a built :class:`KnnIndex` over the ``n`` candidates.
        n_suppress: neighbours suppressed per pick (clipped to ``n - 1``).
        budget: picks wanted (<= ``n``).
        query_batch: rows per neighbour query; default ``index.query_batch`` (Annoy 1, exact 256).
            With a batch, the neighbours of the next unvisited rows are fetched together (one matmul
            instead of many tiny ones); some are never used, but the walk and its picks are identical.
    """
    n = index.n
    k = min(n_suppress, n - 1)
    batch = max(1, int(query_batch or index.query_batch))
    taken = np.zeros(n, dtype=bool)
    suppressed = np.zeros(n, dtype=bool)
    fetched: dict[int, np.ndarray] = {}
    picks: list[int] = []
    query_s, walked = 0.0, 0
    for pos, row in enumerate(order.tolist()):
        if len(picks) == budget:
            break
        walked += 1
        if taken[row] or suppressed[row]:
            continue
        taken[row] = True
        picks.append(row)
        if k > 0:
            if row not in fetched:
                rows = [row, *_next_unvisited(order, pos + 1, taken | suppressed, batch - 1)]
                start = time.perf_counter()
                neighbours, _ = index.query(np.asarray(rows, dtype=np.int64), k)
                query_s += time.perf_counter() - start
                fetched.update(zip(rows, neighbours, strict=True))
            neighbours = fetched.pop(row)
            neighbours = neighbours[neighbours >= 0]  # an ANN backend may pad with -1
            suppressed[neighbours[~taken[neighbours]]] = True
    n_walk_picks = len(picks)
    for pool in (~taken & ~suppressed, suppressed & ~taken):
        for row in order[pool[order]].tolist():
            if len(picks) == budget:
                break
            taken[row] = True
            picks.append(row)
    return WalkResult(
        rows=np.asarray(picks, dtype=np.int64),
        query_s=query_s,
        n_walked=walked,
        n_suppressed=int(suppressed.sum()),
        n_filled=len(picks) - n_walk_picks,
    )


def _next_unvisited(order: np.ndarray, start: int, visited: np.ndarray, count: int) -> list[int]:
    """Up to ``count`` rows of ``order[start:]`` not yet taken or suppressed (prefetch candidates)."""
    if count <= 0:
        return []
    rest = order[start:]
    return rest[~visited[rest]][:count].tolist()
