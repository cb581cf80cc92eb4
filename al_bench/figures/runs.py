"""Reading AL runs back from MLflow into one tidy table (the only figures module that talks to MLflow).

The schema is the one the loop logs (docs/ARCHITECTURE.md, "loop / tracking"): one run per
(strategy, seed), per-round metrics at ``step = round``, params = the flattened resolved config,
artifacts ``selections/round_{r:02d}.json``. ``search_runs`` only returns the latest value of each
metric, so learning curves are rebuilt from ``MlflowClient.get_metric_history``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
from tqdm import tqdm

# Keys of the tidy table that are not metrics (metrics keep their bare MLflow names).
ID_COLUMNS = ("run_id", "run_name", "status", "strategy", "seed", "step")
PARAM_PREFIX = "params."
TAG_PREFIX = "tags."


class FiguresError(RuntimeError):
    """A problem with the tracking store or its runs that a user can fix (message says how)."""


class StoreUnreachableError(FiguresError):
    """The MLflow tracking store cannot be opened."""


class ExperimentNotFoundError(FiguresError):
    """The named experiment does not exist in the store."""


def default_tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the loop's default store ``sqlite:///outputs/mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///outputs/mlflow.db"


def _sqlite_path(tracking_uri: str) -> Path | None:
    """File path of a ``sqlite:///`` URI, or None for other stores."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme != "sqlite":
        return None
    # sqlite:///rel/path -> path "/rel/path"; sqlite:////abs/path -> "//abs/path" (SQLAlchemy rules).
    raw = tracking_uri[len("sqlite:///") :]
    return Path(raw)


def open_client(tracking_uri: str):
    """An ``MlflowClient`` on an existing store, without creating one as a side effect.

    Args:
        tracking_uri: MLflow tracking URI (``sqlite:///path/mlflow.db``, ``http://host:port``, ...).

    Returns:
        ``mlflow.tracking.MlflowClient``.

    Raises:
        StoreUnreachableError: the SQLite file does not exist, or the store does not answer.
    """
    from mlflow.tracking import MlflowClient

    if tracking_uri in _CLIENTS:
        return _CLIENTS[tracking_uri]
    db_path = _sqlite_path(tracking_uri)
    if db_path is not None and not db_path.is_file():
        raise StoreUnreachableError(
            f"no MLflow store at {db_path} (tracking URI {tracking_uri!r}); the loop writes "
            "${paths.output_dir}/mlflow.db: pass --tracking-uri sqlite:///<that file> or set MLFLOW_TRACKING_URI"
        )
    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as exc:  # MLflow raises many types (SQLAlchemy, requests, MlflowException)
        raise StoreUnreachableError(f"cannot read the MLflow store {tracking_uri!r}: {exc}") from exc
    _CLIENTS[tracking_uri] = client
    return client


_CLIENTS: dict[str, object] = {}
"""Clients of stores already checked, by URI (each figure asks for one; the check costs a query)."""


def find_experiment(client, experiment: str):
    """The MLflow experiment called ``experiment``.

    Raises:
        ExperimentNotFoundError: no such experiment; the message lists the ones that exist.
    """
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = sorted(e.name for e in client.search_experiments())
        raise ExperimentNotFoundError(
            f"no experiment named {experiment!r} in the store; experiments there: {', '.join(names) or '(none)'}"
        )
    return found


def _metric_rows(client, run) -> dict[int, dict[str, float]]:
    """Per-step metric values of one run (the last logged value wins when a step repeats)."""
    by_step: dict[int, dict[str, float]] = {}
    for key in sorted(run.data.metrics):
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: (m.step, m.timestamp))
        for point in history:
            by_step.setdefault(int(point.step), {})[key] = float(point.value)
    return by_step


def _latest_per_run_key(runs: list) -> list:
    """Drop superseded duplicates: a resumed or repeated (strategy, seed) must count once."""
    chosen: dict[str, object] = {}
    unkeyed = []
    for run in runs:
        key = run.data.tags.get("run_key")
        if key is None:
            unkeyed.append(run)
        elif key not in chosen or run.info.start_time > chosen[key].info.start_time:
            chosen[key] = run
    return unkeyed + list(chosen.values())


