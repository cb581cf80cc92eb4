"""Selection-quality measures: agreement of an ANN selection with the exact one, index recall, coverage.

Distances follow the index metric (``angular``: Annoy's ``sqrt(2 - 2cos)``). For ``dot``, whose
"distance" is a similarity, the coverage radius is the *negated* worst best-similarity
``-min_c max_s c . s`` so that smaller is still better.
"""

from __future__ import annotations

import numpy as np

from al_bench.search import ExactIndex, KnnIndex


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """``|a & b| / |a|`` for two selections of the same size (1.0 for two empty ones)."""
    return float(len(np.intersect1d(a, b)) / len(a)) if len(a) else 1.0


def knn_recall(index: KnnIndex, exact: KnnIndex, rows: np.ndarray, k: int) -> float:
    """Mean fraction of the exact ``k`` nearest neighbours of ``rows`` that ``index`` also returns."""
    approx, _ = index.query(rows, k)
    truth, _ = exact.query(rows, k)
    hits = [len(np.intersect1d(a, t)) for a, t in zip(approx, truth, strict=True)]
    return float(np.mean(hits) / k)


def coverage_radius(vectors: np.ndarray, selected_rows: np.ndarray, metric: str, **exact_kwargs) -> float:
    """Max over all rows of ``vectors`` of the distance to the nearest selected row (exact)."""
    selected = ExactIndex(metric, **{"progress": False, **exact_kwargs}).build(vectors[selected_rows])
    _, dist = selected.query_vectors(vectors, 1)
    if metric == "dot":
        return float(-dist[:, 0].min())
    return float(dist[:, 0].max())
