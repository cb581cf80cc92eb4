"""One AL run = one strategy x one seed: rounds of train -> evaluate -> select -> label, resumable.

Round ``r`` (0..``al.rounds``) trains on ``L_r`` (round 0: the cached model shared by every
strategy under the seed), evaluates on val with COCOeval, and, except in the last round, asks the
strategy for ``al.budget`` ids from ``pool \\ L_r`` and labels them in round ``r + 1``. One
``log_batch`` per round goes to MLflow at ``step = r``; then the state is saved atomically, so the
same command after a kill resumes after the last finished round and ends with the same selections
and metrics as an uninterrupted run. A run that raises ends ``FAILED`` in MLflow (tag ``error``) and
the exception propagates. The runner knows the other pieces only through
:class:`al_bench.loop.pieces.Pieces`.

``strategy.kind`` picks what the run is (:func:`kind_plan`, the one place that branches on it):
``al`` (rounds of selection) or ``full_pool`` (the upper reference: the same recipe trained once on
the whole pool, cached like the round-0 model, logged as one round at step 0).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

import al_bench
from al_bench.evaluate import val_metrics
from al_bench.loop import report
from al_bench.loop.budget import (
    check_budget,
    initial_labeled_ids,
    resolve_count,
    seed_training,
    selection_rng,
)
from al_bench.loop.faults import fault_point
from al_bench.loop.labeled import LabeledSet, RevealedSource, annotation_counts
from al_bench.loop.pieces import Pieces, real_pieces
from al_bench.loop.preflight import check_paths
from al_bench.loop.results import JobInfo, RunResult, current_job, write_result
from al_bench.loop.round0 import cached_round0, cached_round0_metrics, round0_key
from al_bench.loop.state import (
    RunState,
    atomic_write_bytes,
    atomic_write_json,
    capture_rng,
    condition,
    condition_name,
    load_state,
    restore_rng,
    result_config,
    run_key,
    run_kind,
    save_state,
    stable_hash,
    state_dir,
)
from al_bench.strategies.base import TIMING_KEYS, check_selection, clamp_budget
from al_bench.threads import set_cpu_threads
from al_bench.tracking.mlflow_tracker import MlflowTracker, git_commit, sqlite_path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KindPlan:
    """What a run's kind (``strategy.kind``) changes in the loop.

    Attributes:
        kind: ``al`` or ``full_pool``.
        rounds: the last round (0: train and evaluate once).
        initial_ids: ``(pool_ids, seed) -> ids`` labeled before round 0.
        selects: whether a strategy picks images between rounds.
        cache: folder under ``paths.cache_dir`` of the cached round-0 model.
    """

    kind: str
    rounds: int
    initial_ids: Callable[[np.ndarray, int], np.ndarray]
    selects: bool
    cache: str


def kind_plan(cfg: DictConfig) -> KindPlan:
    """The plan of ``cfg``'s run kind: the only place the loop branches on it."""
    kind = run_kind(cfg)
    if kind == "full_pool":  # the whole pool labeled at round 0; the same recipe trains once
        return KindPlan(kind, 0, lambda pool_ids, seed: pool_ids, selects=False, cache="full_pool")

    def l0(pool_ids: np.ndarray, seed: int) -> np.ndarray:
        return initial_labeled_ids(pool_ids, resolve_count(cfg.al.initial, len(pool_ids), "al.initial"), seed)

    return KindPlan(kind, int(cfg.al.rounds), l0, selects=True, cache="round0")


def run_experiment(cfg: DictConfig, pieces: Pieces | None = None) -> float:
    """Run (or resume, or just report) the AL run described by ``cfg``.

    Returns:
        AP of the last round's model.
    """
    return ActiveLearningRun(cfg, pieces).execute().final_ap


