"""Fixture: a SelectionContext over hand-made peaks and embeddings aligned with ascending image ids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture
def make_context():
    """``make(ids, vectors=None, peaks=None, labeled=(), seed=0)``: ``vectors``/``peaks`` align with ``ids``."""
    from al_bench.strategies import SelectionContext

    def make(ids, vectors=None, peaks=None, labeled=(), seed=0):
        ids = np.asarray(ids, dtype=np.int64)
        assert np.all(np.diff(ids) > 0), "test ids must be ascending"
        in_pool = ~np.isin(ids, np.asarray(labeled, dtype=np.int64))
        row_of = {int(i): r for r, i in enumerate(ids)}
        return SelectionContext(
            ids[in_pool],
            labeled,
            np.random.default_rng(seed),
            peaks=None if peaks is None else (lambda: np.asarray(peaks)[in_pool]),
            embeddings=None
            if vectors is None
            else (lambda q: np.asarray(vectors)[[row_of[int(i)] for i in q]]),
        )

    return make
