"""The k-NN interface shared by every search backend, and the input checks they all apply.

A :class:`KnnIndex` is built once over ``n`` row vectors and answers "the ``k`` nearest rows of row
``i``, excluding ``i`` itself" (:meth:`KnnIndex.query`) or "the ``k`` nearest rows of these new
vectors" (:meth:`KnnIndex.query_vectors`). Rows are positions in the built matrix, never image ids:
the caller maps them back.

Metric semantics follow Annoy exactly, so every backend returns the same distance values:

- ``angular``: ``sqrt(2 - 2 cos(u, v))`` (Euclidean distance of the L2-normalised vectors); a zero
  vector has distance ``sqrt(2)`` to everything, as in Annoy.
- ``euclidean``: ``||u - v||``.
- ``dot``: the inner product ``u . v`` itself; neighbours are sorted by *decreasing* dot product
  (Annoy's maximum-inner-product search), so "distance" is a similarity for this metric only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

METRICS = ("angular", "euclidean", "dot")


def check_metric(metric: str) -> str:
    """Return ``metric`` or raise a ``ValueError`` listing the valid ones."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; valid metrics: {', '.join(METRICS)}")
    return metric


def check_vectors(vectors: np.ndarray, what: str = "vectors", dim: int | None = None) -> np.ndarray:
    """Validate a ``(n, d)`` matrix and return it as C-contiguous float32.

    Raises:
        ValueError: empty set, wrong number of dimensions, a dimension other than ``dim``, or a
            NaN/inf entry (the message names the first offending row).
    """
    arr = np.asarray(vectors)
    if arr.ndim != 2:
        raise ValueError(f"{what} must be a 2-d array (n, d); got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{what} is empty: cannot build or query a k-NN index over 0 vectors")
    if arr.shape[1] == 0:
        raise ValueError(f"{what} has 0 dimensions (shape {arr.shape})")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{what} have dimension {arr.shape[1]}, the index was built with dimension {dim}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{what} row {int(bad[0])} contains NaN or inf ({len(bad)} bad rows in total, first: {bad[:10].tolist()})"
        )
    return arr


def check_rows(rows: np.ndarray, n: int) -> np.ndarray:
    """Validate query row indices against an index of ``n`` rows and return them as int64."""
    arr = np.asarray(rows)
    if arr.ndim != 1:
        raise ValueError(f"query rows must be a 1-d array of row indices; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"query rows must be integers; got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        bad = arr[(arr < 0) | (arr >= n)]
        raise ValueError(f"query rows {bad[:10].tolist()} are out of range for an index of {n} rows")
    return arr


def check_k(k: int, n_available: int, exclude_self: bool) -> int:
    """Validate ``k`` against the number of rows a query can return."""
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}")
    if exclude_self and k >= n_available:
        raise ValueError(
            f"k={k} >= n={n_available}: a self-excluding query can return at most n - 1 = {n_available - 1} neighbours"
        )
    if not exclude_self and k > n_available:
        raise ValueError(f"k={k} > n={n_available}: the index holds only {n_available} vectors")
    return int(k)


class KnnIndex(ABC):
    """A k-nearest-neighbour index over the rows of one ``(n, d)`` float32 matrix.

    Args:
        metric: ``angular``, ``euclidean`` or ``dot`` (see the module docstring).
        progress: show tqdm progress bars for builds and queries.
        name: the config's name (``conf/index/<name>.yaml``); default: the class's ``name``.
    """

    name: str = "base"
    query_batch: int = 1  # rows per query a sequential caller (the selection walk) should batch

    def __init__(self, metric: str = "angular", progress: bool = True, name: str | None = None) -> None:
        if name is not None:
            self.name = name
        self.metric = check_metric(metric)
        self.progress = progress
        self._n = 0
        self._dim = 0

    @property
    def n(self) -> int:
        """Number of indexed vectors (0 before :meth:`build`)."""
        return self._n

    @property
    def dim(self) -> int:
        """Vector dimension (0 before :meth:`build`)."""
        return self._dim

    def build(self, vectors: np.ndarray) -> KnnIndex:
        """Index the rows of ``vectors`` (``(n, d)``, finite). Returns ``self``."""
        arr = check_vectors(vectors)
        self._n, self._dim = arr.shape
        self._build(arr)
        return self

    def query(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest rows of each row in ``rows``, excluding the row itself.

        Returns:
            ``(neighbours (q, k) int64, distances (q, k) float32)``, nearest first. An approximate
            backend that finds fewer than ``k`` neighbours pads with row ``-1`` and distance ``inf``
            (``-inf`` for ``dot``).
        """
        self._require_built()
        rows = check_rows(rows, self._n)
        k = check_k(k, self._n, exclude_self=True)
        return self._query_rows(rows, k)

    def query_vectors(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest indexed rows of each of ``vectors`` (``(q, d)``); nothing is excluded."""
        self._require_built()
        arr = check_vectors(vectors, "query vectors", dim=self._dim)
        k = check_k(k, self._n, exclude_self=False)
        return self._query_vectors(arr, k)

    def _require_built(self) -> None:
        if self._n == 0:
            raise RuntimeError(f"{type(self).__name__}: call build(vectors) before querying")

    def _pad_value(self) -> float:
        return -np.inf if self.metric == "dot" else np.inf

    @abstractmethod
    def _build(self, vectors: np.ndarray) -> None: ...

    @abstractmethod
    def _query_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def _query_vectors(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...
