"""Reading AL runs back from MLflow into one tidy table (the only figures module that talks to MLflow).

The schema is the one the loop logs (docs/ARCHITECTURE.md, "loop / tracking"): one run per
(strategy, seed), per-round metrics at ``step = round``, params = the flattened resolved config,
artifacts ``selections/round_{r:02d}.json``. ``search_runs`` only returns the latest value of each
metric, so learning curves are rebuilt from ``MlflowClient.get_metric_history``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from al_bench.loop.state import NON_RESULT_KEYS
from al_bench.tracking.mlflow_tracker import sqlite_path

# Keys of the tidy table that are not metrics (metrics keep their bare MLflow names).
ID_COLUMNS = ("run_id", "run_name", "status", "strategy", "seed", "step", "start_time")
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
    db_path = sqlite_path(tracking_uri)
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
    """Drop superseded duplicates: a resumed or repeated (strategy, seed) must count once.

    A FINISHED run beats an unfinished one of the same key; among equals the latest start wins.
    """
    chosen: dict[str, object] = {}
    unkeyed = []

    def rank(run) -> tuple:
        return (run.info.status == "FINISHED", run.info.start_time or 0)

    for run in runs:
        key = run.data.tags.get("run_key")
        if key is None:
            unkeyed.append(run)
        elif key not in chosen or rank(run) > rank(chosen[key]):
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
        ``status``, ``strategy`` (tag), ``seed`` (int), ``step`` (the AL round), ``start_time`` (ms),
        one column per metric under its MLflow name (``n_labeled``, ``ap``, ``sampling_time_s``, ...;
        NaN where a round did not log it), ``params.<key>`` (strings, as MLflow stores them),
        ``tags.<key>``, and ``condition``, ``condition_name``, ``role`` (:func:`add_conditions`).
        Runs of every status are kept, so that :func:`split_runs` can list the unusable ones; a run
        that logged no metric at all is one row with ``step`` = -1. Runs sharing a ``run_key`` tag are
        de-duplicated (a FINISHED one first, then the latest start).

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
            "start_time": run.info.start_time,
        }
        base.update({PARAM_PREFIX + k: v for k, v in run.data.params.items()})
        base.update({TAG_PREFIX + k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")})
        by_step = _metric_rows(client, run)
        for step, metrics in by_step.items():
            rows.append({**base, "step": step, **metrics})
        if not by_step:  # e.g. FAILED before round 0: kept so that it is listed as incomplete
            rows.append({**base, "step": NO_ROUND})
    table = pd.DataFrame(rows)
    if table.empty or (table["step"] == NO_ROUND).all():
        raise FiguresError(f"experiment {experiment!r} in {tracking_uri!r} has runs but no metrics yet")
    table = table.sort_values(["strategy", "seed", "step"], kind="stable").reset_index(drop=True)
    return add_conditions(table)


NO_ROUND = -1
"""``step`` of the one placeholder row of a run that logged no metric."""


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


def _is_result_param(key: str) -> bool:
    """False for the seed and for every setting the loop lists as unable to change results
    (:data:`al_bench.loop.state.NON_RESULT_KEYS`: paths, tracking, progress, workers, chunk sizes, ...)."""
    return key != "seed" and not any(key == k or key.startswith(k + ".") for k in NON_RESULT_KEYS)


CONTROL_ROLE, METHOD_ROLE, FULL_POOL_ROLE = "control", "method", "full_pool"


def _result_params(params: dict[str, str], seed) -> dict[str, str]:
    """The params that define a condition (fallback for runs logged before the ``condition`` tag).

    Leaves out the seed, the loop's non-result settings (:func:`_is_result_param`) and ``<group>.seed``
    params that only follow the run's seed (``index.seed: ${seed}``); every other difference makes
    another condition.
    """
    kept = {}
    for key, value in params.items():
        if not _is_result_param(key):
            continue
        if key.endswith(".seed") and seed is not None and str(value) == str(seed):
            continue
        kept[key] = str(value)
    return kept


def _fallback_condition(result_params: dict[str, str], strategy: str) -> str:
    """A stable hash of a run's result params (and strategy), like the loop's ``condition`` tag."""
    text = json.dumps({"strategy": strategy, **result_params}, sort_keys=True)
    return "p" + hashlib.sha1(text.encode()).hexdigest()[:11]


def _short_names(keys: list[str]) -> dict[str, str]:
    """Last component of each dotted key, the full key where two would read the same."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def _fallback_names(runs: pd.DataFrame, params: dict[str, dict[str, str]]) -> dict[str, str]:
    """Condition names for untagged conditions: the strategy plus the result params that vary within it."""
    names: dict[str, str] = {}
    firsts = runs.drop_duplicates("condition")
    for strategy, part in firsts.groupby("strategy", sort=False):
        conds = list(part["condition"])
        keys = sorted({k for c in conds for k in params[c]})
        varying = [k for k in keys if len({params[c].get(k) for c in conds}) > 1]
        short = _short_names(varying)
        for c in conds:
            settings = [f"{short[k]}={params[c][k]}" for k in varying if k in params[c]]
            names[c] = " ".join([strategy, *settings])
    return names


