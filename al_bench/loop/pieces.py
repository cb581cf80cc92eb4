"""The seams between the AL loop and the other pieces (data, pose engine, strategies).

The loop calls the other pieces only through a :class:`Pieces` bundle, so it knows their contracts
(docs/ARCHITECTURE.md) and nothing of their insides. :func:`real_pieces` wires the package's own
implementations; tests may pass small fakes with the same signatures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Pieces:
    """Callables the loop needs.

    Attributes:
        build_sources: ``(data_cfg) -> DataSources(pool, val, name, fingerprint)``.
        fit: ``(cfg, source, labeled_ids, init_model=None) -> (model, stats)``.
        predict: ``(model, source, image_ids, cfg, want=(...)) -> Predictions``.
        build_strategy: ``(cfg) -> Strategy`` with ``select(context, budget) -> Selection``.
        make_context: ``(cfg, model, source, pool_ids, labeled_ids, rng) -> SelectionContext``.
        save_model: ``(path, model, cfg)`` writes a checkpoint.
        load_model: ``(path) -> model``.
    """

    build_sources: Callable[[Any], Any]
    fit: Callable[..., tuple[Any, dict]]
    predict: Callable[..., Any]
    build_strategy: Callable[[Any], Any]
    make_context: Callable[[Any, Any, Any, np.ndarray, np.ndarray, np.random.Generator], Any]
    save_model: Callable[[Path, Any, Any], None]
    load_model: Callable[[Path], Any]


def real_pieces() -> Pieces:
    """The package's data, pose and strategy implementations (imported here: they are heavy)."""
    from al_bench.data.sources import build_sources
    from al_bench.pose.checkpoint import load_checkpoint, save_checkpoint
    from al_bench.pose.infer import predict
    from al_bench.pose.train import fit
    from al_bench.strategies import build_strategy

    def save_model(path: Path, model: Any, cfg: Any) -> None:
        save_checkpoint(path, model, cfg.model)

    def load_model(path: Path) -> Any:
        return load_checkpoint(path)[0]

    def make_context(cfg, model, source, pool_ids, labeled_ids, rng):
        return selection_context(cfg, model, source, pool_ids, labeled_ids, rng, predict)

    return Pieces(
        build_sources=build_sources,
        fit=fit,
        predict=predict,
        build_strategy=build_strategy,
        make_context=make_context,
        save_model=save_model,
        load_model=load_model,
    )


def selection_context(cfg, model, source, pool_ids, labeled_ids, rng, predict):
    """A :class:`SelectionContext` whose peaks come from ``model`` on the pool and whose embeddings
    come from ``cfg.embedding`` (computed lazily, only if the strategy asks)."""
    from al_bench.strategies import SelectionContext

    def peaks() -> np.ndarray:
        return predict(model, source, pool_ids, cfg, want=("peaks",)).peaks

    return SelectionContext(
        pool_ids, labeled_ids, rng, peaks=peaks, embeddings=embedding_provider(cfg, model, source, predict)
    )


def embedding_provider(cfg, model, source, predict) -> Callable[[np.ndarray], Any]:
    """``ids -> (n, d)`` for ``cfg.embedding.name``: the current pose model's pooled backbone
    features (``pose_backbone``) or an :mod:`al_bench.embed` backbone with its on-disk cache.

    Raises:
        ValueError: an embedding the package does not provide (no silent fallback, DESIGN.md).
    """
    name = str(cfg.embedding.name)
    if name == "pose_backbone":
        return lambda ids: predict(model, source, ids, cfg, want=("features",)).features
    try:
        from al_bench.embed import embedding_provider as embed_provider
    except ImportError as err:
        raise ValueError(
            f"embedding.name={name!r} needs al_bench.embed.embedding_provider, which is not available; "
            "use embedding=pose_backbone"
        ) from err
    return embed_provider(cfg, source)