class ActiveLearningRun:
    """The state and steps of one AL run; :meth:`execute` runs it to the end.

    Args:
        cfg: the composed config (``al``, ``data``, ``model``, ``train``, ``strategy``, ``paths``,
            ``tracking``, ``seed``, ``run_name``).
        pieces: the data/pose/strategy implementations (default: the package's own).
    """

    def __init__(self, cfg: DictConfig, pieces: Pieces | None = None) -> None:
        self.cfg = cfg
        self.pieces = pieces or _configured_pieces(cfg)
        self.seed = int(cfg.seed)
        self.plan = kind_plan(cfg)
        self.rounds = self.plan.rounds
        # The round-0 model's cache folder, set once round 0 is trained or loaded.
        self._round0_dir: Path | None = None
        self.key = run_key(cfg)
        self.dir = state_dir(Path(cfg.paths.state_dir), self.key)
        self.tracker = MlflowTracker.from_config(cfg.tracking)
        self.job: JobInfo = current_job()
        self.condition = condition(cfg)
        self.condition_name = condition_name(cfg, self.job.overrides)
        # Unique within a sweep: two jobs with the same name differ in nothing but non-result keys.
        default_name = f"{self.condition_name}-seed{self.seed}".replace(" ", "_")
        self.run_name = str(cfg.run_name or default_name)
        self.uses_labels = False
        self.state: RunState | None = None
        self._counts: dict[int, tuple[int, int]] = {}

    # -- the run ---------------------------------------------------------------------------------

    def execute(self) -> RunResult:
        """Check tracking, then resume or start the run and do every round left.

        Raises:
            whatever the run raised, after marking its MLflow run ``FAILED`` (tag ``error``) and
            leaving a ``FAILED`` result in the job dir.
        """
        try:
            return self._execute()
        except BaseException as err:
            self._record_failure(err)
            raise

    def _execute(self) -> RunResult:
        if cfg_threads := self.cfg.num_threads:
            set_cpu_threads(int(cfg_threads))
        check_paths(self.cfg.paths)  # before anything is trained: a clear error naming the folder
        self.tracker.check_reachable()
        state = self.state = load_state(self.dir, self.key)
        if state is not None and state.finished:
            log.info(f"[al-bench] {self.run_name}: already finished (state {self.dir}); nothing to do")
            self.uses_labels = _uses_labels(self._build_strategy())
            self._close_stale_parent(self.tracker.existing_run(state.mlflow_run_id, self.key))
            return self._conclude(state, logged_before=True)
        sources = self.pieces.build_sources(self.cfg.data)
        if self.plan.selects:
            self._check_budget(len(sources.pool.image_ids))
        labeled = LabeledSet(sources.pool.image_ids)
        if state is None:
            state, model = RunState(run_key=self.key), None
            self.state = state
            labeled.add(self.plan.initial_ids(labeled.pool_ids, self.seed), 0)
        else:
            log.info(f"[al-bench] {self.run_name}: resuming after round {state.completed_round} ({self.dir})")
            labeled.load_state_dict(state.labeled)
            model = self.pieces.load_model(self.dir / state.checkpoint)
            restore_rng(state.rng)
        strategy = self._build_strategy()
        self.uses_labels = _uses_labels(strategy)
        state.mlflow_run_id = self._start_tracking(state, sources, labeled)
        log.info(f"[al-bench] {self.run_name}: data {sources.name}, embedding {self._embedding_name()}")
        budget = (
            resolve_count(self.cfg.al.budget, len(labeled.pool_ids), "al.budget")
            if strategy is not None
            else 0
        )
        for round_idx in range(state.completed_round + 1, self.rounds + 1):
            model = self._round(round_idx, model, labeled, sources, strategy, budget, state)
        self._log_final_artifacts(state)
        return self._conclude(state, logged_before=False)

    def _round(self, r: int, model, labeled: LabeledSet, sources, strategy, budget: int, state: RunState):
        """Train, evaluate, select and save one round; returns the round's model."""
        seed_training(self.seed, r)
        model, train_stats = self._train(r, model, labeled, sources)
        metrics = {
            "n_labeled": float(len(labeled)),
            **self._annotation_counts(labeled, sources),
            **train_stats,
            **self._evaluate_round(r, model, sources.val),
        }
        if r == 0:
            metrics.update(self._decoder_ceiling(sources))
        if r < self.rounds:
            record = self._select(r, model, labeled, sources, strategy, budget)
            labeled.add(record["ids"], r + 1)
            metrics.update(_selection_metrics(record))
            self.tracker.log_json(record, f"selections/round_{r:02d}.json")
            state.selections.append(record)
        self.tracker.log_round(r, metrics)
        fault_point("log", r, self.run_name)  # in MLflow, not yet in the saved state
        log.info(f"[al-bench] {self.run_name} round {r}: " + report.format_round(metrics))
        checkpoint = f"model_round{r:02d}.pt"
        atomic_write_bytes(self.dir / checkpoint, lambda tmp: self.pieces.save_model(tmp, model, self.cfg))
        state.completed_round, state.finished, state.checkpoint = r, r == self.rounds, checkpoint
        state.labeled = labeled.state_dict()
        state.metrics.append({"round": r, **metrics})
        state.rng = capture_rng()
        save_state(self.dir, state)
        return model

    # -- steps -----------------------------------------------------------------------------------

    def _train(self, r: int, model, labeled: LabeledSet, sources) -> tuple[Any, dict[str, float]]:
        """Fit on the labeled set; round 0 comes from (or fills) the shared round-0 cache."""
        revealed = RevealedSource(sources.pool, labeled)
        # fit() decides from train.warm_start whether to continue from the previous round's model.
        init_model = model if r > 0 else None

        def train() -> tuple[Any, dict[str, float]]:
            start = time.perf_counter()
            fitted, stats = self.pieces.fit(self.cfg, revealed, labeled.ids, init_model=init_model)
            fault_point("train", r, self.run_name)  # AL_BENCH_FAULT: inert unless set
            return fitted, {**_train_metrics(stats), "train_time_s": time.perf_counter() - start}

        if r > 0:
            return train()
        key = round0_key(sources.fingerprint, result_config(self.cfg), self.seed, labeled.ids)
        self._round0_dir = Path(self.cfg.paths.cache_dir) / self.plan.cache / key
        model, stats, cached = cached_round0(
            self._round0_dir,
            train,
            lambda path, m: self.pieces.save_model(path, m, self.cfg),
            self.pieces.load_model,
        )
        if cached:
            log.info(f"[al-bench] {self.run_name}: round-0 model from cache {self.plan.cache}/{key}")
        return model, stats

    def _rare_families(self) -> list[str]:
        return list(self.cfg.data.get("rare_families") or ())

    def _evaluate_round(self, r: int, model, val) -> dict[str, float]:
        """:meth:`_evaluate`; at round 0 shared through the round-0 cache (every strategy of a seed
        evaluates the same model on the same val)."""
        if r > 0:
            return self._evaluate(model, val)
        # The inference settings that decide results (not batch size, workers or overlap).
        key = {"infer": result_config(self.cfg).get("infer"), "rare_families": self._rare_families()}
        return cached_round0_metrics(self._round0_dir, key, lambda: self._evaluate(model, val))

    def _evaluate(self, model, val) -> dict[str, float]:
        """COCOeval keypoint metrics, per-family AP and person-count accuracy of ``model`` on val."""
        start = time.perf_counter()
        ids = list(val.image_ids)
        results = self.pieces.predict(model, val, ids, self.cfg, want=("results",)).results
        metrics = val_metrics(val, results, ids, self._rare_families())
        return {**metrics, "eval_time_s": time.perf_counter() - start}

    def _decoder_ceiling(self, sources) -> dict[str, float]:
        """``decoder_ceiling_ap``: the AP a model predicting its own targets perfectly would score on val
        (cached per val data, encoding and decoder settings, so a sweep computes it once)."""
        if self.pieces.decoder_ceiling is None:
            return {}
        key = stable_hash(
            {
                "fingerprint": sources.fingerprint,
                "model": OmegaConf.to_container(self.cfg.model, resolve=True),
                "decode": OmegaConf.to_container(self.cfg.infer.decode, resolve=True),
            }
        )
        path = Path(self.cfg.paths.cache_dir) / "decoder_ceiling" / f"{key}.json"
        if not path.is_file():
            ap = self.pieces.decoder_ceiling(self.cfg, sources.val)
            atomic_write_json(path, {"decoder_ceiling_ap": ap})
        return {"decoder_ceiling_ap": float(json.loads(path.read_text())["decoder_ceiling_ap"])}

    def _select(self, r: int, model, labeled: LabeledSet, sources, strategy, budget: int) -> dict:
        """Ask the strategy for up to ``budget`` unlabeled ids; returns the JSON record of the pick.

        Raises:
            RuntimeError: the strategy returned the wrong number of ids, an id twice, or an id
                that is labeled or outside the pool.
        """
        unlabeled = labeled.unlabeled_ids()
        n = clamp_budget(budget, len(unlabeled))
        # Strategies see pool images only: a label read through the revealed source would fail.
        pool = RevealedSource(sources.pool, labeled)
        rng = selection_rng(self.seed, r)
        # Only a label-using control (oracle_loss) gets the unrestricted pool, for its image_errors.
        labels = {"labels_source": sources.pool} if getattr(strategy, "uses_labels", False) else {}
        context = self.pieces.make_context(
            self.cfg, model, pool, unlabeled, labeled.ids, rng, sources.fingerprint, **labels
        )
        start = time.perf_counter()
        selection = strategy.select(context, n)
        fault_point("select", r, self.run_name)
        wall = time.perf_counter() - start
        # Whatever the strategy is (one not derived from Strategy too), its picks meet the guarantees.
        ids = check_selection(selection.ids, unlabeled, n, f"{self.cfg.strategy.name} round {r}: strategy")
        timings = {k: float(v) for k, v in dict(selection.timings).items()}
        timings.setdefault("total_s", wall)
        return {
            "round": r,
            "ids": [int(i) for i in ids],
            "timings": timings,
            "quality": {k: float(v) for k, v in dict(getattr(selection, "quality", {}) or {}).items()},
            "info": _jsonable(dict(getattr(selection, "info", {}) or {})),
        }

    # -- tracking and results --------------------------------------------------------------------

    def _start_tracking(self, state: RunState, sources, labeled: LabeledSet) -> str:
        """Find or create this run's MLflow run; re-log what the state has but the store lacks."""
        existing = self.tracker.existing_run(state.mlflow_run_id, self.key)
        parent = None
        if existing is None and self.job.invocation_dir:
            parent = self.tracker.parent_run(
                self._invocation_key(),
                self._invocation_name(),
                self.job.invocation_dir / ".mlflow_parent.lock",
            )
        tags = {
            "strategy": self.cfg.strategy.name,
            "seed": str(self.seed),
            "kind": self.plan.kind,
            "condition": self.condition,
            "condition_name": self.condition_name,
            "uses_labels": str(self.uses_labels).lower(),
            "dataset": sources.name,
            "data_fingerprint": sources.fingerprint,
            "embedding": self._embedding_name(),
            "git_commit": git_commit(),
            "al_bench_version": al_bench.__version__,
            "overrides": " ".join(self.job.overrides),
        }
        params = OmegaConf.to_container(self.cfg, resolve=True)
        run_id = self.tracker.start(self.key, self.run_name, tags, params, parent, existing)
        self._close_stale_parent(existing)
        self._log_skipped_images(sources)
        if existing is None:  # a new run, or a resumed state logging into another store: replay it
            self.tracker.log_text(OmegaConf.to_yaml(self.cfg, resolve=True), "config.yaml")
            self.tracker.log_json({"ids": [int(i) for i in labeled.added_in(0)]}, "selections/initial.json")
            for record in state.selections:
                self.tracker.log_json(record, f"selections/round_{record['round']:02d}.json")
        for metrics in state.metrics:
            self.tracker.log_round(metrics["round"], {k: v for k, v in metrics.items() if k != "round"})
        return run_id

    def _build_strategy(self):
        """The configured strategy, or None for a kind that selects nothing (full_pool)."""
        return self.pieces.build_strategy(self.cfg) if self.plan.selects else None

    def _annotation_counts(self, labeled: LabeledSet, sources) -> dict[str, float]:
        """Cumulative ``n_persons`` / ``n_keypoints`` of the labeled set (what annotating it cost),
        read through the revealed pool: labels of labeled images only."""
        revealed = RevealedSource(sources.pool, labeled)
        for image_id in labeled.ids:
            if int(image_id) not in self._counts:
                self._counts[int(image_id)] = annotation_counts(revealed, [int(image_id)])
        counts = [self._counts[int(i)] for i in labeled.ids]
        return {
            "n_persons": float(sum(p for p, _ in counts)),
            "n_keypoints": float(sum(k for _, k in counts)),
        }

    def _invocation_key(self) -> str | None:
        """Key of this Hydra invocation (None outside Hydra), as its parent run is tagged."""
        return stable_hash(str(self.job.invocation_dir)) if self.job.invocation_dir else None

    def _invocation_name(self) -> str:
        where = self.job.invocation_dir
        return f"{where.parent.name}/{where.name}" if where else f"pid {os.getpid()}"

    def _close_stale_parent(self, run_id: str | None) -> None:
        """A parent left RUNNING by a killed invocation is closed by the one that takes its run over."""
        if run_id is None:
            return
        closed = self.tracker.close_stale_parent(run_id, self._invocation_key(), self._invocation_name())
        if closed:
            log.info(
                f"[al-bench] {self.run_name}: closed parent run {closed} left RUNNING by a killed invocation"
            )

    def _record_failure(self, err: BaseException) -> None:
        """Mark the MLflow run FAILED with the error and leave a FAILED result for the report; a
        failure of that bookkeeping is logged, never raised over the run's own error."""
        try:
            self.tracker.fail(err)
        except Exception as track_err:  # noqa: BLE001 - the store itself may be what failed
            log.warning(f"[al-bench] {self.run_name}: could not mark the MLflow run FAILED ({track_err!r})")
        if self.job.job_dir is not None and self.state is not None:
            write_result(self.job.job_dir, self._result(self.state, "FAILED"))

    def _check_budget(self, n_pool: int) -> None:
        """Refuse an empty pool and warn when the rounds would exhaust it (loop/budget.py)."""
        n_initial = resolve_count(self.cfg.al.initial, n_pool, "al.initial")
        budget = resolve_count(self.cfg.al.budget, n_pool, "al.budget")
        check_budget(n_pool, n_initial, budget, self.rounds)

    def _log_skipped_images(self, sources) -> None:
        """Log how many pool / val images were left out as unreadable and how many annotations were
        skipped as malformed (metrics at step 0), and the list of images.

        Logging again after a resume is a no-op (``log_round`` skips steps already there).
        """
        pool = dict(getattr(sources, "pool_skipped", None) or {})
        val = dict(getattr(sources, "val_skipped", None) or {})
        bad_anns = [
            len(getattr(split, "bad_annotation_ids", None) or ()) for split in (sources.pool, sources.val)
        ]
        counts = {
            "skipped_images": len(pool),
            "skipped_val_images": len(val),
            "skipped_annotations": sum(bad_anns),
        }
        self.tracker.log_round(0, {key: float(value) for key, value in counts.items()})
        if pool or val:
            listing = {
                "pool": {str(k): v for k, v in pool.items()},
                "val": {str(k): v for k, v in val.items()},
            }
            self.tracker.log_json(listing, "data/skipped_images.json")
            log.warning(
                f"[al-bench] {self.run_name}: left out {len(pool)} pool / {len(val)} val unreadable images"
            )

    def _embedding_name(self) -> str:
        return str(OmegaConf.select(self.cfg, "embedding.name", default="none"))

    def _log_final_artifacts(self, state: RunState) -> None:
        """Final model checkpoint and this run's learning curve, then mark the run finished."""
        self.tracker.log_file(self.dir / state.checkpoint, "model")
        figure = report.learning_curve_figure({self.run_name: report.curve(state.metrics)})
        self.tracker.log_figure(figure, "figures/learning_curve.png")
        report.close(figure)
        self.tracker.finish("FINISHED")

    def _conclude(self, state: RunState, logged_before: bool) -> RunResult:
        """Build the run's result, print it, and leave it in the Hydra job dir for the report."""
        result = self._result(state, "FINISHED")
        if logged_before:
            print(report.format_table([result]))
        if self.job.job_dir is not None:
            write_result(self.job.job_dir, result)
        db = sqlite_path(self.tracker.uri)
        where = db.resolve() if db else self.tracker.uri
        log.info(
            f"[al-bench] {self.run_name}: final AP {result.final_ap:.4f}; MLflow run {result.mlflow_run_id} in {where}"
        )
        return result

    def _result(self, state: RunState, status: str) -> RunResult:
        return RunResult(
            run_name=self.run_name,
            strategy=self.cfg.strategy.name,
            seed=self.seed,
            run_key=self.key,
            overrides=list(self.job.overrides),
            tracking_uri=self.tracker.uri,
            mlflow_run_id=state.mlflow_run_id,
            rounds=state.metrics,
            experiment_name=self.tracker.experiment_name,
            condition=self.condition,
            condition_name=self.condition_name,
            uses_labels=self.uses_labels,
            status=status,
            kind=self.plan.kind,
        )


