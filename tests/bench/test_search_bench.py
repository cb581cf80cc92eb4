"""The ANN-vs-exact benchmark on a tiny grid: real configs, CSV, MLflow, the console script."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from al_bench.bench.search_bench import clustered_vectors, run_search_bench

torch.set_num_threads(2)
CONF = Path(__file__).resolve().parents[2] / "conf"
TINY = ["pool_sizes=[400]", "data.dim=32", "data.pca_dims=[8]", "data.n_clusters=10", "n_queries=60",
        "repeats=1", "annoy.n_trees=[1,30]", "hnswlib.ef=[100]", "faiss.ef=[100]", "exact.device=cpu",
        "selection.budget_fraction=0.05"]  # fmt: skip


def test_clustered_vectors_are_seeded():
    a, b = clustered_vectors(50, 4, 3, 0.1, seed=1), clustered_vectors(50, 4, 3, 0.1, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50, 4) and a.dtype == np.float32
    assert not np.array_equal(a, clustered_vectors(50, 4, 3, 0.1, seed=2))
    low = clustered_vectors(60, 20, 3, 0.5, seed=1, intrinsic_dim=5)
    assert low.shape == (60, 20) and np.linalg.matrix_rank(low) == 5  # no noise: a 5-d subspace
    assert (
        np.linalg.matrix_rank(clustered_vectors(60, 20, 3, 0.5, seed=1, intrinsic_dim=5, noise_std=0.1)) == 20
    )


@pytest.mark.slow  # ~20 s, mostly MLflow's SQLite store setup
def test_tiny_grid_writes_csv_and_logs_mlflow(tmp_path):
    out_csv = tmp_path / "bench.csv"
    overrides = [*TINY, f"output_csv={out_csv}", f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
                 f"paths.output_dir={tmp_path}"]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("search_bench", overrides=overrides)
    rows = run_search_bench(cfg)
    with open(out_csv) as f:
        written = list(csv.DictReader(f))
    assert len(written) == len(rows)
    backends = {(r["dim"], r["backend"], r["config"]) for r in rows}
    assert ("32", "exact", "chunk=1024 cpu") in backends and (
        "pca8",
        "annoy",
        "n_trees=30 search_k=-1",
    ) in backends
    by = {(r["dim"], r["config"]): r for r in rows}
    for dim in ("32", "pca8"):
        exact = next(r for r in rows if r["dim"] == dim and r["backend"] == "exact")
        assert exact["recall"] == 1.0 and exact["sel_overlap_exact"] == 1.0
        assert exact["sel_budget"] == 20 and exact["sel_candidates"] == 100
        assert 0 < exact["exact_fraction_of_matmul"] and exact["matmul_gflops"] > 0
        few, many = by[(dim, "n_trees=1 search_k=-1")], by[(dim, "n_trees=30 search_k=-1")]
        assert few["recall"] < many["recall"] and many["recall"] > 0.9
        assert 0 <= few["sel_overlap_exact"] <= 1 and many["sel_coverage_radius"] > 0
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("al_bench_search").experiment_id])
    [parent] = [r for r in runs if r.data.tags["kind"] == "search_bench"]
    children = {r.info.run_name: r for r in runs if r.data.tags["kind"] == "search_bench_config"}
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == [out_csv.name]
    assert len(children) == len(rows) and parent.info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in children.values()} == {parent.info.run_id}
    exact = children["n400 d32 exact chunk=1024 cpu"].data
    assert (
        exact.metrics["recall"] == 1.0
        and exact.params["backend"] == "exact"
        and exact.params["chunk"] == "1024"
    )
    annoy = children["n400 dpca8 annoy n_trees=30 search_k=-1"].data
    assert (annoy.params["n_trees"], annoy.params["search_k"], annoy.params["dim"]) == ("30", "-1", "pca8")
    assert annoy.metrics["recall"] == by[("pca8", "n_trees=30 search_k=-1")]["recall"]


@pytest.mark.slow
def test_console_script_runs(tmp_path):
    out_csv = tmp_path / "cli.csv"
    args = [*TINY, "annoy.n_trees=[5]", "hnswlib.enabled=false", "faiss.enabled=false", "tracking.enabled=false",
            f"output_csv={out_csv}", f"paths.output_dir={tmp_path}"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "al_bench.cli.search", *args], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "sel_overlap_exact" in done.stdout and out_csv.exists()
    assert len(out_csv.read_text().splitlines()) == 1 + 2 * 2  # header + (exact, annoy) x (32, pca8)
