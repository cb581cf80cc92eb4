"""Embeddings a strategy cannot use (wrong shape, wrong dimension, NaN/inf) are refused with the ids named."""

import numpy as np
import pytest

from al_bench.search.exact import ExactIndex
from al_bench.strategies import SelectionContext


def _context(vectors_for):
    return SelectionContext([10, 20, 30], [1], np.random.default_rng(0), embeddings=vectors_for)


def test_embeddings_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"embeddings for 3 ids must have shape \(3, d\); got \(2, 4\)"):
        _context(lambda ids: np.ones((len(ids) - 1, 4))).embeddings([10, 20, 30])
    with pytest.raises(ValueError, match=r"embeddings for 3 ids must have shape \(3, d\); got \(12,\)"):
        _context(lambda ids: np.ones(4 * len(ids))).embeddings([10, 20, 30])


def test_non_finite_embeddings_name_the_images():
    def vectors(ids):
        out = np.ones((len(ids), 4))
        out[ids == 20, 1] = np.nan
        out[ids == 30, 3] = -np.inf
        return out

    with pytest.raises(ValueError, match=r"embeddings of image ids \[20, 30\] contain NaN or inf"):
        _context(vectors).embeddings([10, 20, 30])


def test_query_of_another_dimension_than_the_index_is_refused():
    index = ExactIndex(progress=False)
    index.build(np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32))
    with pytest.raises(ValueError, match="dimension 4"):
        index.query_vectors(np.ones((2, 4), dtype=np.float32), 1)