def _seed_of(run) -> int | None:
    """Seed from the ``seed`` tag, else the ``seed`` param."""
    raw = run.data.tags.get("seed", run.data.params.get("seed"))
    return None if raw is None else int(raw)


def load_runs(tracking_uri: str, experiment: str, progress: bool = True) -> pd.DataFrame:
    """Load every active run of an experiment as a tidy table.

    Args:
        tracking_uri: MLflow tracking URI.
        experiment: experiment name.
        progress: show a tqdm bar over runs (metric histories are one query per run and metric).

    Returns:
        One row per run x step, sorted by strategy, seed, step. Columns: ``run_id``, ``run_name``,
        ``status``, ``strategy`` (tag), ``seed`` (int), ``step`` (the AL round), one column per metric
        under its MLflow name (``n_labeled``, ``ap``, ``sampling_time_s``, ...; NaN where a round did
        not log it), ``params.<key>`` (strings, as MLflow stores them) and ``tags.<key>``.
        Runs sharing a ``run_key`` tag are de-duplicated (latest start wins).

    Raises:
        StoreUnreachableError: the store cannot be opened.
        ExperimentNotFoundError: no such experiment.
        FiguresError: the experiment has no AL runs (runs without a ``strategy`` tag, such as the
            parent run of a sweep, are skipped).
    """
    from mlflow.entities import ViewType

    client = open_client(tracking_uri)
    exp = find_experiment(client, experiment)
    runs = client.search_runs([exp.experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=50_000)
    runs = _latest_per_run_key(runs)
    if not runs:
        raise FiguresError(f"experiment {experiment!r} in {tracking_uri!r} has no runs yet")
    # Parent runs (one per sweep invocation) carry no strategy: they group runs, they are not one.
    runs = [run for run in runs if "strategy" in run.data.tags]
    if not runs:
        raise FiguresError(f"experiment {experiment!r} in {tracking_uri!r} has no runs with a 'strategy' tag")
    rows = []
    for run in tqdm(runs, desc="loading MLflow runs", unit="run", disable=not progress):
        strategy = run.data.tags["strategy"]
        base = {
            "run_id": run.info.run_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "strategy": strategy,
            "seed": _seed_of(run),
        }
        base.update({PARAM_PREFIX + k: v for k, v in run.data.params.items()})
        base.update({TAG_PREFIX + k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")})
        for step, metrics in _metric_rows(client, run).items():
            rows.append({**base, "step": step, **metrics})
    table = pd.DataFrame(rows)
    if table.empty:
        raise FiguresError(f"experiment {experiment!r} in {tracking_uri!r} has runs but no metrics yet")
    return table.sort_values(["strategy", "seed", "step"], kind="stable").reset_index(drop=True)


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """Names of the metric columns of a tidy table."""
    return [c for c in runs.columns if c not in ID_COLUMNS and not c.startswith((PARAM_PREFIX, TAG_PREFIX))]


def param(runs: pd.DataFrame, key: str) -> pd.Series | None:
    """The ``params.<key>`` column, or None when no run logged that param."""
    column = PARAM_PREFIX + key
    return runs[column] if column in runs.columns else None


def load_selection_records(tracking_uri: str, run_id: str) -> dict[int, dict]:
    """The selection records of one run, from its ``selections/round_XX.json`` artifacts.

    Args:
        tracking_uri: MLflow tracking URI.
        run_id: the run.

    Returns:
        ``{round: record}``, each record at least ``{"round": r, "ids": [...]}`` (the loop adds
        ``timings``, ``quality`` and ``info``); empty when the run logged no selections.

    Raises:
        FiguresError: a selection file is not the documented ``{"round": r, "ids": [...]}``.
    """
    client = open_client(tracking_uri)
    names = [
        a.path
        for a in client.list_artifacts(run_id, "selections")
        if not a.is_dir and Path(a.path).name.startswith("round_") and a.path.endswith(".json")
    ]
    records: dict[int, dict] = {}
    if not names:
        return records
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(client.download_artifacts(run_id, "selections", tmp))  # one transfer for all rounds
        for name in sorted(names):
            path = local / Path(name).name
            try:
                doc = json.loads(path.read_text())
                doc["ids"] = [int(i) for i in doc["ids"]]
                records[int(doc["round"])] = doc
            except (ValueError, KeyError, TypeError) as exc:
                raise FiguresError(
                    f"run {run_id}: artifact {name} is not {{'round': r, 'ids': [...]}}: {exc}"
                ) from exc
    return records


def load_initial_ids(tracking_uri: str, run_id: str) -> list[int]:
    """The initial labeled set L0 of a run (``selections/initial.json``), or [] when not logged."""
    client = open_client(tracking_uri)
    if not any(a.path == "selections/initial.json" for a in client.list_artifacts(run_id, "selections")):
        return []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(client.download_artifacts(run_id, "selections/initial.json", tmp))
        try:
            return [int(i) for i in json.loads(path.read_text())["ids"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise FiguresError(
                f"run {run_id}: selections/initial.json is not {{'ids': [...]}}: {exc}"
            ) from exc


def load_selections(tracking_uri: str, run_id: str) -> dict[int, list[int]]:
    """Selected global image ids per round of one run: ``{round: [ids in pick order]}`` (see above)."""
    return {r: record["ids"] for r, record in load_selection_records(tracking_uri, run_id).items()}


def list_artifact_files(tracking_uri: str, run_id: str, path: str | None = None) -> list[str]:
    """All artifact file paths of a run (recursive), e.g. to find a model checkpoint."""
    client = open_client(tracking_uri)
    files: list[str] = []
    pending = [path]
    while pending:
        folder = pending.pop()
        for item in client.list_artifacts(run_id, folder):
            (pending if item.is_dir else files).append(item.path)
    return sorted(files)


def download_artifact(tracking_uri: str, run_id: str, artifact_path: str, dst_dir: str | Path) -> Path:
    """Download one artifact of a run into ``dst_dir`` and return its local path."""
    client = open_client(tracking_uri)
    return Path(client.download_artifacts(run_id, artifact_path, str(dst_dir)))


DEFAULT_CONDITION_PARAMS = ("strategy.selection_ratio", "index.n_trees", "al.budget", "al.initial")
"""Config keys that, when they vary among one strategy's runs, make separate conditions (curves)."""


def add_conditions(
    runs: pd.DataFrame, condition_params: tuple[str, ...] = DEFAULT_CONDITION_PARAMS
) -> pd.DataFrame:
    """Add a ``condition`` column: the strategy, plus every swept param that varies within it.

    Seeds of one condition are pooled into one curve; a sweep over ``strategy.selection_ratio``
    therefore gives one curve per ratio instead of mixing them.

    Args:
        runs: tidy table from ``load_runs``.
        condition_params: config keys considered (absent ones are ignored).

    Returns:
        A copy of ``runs`` with ``condition`` (e.g. ``"heatmap_annoy"`` or
        ``"heatmap_annoy selection_ratio=0.5"``).
    """
    out = runs.copy()
    out["condition"] = out["strategy"]
    for strategy, part in out.groupby("strategy", sort=False):
        varying = [
            k for k in condition_params if PARAM_PREFIX + k in part and part[PARAM_PREFIX + k].nunique() > 1
        ]
        if not varying:
            continue
        short = [k.split(".")[-1] for k in varying]
        values = part[[PARAM_PREFIX + k for k in varying]].astype(str).itertuples(index=False)
        suffixes = [", ".join(f"{k}={v}" for k, v in zip(short, row)) for row in values]
        out.loc[part.index, "condition"] = [strategy + CONDITION_SEPARATOR + s for s in suffixes]
    return out


CONDITION_SEPARATOR = " | "


def _number_or_text(value: str) -> tuple[int, float | str]:
    """Sort key that orders numbers numerically (2 before 10) and text after them."""
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def condition_order(runs: pd.DataFrame) -> list[str]:
    """Conditions of a table (from ``add_conditions``) in legend order: strategy order, then swept values."""
    from al_bench.figures.style import strategy_rank

    pairs = runs[["condition", "strategy"]].drop_duplicates()

    def key(row) -> tuple:
        rest = row.condition.split(CONDITION_SEPARATOR, 1)[1] if CONDITION_SEPARATOR in row.condition else ""
        values = tuple(_number_or_text(kv.split("=", 1)[-1]) for kv in rest.split(", ") if kv)
        return (strategy_rank(row.strategy), values)

    return [row.condition for row in sorted(pairs.itertuples(index=False), key=key)]
