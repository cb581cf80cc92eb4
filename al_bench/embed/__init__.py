"""Image embeddings for diversity and core-set selection: ``resnet50_imagenet`` (frozen, cached on
disk) and ``pose_backbone`` (the current pose model's pooled features).

An ``embedding`` config group (``conf/embedding/*.yaml``) names its class by ``_target_``
(``hydra.utils.instantiate(cfg.embedding)``). This package owns the embedders and their on-disk
cache; it knows nothing of strategies, indexes or the AL loop.
"""

from __future__ import annotations

from al_bench.embed.base import Embedder, EmbeddingResult, l2_normalise
from al_bench.embed.cache import EmbeddingCache, cache_key, file_sha256
from al_bench.embed.pca import pca_project
from al_bench.embed.pose_backbone import PoseBackboneEmbedder
from al_bench.embed.resnet import ResNet50Embedder, load_resnet50, resolve_weights_file

__all__ = [
    "Embedder",
    "EmbeddingCache",
    "EmbeddingResult",
    "PoseBackboneEmbedder",
    "ResNet50Embedder",
    "cache_key",
    "file_sha256",
    "l2_normalise",
    "load_resnet50",
    "pca_project",
    "resolve_weights_file",
]
