"""What one finished AL run hands to the end-of-sweep report, and where the Hydra job puts it.

Each job writes ``al_result.json`` into its Hydra output dir; the Hydra callback of the whole
invocation (single run or multirun, any launcher) reads them back from there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from al_bench.loop.state import atomic_write_json

RESULT_FILE = "al_result.json"


@dataclass
class JobInfo:
    """Where the current Hydra job writes, and how it was invoked.

    Attributes:
        job_dir: this job's output dir (None outside Hydra).
        invocation_dir: the sweep dir of a multirun, the run dir of a single run (None outside Hydra).
        overrides: the job's task overrides (``["strategy=random", "seed=1"]``).
    """

    job_dir: Path | None = None
    invocation_dir: Path | None = None
    overrides: list[str] = field(default_factory=list)


def current_job() -> JobInfo:
    """The running Hydra job's dirs and overrides; an empty :class:`JobInfo` outside Hydra."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return JobInfo()
    hc = HydraConfig.get()
    output = Path(hc.runtime.output_dir).resolve()
    # hydra.mode is not reliable inside a multirun job (jobs are composed in RUN mode): a job of a
    # sweep is the one whose output dir is not the run dir.
    run_dir = Path(hc.run.dir).resolve()
    invocation = run_dir if output == run_dir else Path(hc.sweep.dir).resolve()
    return JobInfo(output, invocation, list(hc.overrides.task))


@dataclass
class RunResult:
    """One AL run's outcome.

    Attributes:
        run_name: MLflow run name.
        strategy: strategy name.
        seed: the run's seed.
        run_key: state/MLflow key of the run.
        overrides: Hydra task overrides that made this job (labels it in the report).
        tracking_uri: the MLflow store it logged to.
        mlflow_run_id: its MLflow run.
        rounds: per round, the metrics logged at ``step = round``.
        experiment_name: the MLflow experiment it logged to.
        condition: hash of the result-relevant config without the seed (runs of one condition differ
            only in seed); '' in files written before conditions existed.
        condition_name: readable name of the condition (``heatmap_annoy ratio=0.2 n_trees=10``).
        uses_labels: the strategy reads the pool's labels (the ``oracle_loss`` positive control).
        status: ``FINISHED`` when every round was logged (else e.g. ``FAILED``, ``RUNNING``).
    """

    run_name: str
    strategy: str
    seed: int
    run_key: str
    overrides: list[str]
    tracking_uri: str
    mlflow_run_id: str | None
    rounds: list[dict]
    experiment_name: str = "al_bench"
    condition: str = ""
    condition_name: str = ""
    uses_labels: bool = False
    status: str = "FINISHED"

    @property
    def final_ap(self) -> float:
        return float(self.rounds[-1]["ap"]) if self.rounds else float("nan")


def write_result(job_dir: Path, result: RunResult) -> Path:
    """Write ``job_dir/al_result.json`` atomically."""
    path = Path(job_dir) / RESULT_FILE
    atomic_write_json(path, asdict(result))
    return path


def read_results(invocation_dir: Path) -> list[RunResult]:
    """All results under an invocation dir (its own and its jobs' subdirs), sorted by job dir."""
    root = Path(invocation_dir)
    # Job subdirs are numbered (0, 1, ..., 10): sort them as numbers.
    paths = sorted(
        {*root.glob(RESULT_FILE), *root.glob(f"*/{RESULT_FILE}")},
        key=lambda p: (p.parent != root, len(p.parent.name), p.parent.name),
    )
    return [RunResult(**json.loads(p.read_text())) for p in paths]
