"""The al-bench-figures console script: all figures of a store, clear one-line errors."""

import subprocess
import sys
from pathlib import Path

import pytest

from al_bench.cli.figures import main


def test_unknown_experiment_is_a_clear_error(store_uri, capsys):
    assert main(["--experiment", "nope", "--tracking-uri", store_uri]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("al-bench-figures: no experiment named 'nope' in the store; experiments there:")
    assert "bench, sweep" in err and "\n" not in err


def test_missing_store_exits_without_traceback(tmp_path):
    missing = tmp_path / "nowhere" / "mlflow.db"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "al_bench.cli.figures",
            "--experiment",
            "bench",
            "--tracking-uri",
            f"sqlite:///{missing}",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "no MLflow store at" in proc.stderr and str(missing) in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not missing.exists()


def test_default_uri_comes_from_the_environment(monkeypatch, store_uri, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)
    assert main(["--experiment", "nope"]) == 2
    assert "no experiment named 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_writes_every_figure_it_can_and_says_what_it_skipped(store_uri, tmp_path, capsys):
    out = tmp_path / "figs"
    assert (
        main(["--experiment", "sweep", "--tracking-uri", store_uri, "--out", str(out), "--no-heatmaps"]) == 0
    )
    printed = capsys.readouterr().out
    for stem in [
        "learning_curve_ap",
        "sampling_time",
        "sweep_strategy_selection_ratio",
        "sweep_index_n_trees",
        "coverage",
        "selection_grid",
    ]:
        for suffix in (".png", ".pdf"):
            assert (out / f"{stem}{suffix}").is_file()
            assert f"wrote {out / (stem + suffix)}" in printed
    assert (out / "auc_ap.csv").is_file()
    assert "Normalised area under the ap learning curve" in printed
    assert "skipped activation_extremes: not requested (--no-heatmaps)" in printed
    assert (
        Path(out / "sampling_time.csv")
        .read_text()
        .startswith("condition,condition_name,strategy,uncertainty_s")
    )


def test_a_figure_of_the_users_own_runs_beside_the_built_in_ones(store_uri, tmp_path, capsys, monkeypatch):
    """--figure MODULE.FUNCTION: a module on the path, no edit to al_bench; it gets the complete runs."""
    (tmp_path / "my_figures.py").write_text(
        "from al_bench.figures.runs import FiguresError\n"
        "def n_runs(runs, tracking_uri, out_dir):\n"
        "    path = out_dir / 'n_runs.txt'\n"
        "    path.write_text(f\"{runs['run_id'].nunique()} runs from {tracking_uri}\")\n"
        "    return [path]\n"
        "def needs_more(runs, tracking_uri, out_dir):\n"
        "    raise FiguresError('needs a sweep over seeds')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "figs"
    argv = ["--experiment", "sweep", "--tracking-uri", store_uri, "--out", str(out), "--no-heatmaps"]
    extra = [
        "--figure",
        "my_figures.n_runs",
        "--figure",
        "my_figures.needs_more",
        "--figure",
        "my_figures.nope",
    ]
    assert main(argv + extra) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out / 'n_runs.txt'}  [my_figures.n_runs]" in printed
    assert (out / "n_runs.txt").read_text().endswith(f"runs from {store_uri}")
    assert "skipped my_figures.needs_more: needs a sweep over seeds" in printed
    assert "skipped my_figures.nope: cannot import figure function 'my_figures.nope'" in printed
