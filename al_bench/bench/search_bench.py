"""The ANN-vs-exact benchmark (``al-bench-search``): index build/query time, recall@k against exact
search, and heatmap_annoy-vs-heatmap_exact selections on the same candidates.

For every pool size ``N`` and dimension (the source dimension, plus PCA-reduced variants) it measures:

- each approximate backend configuration (Annoy ``n_trees`` x ``search_k``; hnswlib / faiss HNSW when
  installed): build time over all ``N`` vectors, time for ``n_queries`` self-excluding k-NN queries,
  recall@k against the exact neighbours of the same queries;
- the exact backend: time for the same queries, its GFLOP/s (``2 * q * N * d`` per query batch) as a
  fraction of this machine's float32 matmul GFLOP/s measured in the same run, and the projected time
  of a full self-k-NN of the pool (``N / n_queries`` times the measured time: an extrapolation);
- the selection walk (DESIGN.md "Selection semantics") over ``ceil(budget / selection_ratio)``
  candidates in a seeded random "uncertainty" order, ``budget = N * budget_fraction``: time (index
  build + walk), overlap with the exact walk, coverage radius.

Times are medians over ``repeats``. Results go to a CSV, a printed table and MLflow (experiment
``al_bench_search``, or ``cfg.tracking.experiment_name``): one parent run per invocation with the CSV,
one nested run per benchmarked configuration with its settings as params (:func:`log_to_mlflow`).
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from al_bench.devices import resolve_device
from al_bench.embed.pca import pca_project
from al_bench.search import AnnoyIndex, ExactIndex, FaissHnswIndex, HnswlibIndex, KnnIndex
from al_bench.strategies.base import ceil_div
from al_bench.strategies.quality import coverage_radius, overlap
from al_bench.strategies.walk import suppression_size, suppression_walk

log = logging.getLogger(__name__)

COLUMNS = [
    "n", "dim", "metric", "backend", "config", "build_s", "query_s", "query_ms", "recall",
    "sel_budget", "sel_candidates", "sel_build_s", "sel_walk_s", "sel_total_s", "sel_overlap_exact",
    "sel_coverage_radius", "exact_gflops", "exact_fraction_of_matmul", "exact_full_self_knn_s", "matmul_gflops",
]  # fmt: skip


def clustered_vectors(
    n: int,
    dim: int,
    n_clusters: int,
    cluster_std: float,
    seed: int,
    intrinsic_dim: int | None = None,
    noise_std: float = 0.0,
) -> np.ndarray:
    """Seeded Gaussian clusters, float32.

    Centres ~ N(0, I), points = centre + ``cluster_std`` * N(0, I), drawn in ``intrinsic_dim``
    dimensions (``None``: directly in ``dim``) and then mapped to ``dim`` by a random Gaussian matrix
    plus ``noise_std`` isotropic noise. Low intrinsic dimension mimics CNN embeddings, whose nearest
    neighbours are meaningful; isotropic high-dimensional clusters make every cluster-mate nearly
    equidistant.
    """
    rng = np.random.default_rng(seed)
    base = dim if intrinsic_dim is None else int(intrinsic_dim)
    centres = rng.standard_normal((n_clusters, base), dtype=np.float32)
    labels = rng.integers(n_clusters, size=n)
    x = centres[labels] + np.float32(cluster_std) * rng.standard_normal((n, base), dtype=np.float32)
    if intrinsic_dim is None:
        return x
    mixing = rng.standard_normal((base, dim), dtype=np.float32) / np.float32(np.sqrt(base))
    return x @ mixing + np.float32(noise_std) * rng.standard_normal((n, dim), dtype=np.float32)


def load_vectors(path: str, n: int, seed: int) -> np.ndarray:
    """``n`` seeded random rows of a ``(rows, d)`` ``.npy`` file (e.g. a cached embedding file)."""
    data = np.load(path, mmap_mode="r")
    if data.ndim != 2 or len(data) < n:
        raise ValueError(f"{path}: need a 2-d array with at least {n} rows; got shape {data.shape}")
    rows = np.sort(np.random.default_rng(seed).choice(len(data), n, replace=False))
    return np.asarray(data[rows], dtype=np.float32)


def datasets(cfg: Any, n: int) -> Iterator[tuple[str, np.ndarray]]:
    """``(dimension label, vectors)`` for pool size ``n``: the source data, then each PCA variant."""
    data = cfg.data
    if data.path:
        x = load_vectors(data.path, n, cfg.seed)
    else:
        x = clustered_vectors(
            n, data.dim, data.n_clusters, data.cluster_std, cfg.seed, data.intrinsic_dim, data.noise_std
        )
    yield str(x.shape[1]), x
    for dim in data.pca_dims or []:
        yield f"pca{dim}", pca_project(x, int(dim))


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def matmul_gflops(rows: int, dim: int, cols: int, device: torch.device, repeats: int) -> float:
    """This machine's float32 matmul GFLOP/s on the exact backend's chunk shape."""
    a = torch.randn(rows, dim, device=device)
    b = torch.randn(dim, cols, device=device)

    def run():
        (a @ b).sum().item()  # .item() synchronises on CUDA

    run()  # warm-up (BLAS thread pools, CUDA context)
    seconds, _ = median_time(run, repeats)
    return 2.0 * rows * dim * cols / seconds / 1e9


def selection_walk(index: KnnIndex, vectors: np.ndarray, n_suppress: int, budget: int, repeats: int):
    """Median (build, walk) time of the walk over ``vectors`` in row order, and its picks."""
    build_s, _ = median_time(lambda: index.build(vectors), repeats)
    walk_s, walk = median_time(
        lambda: suppression_walk(np.arange(len(vectors)), index, n_suppress, budget), repeats
    )
    return build_s, walk_s, walk.rows


def backend_configs(cfg: Any, metric: str) -> Iterator[tuple[str, str, Callable[[], KnnIndex]]]:
    """``(backend, label, index factory)`` for every approximate configuration of the grid."""
    for n_trees in cfg.annoy.n_trees:
        for search_k in cfg.annoy.search_k:
            make = partial(AnnoyIndex, metric, n_trees=n_trees, search_k=search_k, seed=cfg.seed,
                           n_jobs=cfg.annoy.n_jobs, progress=False)  # fmt: skip
            yield "annoy", f"n_trees={n_trees} search_k={search_k}", make
    for backend, cls in (("hnswlib", HnswlibIndex), ("faiss", FaissHnswIndex)):
        opts = cfg.get(backend)
        if not opts or not opts.enabled:
            continue
        try:
            __import__(backend)
        except ImportError:
            log.info(f"[search-bench] {backend} not installed (pip install 'al_bench[ann]'): skipped")
            continue
        for ef in opts.ef:
            make = partial(cls, metric, M=opts.M, ef_construction=opts.ef_construction, ef=ef,
                           seed=cfg.seed, n_jobs=opts.n_jobs, progress=False)  # fmt: skip
            yield backend, f"M={opts.M} ef={ef}", make


def bench_pool(cfg: Any, n: int, dim_label: str, x: np.ndarray, gflops_ref: float) -> list[dict[str, Any]]:
    """All rows of one (pool size, dimension) cell of the grid."""
    metric, k, repeats = cfg.metric, cfg.k, cfg.repeats
    rng = np.random.default_rng(cfg.seed)
    queries = np.sort(rng.choice(n, min(cfg.n_queries, n), replace=False))
    exact_kwargs = {"chunk_size": cfg.exact.chunk_size, "device": cfg.exact.device, "progress": False}
    exact = ExactIndex(metric, **exact_kwargs).build(x)
    exact_s, (truth, _) = median_time(lambda: exact.query(queries, k), repeats)
    gflops = 2.0 * len(queries) * n * x.shape[1] / exact_s / 1e9
    # Selection: a random "uncertainty" order, the top ceil(budget / ratio) are the candidates.
    budget = max(1, round(n * cfg.selection.budget_fraction))
    n_cand = min(ceil_div(budget, cfg.selection.ratio), n)
    candidates = x[rng.permutation(n)[:n_cand]]
    n_suppress = suppression_size(cfg.selection.ratio)
    ex_build, ex_walk, ex_rows = selection_walk(
        ExactIndex(metric, **exact_kwargs), candidates, n_suppress, budget, repeats
    )
    base = {"n": n, "dim": dim_label, "metric": metric, "sel_budget": budget, "sel_candidates": n_cand}
    rows = [{
        **base, "backend": "exact", "config": f"chunk={cfg.exact.chunk_size} {exact.device.type}", "build_s": 0.0,
        "query_s": exact_s, "query_ms": 1e3 * exact_s / len(queries), "recall": 1.0,
        "sel_build_s": ex_build, "sel_walk_s": ex_walk, "sel_total_s": ex_build + ex_walk, "sel_overlap_exact": 1.0,
        "sel_coverage_radius": coverage_radius(candidates, ex_rows, metric, **exact_kwargs),
        "exact_gflops": gflops, "exact_fraction_of_matmul": gflops / gflops_ref,
        "exact_full_self_knn_s": exact_s * n / len(queries), "matmul_gflops": gflops_ref,
    }]  # fmt: skip
    for backend, label, make_index in backend_configs(cfg, metric):
        index = make_index()
        build_s, _ = median_time(lambda index=index: index.build(x), repeats)
        query_s, (approx, _) = median_time(lambda index=index: index.query(queries, k), repeats)
        recall = np.mean([len(np.intersect1d(a, t)) for a, t in zip(approx, truth, strict=True)]) / k
        s_build, s_walk, s_rows = selection_walk(make_index(), candidates, n_suppress, budget, repeats)
        rows.append({
            **base, "backend": backend, "config": label, "build_s": build_s, "query_s": query_s,
            "query_ms": 1e3 * query_s / len(queries), "recall": float(recall),
            "sel_build_s": s_build, "sel_walk_s": s_walk, "sel_total_s": s_build + s_walk,
            "sel_overlap_exact": overlap(s_rows, ex_rows),
            "sel_coverage_radius": coverage_radius(candidates, s_rows, metric, **exact_kwargs),
        })  # fmt: skip
        log.info(
            f"[search-bench] N={n} d={dim_label} {backend} {label}: build {build_s:.2f}s recall {recall:.3f}"
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width text table of the main columns."""
    cols = ["n", "dim", "backend", "config", "build_s", "query_ms", "recall", "sel_total_s",
            "sel_overlap_exact", "sel_coverage_radius", "exact_fraction_of_matmul"]  # fmt: skip

    def cell(value: Any) -> str:
        if value is None or value == "":
            return ""
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    table = [cols] + [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)) for line in table)


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    """Write the rows (all :data:`COLUMNS`) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


# The measures of a row that go to its MLflow run as metrics (the rest of the row are its params).
ROW_METRICS = ("build_s", "query_ms", "recall", "sel_total_s", "sel_overlap_exact", "sel_coverage_radius",
               "exact_gflops", "exact_fraction_of_matmul")  # fmt: skip
ROW_PARAMS = ("n", "dim", "metric", "backend", "config", "sel_budget", "sel_candidates")


def log_to_mlflow(cfg: Any, rows: list[dict[str, Any]], csv_path: Path, machine: dict[str, str]) -> str:
    """One parent MLflow run per invocation (the bench config, the machine, the CSV) and one nested run
    per benchmarked configuration (a row: its cell and index settings as params, its measures as
    metrics), so the UI can filter and compare configurations by param instead of by metric name.

    Returns:
        the parent run's id.
    """
    from omegaconf import OmegaConf

    from al_bench.tracking import MlflowTracker

    tracker = MlflowTracker(cfg.tracking.uri, cfg.tracking.experiment_name)
    tracker.check_reachable()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    params = {
        k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k not in ("tracking", "hydra")
    }
    params.update(machine)
    key = f"search-bench-{stamp}"
    parent_id = tracker.start(key, key, {"kind": "search_bench", **machine}, params)
    tracker.log_file(csv_path)
    child = MlflowTracker(cfg.tracking.uri, cfg.tracking.experiment_name)
    for row in rows:
        name = row_run_name(row)
        child.start(
            f"{key}/{name}", name, {"kind": "search_bench_config", **machine}, row_params(row), parent_id
        )
        child.log_round(0, {m: float(row[m]) for m in ROW_METRICS if row.get(m) not in (None, "")})
        child.finish()
    tracker.finish()
    return parent_id


def row_run_name(row: dict[str, Any]) -> str:
    """``n400 d32 annoy n_trees=30 search_k=-1``: the cell and the configuration, as the table shows them."""
    return f"n{row['n']} d{row['dim']} {row['backend']} {row['config']}"


def row_params(row: dict[str, Any]) -> dict[str, Any]:
    """The row's cell and configuration; each ``key=value`` of its config label also as its own param
    (``n_trees``, ``search_k``, ``M``, ``ef``, ``chunk``), so runs can be filtered by it."""
    params = {key: row[key] for key in ROW_PARAMS}
    for token in str(row["config"]).split():
        name, sep, value = token.partition("=")
        if sep:
            params[name] = value
    return params


def machine_description(device: torch.device) -> dict[str, str]:
    """What the figures were measured on."""
    desc = {"machine": f"{platform.machine()} {torch.get_num_threads()} torch threads", "device": str(device)}
    if device.type == "cuda":
        desc["device"] = torch.cuda.get_device_name(device)
    return desc


def run_search_bench(cfg: Any) -> list[dict[str, Any]]:
    """Run the grid of ``cfg`` (``conf/search_bench.yaml``); returns the result rows."""
    torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.exact.device)
    machine = machine_description(device)
    rows: list[dict[str, Any]] = []
    for n in cfg.pool_sizes:
        for dim_label, x in datasets(cfg, int(n)):
            ref = matmul_gflops(min(cfg.exact.chunk_size, n), x.shape[1], min(n, 16384), device, cfg.repeats)
            rows.extend(bench_pool(cfg, int(n), dim_label, x, ref))
    csv_path = Path(cfg.output_csv)
    write_csv(rows, csv_path)
    print(format_table(rows))
    log.info(f"[search-bench] {machine}; CSV: {csv_path}")
    if cfg.tracking.enabled:
        run_id = log_to_mlflow(cfg, rows, csv_path, machine)
        log.info(f"[search-bench] MLflow run {run_id} in {cfg.tracking.uri}")
    return rows
