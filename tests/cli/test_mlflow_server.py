"""The team set-up: a shared ``mlflow server`` (SQLite backend, local artifact root) on 127.0.0.1, an
``al-bench`` run logging to it over HTTP via MLFLOW_TRACKING_URI, the runs read back, the server stopped.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cli_support import FAKE_PIECES, al_bench_command, cli_env, tiny_run_name
from mlflow.tracking import MlflowClient

START_TIMEOUT_S = 120  # a cold start on a busy 2-core machine takes tens of seconds
STOP_TIMEOUT_S = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"mlflow server not healthy after {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (it forks workers), SIGKILL it if it does not exit in time."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)


@pytest.fixture
def mlflow_server(tmp_path, empty_mlflow_db):
    """``(url, artifact_root)`` of a fresh ``mlflow server``; always stopped afterwards."""
    shutil.copy(empty_mlflow_db, tmp_path / "server.db")  # an initialised store: no migrations at start
    port = _free_port()
    artifacts, log = tmp_path / "server_artifacts", tmp_path / "server.log"
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination", str(artifacts),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log)
        yield url, artifacts
    finally:
        _stop(proc)


@pytest.mark.slow
def test_al_bench_logs_to_a_shared_server_over_http(tmp_path, mlflow_server):
    url, artifacts = mlflow_server
    env = {**cli_env(), "MLFLOW_TRACKING_URI": url}
    command = al_bench_command(tmp_path / "out", "strategy=random", "tracking=server", FAKE_PIECES)
    proc = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "MLflow run" in proc.stdout and url in proc.stdout

    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("al_bench")
    runs = client.search_runs([experiment.experiment_id])
    [run] = [r for r in runs if "run_key" in r.data.tags]
    assert run.info.run_name == tiny_run_name("random", 0) and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "ap")] == [0, 1, 2]
    assert [m.value for m in client.get_metric_history(run.info.run_id, "n_labeled")] == [10, 15, 20]
    assert {a.path for a in client.list_artifacts(run.info.run_id, "selections")} >= {
        "selections/round_01.json"
    }
    # Artifacts went through the server (proxied) into its artifact root, not into the client's folders.
    assert list(artifacts.rglob("round_01.json")) and not (tmp_path / "out" / "artifacts").exists()
