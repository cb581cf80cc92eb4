"""Reliability of ``al-bench`` as a real subprocess: kill -9 at each fault point then rerun, a sweep with a
corrupt image and a killed job, config names Hydra does not know, an unwritable output folder.

The kill tests run the real loop, real data sources (synthetic images on disk, the start-up image
check) and real MLflow, with the fast fake pose model of ``tests/loop/image_fakes.py`` (it decodes
every image it sees, and its predictions are a deterministic function of the labeled set).
"""

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from cli_support import TINY, al_bench_command, cli_env
from hydra import compose, initialize_config_dir
from hydra.errors import MissingConfigException
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from al_bench.cli.main import CONF_DIR
from al_bench.data.sources import ensure_synthetic
from al_bench.loop.runner import run_experiment

REAL_DATA = "pieces._target_=image_fakes.fake_model_real_data_pieces"
NAMED = "run_name=uncertainty-seed${seed}"  # an explicit run_name wins over <condition_name>-seed<N>
KILLED = -signal.SIGKILL


def _al_bench(out: Path, *overrides: str, db: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    """Run ``al-bench`` writing under ``out`` (a copy of the empty MLflow store), optionally with a fault."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "mlflow.db").exists():
        shutil.copy(db, out / "mlflow.db")
    env = {**cli_env(), "PYTHONUNBUFFERED": "1"}  # a SIGKILL must not swallow what was printed
    if fault:
        env["AL_BENCH_FAULT"] = fault
    return subprocess.run(
        al_bench_command(out, *overrides),
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def _states(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (out / "state").glob("*/state.json")}


def _comparable(state: dict):
    """Selections, labeled set and every metric that is not a time, per round."""
    metrics = [{k: v for k, v in m.items() if not k.endswith("_s")} for m in state["metrics"]]
    return [s["ids"] for s in state["selections"]], sorted(state["labeled"]["labeled"]), metrics


def _child_runs(out: Path):
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("al_bench")
    runs = client.search_runs([experiment.experiment_id])
    return (
        client,
        [r for r in runs if "run_key" in r.data.tags],
        [r for r in runs if "run_key" not in r.data.tags],
    )


def _assert_logged_once(client, run, rounds: int = 2) -> None:
    """Every metric of ``run`` has at most one value per step, and the per-round ones every step."""
    run_id = run.info.run_id
    for key in run.data.metrics:
        steps = [m.step for m in client.get_metric_history(run_id, key)]
        assert len(steps) == len(set(steps)), f"{key} logged twice at a step: {steps}"
    assert [m.step for m in client.get_metric_history(run_id, "ap")] == list(range(rounds + 1))
    assert [m.step for m in client.get_metric_history(run_id, "skipped_images")] == [0]
    assert run.info.status == "FINISHED"


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    """The tiny synthetic set of conftest.TINY (40 pool / 20 val), generated once for the module."""
    root = tmp_path_factory.mktemp("data") / "synthetic"
    params = {"n_pool": 40, "n_val": 20, "image_size": 128, "seed": 0, "val_distribution": "pool",
              "families": "upright", "burst_share": 0.6, "n_bursts": 10}  # fmt: skip
    return ensure_synthetic(OmegaConf.create({"root": str(root), **params}))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, synthetic_root, empty_mlflow_db) -> dict:
    """State of the uninterrupted run the killed runs must reproduce (run in-process: it is only the
    yardstick, and a subprocess costs seconds of imports)."""
    out = tmp_path_factory.mktemp("reference")
    shutil.copy(empty_mlflow_db, out / "mlflow.db")
    overrides = [
        f"paths.output_dir={out}",
        *TINY,
        "strategy=uncertainty",
        REAL_DATA,
        f"data.root={synthetic_root}",
    ]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    from image_fakes import fake_model_real_data_pieces  # tests/loop: pyproject's pytest pythonpath

    run_experiment(cfg, fake_model_real_data_pieces())
    [state] = _states(out).values()
    return state


# fault point -> completed_round its kill leaves in the saved state (None: no state yet)
SAVED_AFTER_KILL = {"train:0": None, "log:0": None, "train:1": 0, "select:1": 0, "log:2": 1}
# Each chain kills the same run at every point in turn, each kill hitting the rerun of the last, then
# a clean rerun finishes it: every point is followed by a resume, at a third of the processes.
CHAINS = [("train:0", "select:1", "log:2"), ("log:0", "train:1")]


@pytest.mark.slow
@pytest.mark.parametrize("chain", CHAINS, ids=["-".join(c) for c in CHAINS])
def test_kill_at_fault_points_then_rerun_matches_uninterrupted(
    tmp_path, chain, reference, synthetic_root, empty_mlflow_db
):
    # An explicit run name (a data.root path would make the default one long) the faults target.
    args = ("strategy=uncertainty", NAMED, REAL_DATA, f"data.root={synthetic_root}")
    resumes_from = None
    for fault in chain:
        killed = _al_bench(tmp_path, *args, db=empty_mlflow_db, fault=fault)
        assert killed.returncode == KILLED, killed.stderr[-3000:]
        assert f"AL_BENCH_FAULT: killing uncertainty-seed0 at {fault}" in killed.stderr
        if resumes_from is not None:
            assert f"resuming after round {resumes_from}" in killed.stdout
        resumes_from = SAVED_AFTER_KILL[fault]
        saved = [s["completed_round"] for s in _states(tmp_path).values()]
        assert saved == ([] if resumes_from is None else [resumes_from]), fault
        if fault.startswith("log"):  # the round reached MLflow before the kill: no rerun may log it again
            client, [run], _ = _child_runs(tmp_path)
            assert int(fault[-1]) in [m.step for m in client.get_metric_history(run.info.run_id, "ap")]

    rerun = _ok(_al_bench(tmp_path, *args, db=empty_mlflow_db))
    assert f"resuming after round {resumes_from}" in rerun.stdout
    [state] = _states(tmp_path).values()
    assert state["finished"] and _comparable(state) == _comparable(reference)
    client, [run], _ = _child_runs(tmp_path)  # exactly one run for the AL run
    assert run.data.tags["run_key"] == state["run_key"] == reference["run_key"]
    _assert_logged_once(client, run)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "selections")}
    assert artifacts == {"selections/initial.json", "selections/round_00.json", "selections/round_01.json"}


@pytest.mark.slow
def test_sweep_with_corrupt_image_and_killed_job_completes_once_on_rerun(
    tmp_path, synthetic_root, empty_mlflow_db
):
    """The issue's "done when": every run of the sweep ends up in MLflow exactly once, finished."""
    root = tmp_path / "data"
    shutil.copytree(synthetic_root, root)
    bad = root / "images" / "000000000007.png"  # pool id 7
    bad.write_bytes(bad.read_bytes()[:300])
    # Three jobs run one after another in one process: seed 0 finishes, seed 1 is killed, seed 2 never starts.
    sweep = ("strategy=uncertainty", "seed=0,1,2", NAMED, REAL_DATA, f"data.root={root}")
    out = tmp_path / "out"

    first = _al_bench(out, *sweep, db=empty_mlflow_db, fault="select:1@uncertainty-seed1")
    assert (
        first.returncode == KILLED and "AL_BENCH_FAULT: killing uncertainty-seed1 at select:1" in first.stderr
    )
    assert "pool: left out 1 unreadable image" in first.stderr and "000000000007.png" in first.stderr
    assert sorted(s["finished"] for s in _states(out).values()) == [False, True], "seed 0 done, seed 1 killed"

    rerun = _ok(_al_bench(out, *sweep, db=empty_mlflow_db))
    assert "already finished" in rerun.stdout and "resuming after round 0" in rerun.stdout
    states = _states(out)
    assert len(states) == 3 and all(s["finished"] for s in states.values())
    for state in states.values():
        assert 7 not in {i for i, _ in state["labeled"]["labeled"]}, "the corrupt image was never labeled"
    client, children, parents = _child_runs(out)
    assert sorted(r.data.tags["run_key"] for r in children) == sorted(states), "each run exactly once"
    assert sorted(r.info.run_name for r in children) == [
        "uncertainty-seed0",
        "uncertainty-seed1",
        "uncertainty-seed2",
    ]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} <= {p.info.run_id for p in parents}
    for run in children:
        _assert_logged_once(client, run)
        assert client.get_metric_history(run.info.run_id, "skipped_images")[0].value == 1.0
        assert run.info.status == "FINISHED" and "error" not in run.data.tags
    # The killed invocation's parent is closed by the rerun; the rerun's own ends with its children.
    killed, rerun_parent = sorted(parents, key=lambda p: p.info.start_time)
    assert killed.info.status == "FAILED" and rerun_parent.info.status == "FINISHED"
    assert killed.data.tags["closed_by"] == rerun_parent.info.run_name != killed.info.run_name


