"""The Annoy backend: a forest of random-projection trees (spotify/annoy), optionally built on disk.

Determinism: ``set_seed`` is called before the first ``add_item`` and the forest is built with
``n_jobs=1`` by default, because Annoy's multithreaded build is not deterministic even with a seed
(spotify/annoy #603, #522). ``search_k=-1`` keeps Annoy's default of ``n_trees * n_requested``
nodes inspected per query.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from annoy import AnnoyIndex as _Annoy
from tqdm.auto import tqdm

from al_bench.search.base import KnnIndex


class AnnoyIndex(KnnIndex):
    """Approximate k-NN with Annoy.

    Args:
        metric: ``angular``, ``euclidean`` or ``dot``.
        n_trees: trees in the forest (more: better recall, slower build, bigger index).
        search_k: nodes inspected per query; ``-1`` = Annoy's default ``n_trees * k``.
        seed: Annoy's tree seed, set before any item is added.
        n_jobs: build threads; 1 (default) is the only deterministic setting, ``-1`` = all cores.
        on_disk_path: build the forest in this file instead of in memory (pools larger than RAM).
        progress: show progress bars.
    """

    name = "annoy"

    def __init__(
        self,
        metric: str = "angular",
        n_trees: int = 50,
        search_k: int = -1,
        seed: int = 0,
        n_jobs: int = 1,
        on_disk_path: str | None = None,
        progress: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(metric, progress, name)
        if n_trees < 1:
            raise ValueError(f"annoy n_trees must be >= 1; got {n_trees}")
        if search_k != -1 and search_k < 1:
            raise ValueError(f"annoy search_k must be -1 (Annoy default) or >= 1; got {search_k}")
        self.n_trees = int(n_trees)
        self.search_k = int(search_k)
        self.seed = int(seed)
        self.n_jobs = int(n_jobs)
        self.on_disk_path = str(on_disk_path) if on_disk_path else None
        self._index: _Annoy | None = None

    def _build(self, vectors: np.ndarray) -> None:
        index = _Annoy(vectors.shape[1], self.metric)
        index.set_seed(self.seed)  # must precede add_item for reproducible trees
        if self.on_disk_path:
            Path(self.on_disk_path).parent.mkdir(parents=True, exist_ok=True)
            index.on_disk_build(self.on_disk_path)
        # add_item is a Python loop: a real part of build time at 100k x 2048, hence the bar.
        for row in tqdm(range(len(vectors)), desc="annoy add_item", disable=not self.progress, leave=False):
            index.add_item(row, vectors[row])
        index.build(self.n_trees, n_jobs=self.n_jobs)
        self._index = index

    def _collect(self, results: list[tuple[list[int], list[float]]], k: int) -> tuple[np.ndarray, np.ndarray]:
        neighbours = np.full((len(results), k), -1, dtype=np.int64)
        distances = np.full((len(results), k), self._pad_value(), dtype=np.float32)
        for i, (ids, dists) in enumerate(results):
            m = min(k, len(ids))
            neighbours[i, :m] = ids[:m]
            distances[i, :m] = dists[:m]
        return neighbours, distances

    def _query_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        results = []
        for row in tqdm(
            rows.tolist(), desc="annoy query", disable=not self.progress or len(rows) < 1000, leave=False
        ):
            ids, dists = self._index.get_nns_by_item(row, k + 1, self.search_k, True)
            if row in ids:
                at = ids.index(row)
                del ids[at], dists[at]
            results.append((ids[:k], dists[:k]))  # more than k duplicates of row: drop the farthest
        return self._collect(results, k)

    def _query_vectors(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        results = [
            self._index.get_nns_by_vector(v, k, self.search_k, True)
            for v in tqdm(
                vectors, desc="annoy query", disable=not self.progress or len(vectors) < 1000, leave=False
            )
        ]
        return self._collect(results, k)
