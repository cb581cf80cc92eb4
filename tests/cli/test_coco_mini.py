"""The real-image preset: `al-bench experiment=coco_mini` on the shared COCO fixtures (real JPEGs, an
unfiltered pool with person-free images and crowds, the 368 px Lightweight OpenPose), fewer steps."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import cli_env
from mlflow.tracking import MlflowClient

FIXTURES = Path(__file__).resolve().parents[3] / "shared/fixtures"
FAST = [
    "train.steps=3",
    "train.warm_start_steps=1",
    "train.min_steps=1",
    "train.warmup_steps=1",
    "train.progress=false",
]


@pytest.mark.slow
def test_coco_mini_preset_runs_both_strategies_on_the_real_images(tmp_path, empty_mlflow_db):
    for part in (
        "coco_mini_train2017/person_keypoints_train2017.json",
        "coco_val2017_sample/person_keypoints_sample.json",
    ):
        if not (FIXTURES / part).is_file():
            pytest.skip(f"real COCO fixture {FIXTURES / part} not found")
    shutil.copy(empty_mlflow_db, tmp_path / "mlflow.db")
    command = [sys.executable, "-m", "al_bench.cli.main", "experiment=coco_mini", f"paths.output_dir={tmp_path}",
               "hydra/launcher=basic", *FAST]  # fmt: skip
    env = {**cli_env(), "AL_BENCH_FIXTURES": str(FIXTURES)}
    proc = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = [
        r
        for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
        if "run_key" in r.data.tags
    ]
    assert sorted(r.data.tags["strategy"] for r in runs) == ["heatmap_annoy", "random"]
    for run in runs:
        assert run.info.status == "FINISHED" and run.data.tags["dataset"] == "coco_mini"
        labeled = [m.value for m in client.get_metric_history(run.info.run_id, "n_labeled")]
        assert labeled == [20, 30, 40]  # of the 80 pool images, person-free ones included
        [ceiling] = client.get_metric_history(run.info.run_id, "decoder_ceiling_ap")
        assert ceiling.value == pytest.approx(1.0, abs=1e-3)  # the 4 val images' ground truth decodes exactly
    assert "Ranking by normalised area under the AP learning curve" in proc.stdout
