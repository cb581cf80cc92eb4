"""Image embeddings for diversity and core-set selection: ``resnet50_imagenet`` (frozen, cached on
disk) and ``pose_backbone`` (the current pose model's pooled features).

``build_embedder(cfg.embedding)`` creates one from its config group (``_target_`` or ``name``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from al_bench.embed.base import Embedder, EmbeddingResult, l2_normalise
from al_bench.embed.cache import EmbeddingCache, cache_key, file_sha256
from al_bench.embed.pca import pca_project
from al_bench.embed.pose_backbone import PoseBackboneEmbedder
from al_bench.embed.resnet import ResNet50Embedder, load_resnet50, resolve_weights_file

EMBEDDERS: dict[str, type[Embedder]] = {
    "resnet50_imagenet": ResNet50Embedder,
    "pose_backbone": PoseBackboneEmbedder,
}


def build_embedder(cfg: Any, **overrides: Any) -> Embedder:
    """Create the embedder of an ``embedding`` config (mapping or DictConfig) plus overrides.

    Raises:
        ValueError: unknown ``name`` (the message lists the valid ones).
    """
    if not isinstance(cfg, Mapping):
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(cfg, resolve=True)
    params = {**dict(cfg), **overrides}
    target = params.pop("_target_", None)
    if target:
        from hydra.utils import get_class

        return get_class(target)(**params)
    name = params.get("name")
    if name not in EMBEDDERS:
        raise ValueError(f"unknown embedding {name!r}; valid embeddings: {', '.join(EMBEDDERS)}")
    return EMBEDDERS[name](**params)


__all__ = [
    "EMBEDDERS",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingResult",
    "PoseBackboneEmbedder",
    "ResNet50Embedder",
    "build_embedder",
    "cache_key",
    "file_sha256",
    "l2_normalise",
    "load_resnet50",
    "pca_project",
    "resolve_weights_file",
]
