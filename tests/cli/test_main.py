"""``al-bench`` end to end as a subprocess: MLflow layout, re-runs, sweeps, launchers, kill and resume."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_support import FAKE_PIECES, al_bench_command, cli_env, tiny_run_name
from mlflow.tracking import MlflowClient

from al_bench.loop.results import read_results


def _runs(out_dir: Path):
    """(client, parent runs, child runs) of the al_bench experiment in ``out_dir/mlflow.db``."""
    client = MlflowClient(f"sqlite:///{out_dir / 'mlflow.db'}")
    experiments = [e for e in client.search_experiments() if e.name != "Default"]
    assert [e.name for e in experiments] == ["al_bench"]
    runs = client.search_runs([experiments[0].experiment_id])
    children = [r for r in runs if "run_key" in r.data.tags]
    parents = [r for r in runs if "run_key" not in r.data.tags]
    return client, parents, children


def _state(out_dir: Path) -> dict:
    [path] = (out_dir / "state").glob("*/state.json")
    return json.loads(path.read_text())


def _comparable(state: dict):
    """Selections and every metric that is not a time, per round."""
    metrics = [
        {k: v for k, v in m.items() if not k.endswith("_s") and "per_s" not in k} for m in state["metrics"]
    ]
    return [s["ids"] for s in state["selections"]], metrics


@pytest.mark.slow
def test_end_to_end_rerun_and_kill_resume_with_real_pieces(tmp_path, run_cli, shared_cache, empty_mlflow_db):
    """One tiny real run (synthetic data, tiny model, heatmap_annoy), checked in MLflow; the same
    command again changes nothing; the same run SIGKILLed mid-round and re-run ends identical."""
    args = ("strategy=heatmap_annoy",)
    out = tmp_path / "reference"
    proc = run_cli(out, *args, cache_dir=shared_cache)
    assert "Ranking by normalised area under the AP learning curve" in proc.stdout
    assert f"mlflow ui --backend-store-uri sqlite:///{out / 'mlflow.db'}" in proc.stdout
    [sweep] = (out / "multirun").iterdir()
    assert (sweep / "learning_curve.png").stat().st_size > 1000
    assert (sweep / "0" / "al_result.json").exists()
    _check_mlflow_layout(out)

    again = run_cli(out, *args, cache_dir=shared_cache)
    assert "already finished" in again.stdout
    client, parents, [run] = _runs(out)
    assert len(parents) == 1 and len(client.get_metric_history(run.info.run_id, "ap")) == 3

    killed = tmp_path / "killed"
    killed.mkdir()
    shutil.copy(empty_mlflow_db, killed / "mlflow.db")
    proc = subprocess.Popen(
        al_bench_command(killed, *args, cache_dir=shared_cache),
        cwd=killed,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state_file = killed / "state" / _state(out)["run_key"] / "state.json"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not state_file.exists():
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)  # round 0 is saved, round 1 is training
    proc.wait()
    assert json.loads(state_file.read_text())["completed_round"] == 0

    run_cli(killed, *args, cache_dir=shared_cache)
    resumed = _state(killed)
    assert resumed["finished"] and _comparable(resumed) == _comparable(_state(out))
    client, _, [run] = _runs(killed)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "ap")] == [0, 1, 2]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "sampling_time_s")] == [0, 1]


def _check_mlflow_layout(out: Path) -> None:
    client, [parent], [run] = _runs(out)
    run_id = run.info.run_id
    tags = run.data.tags
    assert tags["mlflow.parentRunId"] == parent.info.run_id and run.info.status == "FINISHED"
    assert parent.info.status == "FINISHED"  # closed by the report callback
    assert (tags["strategy"], tags["seed"], tags["dataset"], tags["embedding"]) == (
        "heatmap_annoy",
        "0",
        "synthetic",
        "pose_backbone",
    )
    assert (
        tags["git_commit"]
        and tags["al_bench_version"]
        and run.info.run_name == tiny_run_name("heatmap_annoy", 0)
    )
    assert run.data.params["strategy.selection_ratio"] == "0.2" and run.data.params["al.budget"] == "5"
    for key in ("n_labeled", "ap", "ap50", "ap75", "apm", "apl", "ar", "train_time_s"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [0, 1, 2], key
    for key in ("sampling_time_s", "uncertainty_s", "embedding_s", "index_build_s", "query_s"):
        assert [m.step for m in client.get_metric_history(run_id, key)] == [0, 1], key
    assert [m.value for m in client.get_metric_history(run_id, "n_labeled")] == [10, 15, 20]
    [ceiling] = client.get_metric_history(run_id, "decoder_ceiling_ap")  # once, at round 0
    assert ceiling.step == 0 and 0.9 <= ceiling.value <= 1.0  # ground truth decoded: what AP lives under
    assert max(m.value for m in client.get_metric_history(run_id, "ap")) < ceiling.value
    assert any(k.startswith("quality_") for k in run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"config.yaml", "selections", "model", "figures"} <= artifacts
    selections = {a.path for a in client.list_artifacts(run_id, "selections")}
    assert {"selections/round_00.json", "selections/round_01.json"} <= selections


@pytest.mark.slow
def test_two_seed_two_ratio_multirun_in_parallel_lands_in_one_experiment(tmp_path, run_cli):
    out = tmp_path / "out"
    sweep = ("strategy=heatmap_annoy", "strategy.selection_ratio=0.2,0.5", "seed=0,1", FAKE_PIECES)
    proc = run_cli(out, *sweep, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "num_threads=1")
    client, [parent], children = _runs(out)
    assert len(children) == 4 and len({r.data.tags["run_key"] for r in children}) == 4
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert parent.info.status == "FINISHED"
    assert sorted((r.data.tags["seed"], r.data.params["strategy.selection_ratio"]) for r in children) == [
        ("0", "0.2"),
        ("0", "0.5"),
        ("1", "0.2"),
        ("1", "0.5"),
    ]
    for run in children:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "ap")] == [0, 1, 2]
    [sweep_dir] = (out / "multirun").iterdir()
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
    assert len(read_results(sweep_dir)) == 4
    # The ranking names each condition by the overrides that make it differ and groups its 2 seeds.
    ranked = [line for line in proc.stdout.splitlines() if re.match(r"\s+\d+\s+heatmap_annoy ", line)]
    assert len(ranked) == 2 and all(
        re.search(r"\s2\s+(not distinguishable|n/a|better|worse)", r) for r in ranked
    )
    assert sum("selection_ratio=0.5" in line for line in ranked) == 1

    run_cli(out, *sweep)  # the same sweep again: nothing duplicated
    client, parents, again = _runs(out)
    assert len(parents) == 1 and sorted(r.info.run_id for r in again) == sorted(
        r.info.run_id for r in children
    )
    for run in again:
        assert len(client.get_metric_history(run.info.run_id, "ap")) == 3


@pytest.mark.slow
def test_submitit_local_launcher(tmp_path, run_cli):
    out = tmp_path / "out"
    run_cli(
        out, "strategy=random", FAKE_PIECES, "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"
    )
    client, _, [run] = _runs(out)
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "ap")] == [0, 1, 2]
    [sweep_dir] = (out / "multirun").iterdir()
    assert [r.strategy for r in read_results(sweep_dir)] == ["random"]


@pytest.mark.slow
def test_unreachable_tracking_fails_before_training(tmp_path, run_cli):
    proc = subprocess.run(
        al_bench_command(
            tmp_path,
            "strategy=random",
            FAKE_PIECES,
            "tracking.uri=http://127.0.0.1:9",
            "tracking.check_timeout_s=2",
        ),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0
    assert "MLflow tracking URI 'http://127.0.0.1:9' is not reachable" in proc.stderr
    assert not (tmp_path / "state").exists() and not (tmp_path / "cache").exists()
