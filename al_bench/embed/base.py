"""The embedder interface and its result record.

An embedder maps global image ids to ``(n, d)`` float32 vectors. Frozen backbones (ResNet50) compute
every image of a data set once and cache it on disk; the pose backbone changes each round and is
recomputed from features the loop hands in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class ImageSource(Protocol):
    """What an embedder needs from a data source (``data.CocoKeypoints`` satisfies it)."""

    image_ids: Any

    def image_path(self, image_id: int) -> Any: ...


Features = Callable[[np.ndarray], np.ndarray] | np.ndarray


@dataclass
class EmbeddingResult:
    """Vectors for the requested ids, in request order.

    Attributes:
        vectors: ``(n, d)`` float32.
        image_ids: the requested global ids.
        seconds: wall time of this call (~0 on a cache hit).
        cache_hit: the vectors came from the on-disk cache.
        info: model, weights, cache file, ... for logging.
    """

    vectors: np.ndarray
    image_ids: np.ndarray
    seconds: float
    cache_hit: bool = False
    info: dict[str, Any] = field(default_factory=dict)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation; zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def check_ids(image_ids: Any) -> np.ndarray:
    """Requested ids as a 1-d int64 array."""
    return np.asarray(image_ids, dtype=np.int64).reshape(-1)


class Embedder(ABC):
    """Base class: ``embed(image_ids, source=..., data_fingerprint=..., features=...)``."""

    name: str = "base"

    @abstractmethod
    def embed(
        self,
        image_ids: Any,
        source: ImageSource | None = None,
        data_fingerprint: str = "",
        features: Features | None = None,
    ) -> EmbeddingResult:
        """Embeddings of ``image_ids`` (global ids), in that order."""
