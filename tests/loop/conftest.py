"""Compose the repository's real Hydra config for loop tests, writing under a tmp dir."""

import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture
def compose_cfg(empty_mlflow_db):
    """``compose_cfg(out_dir, *overrides)`` -> the composed config (quick preset + tiny sizes), with a
    fresh copy of the empty MLflow store at ``out_dir/mlflow.db``."""

    def _compose(out_dir: Path, *overrides: str):
        out_dir.mkdir(parents=True, exist_ok=True)
        if not (out_dir / "mlflow.db").exists():
            shutil.copy(empty_mlflow_db, out_dir / "mlflow.db")
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(
                "config",
                overrides=[
                    f"paths.output_dir={out_dir}",
                    "data.n_pool=40",
                    "data.n_val=20",
                    "al.initial=10",
                    "al.budget=5",
                    "al.rounds=2",
                    *overrides,
                ],
            )

    return _compose
