"""Budgets, L0 and derived seeds."""

import numpy as np
import pytest
import torch

from al_bench.loop.budget import (
    derived_seed,
    initial_labeled_ids,
    resolve_count,
    seed_training,
    selection_rng,
)


@pytest.mark.parametrize(("value", "expected"), [(50, 50), (0.05, 50), (0.0001, 1), (3.0, 3)])
def test_resolve_count(value, expected):
    assert resolve_count(value, 1000, "al.budget") == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, ValueError), (True, TypeError), ("10", TypeError)],
)
def test_resolve_count_rejects(value, error):
    with pytest.raises(error, match="al.budget"):
        resolve_count(value, 1000, "al.budget")


def test_initial_ids_depend_on_seed_only():
    pool = np.arange(100, 200)
    a = initial_labeled_ids(pool, 10, seed=3)
    assert (
        a.tolist() == initial_labeled_ids(pool[::-1], 10, seed=3).tolist()
    )  # order of the pool is irrelevant
    assert a.tolist() != initial_labeled_ids(pool, 10, seed=4).tolist()
    assert len(set(a.tolist())) == 10 and set(a.tolist()) <= set(pool.tolist())
    with pytest.raises(ValueError, match="exceeds the pool of 100"):
        initial_labeled_ids(pool, 101, seed=0)


def test_streams_are_independent_and_reproducible():
    assert derived_seed(0, 1, 2) == derived_seed(0, 1, 2)
    assert len({derived_seed(0, 1, 2), derived_seed(0, 2, 1), derived_seed(1, 1, 2)}) == 3
    assert selection_rng(0, 1).integers(1 << 30) == selection_rng(0, 1).integers(1 << 30)
    seed_training(5, 2)
    first = torch.rand(3)
    torch.rand(7)  # whatever ran before does not matter
    seed_training(5, 2)
    assert torch.equal(first, torch.rand(3))