def _tag(runs: pd.DataFrame, name: str) -> pd.Series:
    """A tag column as strings ('' where absent)."""
    column = TAG_PREFIX + name
    if column not in runs.columns:
        return pd.Series("", index=runs.index)
    return runs[column].fillna("").astype(str)


def add_conditions(runs: pd.DataFrame) -> pd.DataFrame:
    """Add ``condition`` (the key runs are grouped by), ``condition_name`` (its readable name) and ``role``.

    ``condition`` is the run's ``condition`` tag (a hash of the result-relevant config without the seed,
    written by the loop). Runs logged before that tag get a hash of their own params without the seed
    and the settings that cannot change results (:func:`_result_params`), so runs whose params differ
    never merge. ``condition_name`` is the ``condition_name`` tag, else the strategy plus the params that
    vary among that strategy's conditions; a name two conditions share gets the condition appended.
    ``role`` is ``control`` for runs that read labels (tag ``uses_labels=true``, the ``oracle_loss``
    positive control), ``full_pool`` for the upper reference (tag ``kind=full_pool``), else ``method``.

    Args:
        runs: tidy table from ``load_runs`` (or any table with ``run_id``, ``strategy``, ``seed``).

    Returns:
        A copy of ``runs`` with the three columns.
    """
    out = runs.copy()
    tag_condition, tag_name = _tag(out, "condition"), _tag(out, "condition_name")
    param_columns = [c for c in out.columns if c.startswith(PARAM_PREFIX)]
    firsts = out.drop_duplicates("run_id")
    by_run, params_of = {}, {}
    for row in firsts.itertuples(index=True):
        run_params = {
            c[len(PARAM_PREFIX) :]: v
            for c, v in zip(param_columns, firsts.loc[row.Index, param_columns])
            if isinstance(v, str) or (v is not None and not (isinstance(v, float) and math.isnan(v)))
        }
        kept = _result_params(run_params, row.seed)
        condition = tag_condition[row.Index] or _fallback_condition(kept, row.strategy)
        by_run[row.run_id] = condition
        params_of.setdefault(condition, kept)
    out["condition"] = out["run_id"].map(by_run)
    fallback = _fallback_names(out, params_of)
    tagged = {c: n for c, n in zip(out["condition"], tag_name) if n}
    names = {c: tagged.get(c) or fallback[c] for c in fallback}
    counts = pd.Series(list(names.values())).value_counts()
    names = {c: (n if counts[n] == 1 else f"{n} [{c[:8]}]") for c, n in names.items()}
    out["condition_name"] = out["condition"].map(names)
    uses_labels = _tag(out, "uses_labels").str.lower() == "true"
    full_pool = (_tag(out, "kind") == "full_pool") | (out["strategy"] == "full_pool")
    out["role"] = METHOD_ROLE
    out.loc[uses_labels, "role"] = CONTROL_ROLE
    out.loc[full_pool, "role"] = FULL_POOL_ROLE
    return out


def _number_or_text(value: str) -> tuple[int, float | str]:
    """Sort key that orders numbers numerically (2 before 10) and text after them."""
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def condition_order(runs: pd.DataFrame) -> list[str]:
    """Conditions of a table (from ``add_conditions``) in legend order: strategy order, then their settings."""
    from al_bench.figures.style import strategy_rank

    pairs = runs[["condition", "condition_name", "strategy"]].drop_duplicates("condition")

    def key(row) -> tuple:
        settings = row.condition_name.split()[1:]
        values = tuple((kv.split("=", 1)[0], _number_or_text(kv.split("=", 1)[-1])) for kv in settings)
        return (strategy_rank(row.strategy), values, row.condition)

    return [row.condition for row in sorted(pairs.itertuples(index=False), key=key)]


def condition_settings(name: str) -> str:
    """The part of a condition name after the strategy (``ratio=0.2 n_trees=10``; '' for none)."""
    return name.split(" ", 1)[1] if " " in name else ""


# --- which runs count ------------------------------------------------------------------------------

INCOMPLETE_COLUMNS = ("run_name", "condition_name", "seed", "status", "rounds_logged", "error", "reason")


def _expected_rounds(part: pd.DataFrame, condition_max: int) -> int:
    """Last round a run must have logged: ``params.al.rounds`` (0 for a full-pool run), else the
    highest round any run of its condition logged (stores without that param)."""
    if (part["role"] == FULL_POOL_ROLE).any():
        return 0
    column = PARAM_PREFIX + "al.rounds"
    if column in part.columns:
        value = pd.to_numeric(part[column], errors="coerce").dropna()
        if len(value):
            return int(value.iloc[0])
    return condition_max


