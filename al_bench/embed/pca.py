"""PCA for embeddings (``embedding.pca_dim``): fit on the pool's vectors, deterministic signs."""

from __future__ import annotations

import numpy as np


def pca_project(vectors: np.ndarray, dim: int, normalize: bool = True) -> np.ndarray:
    """Project ``(n, d)`` vectors on their top-``dim`` principal components.

    The fit uses the ``d x d`` covariance (float64 ``eigh``), so its cost does not grow with ``n``
    beyond one pass; each component's sign is fixed so its largest-magnitude loading is positive,
    making the projection reproducible. With ``normalize`` the result is L2-normalised again.

    Raises:
        ValueError: ``dim`` not in ``[1, d]``.
    """
    x = np.asarray(vectors, dtype=np.float64)
    if not 1 <= dim <= x.shape[1]:
        raise ValueError(
            f"embedding.pca_dim must be in [1, {x.shape[1]}] for {x.shape[1]}-d embeddings; got {dim}"
        )
    centred = x - x.mean(axis=0)
    _, eigvecs = np.linalg.eigh(centred.T @ centred)
    components = eigvecs[:, ::-1][:, :dim]
    signs = np.sign(components[np.abs(components).argmax(axis=0), np.arange(dim)])
    projected = centred @ (components * signs)
    if normalize:
        norms = np.linalg.norm(projected, axis=1, keepdims=True)
        projected = projected / np.where(norms > 0, norms, 1.0)
    return projected.astype(np.float32)
