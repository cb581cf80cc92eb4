"""MLflow logging for AL runs: one run per (strategy, seed), nested under one parent run per invocation.

This module owns everything MLflow: the reachability check, finding or creating runs by their
``run_key`` tag (so re-running into the same store never duplicates a run), params (logged once),
per-round metrics (one ``log_batch`` per round, skipping steps already logged) and artifacts.
It uses :class:`mlflow.tracking.MlflowClient` only, never the fluent API, so in-process multiruns
share no global "active run".
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from filelock import FileLock

import al_bench
from al_bench.tracking.retry import RetryingClient

RUN_KEY_TAG = "run_key"
INVOCATION_TAG = "al_bench.invocation"
PARENT_TAG = "mlflow.parentRunId"
ERROR_TAG = "error"  # on a FAILED run: the exception's type and message (truncated)
CLOSED_BY_TAG = "closed_by"  # on a parent closed by a later invocation: that invocation's name
_MAX_ERROR_CHARS = 1000
_MAX_PARAMS_PER_BATCH = 100  # MLflow's log_batch limit
_MAX_PARAM_CHARS = 6000  # MLflow's param value limit


class TrackingError(RuntimeError):
    """The MLflow store cannot be used (unreachable, or holds conflicting runs)."""


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///...`` URI, else None."""
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]) if uri.startswith(prefix) else None


