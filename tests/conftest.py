"""Fixtures shared by the loop, tracking and CLI tests."""

import os
from pathlib import Path

import pytest

from al_bench.config_schema import register_configs

# conf/ extends the schemas of al_bench/config_schema.py: every test that composes needs them stored.
register_configs()

MAX_TEST_WORKERS = 4  # each worker imports torch (~1 GB) and starts al-bench subprocesses of 1-2 threads


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (pyproject addopts): one worker per core, at most MAX_TEST_WORKERS."""
    return max(1, min(os.cpu_count() or 1, MAX_TEST_WORKERS))


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """An initialised, empty MLflow SQLite store: creating one runs seconds of migrations, so tests
    copy this file instead."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path
