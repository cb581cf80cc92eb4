"""k-NN search: one :class:`KnnIndex` interface, backends ``annoy`` and ``exact`` (+ optional
``hnswlib`` / ``faiss`` HNSW).

An ``index`` config group (``conf/index/*.yaml``) names its class by ``_target_``; the strategies get
it as ``hydra.utils.instantiate(cfg.index, _partial_=True)``, a factory of unbuilt indexes (one per
selection). This package owns the search backends and their metric semantics; it knows nothing of
image ids, strategies or the AL loop.
"""

from __future__ import annotations

from al_bench.search.annoy_index import AnnoyIndex
from al_bench.search.base import METRICS, KnnIndex
from al_bench.search.exact import ExactIndex
from al_bench.search.hnsw import FaissHnswIndex, HnswlibIndex

__all__ = [
    "METRICS",
    "AnnoyIndex",
    "ExactIndex",
    "FaissHnswIndex",
    "HnswlibIndex",
    "KnnIndex",
]
