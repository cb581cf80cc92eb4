"""The logged k-NN recall is the walk's own: same k (n_suppress), same index query, same search_k."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from annoy import AnnoyIndex

from al_bench import search
from al_bench.strategies import DiversityStrategy, HeatmapAnnoy

N, DIM, TREES = 600, 32, 3  # few trees on Gaussian data: recall@4 and recall@10 clearly differ


def _hand_recall(vectors: np.ndarray, rows: np.ndarray, k: int) -> float:
    """Recall@k of a raw Annoy forest built like AnnoyIndex (seed 0, n_jobs 1, search_k -1) against
    brute-force neighbours, querying k + 1 items and dropping the row itself as the walk's query does."""
    forest = AnnoyIndex(vectors.shape[1], "euclidean")
    forest.set_seed(0)
    for i, v in enumerate(vectors):
        forest.add_item(i, v)
    forest.build(TREES, n_jobs=1)
    dist = ((vectors[:, None].astype(np.float64) - vectors[None]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    hits = []
    for row in rows.tolist():
        found = [i for i in forest.get_nns_by_item(row, k + 1, -1) if i != row][:k]
        hits.append(len(set(found) & set(np.argsort(dist[row])[:k].tolist())))
    return float(np.mean(hits) / k)


def test_recall_is_measured_at_the_walks_k_and_at_10(make_context):
    vectors = np.random.default_rng(0).normal(size=(N, DIM)).astype(np.float32)
    ids = np.arange(1, N + 1) * 3
    index = partial(search.AnnoyIndex, "euclidean", n_trees=TREES, search_k=-1, seed=0, progress=False)
    strategy = DiversityStrategy(order="id", selection_ratio=0.2, index=index)
    sel = strategy.select(make_context(ids, vectors), 60)
    assert sel.info["n_suppress"] == 4 and sel.info["n_candidates"] == N
    # Candidates are the pool in id order, so candidate rows are rows of `vectors`.
    sample = np.sort(np.random.default_rng(0).permutation(N)[:200])
    assert sel.quality["knn_recall"] == pytest.approx(_hand_recall(vectors, sample, 4))
    assert sel.quality["knn_recall_at10"] == pytest.approx(_hand_recall(vectors, sample, 10))
    # With 3 trees the walk's recall@4 is well below recall@10 (0.22 vs 0.29 here).
    assert sel.quality["knn_recall_at10"] - sel.quality["knn_recall"] > 0.05


def test_ratio_one_walk_queries_nothing_and_reports_only_recall_at_10(make_context):
    rng = np.random.default_rng(1)
    ids = np.arange(10, 70)
    vectors, peaks = rng.normal(size=(60, 8)), rng.uniform(size=(60, 17, 3)).astype(np.float32)
    index = partial(search.AnnoyIndex, "euclidean", n_trees=5, progress=False)
    sel = HeatmapAnnoy(index=index, selection_ratio=1.0, quality_k=7).select(
        make_context(ids, vectors, peaks), 12
    )
    assert sel.info["n_suppress"] == 0
    assert "knn_recall" not in sel.quality and 0 < sel.quality["knn_recall_at7"] <= 1
