"""MlflowTracker against a real SQLite store: runs found by run_key, no duplicate metrics, params once."""

import json
from pathlib import Path

import pytest

from al_bench.tracking.mlflow_tracker import MlflowTracker, TrackingError, flatten


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def test_flatten():
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": None}) == {
        "a.b": "1",
        "a.c": "[1, 2]",
        "d": "x",
        "e": "null",
    }


def test_unreachable_uri_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    uri = f"sqlite:///{blocker}/sub/mlflow.db"  # parent is a file: cannot be created
    with pytest.raises(TrackingError, match=f"MLflow tracking URI '{uri}' is not reachable"):
        MlflowTracker(uri).check_reachable()
    with pytest.raises(TrackingError, match="URI 'http://127.0.0.1:9' is not reachable"):
        MlflowTracker("http://127.0.0.1:9", check_timeout_s=2).check_reachable()


def test_runs_are_found_again_and_rounds_not_duplicated(store, tmp_path):
    tracker = MlflowTracker(store, experiment_name="t1")
    tracker.check_reachable()
    parent = tracker.parent_run("inv1", "sweep", tmp_path / "lock")
    assert tracker.parent_run("inv1", "sweep", tmp_path / "lock") == parent
    run_id = tracker.start("key1", "random-seed0", {"strategy": "random"}, {"al": {"budget": 5}}, parent)
    assert tracker.log_round(0, {"ap": 0.1, "n_labeled": 10}) == 2
    tracker.log_json({"ids": [1, 2]}, "selections/round_00.json")
    tracker.finish()

    again = MlflowTracker(store, experiment_name="t1")  # a re-run: same key, new tracker
    assert again.start("key1", "random-seed0", {"strategy": "random"}, {"al": {"budget": 99}}) == run_id
    assert again.log_round(0, {"ap": 0.1, "n_labeled": 10}) == 0
    assert again.log_round(1, {"ap": 0.2, "n_labeled": 15}) == 2
    client = again.client
    history = client.get_metric_history(run_id, "ap")
    assert [(m.step, m.value) for m in history] == [(0, 0.1), (1, 0.2)]
    run = client.get_run(run_id)
    assert run.data.params == {"al.budget": "5"}  # logged once, at creation
    assert run.data.tags["run_key"] == "key1" and run.data.tags["mlflow.parentRunId"] == parent
    local = client.download_artifacts(run_id, "selections/round_00.json", str(tmp_path))
    assert json.loads(Path(local).read_text()) == {"ids": [1, 2]}
    experiment = client.get_experiment_by_name("t1")
    assert experiment.artifact_location.endswith("/artifacts")
    assert len(client.search_runs([experiment.experiment_id])) == 2  # parent + one child


def test_duplicate_run_keys_are_reported(store):
    tracker = MlflowTracker(store, experiment_name="t2")
    for _ in range(2):
        tracker.client.create_run(tracker.experiment_id(), tags={"run_key": "dup"})
    with pytest.raises(TrackingError, match="2 MLflow runs .* carry run_key=dup"):
        tracker.find_run("dup")


def test_finish_parent_closes_the_invocation_run(store, tmp_path):
    tracker = MlflowTracker(store, experiment_name="t3")
    parent = tracker.parent_run("inv3", "sweep", tmp_path / "lock")
    assert tracker.client.get_run(parent).info.status == "RUNNING"
    assert tracker.finish_parent("inv3") is True
    assert tracker.client.get_run(parent).info.status == "FINISHED"
    assert tracker.finish_parent("no-such-invocation") is False


def test_parallel_first_opens_of_a_new_sqlite_store(tmp_path):
    """Parallel jobs opening a store that does not exist yet: the table creation runs once."""
    import subprocess
    import sys

    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    code = f"from al_bench.tracking import MlflowTracker; MlflowTracker({uri!r}).check_reachable()"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], errors
