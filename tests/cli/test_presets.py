"""Every preset (conf/experiment/*.yaml) smoke-runs through al-bench: one job of its sweep, fake pieces.

The fake pieces (tests/loop/fakes.py) stand in for data, training and selection, so a job takes
seconds; what runs for real is the preset's composition, Hydra's multirun, the loop, MLflow and the
end-of-sweep report. Each preset's sweep is cut to one job: every swept key pinned to its first value.
Presets on real COCO run on the synthetic set's settings instead (``data=synthetic``): the fake data
reads only ``data.n_pool`` / ``n_val``, which the COCO config has not; that they compose with
``data=coco`` is test_configs.py's check.
"""

from pathlib import Path

import pytest
from cli_support import FAKE_PIECES
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from al_bench.cli.main import CONF_DIR
from al_bench.loop.results import read_results

PRESETS = sorted(f.stem for f in (CONF_DIR / "experiment").glob("*.yaml"))


def _first_job(preset: str) -> tuple[list[str], bool]:
    """Overrides pinning each swept key of ``preset`` to its first value, and whether it is on COCO."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={preset}"], return_hydra_config=True)
    pinned = [f"{key}={str(values).split(',')[0]}" for key, values in cfg.hydra.sweeper.params.items()]
    return pinned, cfg.data.kind == "coco"


@pytest.mark.slow
@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_smoke_runs_one_job_with_fake_pieces(preset, tmp_path, run_cli):
    pinned, on_coco = _first_job(preset)
    out = tmp_path / "out"
    run_cli(out, f"experiment={preset}", *(["data=synthetic"] if on_coco else []), *pinned, FAKE_PIECES)

    client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments() if e.name != "Default"]
    [run] = [r for r in client.search_runs(experiments) if "run_key" in r.data.tags]
    strategy = next(p for p in pinned if p.startswith("strategy="))
    assert run.info.status == "FINISHED" and f"strategy={run.data.tags['strategy']}" == strategy
    assert [m.value for m in client.get_metric_history(run.info.run_id, "n_labeled")] == [10, 15, 20]
    [sweep_dir] = (out / "multirun").iterdir()
    assert len(read_results(Path(sweep_dir))) == 1
