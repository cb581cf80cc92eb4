"""Tests for the k-NN backends: exact correctness, Annoy vs exact agreement, config, input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conf_files import load_option
from hydra.utils import instantiate
from omegaconf import OmegaConf

from al_bench.search import AnnoyIndex, ExactIndex, FaissHnswIndex, HnswlibIndex

torch.set_num_threads(2)
CONF = __import__("pathlib").Path(__file__).resolve().parents[2] / "conf"


def brute_force(x: np.ndarray, metric: str, k: int):
    """Reference neighbours (float64, self excluded) by the definitions in search/base.py."""
    x = x.astype(np.float64)
    if metric == "angular":
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        dist = np.sqrt(np.maximum(2 - 2 * u @ u.T, 0))
    elif metric == "euclidean":
        dist = np.linalg.norm(x[:, None] - x[None], axis=2)
    else:
        dist = -(x @ x.T)
    np.fill_diagonal(dist, np.inf)
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    d = np.take_along_axis(dist, order, axis=1)
    return order, (-d if metric == "dot" else d)


@pytest.mark.parametrize("metric", ["angular", "euclidean", "dot"])
def test_exact_matches_brute_force_with_small_chunks(metric):
    x = np.random.default_rng(0).normal(size=(60, 7)).astype(np.float32)
    nbrs, dist = (
        ExactIndex(metric, chunk_size=7, device="cpu", progress=False).build(x).query(np.arange(60), 5)
    )
    ref_n, ref_d = brute_force(x, metric, 5)
    assert nbrs.shape == (60, 5) and nbrs.dtype == np.int64 and dist.dtype == np.float32
    np.testing.assert_array_equal(nbrs, ref_n)
    np.testing.assert_allclose(dist, ref_d, rtol=1e-5, atol=1e-5)
    assert not (nbrs == np.arange(60)[:, None]).any()


def test_exact_hand_built_points():
    # Two tight pairs far apart: each point's nearest neighbour is its partner.
    x = np.array([[0, 0], [0.1, 0], [10, 10], [10, 10.2]], dtype=np.float32)
    nbrs, dist = ExactIndex("euclidean", device="cpu", progress=False).build(x).query(np.array([0, 2, 3]), 1)
    assert nbrs[:, 0].tolist() == [1, 3, 2]
    np.testing.assert_allclose(dist[:, 0], [0.1, 0.2, 0.2], rtol=1e-5)


@pytest.mark.parametrize("metric", ["angular", "euclidean", "dot"])
def test_annoy_with_enough_trees_equals_exact(metric):
    x = np.random.default_rng(1).normal(size=(200, 8)).astype(np.float32)
    rows = np.arange(200)
    a_n, a_d = (
        AnnoyIndex(metric, n_trees=50, search_k=200 * 50, seed=3, progress=False).build(x).query(rows, 10)
    )
    e_n, e_d = ExactIndex(metric, device="cpu", progress=False).build(x).query(rows, 10)
    np.testing.assert_array_equal(a_n, e_n)
    np.testing.assert_allclose(a_d, e_d, rtol=1e-4, atol=1e-4)


def test_query_vectors_does_not_exclude_and_annoy_agrees():
    x = np.random.default_rng(2).normal(size=(100, 5)).astype(np.float32)
    exact = ExactIndex("angular", device="cpu", progress=False).build(x)
    annoy = AnnoyIndex("angular", n_trees=30, search_k=3000, progress=False).build(x)
    e_n, e_d = exact.query_vectors(x[:4], 3)
    a_n, a_d = annoy.query_vectors(x[:4], 3)
    assert e_n[:, 0].tolist() == [0, 1, 2, 3]  # a stored vector is its own nearest
    np.testing.assert_allclose(e_d[:, 0], 0, atol=1e-3)
    np.testing.assert_array_equal(a_n, e_n)
    np.testing.assert_allclose(a_d, e_d, atol=1e-4)


def test_zero_vector_angular_distance_is_sqrt2_like_annoy():
    x = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32)
    _, e_d = ExactIndex("angular", device="cpu", progress=False).build(x).query(np.array([0]), 2)
    _, a_d = AnnoyIndex("angular", n_trees=5, progress=False).build(x).query(np.array([0]), 2)
    np.testing.assert_allclose(e_d, math.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(a_d, e_d, rtol=1e-5)


def test_annoy_is_deterministic_with_seed_and_on_disk(tmp_path):
    x = np.random.default_rng(4).normal(size=(300, 16)).astype(np.float32)
    rows = np.arange(300)
    runs = [
        AnnoyIndex(n_trees=3, search_k=30, seed=7, progress=False).build(x).query(rows, 5) for _ in range(2)
    ]
    disk = AnnoyIndex(n_trees=3, search_k=30, seed=7, on_disk_path=str(tmp_path / "f.ann"), progress=False)
    disk_n, _ = disk.build(x).query(rows, 5)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][0], disk_n)
    assert (tmp_path / "f.ann").stat().st_size > 0


@pytest.mark.parametrize("cls", [AnnoyIndex, ExactIndex])
def test_input_errors_name_the_problem(cls):
    index = cls(progress=False)
    x = np.ones((5, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="empty"):
        index.build(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="2-d"):
        index.build(np.zeros(3))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3 contains NaN"):
        index.build(bad)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="row 3"):
        index.build(bad)
    with pytest.raises(RuntimeError, match="build"):
        index.query(np.array([0]), 1)
    index.build(np.random.default_rng(0).normal(size=(5, 3)))
    with pytest.raises(ValueError, match="k=5 >= n=5"):
        index.query(np.array([0]), 5)
    with pytest.raises(ValueError, match="dimension 4"):
        index.query_vectors(np.ones((1, 4)), 1)
    with pytest.raises(ValueError, match=r"\[7\]"):
        index.query(np.array([7]), 1)
    with pytest.raises(ValueError, match="metric"):
        cls(metric="cosine")


def test_index_config_files_instantiate_their_class():
    for name, cls in [("annoy", AnnoyIndex), ("exact", ExactIndex)]:
        cfg = load_option(CONF / "index" / f"{name}.yaml")
        cfg = OmegaConf.merge(OmegaConf.create({"seed": 5}), {"index": cfg}).index
        index = instantiate(cfg, progress=False)
        assert type(index) is cls and index.metric == "angular" and index.name == name
        assert index.progress is False and getattr(index, "seed", 5) == 5  # annoy's seed: ${seed}
    assert AnnoyIndex(name="annoy_fast").name == "annoy_fast"  # the config's name wins over the class's


@pytest.mark.parametrize("module,name", [("hnswlib", "hnswlib"), ("faiss", "faiss")])
@pytest.mark.parametrize("metric", ["angular", "euclidean", "dot"])
def test_optional_hnsw_backends_match_exact(module, name, metric):
    pytest.importorskip(module, reason=f"optional backend {module} (al_bench[ann]) not installed")
    x = np.random.default_rng(6).normal(size=(150, 6)).astype(np.float32)
    cls = {"hnswlib": HnswlibIndex, "faiss": FaissHnswIndex}[name]
    index = cls(metric, M=32, ef_construction=200, ef=150)
    h_n, h_d = index.build(x).query(np.arange(150), 5)
    e_n, e_d = ExactIndex(metric, device="cpu", progress=False).build(x).query(np.arange(150), 5)
    assert (h_n == e_n).mean() > 0.98  # HNSW is approximate; at this size and ef it is ~exact
    same = h_n == e_n
    np.testing.assert_allclose(h_d[same], e_d[same], rtol=1e-4, atol=1e-4)
    assert not (h_n == np.arange(150)[:, None]).any()
