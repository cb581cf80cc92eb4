"""The neighbourhood-suppression walk: batching does not change picks; the fill order when it runs out."""

from __future__ import annotations

import numpy as np
import pytest

from al_bench.search import ExactIndex
from al_bench.strategies.walk import suppression_size, suppression_walk


def test_batched_neighbour_queries_give_the_same_walk():
    x = np.random.default_rng(0).normal(size=(300, 12)).astype(np.float32)
    index = ExactIndex("angular", device="cpu", progress=False).build(x)
    order = np.random.default_rng(1).permutation(300)
    walks = [suppression_walk(order, index, 4, 50, query_batch=b) for b in (1, 7, 256)]
    for walk in walks[1:]:
        np.testing.assert_array_equal(walk.rows, walks[0].rows)
        assert walk.n_suppressed == walks[0].n_suppressed
    assert len(set(walks[0].rows.tolist())) == 50 and walks[0].n_filled == 0


def test_walk_that_runs_out_fills_from_suppressed_in_walk_order():
    # Points on a line; each pick suppresses 3 neighbours: the first pick suppresses everything else.
    x = np.array([[0.0], [1.0], [2.0], [3.0]], dtype=np.float32)
    index = ExactIndex("euclidean", device="cpu", progress=False).build(x)
    walk = suppression_walk(np.array([2, 0, 3, 1]), index, 3, 2)
    assert walk.rows.tolist() == [2, 0]  # 2 taken; 0 is the first suppressed row in walk order
    assert walk.n_filled == 1 and walk.n_suppressed == 3


def test_suppression_size():
    assert [suppression_size(r) for r in (1.0, 0.5, 0.2, 0.3, 0.1)] == [0, 1, 4, 3, 9]
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        suppression_size(1.5)
