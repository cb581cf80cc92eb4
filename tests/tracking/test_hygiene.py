"""Run hygiene in the store: FAILED runs with their error, parents ending with their children, stale
parents closed by a later invocation, and the retry on a locked SQLite database."""

import sqlite3

import pytest
from mlflow.exceptions import MlflowException

from al_bench.tracking.mlflow_tracker import MlflowTracker
from al_bench.tracking.retry import is_locked_error, retry_locked


@pytest.fixture
def tracker(tmp_path, empty_mlflow_db):
    import shutil

    shutil.copy(empty_mlflow_db, tmp_path / "mlflow.db")
    return MlflowTracker(f"sqlite:///{tmp_path / 'mlflow.db'}", experiment_name="hygiene")


def _child(tracker, key, parent):
    child = MlflowTracker(tracker.uri, tracker.experiment_name)
    child.start(key, key, {"strategy": "random"}, {"a": 1}, parent)
    return child


def test_a_failed_child_fails_its_parent_and_keeps_its_error(tracker, tmp_path):
    parent = tracker.parent_run("inv", "sweep/1", tmp_path / "lock")
    child = _child(tracker, "k1", parent)
    child.fail(ValueError("bad value " + "x" * 5000))
    run = tracker.client.get_run(child.run_id)
    assert run.info.status == "FAILED"
    assert (
        run.data.tags["error"].startswith("ValueError: bad value xx") and len(run.data.tags["error"]) == 1000
    )
    assert tracker.client.get_run(parent).info.status == "FAILED"


def test_a_parent_ends_with_its_children(tracker, tmp_path):
    ok_parent = tracker.parent_run("inv-ok", "sweep/ok", tmp_path / "lock")
    for key in ("a", "b"):
        _child(tracker, key, ok_parent).finish()
    bad_parent = tracker.parent_run("inv-bad", "sweep/bad", tmp_path / "lock")
    _child(tracker, "c", bad_parent).finish()
    _child(tracker, "d", bad_parent)  # never finished (killed)
    assert tracker.finish_parent("inv-ok") and tracker.finish_parent("inv-bad")
    assert tracker.client.get_run(ok_parent).info.status == "FINISHED"
    assert tracker.client.get_run(bad_parent).info.status == "FAILED"


def test_a_parent_left_running_is_closed_by_the_invocation_that_resumes_its_run(tracker, tmp_path):
    killed = tracker.parent_run("inv-killed", "sweep/killed", tmp_path / "lock")
    child = _child(tracker, "k", killed)  # the kill leaves both RUNNING
    assert tracker.close_stale_parent(child.run_id, "inv-killed", "sweep/killed") is None  # its own
    assert tracker.client.get_run(killed).info.status == "RUNNING"
    assert tracker.close_stale_parent(child.run_id, "inv-new", "sweep/new") == killed
    closed = tracker.client.get_run(killed)
    assert closed.info.status == "FAILED" and closed.data.tags["closed_by"] == "sweep/new"
    assert tracker.close_stale_parent(child.run_id, "inv-later", "sweep/later") is None  # closed once
    assert tracker.client.get_run(killed).data.tags["closed_by"] == "sweep/new"


def test_retry_waits_with_growing_jittered_delays_on_a_locked_database():
    calls, sleeps = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            try:
                raise sqlite3.OperationalError("database is locked")
            except sqlite3.OperationalError as err:
                raise MlflowException("(sqlite3.OperationalError) oops") from err
        return "done"

    assert retry_locked(flaky, base_delay_s=0.1, max_delay_s=0.3, sleep=sleeps.append)() == "done"
    assert len(calls) == 4 and len(sleeps) == 3
    assert [0 <= s <= bound for s, bound in zip(sleeps, (0.1, 0.2, 0.3))] == [True] * 3

    def broken():
        calls.append(1)
        raise MlflowException("no such run")

    calls.clear()
    with pytest.raises(MlflowException, match="no such run"):
        retry_locked(broken, sleep=sleeps.append)()
    assert len(calls) == 1 and not is_locked_error(MlflowException("no such run"))

    def always_locked():
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError):
        retry_locked(always_locked, attempts=3, sleep=lambda s: None)()
