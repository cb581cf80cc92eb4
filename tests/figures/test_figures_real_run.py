"""The figures read a store written by the real AL loop (tiny synthetic run), not only the test fixture."""

import os
import subprocess
import sys

import pytest

from al_bench.figures.report import write_all_figures
from al_bench.figures.runs import load_runs, load_selections

TINY_RUN = [
    "strategy=heatmap_annoy", "seed=0", "tracking.experiment_name=real_tiny",
    "data.n_pool=24", "data.n_val=8", "al.initial=8", "al.budget=4", "al.rounds=1",
    "train.steps=2", "train.warm_start_steps=1", "train.min_steps=1", "train.batch_size=4",
]  # fmt: skip


@pytest.mark.slow
def test_figures_from_a_real_tiny_loop_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["AL_BENCH_OUTPUT"] = str(tmp_path / "outputs")
    proc = subprocess.run(
        [sys.executable, "-m", "al_bench.cli.main", *TINY_RUN],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    uri = f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"
    runs = load_runs(uri, "real_tiny", progress=False)
    assert runs["strategy"].unique().tolist() == ["heatmap_annoy"]
    assert runs["step"].tolist() == [0, 1] and runs["n_labeled"].tolist() == [8, 12]
    assert runs["params.strategy.selection_ratio"].iloc[0] == "0.2"
    picks = load_selections(uri, runs["run_id"].iloc[0])
    assert list(picks) == [0] and len(picks[0]) == 4
    report = write_all_figures(uri, "real_tiny", tmp_path / "figs", runs=runs)
    assert report.failed == {}
    expected = {
        "learning_curve",
        "auc_table",
        "sampling_time",
        "coverage",
        "selection_grid",
        "activation_extremes",
    }
    assert expected <= set(report.written), report.skipped
    for paths in report.written.values():
        assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