def _uses_labels(strategy) -> bool:
    """Whether a strategy reads pool labels to select (an oracle: a control, never a method)."""
    return bool(getattr(strategy, "uses_labels", False))


def _configured_pieces(cfg: DictConfig) -> Pieces:
    """``cfg.pieces`` (a ``_target_`` returning :class:`Pieces`), else the package's own."""
    if OmegaConf.select(cfg, "pieces._target_") is None:
        return real_pieces()
    from hydra.utils import instantiate

    return instantiate(cfg.pieces)


def _train_metrics(stats: dict) -> dict[str, float]:
    """The scalar training stats as metrics, named ``train_<name>``."""
    return {
        (k if k.startswith("train_") else f"train_{k}"): float(v)
        for k, v in stats.items()
        if isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
    }


def _selection_metrics(record: dict) -> dict[str, float]:
    """Sampling time, its parts and the selection-quality measures of one selection."""
    timings = record["timings"]
    metrics = {"sampling_time_s": timings["total_s"], "n_selected": float(len(record["ids"]))}
    metrics.update({k: timings.get(k, 0.0) for k in TIMING_KEYS if k != "total_s"})  # total: sampling_time_s
    metrics.update({f"quality_{k}": v for k, v in record["quality"].items()})
    return metrics


def _jsonable(obj: Any) -> Any:
    """Selection info as plain JSON (numpy scalars/arrays to Python)."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)
