"""The exact backend: exhaustive k-NN by chunked torch matmul + top-k, with bounded memory.

Queries are processed ``chunk_size`` rows at a time, so peak memory is about
``chunk_size * n * 4`` bytes of scores on top of the ``n * d`` float32 database. Candidates are
ranked by the matmul score; the returned distances of the ``k`` winners are then recomputed
directly from the vectors, so they match Annoy's values to float32 precision (the expanded
``|x|^2 + |y|^2 - 2xy`` form alone loses digits for near neighbours). ``device="auto"`` runs on CUDA
when present.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from tqdm.auto import tqdm

from al_bench.devices import resolve_device
from al_bench.search.base import KnnIndex

_GATHER_FLOATS = 1 << 25  # at most 128 MiB of gathered neighbour vectors at a time


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """L2-normalise rows; zero rows stay zero (Annoy gives them distance sqrt(2) to everything)."""
    norms = x.norm(dim=1, keepdim=True)
    return torch.where(norms > 0, x / norms.clamp_min(1e-30), torch.zeros_like(x))


class ExactIndex(KnnIndex):
    """Exhaustive k-NN with Annoy's metric semantics.

    Args:
        metric: ``angular``, ``euclidean`` or ``dot``.
        chunk_size: query rows per matmul (bounds memory to ``chunk_size * n`` scores).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ...
        progress: show a progress bar over chunks.
    """

    name = "exact"
    query_batch = 256  # one (256, d) x (d, n) matmul costs about as much as a few single-row queries

    def __init__(
        self,
        metric: str = "angular",
        chunk_size: int = 1024,
        device: str = "auto",
        progress: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(metric, progress, name)
        if chunk_size < 1:
            raise ValueError(f"exact chunk_size must be >= 1; got {chunk_size}")
        self.chunk_size = int(chunk_size)
        self.device = resolve_device(device)
        self._db: torch.Tensor | None = None
        self._sq_norms: torch.Tensor | None = None
        self._zero: torch.Tensor | None = None

    def _prepare(self, vectors: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)).to(self.device)
        return _normalise(x) if self.metric == "angular" else x

    def _build(self, vectors: np.ndarray) -> None:
        raw = torch.from_numpy(vectors).to(self.device)
        self._zero = raw.norm(dim=1) == 0
        self._db = self._prepare(vectors)
        self._sq_norms = (self._db * self._db).sum(dim=1)

    def _scores(self, q: torch.Tensor) -> torch.Tensor:
        """Higher = nearer, for a chunk of prepared query vectors."""
        dots = q @ self._db.T
        if self.metric == "euclidean":
            return 2 * dots - self._sq_norms  # -|q-x|^2 up to the per-row constant |q|^2
        return dots

    def _distances(self, q: torch.Tensor, q_zero: torch.Tensor, nbrs: torch.Tensor, scores: torch.Tensor):
        if self.metric == "dot":
            return scores
        # Gather the k winners' vectors in slices so memory stays bounded for large k * d.
        step = max(1, _GATHER_FLOATS // (nbrs.shape[1] * q.shape[1]))
        d = torch.cat(
            [
                (q[s : s + step, None, :] - self._db[nbrs[s : s + step]]).norm(dim=2)
                for s in range(0, len(q), step)
            ]
        )
        if self.metric == "angular":
            # Annoy: distance sqrt(2) whenever either vector has zero norm.
            either_zero = q_zero[:, None] | self._zero[nbrs]
            d = torch.where(either_zero, torch.full_like(d, math.sqrt(2.0)), d)
        return d

    def _search(self, q: torch.Tensor, q_zero: torch.Tensor, k: int, self_rows: torch.Tensor | None):
        nbr_chunks, dist_chunks = [], []
        starts = range(0, len(q), self.chunk_size)
        for start in tqdm(
            starts, desc="exact k-NN", disable=not self.progress or len(starts) < 4, leave=False
        ):
            stop = start + self.chunk_size
            scores = self._scores(q[start:stop])
            if self_rows is not None:
                scores[torch.arange(len(scores), device=self.device), self_rows[start:stop]] = -torch.inf
            top, nbrs = torch.topk(scores, k, dim=1)
            dist = self._distances(q[start:stop], q_zero[start:stop], nbrs, top)
            nbr_chunks.append(nbrs.cpu())
            dist_chunks.append(dist.float().cpu())
        return torch.cat(nbr_chunks).numpy().astype(np.int64), torch.cat(dist_chunks).numpy()

    @torch.inference_mode()
    def _query_rows(self, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        r = torch.from_numpy(rows).to(self.device)
        return self._search(self._db[r], self._zero[r], k, self_rows=r)

    @torch.inference_mode()
    def _query_vectors(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        raw = torch.from_numpy(vectors).to(self.device)
        return self._search(self._prepare(vectors), raw.norm(dim=1) == 0, k, self_rows=None)
