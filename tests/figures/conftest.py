"""Fixtures of the figures tests: the synthetic MLflow store of ``figures_store`` (built once per session)."""

import pytest
from figures_store import build_store


@pytest.fixture(scope="session")
def store_uri(tmp_path_factory) -> str:
    """Tracking URI of the synthetic store (built once per test session)."""
    return build_store(tmp_path_factory.mktemp("mlflow_store"))


@pytest.fixture(scope="session")
def bench_runs(store_uri):
    """Tidy table of experiment ``bench``."""
    from al_bench.figures.runs import load_runs

    return load_runs(store_uri, "bench", progress=False)
