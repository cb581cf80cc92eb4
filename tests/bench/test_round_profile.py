"""The round profile: every part timed through the harness's own code, ratios to the bare rates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~30 s: a tiny pool, three short fits, val evaluation, one selection
def test_profile_round_script_prints_the_table_and_sane_ratios(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "experiments/profile_round.py"), "--n-labeled", "40", "--fit-steps", "6",
         "--fit-repeats", "2", f"paths.output_dir={tmp_path}", "data.n_pool=80", "data.n_val=20", "al.budget=8"],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    table, last = proc.stdout.split("\n{", 1)
    out = json.loads("{" + last)
    assert "| train: fit (loader + fwd/bwd + step) |" in table and "val (20 images)" in table
    assert "selection over 40 unlabeled" in table
    ratios = ("fit_ratio", "pool_infer_ratio", "val_eval_ratio", "val_predict_ratio", "val_eval_traced_ratio")
    for ratio in ratios:
        assert 0.0 < out[ratio] < 3.0, (ratio, out[ratio])
    assert out["bare_traced_infer_img_per_s"] > 0 and "| bare forward, traced (infer.jit) |" in table
    assert out["val_eval_s"] >= out["val_predict_s"] > 0 and out["val_metrics_s"] > 0
    assert out["fit_repeats"] == 2 and out["fit_ratio_min"] <= out["fit_ratio"] <= out["fit_ratio_max"]
    assert "median of 2 fit/bare pairs" in table
    assert out["fit_first_extra_s"] >= 0 and out["n_val"] == 20 and out["n_pool_unlabeled"] == 40