def split_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs that may enter a curve or a table, and the others with the reason.

    A run counts when its status is FINISHED, it carries no ``error`` tag and it logged every round
    ``0..al.rounds``. Of several counting runs of one condition and seed (a setting change that gave
    a new run key) only the latest counts: seeds are never counted twice.

    Args:
        runs: tidy table from ``load_runs`` (``condition`` is added when missing).

    Returns:
        ``(complete, incomplete)``: the rows of the counting runs, and one row per other run with
        :data:`INCOMPLETE_COLUMNS` (``rounds_logged`` = number of rounds with metrics; ``reason`` in
        words).
    """
    runs = runs if "condition" in runs.columns else add_conditions(runs)
    logged = runs[runs["step"] != NO_ROUND]
    condition_max = logged.groupby("condition")["step"].max().to_dict()
    keep, dropped = [], []
    errors = _tag(runs, "error")
    for run_id, part in runs.groupby("run_id", sort=False):
        steps = set(part.loc[part["step"] != NO_ROUND, "step"].astype(int))
        first = part.iloc[0]
        expected = _expected_rounds(part, int(condition_max.get(first["condition"], 0)))
        missing = sorted(set(range(expected + 1)) - steps)
        error = errors[part.index[0]]
        if first["status"] != "FINISHED":
            reason = f"status {first['status']}"
        elif error:
            reason = "error tag"
        elif missing:
            reason = f"rounds {missing} not logged"
        else:
            keep.append(part)
            continue
        dropped.append(_incomplete_row(first, len(steps), error, reason))
    complete = pd.concat(keep) if keep else runs.iloc[0:0]
    latest = complete.groupby(["condition", "seed"])["start_time"].transform("max")
    duplicate = complete["start_time"] != latest
    for _, part in complete[duplicate].groupby("run_id", sort=False):
        first = part.iloc[0]
        dropped.append(_incomplete_row(first, len(part), "", "a later run of the same condition and seed"))
    complete = complete[~duplicate].sort_values(["strategy", "seed", "step"], kind="stable")
    return complete.reset_index(drop=True), pd.DataFrame(dropped, columns=list(INCOMPLETE_COLUMNS))


def _incomplete_row(first: pd.Series, rounds_logged: int, error: str, reason: str) -> dict:
    return {
        "run_name": first["run_name"],
        "condition_name": first["condition_name"],
        "seed": first["seed"],
        "status": first["status"],
        "rounds_logged": rounds_logged,
        "error": error,
        "reason": reason,
    }


def complete_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Only the rows of the runs that count (:func:`split_runs`), with conditions."""
    return split_runs(runs)[0]


def format_incomplete(incomplete: pd.DataFrame) -> str:
    """The runs left out, one line each, for terminals and notebooks ('' when none)."""
    if incomplete.empty:
        return ""
    lines = [f"{len(incomplete)} run(s) left out of every curve and table (incomplete):"]
    for row in incomplete.itertuples(index=False):
        error = f", error: {row.error}" if row.error else ""
        lines.append(
            f"  {row.run_name} [{row.condition_name}, seed {row.seed}]: {row.reason}, "
            f"{row.rounds_logged} round(s) logged{error}"
        )
    return "\n".join(lines)


# --- x axes --------------------------------------------------------------------------------------


def with_axis(runs: pd.DataFrame, axis: str = "images") -> tuple[pd.DataFrame, str]:
    """The table with the x values of ``axis`` in a column, and that column's name.

    ``images``, ``persons`` and ``keypoints`` are the logged ``n_labeled``, ``n_persons``,
    ``n_keypoints``; ``cost`` is computed per row from them and the run's ``cost.*`` params
    (:mod:`al_bench.stats.axes`).

    Raises:
        FiguresError: the axis is unknown, or its metrics / cost params were not logged.
    """
    from al_bench.stats.axes import AXES, COST_PARAMS, annotation_cost

    if axis not in AXES:
        raise FiguresError(f"unknown x axis {axis!r}; choose one of {', '.join(AXES)}")
    if axis != "cost":
        column = AXES[axis]
        if column not in runs.columns or runs[column].isna().all():
            raise FiguresError(
                f"runs did not log {column!r}, the x axis {axis!r} (older runs log only n_labeled)"
            )
        return runs, column
    needed = [AXES[a] for a in ("images", "persons", "keypoints")]
    missing = [m for m in needed if m not in runs.columns] + [
        p for p in COST_PARAMS if PARAM_PREFIX + p not in runs.columns
    ]
    if missing:
        raise FiguresError(f"the cost axis needs {', '.join(missing)}, which these runs did not log")
    rates = [pd.to_numeric(runs[PARAM_PREFIX + p], errors="coerce") for p in COST_PARAMS]
    out = runs.copy()
    out["annotation_cost_s"] = annotation_cost(*(runs[m] for m in needed), *rates)
    return out, "annotation_cost_s"