def ui_command(uri: str) -> str:
    """The shell command that opens the MLflow UI on this store."""
    return f"mlflow ui --backend-store-uri {uri}"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten nested mappings to ``{"a.b.c": "value"}`` strings (lists stay one JSON value)."""
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            text = value if isinstance(value, str) else json.dumps(value)
            flat[name] = text[:_MAX_PARAM_CHARS]
    return flat


def git_commit(repo_dir: Path | None = None) -> str:
    """HEAD commit of the al_bench checkout (``+dirty`` when it has local changes), or ``unknown``."""
    repo_dir = repo_dir or Path(al_bench.__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(repo_dir), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "-C", str(repo_dir), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


@contextmanager
def _no_http_retries(timeout_s: int):
    """Fail fast: MLflow's HTTP client otherwise retries an unreachable server for minutes."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(timeout_s))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class MlflowTracker:
    """Logs one AL run (strategy x seed) to MLflow; safe to re-run into the same store.

    Args:
        uri: tracking URI (``sqlite:///path/mlflow.db``, ``http://host:5000``, ...).
        experiment_name: MLflow experiment every run of every sweep lands in.
        artifact_location: artifact root for a new experiment; None puts it beside a SQLite
            database (``<db dir>/artifacts``) or leaves it to the server.
        check_timeout_s: how long the reachability check may wait for a server.
    """

    def __init__(
        self,
        uri: str,
        experiment_name: str = "al_bench",
        artifact_location: str | None = None,
        check_timeout_s: int = 10,
    ) -> None:
        self.uri = str(uri)
        self.experiment_name = experiment_name
        self.artifact_location = artifact_location
        self.check_timeout_s = check_timeout_s
        self.run_id: str | None = None
        self._client = None
        self._experiment_id: str | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> MlflowTracker:
        """Build from the ``tracking`` config group."""
        return cls(
            uri=cfg["uri"],
            experiment_name=cfg["experiment_name"],
            artifact_location=cfg["artifact_location"],
            check_timeout_s=int(cfg["check_timeout_s"]),
        )

    @property
    def client(self):
        if self._client is None:
            from mlflow.tracking import MlflowClient  # slow import: only when tracking is used

            # Every store call is retried on "database is locked" (parallel jobs on one SQLite file).
            self._client = RetryingClient(MlflowClient(tracking_uri=self.uri))
        return self._client

    # -- setup ---------------------------------------------------------------------------------------

    def check_reachable(self) -> None:
        """Open the store (creating a SQLite file's directory) and make one cheap query.

        Raises:
            TrackingError: naming the URI, when the store cannot be opened or queried.
        """
        db = sqlite_path(self.uri)
        try:
            if db is not None:
                db.parent.mkdir(parents=True, exist_ok=True)
            # Opening a new SQLite store creates its tables; parallel jobs doing that at once fail
            # ("table ... already exists"), so the first open is serialised.
            lock = FileLock(f"{db}.lock") if db is not None else nullcontext()
            with lock, _no_http_retries(self.check_timeout_s):
                self.client.search_experiments(max_results=1)
        except Exception as err:
            raise TrackingError(
                f"MLflow tracking URI {self.uri!r} is not reachable ({type(err).__name__}: {err}). "
                "Set tracking.uri=... or MLFLOW_TRACKING_URI to a reachable store."
            ) from err

    def experiment_id(self) -> str:
        """Id of ``experiment_name``, created on first use (with artifacts beside a SQLite db)."""
        if self._experiment_id is None:
            found = self.client.get_experiment_by_name(self.experiment_name)
            if found is None:
                location = self.artifact_location
                db = sqlite_path(self.uri)
                if location is None and db is not None:
                    location = (db.parent / "artifacts").resolve().as_uri()
                try:
                    self._experiment_id = self.client.create_experiment(self.experiment_name, location)
                except Exception:  # another job created it in between
                    found = self.client.get_experiment_by_name(self.experiment_name)
                    if found is None:
                        raise
                    self._experiment_id = found.experiment_id
            else:
                self._experiment_id = found.experiment_id
        return self._experiment_id

    def _find_runs(self, tag: str, value: str) -> list:
        from mlflow.entities import ViewType

        return self.client.search_runs(
            [self.experiment_id()],
            filter_string=f"tags.`{tag}` = '{value}'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=10,
        )

    # -- runs ----------------------------------------------------------------------------------------

    def find_run(self, run_key: str) -> str | None:
        """Id of the run tagged ``run_key``, or None.

        Raises:
            TrackingError: several runs carry the key (the store was written by something else).
        """
        runs = self._find_runs(RUN_KEY_TAG, run_key)
        if len(runs) > 1:
            ids = ", ".join(r.info.run_id for r in runs)
            raise TrackingError(f"{len(runs)} MLflow runs in {self.uri} carry run_key={run_key}: {ids}")
        return runs[0].info.run_id if runs else None

    def existing_run(self, run_id: str | None, run_key: str) -> str | None:
        """``run_id`` when this store has it (a resumed state may name a run of another store),
        else the run tagged ``run_key``, else None."""
        if run_id is not None:
            from mlflow.exceptions import MlflowException

            try:
                self.client.get_run(run_id)
                return run_id
            except MlflowException:
                pass
        return self.find_run(run_key)

    def parent_run(self, invocation_key: str, name: str, lock_path: Path) -> str:
        """Find or create the parent run of one invocation (one sweep, or one single run).

        ``lock_path`` is a file every job of the invocation can see, so parallel jobs create the
        parent once.
        """
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock_path)):
            runs = self._find_runs(INVOCATION_TAG, invocation_key)
            if runs:
                return runs[0].info.run_id
            run = self.client.create_run(
                self.experiment_id(), run_name=name, tags={INVOCATION_TAG: invocation_key}
            )
            return run.info.run_id

    def start(
        self,
        run_key: str,
        run_name: str,
        tags: Mapping[str, str],
        params: Mapping[str, Any],
        parent_run_id: str | None = None,
        run_id: str | None = None,
    ) -> str:
        """Resume the run with ``run_id`` or tagged ``run_key``, else create it and log params once
        (a resumed run gets only the params it lacks).

        Returns:
            the run id (also kept in ``self.run_id``).
        """
        run_id = run_id or self.find_run(run_key)
        if run_id is None:
            all_tags = {**{k: str(v) for k, v in tags.items()}, RUN_KEY_TAG: run_key}
            if parent_run_id:
                all_tags[PARENT_TAG] = parent_run_id
            run_id = self.client.create_run(
                self.experiment_id(), run_name=run_name, tags=all_tags
            ).info.run_id
            self._log_params(run_id, flatten(params))
        else:
            # A kill between create_run and the params batch leaves a run without (some) params:
            # log only the missing ones (logging a param again with another value would raise).
            # Tags the run lacks (a run made by an older version) are added; the others are kept.
            data = self.client.get_run(run_id).data
            missing = {k: v for k, v in flatten(params).items() if k not in data.params}
            if missing:
                self._log_params(run_id, missing)
            for key, value in tags.items():
                if key not in data.tags:
                    self.client.set_tag(run_id, key, str(value))
            if ERROR_TAG in data.tags:  # a failed attempt, resumed: the error is no longer the outcome
                self.client.delete_tag(run_id, ERROR_TAG)
            self.client.update_run(run_id, status="RUNNING")
        self.run_id = run_id
        return run_id

    def _log_params(self, run_id: str, flat: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in sorted(flat.items())]
        for start in range(0, len(items), _MAX_PARAMS_PER_BATCH):
            self.client.log_batch(run_id, params=items[start : start + _MAX_PARAMS_PER_BATCH])

    def log_round(self, round_idx: int, metrics: Mapping[str, float]) -> int:
        """Log one round's metrics at ``step = round_idx`` in one batch, skipping those already there.

        Returns:
            how many metrics were logged (0 when the round was logged before).
        """
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        fresh = [
            Metric(key, float(value), now, int(round_idx))
            for key, value in sorted(metrics.items())
            if not any(m.step == round_idx for m in self.client.get_metric_history(self._run(), key))
        ]
        if fresh:
            self.client.log_batch(self._run(), metrics=fresh)
        return len(fresh)

    def log_json(self, obj: Any, artifact_file: str) -> None:
        """Write ``obj`` as JSON to ``artifact_file`` (e.g. ``selections/round_00.json``); overwrites."""
        self.client.log_dict(self._run(), obj, artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self._run(), text, artifact_file)

    def log_file(self, local_path: Path, artifact_dir: str | None = None) -> None:
        self.client.log_artifact(self._run(), str(local_path), artifact_dir)

    def log_figure(self, figure, artifact_file: str) -> None:
        """Save a matplotlib figure as an artifact (PNG)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(artifact_file).name
            figure.savefig(path, dpi=120, bbox_inches="tight")
            self.log_file(path, str(Path(artifact_file).parent) if "/" in artifact_file else None)

    def children_status(self, parent_run_id: str) -> str:
        """``FINISHED`` when every child run of ``parent_run_id`` finished, else ``FAILED``."""
        from mlflow.entities import ViewType

        children = self.client.search_runs(
            [self.experiment_id()],
            filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
            run_view_type=ViewType.ACTIVE_ONLY,
            max_results=10000,
        )
        return "FINISHED" if all(c.info.status == "FINISHED" for c in children) else "FAILED"

    def finish_parent(self, invocation_key: str) -> bool:
        """End the parent run of an invocation with its children (once all its jobs are done):
        ``FINISHED`` when all of them finished, ``FAILED`` when any failed or never finished.

        Returns:
            whether the store has such a parent run.
        """
        runs = self._find_runs(INVOCATION_TAG, invocation_key)
        for run in runs:
            self.client.set_terminated(run.info.run_id, self.children_status(run.info.run_id))
        return bool(runs)

    def close_stale_parent(self, run_id: str, invocation_key: str | None, closed_by: str) -> str | None:
        """Close the parent of ``run_id`` when it is still RUNNING but belongs to another invocation.

        Called by every job when it resumes (or finds finished) its run: the invocation that made
        the parent is not running this run any more, so it was killed (kill -9, OOM, pre-emption)
        before it could close its parent. The parent ends ``FAILED`` with tag ``closed_by``.

        Returns:
            the id of the parent closed, or None.
        """
        parent_id = self.client.get_run(run_id).data.tags.get(PARENT_TAG)
        if not parent_id:
            return None
        parent = self.client.get_run(parent_id)
        if parent.info.status != "RUNNING" or parent.data.tags.get(INVOCATION_TAG) == invocation_key:
            return None
        self.client.set_tag(parent_id, CLOSED_BY_TAG, closed_by)
        self.client.set_terminated(parent_id, "FAILED")
        return parent_id

    def finish(self, status: str = "FINISHED") -> None:
        """Mark the run ``FINISHED`` / ``FAILED`` / ``KILLED``."""
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status)

    def fail(self, error: BaseException) -> None:
        """End the run ``FAILED`` with the error in tag ``error``, and its parent with it (a parent
        with a failed child can no longer end ``FINISHED``)."""
        if self.run_id is None:
            return
        text = f"{type(error).__name__}: {error}"[:_MAX_ERROR_CHARS]
        self.client.set_tag(self.run_id, ERROR_TAG, text)
        self.client.set_terminated(self.run_id, "FAILED")
        parent_id = self.client.get_run(self.run_id).data.tags.get(PARENT_TAG)
        if parent_id and self.client.get_run(parent_id).info.status == "RUNNING":
            self.client.set_terminated(parent_id, "FAILED")

    def _run(self) -> str:
        if self.run_id is None:
            raise RuntimeError("MlflowTracker: call start() before logging")
        return self.run_id