def test_unwritable_output_dir_is_reported_before_hydra_or_training(tmp_path, empty_mlflow_db):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    proc = subprocess.run(
        al_bench_command(blocker / "out", "strategy=random", REAL_DATA),
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1
    assert f"al-bench: paths.output_dir={blocker}/out is not writable (NotADirectoryError" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("override", "group", "options"),
    [
        ("strategy=nope", "strategy", ["random", "uncertainty", "heatmap_annoy", "heatmap_exact", "coreset"]),
        ("index=nope", "index", ["annoy", "exact"]),
    ],
)
def test_unknown_group_option_lists_the_valid_ones(override, group, options):
    with (
        initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"),
        pytest.raises(MissingConfigException) as err,
    ):
        compose("config", overrides=[override])
    message = str(err.value)
    assert f"Could not find '{group}/nope'" in message and f"Available options in '{group}'" in message
    assert all(f"\t{name}\n" in message + "\n" for name in options), message


def test_unknown_strategy_name_fails_the_command_listing_the_valid_ones(tmp_path):
    # The names users type are config file names: Hydra's compose error is the one registry.
    proc = subprocess.run(
        al_bench_command(tmp_path / "out", "strategy=nope"),
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 1 and "Could not find 'strategy/nope'" in proc.stderr
    listed = proc.stderr.split("Available options in 'strategy':")[1].split("Config search path")[0].split()
    assert listed == sorted(p.stem for p in (CONF_DIR / "strategy").glob("*.yaml"))
    assert not (tmp_path / "out").exists()  # nothing ran
