"""Plug-ins: a strategy, an index, a data set and a figure from a user's folder, with no edit of al_bench.

A class (or, for a data set or a figure, a function) on the Python path plus its YAML in a config dir
added with ``hydra.searchpath`` (``al-bench-figures --config-dir``) is all it takes
(docs/ARCHITECTURE.md, "How to add a strategy / an index / a data set / a figure").
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import al_bench_command, cli_env
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from mlflow.tracking import MlflowClient

from al_bench.cli.main import CONF_DIR

PLUGIN = '''
import numpy as np

from al_bench.search import ExactIndex
from al_bench.strategies.base import Picked, Strategy


class LowestIds(Strategy):
    """Picks the lowest unlabeled ids: a selection no built-in strategy makes."""

    def __init__(self, name=None, offset=0):
        super().__init__(name)
        self.offset = offset

    def _select(self, context, budget):
        return Picked(context.pool_ids[self.offset : self.offset + budget], info={"plugin": "lowest"})


class LoudExact(ExactIndex):
    name = "loud_exact"
'''

DATA_PLUGIN = '''
import json
from pathlib import Path

from al_bench.data.sources import DataFiles, synthetic_files


def every_other_image(data_cfg):
    """The synthetic set with every other pool image: a pool no built-in data set gives."""
    files = synthetic_files(data_cfg)
    coco = json.loads(files.pool_ann.read_text())
    coco["images"] = coco["images"][::2]
    kept = {image["id"] for image in coco["images"]}
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] in kept]
    pool_ann = Path(data_cfg.root).parent / "every_other_pool.json"
    pool_ann.write_text(json.dumps(coco))
    return DataFiles(pool_ann, files.pool_images, files.val_ann, files.val_images)
'''


FIGURE_PLUGIN = '''
from al_bench.figures.runs import FiguresError


def runs_per_strategy(runs, out_dir, metric, label="runs"):
    """One line per strategy: its number of complete runs and its last --metric."""
    if metric not in runs:
        raise FiguresError(f"no run logged {metric!r}")
    lines = []
    for strategy, part in runs.sort_values("step").groupby("strategy"):
        lines.append(f"{strategy} {part.run_id.nunique()} {part[metric].iloc[-1]}\\n")
    path = out_dir / f"{label}_per_strategy.txt"
    path.write_text("".join(lines))
    return [path]
'''


def _plugin_dir(root: Path) -> Path:
    """``root/my_al_plugin.py`` and ``root/conf/{strategy,index}/*.yaml``."""
    (root / "conf" / "strategy").mkdir(parents=True)
    (root / "my_al_plugin.py").write_text(PLUGIN)
    (root / "conf" / "index").mkdir()
    (root / "conf" / "strategy" / "lowest_ids.yaml").write_text(
        "name: lowest_ids\n_target_: my_al_plugin.LowestIds\noffset: 0\n"
    )
    (root / "conf" / "index" / "loud_exact.yaml").write_text(
        "name: loud_exact\n_target_: my_al_plugin.LoudExact\nmetric: euclidean\ndevice: cpu\n"
    )
    (root / "my_al_data.py").write_text(DATA_PLUGIN)
    (root / "conf" / "data").mkdir()
    (root / "conf" / "data" / "every_other.yaml").write_text(
        "defaults:\n  - synthetic\n  - _self_\n\nname: every_other\n_target_: my_al_data.every_other_image\n"
    )
    (root / "my_al_figures.py").write_text(FIGURE_PLUGIN)
    (root / "conf" / "figures").mkdir()
    (root / "conf" / "figures" / "runs_per_strategy.yaml").write_text(
        "_target_: my_al_figures.runs_per_strategy\n_partial_: true\nlabel: my\n"
    )
    return root / "conf"


def _run_with_plugins(tmp_path, empty_mlflow_db, *overrides):
    """Run al-bench with the user's config folder on the search path and its modules on PYTHONPATH;
    returns the MLflow client and the one AL run it logged."""
    plugins = _plugin_dir(tmp_path / "plugins")
    out = tmp_path / "out"
    out.mkdir()
    (out / "mlflow.db").write_bytes(empty_mlflow_db.read_bytes())
    command = al_bench_command(out, f"hydra.searchpath=[file://{plugins}]", *overrides)
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(plugins.parent), env["PYTHONPATH"]])
    proc = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    [run] = [r for r in client.search_runs([_experiment_id(client)]) if r.data.tags.get("strategy")]
    return client, run


@pytest.mark.slow
def test_a_strategy_from_the_users_folder_runs_through_al_bench(tmp_path, empty_mlflow_db):
    client, run = _run_with_plugins(
        tmp_path, empty_mlflow_db, "strategy=lowest_ids", "al.rounds=1", "data.seed=3"
    )
    assert run.data.tags["strategy"] == "lowest_ids" and run.info.status == "FINISHED"
    initial = _artifact(client, run.info.run_id, "selections/initial.json", tmp_path)["ids"]
    picked = _artifact(client, run.info.run_id, "selections/round_00.json", tmp_path)
    unlabeled = sorted(set(range(1, 41)) - set(initial))  # synthetic pool ids are 1..n_pool
    assert len(initial) == 10 and picked["ids"] == unlabeled[:5] and picked["info"]["plugin"] == "lowest"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "n_labeled")] == [10, 15]


@pytest.mark.slow
def test_a_data_set_from_the_users_folder_runs_through_al_bench(tmp_path, empty_mlflow_db):
    client, run = _run_with_plugins(
        tmp_path, empty_mlflow_db, "data=every_other", "strategy=random", "al.rounds=1"
    )
    assert run.info.status == "FINISHED" and run.data.params["data.name"] == "every_other"
    initial = _artifact(client, run.info.run_id, "selections/initial.json", tmp_path)["ids"]
    picked = _artifact(client, run.info.run_id, "selections/round_00.json", tmp_path)["ids"]
    assert set(initial + picked) <= set(range(1, 41, 2)), "only ids of the user's pool (every other image)"
    assert [m.value for m in client.get_metric_history(run.info.run_id, "n_labeled")] == [10, 15]


def test_an_index_from_the_users_folder_is_what_a_walk_strategy_gets(tmp_path, monkeypatch):
    plugins = _plugin_dir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    from al_bench.strategies import build_strategy

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[f"hydra.searchpath=[file://{plugins}]", "strategy=diversity", "index=loud_exact"],
            return_hydra_config=True,
        )
    strategy = build_strategy(cfg)
    index = strategy.index()
    assert (
        type(index).__name__ == "LoudExact" and index.name == "loud_exact" and strategy.metric == "euclidean"
    )
    assert instantiate(cfg.index).device.type == "cpu"


def test_a_figure_from_the_users_folder_is_drawn_by_al_bench_figures(tmp_path, empty_mlflow_db):
    plugins = _plugin_dir(tmp_path / "plugins")
    uri = _store_with_one_run(tmp_path / "mlflow.db", empty_mlflow_db)
    out = tmp_path / "figs"
    env = cli_env()
    env["PYTHONPATH"] = os.pathsep.join([str(plugins.parent), env["PYTHONPATH"]])
    command = [
        sys.executable, "-m", "al_bench.cli.figures", "--experiment", "plug", "--tracking-uri", uri,
        "--out", str(out), "--no-heatmaps", "--config-dir", str(plugins), "--figure", "runs_per_strategy",
    ]  # fmt: skip
    proc = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"wrote {out / 'my_per_strategy.txt'}  [runs_per_strategy]" in proc.stdout
    assert (out / "my_per_strategy.txt").read_text() == "random 1 0.2\n"  # --metric ap, label from the YAML
    assert f"wrote {out / 'learning_curve_ap.png'}  [learning_curve]" in proc.stdout  # beside the built-ins


def test_an_unknown_figure_name_lists_the_users_and_the_built_in_ones(tmp_path, capsys):
    from al_bench.cli.figures import main

    plugins = _plugin_dir(tmp_path)
    argv = ["--experiment", "plug", "--tracking-uri", f"sqlite:///{tmp_path / 'none.db'}"]
    assert main([*argv, "--config-dir", str(plugins), "--figure", "runs_per_strategyy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "al-bench-figures: unknown figure 'runs_per_strategyy'; figures: activation_extremes,"
    )
    assert "runs_per_strategy," in err and "learning_curve" in err and "\n" not in err
    assert not (tmp_path / "none.db").exists()  # names are checked before the store is opened


def _store_with_one_run(db: Path, empty_mlflow_db: Path) -> str:
    """A store with experiment ``plug``: one complete random run of two rounds."""
    db.write_bytes(empty_mlflow_db.read_bytes())
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("plug"), tags={"strategy": "random", "seed": "0"})
    client.log_param(run.info.run_id, "al.rounds", "1")
    for step, (n_labeled, ap) in enumerate([(10, 0.1), (15, 0.2)]):
        client.log_metric(run.info.run_id, "n_labeled", n_labeled, step=step)
        client.log_metric(run.info.run_id, "ap", ap, step=step)
    client.set_terminated(run.info.run_id, "FINISHED")
    return uri


def _experiment_id(client: MlflowClient) -> str:
    [experiment] = [e for e in client.search_experiments() if e.name != "Default"]
    return experiment.experiment_id


def _artifact(client: MlflowClient, run_id: str, path: str, tmp: Path) -> dict:
    return json.loads(Path(client.download_artifacts(run_id, path, str(tmp))).read_text())
