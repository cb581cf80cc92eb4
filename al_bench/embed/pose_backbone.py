"""``pose_backbone`` embedding: pooled features of the *current* pose model, recomputed every round.

The loop passes the features in (``pose.predict(..., want=("features",)).features`` as an array
aligned with the requested ids, or a callable ``ids -> (n, D)``), so this module knows nothing about
the model. Nothing is cached: the model changes between rounds.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from al_bench.embed.base import Embedder, EmbeddingResult, Features, ImageSource, check_ids, l2_normalise
from al_bench.embed.pca import pca_project


class PoseBackboneEmbedder(Embedder):
    """L2-normalised pose-backbone features, optionally PCA-reduced (fit on the requested ids).

    Args:
        pca_dim: PCA output dimension, or None for the raw features.
        normalize: L2-normalise (before and after PCA).
    """

    name = "pose_backbone"

    def __init__(self, pca_dim: int | None = None, normalize: bool = True, name: str | None = None) -> None:
        self.pca_dim = pca_dim
        self.normalize = normalize

    def embed(
        self,
        image_ids: Any,
        source: ImageSource | None = None,
        data_fingerprint: str = "",
        features: Features | None = None,
    ) -> EmbeddingResult:
        ids = check_ids(image_ids)
        if features is None:
            raise ValueError(
                "embedding=pose_backbone needs the current pose model's features: pass features= "
                "(an (n, D) array aligned with the ids, or a callable ids -> (n, D))"
            )
        start = time.perf_counter()
        vectors = np.asarray(features(ids) if callable(features) else features, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(ids):
            raise ValueError(
                f"pose features for {len(ids)} ids must have shape ({len(ids)}, D); got {vectors.shape}"
            )
        if self.normalize:
            vectors = l2_normalise(vectors)
        if self.pca_dim:
            vectors = pca_project(vectors, self.pca_dim, self.normalize)
        info = {"embedding": self.name, "dim": vectors.shape[1]}
        return EmbeddingResult(vectors, ids, time.perf_counter() - start, cache_hit=False, info=info)
