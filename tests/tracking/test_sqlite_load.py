"""8 processes logging at once into one SQLite store: every run and every step arrives."""

import multiprocessing
import shutil

import pytest

N_PROCESSES = 8
N_STEPS = 20


def _log_one_run(uri: str, index: int) -> str:
    from al_bench.tracking.mlflow_tracker import MlflowTracker

    tracker = MlflowTracker(uri, experiment_name="load")
    tracker.check_reachable()
    run_id = tracker.start(f"key{index}", f"run{index}", {"strategy": "random"}, {"i": index})
    for step in range(N_STEPS):
        tracker.log_round(step, {"ap": step / 100 + index, "n_labeled": float(step)})
    tracker.finish()
    return run_id


@pytest.mark.slow
def test_eight_processes_log_every_run_and_step(tmp_path, empty_mlflow_db):
    shutil.copy(empty_mlflow_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with multiprocessing.get_context("spawn").Pool(N_PROCESSES) as pool:
        run_ids = pool.starmap(_log_one_run, [(uri, i) for i in range(N_PROCESSES)], chunksize=1)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("load").experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted(run_ids) and len(set(run_ids)) == N_PROCESSES
    for run in runs:
        assert run.info.status == "FINISHED"
        index = int(run.data.params["i"])
        history = client.get_metric_history(run.info.run_id, "ap")
        assert [(m.step, m.value) for m in history] == [(s, s / 100 + index) for s in range(N_STEPS)]
        assert len(client.get_metric_history(run.info.run_id, "n_labeled")) == N_STEPS
