"""``coreset``: k-center greedy (Sener & Savarese 2018) on embeddings, exact distances, chunked torch.

The labeled set's embeddings are the initial centres; each step picks the pool image farthest from
its nearest centre (ties: the lowest global id) and makes it a centre. With no labeled image the first
pick is drawn from the context RNG. Distances are ``euclidean`` (the paper's) or ``angular``
(Annoy's ``sqrt(2 - 2cos)``). Memory is bounded by ``chunk_size * n_centres`` distances per step.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from al_bench.devices import resolve_device
from al_bench.strategies.base import Picked, SelectionContext, Strategy


class CoresetStrategy(Strategy):
    """k-center greedy.

    Args:
        metric: ``euclidean`` or ``angular``.
        chunk_size: pool rows per distance block.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``.
    """

    name = "coreset"

    def __init__(
        self, name: str | None = None, metric: str = "euclidean", chunk_size: int = 4096, device: str = "auto"
    ) -> None:
        super().__init__(name)
        if metric not in ("euclidean", "angular"):
            raise ValueError(f"coreset metric must be 'euclidean' or 'angular'; got {metric!r}")
        self.metric = metric
        self.chunk_size = int(chunk_size)
        self.device = resolve_device(device)

    def _tensor(self, vectors: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(self.device)
        if self.metric == "angular":
            x = torch.nn.functional.normalize(x, dim=1)
        return x

    def _min_distance(self, pool: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        """Distance of every pool row to its nearest centre, ``chunk_size`` pool rows at a time."""
        out = torch.empty(len(pool), device=pool.device)
        for start in range(0, len(pool), self.chunk_size):
            out[start : start + self.chunk_size] = torch.cdist(
                pool[start : start + self.chunk_size], centres
            ).amin(1)
        return out

    @torch.inference_mode()
    def _select(self, context: SelectionContext, budget: int) -> Picked:
        # One request for labeled + pool, so an embedding fitted per request (PCA) shares one space.
        n_labeled = len(context.labeled_ids)
        both = self._tensor(context.embeddings(np.concatenate([context.labeled_ids, context.pool_ids])))
        labeled, pool = both[:n_labeled], both[n_labeled:]
        start = time.perf_counter()
        if n_labeled:
            nearest = self._min_distance(pool, labeled)
            first = None
        else:
            nearest = torch.full((len(pool),), torch.inf, device=pool.device)
            first = int(context.rng.integers(len(pool)))
        picks: list[int] = []
        for _ in range(budget):
            # argmax returns the first maximum: pool_ids are ascending, so ties go to the lowest id.
            row = first if first is not None and not picks else int(torch.argmax(nearest))
            picks.append(row)
            nearest = torch.minimum(nearest, self._min_distance(pool, pool[row : row + 1]))
            nearest[row] = -torch.inf  # never re-pick, even among exact duplicates
        query_s = time.perf_counter() - start
        remaining = nearest[torch.isfinite(nearest)]
        quality = {"coverage_radius": float(remaining.max()) if len(remaining) else 0.0}
        return Picked(context.pool_ids[picks], timings={"query_s": query_s}, quality=quality)
