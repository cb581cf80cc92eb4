"""Fixtures shared by the loop, tracking and CLI tests."""

from pathlib import Path

import pytest

from al_bench.config_schema import register_configs

# conf/ extends the schemas of al_bench/config_schema.py: every test that composes needs them stored.
register_configs()


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """An initialised, empty MLflow SQLite store: creating one runs seconds of migrations, so tests
    copy this file instead."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path
