"""Run ``al-bench`` as a real subprocess with tiny settings, writing under a tmp dir."""

import shutil
import subprocess
from pathlib import Path

import pytest
from cli_support import al_bench_command, cli_env


@pytest.fixture
def run_cli(empty_mlflow_db):
    """``run_cli(out_dir, *overrides, cache_dir=None, timeout=...)`` -> CompletedProcess (checked)."""

    def _run(out_dir: Path, *overrides: str, cache_dir: Path | None = None, timeout: float = 600):
        out_dir.mkdir(parents=True, exist_ok=True)
        if not (out_dir / "mlflow.db").exists():
            shutil.copy(empty_mlflow_db, out_dir / "mlflow.db")
        proc = subprocess.run(
            al_bench_command(out_dir, *overrides, cache_dir=cache_dir),
            cwd=out_dir,
            env=cli_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
        return proc

    return _run


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One cache dir (synthetic data, round-0 models) for every real CLI run of the session."""
    return tmp_path_factory.mktemp("al_cache")
