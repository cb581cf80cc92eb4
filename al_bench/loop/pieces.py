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
from omegaconf import OmegaConf


@dataclass(frozen=True)
class Pieces:
    """Callables the loop needs.

    Attributes:
        build_sources: ``(data_cfg) -> DataSources(pool, val, name, fingerprint)``.
        fit: ``(cfg, source, labeled_ids, init_model=None) -> (model, stats)``.
        predict: ``(model, source, image_ids, cfg, want=(...)) -> Predictions``.
        build_strategy: ``(cfg) -> Strategy`` with ``select(context, budget) -> Selection``.
        make_context: ``(cfg, model, source, pool_ids, labeled_ids, rng, fingerprint, labels_source=None)
            -> SelectionContext``; the loop passes ``labels_source`` (the unrestricted pool) only for a
            strategy with ``uses_labels``.
        save_model: ``(path, model, cfg)`` writes a checkpoint.
        load_model: ``(path) -> model``.
        decoder_ceiling: ``(cfg, val) -> AP`` of val's ground truth encoded with the run's model config and
            decoded (logged once per run as ``decoder_ceiling_ap``); None logs nothing.
    """

    build_sources: Callable[[Any], Any]
    fit: Callable[..., tuple[Any, dict]]
    predict: Callable[..., Any]
    build_strategy: Callable[[Any], Any]
    make_context: Callable[..., Any]
    save_model: Callable[[Path, Any, Any], None]
    load_model: Callable[[Path], Any]
    decoder_ceiling: Callable[[Any, Any], float] | None = None


def real_pieces() -> Pieces:
    """The package's data, pose and strategy implementations (imported here: they are heavy)."""
    from al_bench.data.sources import build_sources
    from al_bench.pose.ceiling import configured_ceiling_ap
    from al_bench.pose.checkpoint import load_checkpoint, save_checkpoint
    from al_bench.pose.infer import predict
    from al_bench.pose.train import fit
    from al_bench.strategies import build_strategy

    def save_model(path: Path, model: Any, cfg: Any) -> None:
        save_checkpoint(path, model, cfg.model)

    def load_model(path: Path) -> Any:
        return load_checkpoint(path)[0]

    def make_context(cfg, model, source, pool_ids, labeled_ids, rng, fingerprint="", labels_source=None):
        return selection_context(
            cfg, model, source, pool_ids, labeled_ids, rng, predict, fingerprint, labels_source=labels_source
        )

    return Pieces(
        build_sources=build_sources,
        fit=fit,
        predict=predict,
        build_strategy=build_strategy,
        make_context=make_context,
        save_model=save_model,
        load_model=load_model,
        decoder_ceiling=configured_ceiling_ap,
    )


def selection_context(
    cfg, model, source, pool_ids, labeled_ids, rng, predict, fingerprint: str = "", labels_source=None
):
    """A :class:`SelectionContext` whose peaks come from ``model`` on the pool and whose embeddings
    come from ``cfg.embedding`` (both computed lazily, only if the strategy asks).

    Args:
        source: the pool as strategies may see it (``RevealedSource``: no labels of unlabeled images).
        fingerprint: the data sources' fingerprint (keys the on-disk embedding cache).
        labels_source: the *unrestricted* pool source, given only for a label-using control
            (``uses_labels``). It adds the ``image_errors`` provider: ``model``'s COCO results on the
            pool (``predict(..., want=("results",))``) scored against this source's ground truth
            (``evaluate.image_oks_errors``). Without it the context has no way to reach labels.
    """
    from hydra.utils import instantiate

    from al_bench.strategies import SelectionContext

    embedder = instantiate(cfg.embedding, _convert_="all")

    # With embedding=pose_backbone the pool pass that gives the peaks also keeps the pooled backbone
    # features (one forward pass instead of two); features of other ids are computed when asked.
    pose_features = OmegaConf.select(cfg, "embedding.name") == "pose_backbone"
    pool_features: dict[int, np.ndarray] = {}

    def peaks() -> np.ndarray:
        want = ("peaks", "features") if pose_features else ("peaks",)
        out = predict(model, source, pool_ids, cfg, want=want)
        # Rows are aligned with the ids asked for (predict's contract); a predictor that returns no
        # features leaves them to features() below.
        if pose_features and getattr(out, "features", None) is not None:
            pool_features.update(zip((int(i) for i in pool_ids), out.features, strict=True))
        return out.peaks

    def features(ids: np.ndarray) -> np.ndarray:
        # The current pose model's pooled backbone features (embedding=pose_backbone).
        missing = [int(i) for i in ids if int(i) not in pool_features]
        if missing:
            out = predict(model, source, missing, cfg, want=("features",))
            pool_features.update(zip(missing, out.features, strict=True))
        return np.stack([pool_features[int(i)] for i in ids]) if len(ids) else np.zeros((0, 0), np.float32)

    def embeddings(ids: np.ndarray):
        return embedder.embed(ids, source=source, data_fingerprint=fingerprint, features=features)

    image_errors = None
    if labels_source is not None:

        def image_errors() -> np.ndarray:
            from al_bench.evaluate import image_oks_errors

            results = predict(model, labels_source, pool_ids, cfg, want=("results",)).results
            return image_oks_errors(labels_source.coco, results, pool_ids)

    return SelectionContext(
        pool_ids, labeled_ids, rng, peaks=peaks, embeddings=embeddings, image_errors=image_errors
    )
