"""Optional HNSW backends for the benchmark and for users: ``hnswlib`` and ``faiss`` (faiss-cpu).

Both are graph indexes (Malkov & Yashunin); they are optional (``pip install al_bench[ann]``) and
raise an ImportError saying so when absent. Their distances are converted to Annoy's semantics
(``angular`` = ``sqrt(2 - 2cos)``, ``euclidean`` = ``||u - v||``, ``dot`` = the inner product), so
they plug into the same selection walk and quality measures. Built single-threaded by default
(``n_jobs=1``) with a fixed seed, which makes hnswlib's graph reproducible.
"""

from __future__ import annotations

import numpy as np

from al_bench.search.base import KnnIndex


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as err:
        raise ImportError(f"index backend {module!r} is not installed: pip install 'al_bench[ann]'") from err


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class _HnswBase(KnnIndex):
    """Shared query logic: ask for ``k + 1`` and drop the query row itself."""

    def __init__(
        self, metric="angular", M=16, ef_construction=200, ef=100, seed=0, n_jobs=1, progress=True, name=None
    ):
        super().__init__(metric, progress, name)
        self.M, self.ef_construction, self.ef = int(M), int(ef_construction), int(ef)
        self.seed, self.n_jobs = int(seed), int(n_jobs)
        self._vectors: np.ndarray | None = None

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        return _normalise(x) if self.metric == "angular" else np.ascontiguousarray(x, dtype=np.float32)

    def _search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw neighbours and Annoy-semantics distances of prepared vectors."""
        raise NotImplementedError

    def _query_rows(self, rows, k):
        nbrs, dist = self._search(self._vectors[rows], min(k + 1, self._n))
        out_n = np.full((len(rows), k), -1, dtype=np.int64)
        out_d = np.full((len(rows), k), self._pad_value(), dtype=np.float32)
        for i, row in enumerate(rows):
            keep = nbrs[i] != row
            if keep.all():  # the row was not returned (duplicates): drop the farthest instead
                keep[-1] = False
            m = min(k, int(keep.sum()))
            out_n[i, :m], out_d[i, :m] = nbrs[i][keep][:m], dist[i][keep][:m]
        return out_n, out_d

    def _query_vectors(self, vectors, k):
        return self._search(self._prepare(vectors), k)

    def _from_similarity(self, sim: np.ndarray) -> np.ndarray:
        """Inner products -> Annoy distances (angular: vectors are normalised, so sim = cos)."""
        if self.metric == "dot":
            return sim.astype(np.float32)
        return np.sqrt(np.maximum(2.0 - 2.0 * sim, 0.0)).astype(np.float32)


class HnswlibIndex(_HnswBase):
    """hnswlib HNSW graph. Args: metric, M, ef_construction, ef (query beam), seed, n_jobs, progress."""

    name = "hnswlib"

    def _build(self, vectors):
        hnswlib = _require("hnswlib")
        self._vectors = self._prepare(vectors)
        space = {"angular": "ip", "dot": "ip", "euclidean": "l2"}[self.metric]
        index = hnswlib.Index(space=space, dim=vectors.shape[1])
        index.init_index(
            max_elements=len(vectors), ef_construction=self.ef_construction, M=self.M, random_seed=self.seed
        )
        index.add_items(self._vectors, np.arange(len(vectors)), num_threads=self.n_jobs)
        index.set_ef(max(self.ef, 1))
        self._index = index

    def _search(self, x, k):
        self._index.set_ef(max(self.ef, k))
        nbrs, raw = self._index.knn_query(x, k=k, num_threads=self.n_jobs)
        if self.metric == "euclidean":
            dist = np.sqrt(np.maximum(raw, 0.0)).astype(np.float32)  # hnswlib l2 is squared
        else:
            dist = self._from_similarity(1.0 - raw)  # hnswlib ip distance is 1 - <u, v>
        return nbrs.astype(np.int64), dist


class FaissHnswIndex(_HnswBase):
    """faiss ``IndexHNSWFlat``. Args: metric, M, ef_construction, ef (efSearch), seed, n_jobs, progress."""

    name = "faiss"

    def _build(self, vectors):
        faiss = _require("faiss")
        faiss.omp_set_num_threads(self.n_jobs)
        self._vectors = self._prepare(vectors)
        metric = faiss.METRIC_L2 if self.metric == "euclidean" else faiss.METRIC_INNER_PRODUCT
        index = faiss.IndexHNSWFlat(vectors.shape[1], self.M, metric)
        index.hnsw.efConstruction = self.ef_construction
        index.add(self._vectors)
        self._index = index

    def _search(self, x, k):
        self._index.hnsw.efSearch = max(self.ef, k)
        raw, nbrs = self._index.search(x, k)
        if self.metric == "euclidean":
            dist = np.sqrt(np.maximum(raw, 0.0)).astype(np.float32)  # faiss L2 is squared
        else:
            dist = self._from_similarity(raw)
        return nbrs.astype(np.int64), dist
