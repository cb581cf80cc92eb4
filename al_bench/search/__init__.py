"""k-NN search: one :class:`KnnIndex` interface, backends ``annoy`` and ``exact`` (+ optional
``hnswlib`` / ``faiss`` HNSW), built from config.

``build_index(cfg.index)`` turns an ``index`` config group (``conf/index/*.yaml``) into an unbuilt
index: ``_target_`` names the class when present, else ``name`` is looked up in :data:`INDEXES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from al_bench.search.annoy_index import AnnoyIndex
from al_bench.search.base import METRICS, KnnIndex
from al_bench.search.exact import ExactIndex
from al_bench.search.hnsw import FaissHnswIndex, HnswlibIndex

INDEXES: dict[str, type[KnnIndex]] = {
    "annoy": AnnoyIndex,
    "exact": ExactIndex,
    "hnswlib": HnswlibIndex,  # optional dependency (al_bench[ann]), imported at build time
    "faiss": FaissHnswIndex,  # optional dependency (al_bench[ann]), imported at build time
}


def _as_dict(cfg: Any) -> dict[str, Any]:
    if cfg is None:
        return {}
    if isinstance(cfg, Mapping):
        return dict(cfg)
    from omegaconf import OmegaConf

    return dict(OmegaConf.to_container(cfg, resolve=True))


def build_index(cfg: Any, **overrides: Any) -> KnnIndex:
    """Create an (unbuilt) index from an ``index`` config and keyword overrides.

    Args:
        cfg: mapping or DictConfig with ``name`` (a key of :data:`INDEXES`) and/or ``_target_``
            (a dotted class path), plus constructor arguments.
        **overrides: constructor arguments that win over ``cfg`` (e.g. ``progress=False``).

    Raises:
        ValueError: unknown ``name`` (the message lists the valid ones).
    """
    params = {**_as_dict(cfg), **overrides}
    name = params.pop("name", None)
    target = params.pop("_target_", None)
    if target:
        from hydra.utils import get_class

        cls = get_class(target)
    elif name in INDEXES:
        cls = INDEXES[name]
    else:
        raise ValueError(f"unknown index {name!r}; valid indexes: {', '.join(INDEXES)} (or set _target_)")
    return cls(**params)


__all__ = [
    "INDEXES",
    "METRICS",
    "AnnoyIndex",
    "ExactIndex",
    "FaissHnswIndex",
    "HnswlibIndex",
    "KnnIndex",
    "build_index",
]
