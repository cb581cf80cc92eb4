"""Issue 16, "Done when": one store with two configs sharing strategy and seed (data.n_val 100 and 200),
a FAILED run and a run killed after round 1. Figures and the end-of-sweep report keep the configs
apart, count seeds, leave the failed and killed runs out and list them as incomplete."""

import math
import shutil

import pandas as pd
import pytest
from figures_store import HEATMAP_GAIN, build_conditions_store, condition_specs, spec_name, spec_rounds

from al_bench.figures.learning_curves import write_auc_table, write_paired_table
from al_bench.figures.runs import load_runs, split_runs
from al_bench.stats import PAIRED_COLUMNS

T_975_DF1 = 12.706204736174698
T_975_DF2 = 4.302652729911275


def _store(tmp_path_factory, empty_mlflow_db, tagged):
    base = tmp_path_factory.mktemp("conditions_store")
    shutil.copy(empty_mlflow_db, base / "mlflow.db")  # skips seconds of schema migrations
    return build_conditions_store(base, tagged=tagged)


@pytest.fixture(scope="module")
def tagged_uri(tmp_path_factory, empty_mlflow_db):
    return _store(tmp_path_factory, empty_mlflow_db, tagged=True)


@pytest.fixture(scope="module")
def tagged_runs(tagged_uri):
    return load_runs(tagged_uri, "conditions", progress=False)


def _seeds(table: pd.DataFrame) -> dict[str, int]:
    return dict(zip(table["condition_name"], table["n_seeds"]))


def test_failed_and_killed_runs_are_listed_not_counted(tagged_runs):
    complete, incomplete = split_runs(tagged_runs)
    listed = incomplete.set_index("run_name")
    assert sorted(listed.index) == ["heatmap_annoy n_val=200-seed2", "random n_val=200-seed2"]
    failed, killed = listed.loc["random n_val=200-seed2"], listed.loc["heatmap_annoy n_val=200-seed2"]
    assert (failed["status"], failed["rounds_logged"], failed["error"]) == ("FAILED", 1, "RuntimeError: boom")
    assert (killed["status"], killed["rounds_logged"], killed["seed"]) == ("RUNNING", 2, 2)
    assert 0.99 not in set(complete["ap"])  # the killed run's round-1 AP never reaches a curve


def test_auc_table_keeps_configs_apart_and_counts_distinct_seeds(tagged_runs, tmp_path):
    table, _ = write_auc_table(tagged_runs, tmp_path, "ap")
    assert _seeds(table) == {
        "random n_val=100": 3,
        "random n_val=200": 2,
        "heatmap_annoy n_val=100": 3,
        "heatmap_annoy n_val=200": 2,
        "oracle_loss n_val=100": 3,
    }
    assert table["condition_name"].iloc[-1] == "oracle_loss n_val=100"  # the control is tabled apart, last
    assert table.set_index("condition_name").loc["oracle_loss n_val=100", "role"] == "control"
    # random n_val=100 seed s: AP 0.10 0.20 0.25 0.30 (+0.01 s) at 8..20 images -> 2.6 / 12 + 0.01 s
    row = table.set_index("condition_name").loc["random n_val=100"]
    assert row["auc_mean"] == pytest.approx(2.6 / 12 + 0.01)
    assert row["final_mean"] == pytest.approx(0.31)


def test_gap_share_against_the_full_pool(tagged_runs, tmp_path):
    table, _ = write_auc_table(tagged_runs, tmp_path, "ap", reference="random n_val=100")
    share = table.set_index("condition_name")["gap_share"]
    # full pool: AP 0.50, 0.52 -> 0.51; random n_val=100 final 0.31; heatmap final 0.31 + mean gain 0.04
    assert share["heatmap_annoy n_val=100"] == pytest.approx(0.04 / (0.51 - 0.31))
    assert share["random n_val=100"] == pytest.approx(0.0)


def test_paired_table_pairs_each_config_with_its_own_random(tagged_runs, tmp_path):
    table, path = write_paired_table(tagged_runs, tmp_path, "ap", "random")
    assert path.name == "paired_vs_random.csv"
    header = path.read_text().splitlines()[0].split(",")
    assert header[: len(PAIRED_COLUMNS)] == list(PAIRED_COLUMNS)
    assert header[len(PAIRED_COLUMNS) :] == ["condition_name", "p_floor", "x"]
    rows = table.set_index("condition_name")
    assert set(rows.index) == {"heatmap_annoy n_val=100", "heatmap_annoy n_val=200", "oracle_loss n_val=100"}
    # a gain g from round 1 on, over 8..20 images: (g/2 * 4 + g * 8) / 12 = 5 g / 6 per seed
    near = rows.loc["heatmap_annoy n_val=100"]
    deltas = [5 * g / 6 for g in HEATMAP_GAIN[100]]
    half = T_975_DF2 * (5 * 0.02 / 6) / math.sqrt(3)
    assert near["seeds"] == 3
    assert near["delta_aulc_mean"] == pytest.approx(sum(deltas) / 3)
    assert (near["delta_aulc_ci_low"], near["delta_aulc_ci_high"]) == pytest.approx(
        (sum(deltas) / 3 - half, sum(deltas) / 3 + half)
    )
    assert near["delta_final_mean"] == pytest.approx(0.04)
    assert (near["p_value"], near["p_floor"]) == pytest.approx((0.25, 0.25))
    far = rows.loc["heatmap_annoy n_val=200"]  # against random n_val=200, on seeds 0 and 1 only
    assert far["seeds"] == 2
    assert far["delta_aulc_mean"] == pytest.approx(5 * 0.02 / 6)
    assert far["delta_aulc_ci_low"] == pytest.approx(5 * 0.02 / 6 - T_975_DF1 * (5 * 0.02 / 6) / 2)
    assert table["condition_name"].iloc[-1] == "oracle_loss n_val=100"  # controls after the methods


def test_paired_table_on_keypoints_uses_each_pairs_common_range(tagged_runs, tmp_path):
    table, path = write_paired_table(tagged_runs, tmp_path, "ap", "random", axis="keypoints")
    assert path.name == "paired_vs_random_keypoints.csv"
    near = table.set_index("condition_name").loc["heatmap_annoy n_val=100"]
    # heatmap labels 10 keypoints per image (80..200), random 17 (136..340): common range [136, 200].
    # heatmap: 0.22 + g at 136, 0.25 + g at 160, 0.30 + g at 200 -> (16.64 + 64 g) / 64 = 0.26 + g
    # random: 0.10 at 136, 0.10 + 64/68 * 0.10 at 200 -> mean of the two
    random_aulc = (0.10 + 0.10 + 64 / 68 * 0.10) / 2
    assert near["delta_aulc_mean"] == pytest.approx(0.26 + 0.04 - random_aulc)
    assert near["x"] == "keypoints"
    cost, _ = write_paired_table(tagged_runs, tmp_path, "ap", "random", axis="cost")
    assert cost["seeds"].tolist() == [3, 2, 3]


def test_untagged_store_tells_configs_apart_from_params(tmp_path_factory, empty_mlflow_db):
    runs = load_runs(_store(tmp_path_factory, empty_mlflow_db, tagged=False), "conditions", progress=False)
    complete, incomplete = split_runs(runs)
    names = complete.groupby("condition_name")["seed"].nunique().to_dict()
    # data.n_val separates; index.seed (follows the seed) and train.progress (cannot change results) do not
    assert names == {
        "random n_val=100": 3,
        "random n_val=200": 2,
        "heatmap_annoy n_val=100": 3,
        "heatmap_annoy n_val=200": 2,
        "oracle_loss": 3,
        "full_pool": 2,
    }
    assert len(incomplete) == 2


def test_cli_writes_incomplete_list_and_paired_table(tagged_uri, tmp_path, capsys):
    from al_bench.cli.figures import main

    out = tmp_path / "figs"
    assert (
        main(["--experiment", "conditions", "--tracking-uri", tagged_uri, "--out", str(out), "--no-heatmaps"])
        == 0
    )
    printed = capsys.readouterr().out
    incomplete = pd.read_csv(out / "incomplete_runs.csv")
    assert list(incomplete.columns)[:6] == [
        "run_name",
        "condition_name",
        "seed",
        "status",
        "rounds_logged",
        "error",
    ]
    assert sorted(incomplete["status"]) == ["FAILED", "RUNNING"]
    assert "2 run(s) left out of every curve and table" in printed
    assert "random n_val=200-seed2" in printed and "RuntimeError: boom" in printed
    paired = pd.read_csv(out / "paired_vs_random.csv")
    assert dict(zip(paired["condition_name"], paired["seeds"])) == {
        "heatmap_annoy n_val=100": 3,
        "heatmap_annoy n_val=200": 2,
        "oracle_loss n_val=100": 3,
    }
    assert (out / "learning_curve_ap.png").is_file()
    assert "not distinguishable from random" in printed  # n_val=200: 2 seeds, interval covers 0


def test_end_of_sweep_report_from_the_same_runs(tmp_path):
    from al_bench.loop.report import summarize
    from al_bench.loop.results import RunResult, write_result

    for i, spec in enumerate(condition_specs()):
        job = tmp_path / str(i)
        job.mkdir()
        result = RunResult(
            f"{spec_name(spec)}-seed{spec['seed']}",
            spec["strategy"],
            spec["seed"],
            f"key-{i}",
            [f"strategy={spec['strategy']}", f"data.n_val={spec['n_val']}", f"seed={spec['seed']}"],
            "sqlite:///x/mlflow.db",
            None,
            spec_rounds(spec),
            condition=f"cond-{spec['strategy']}-{spec['n_val']}",
            condition_name=spec_name(spec),
            uses_labels=bool(spec.get("uses_labels")),
            status=spec.get("status", "FINISHED"),
        )
        write_result(job, result)
    text = summarize(tmp_path)
    assert "Incomplete runs (left out of every table): 2" in text
    assert "random n_val=200-seed2 [random n_val=200, seed 2]: status FAILED" in text
    assert "heatmap_annoy n_val=200-seed2 [heatmap_annoy n_val=200, seed 2]: status RUNNING" in text
    paired_images = text.split("Paired by seed vs random, x = images")[1].split("\n\n")[0]
    near = next(line for line in paired_images.splitlines() if line.startswith("heatmap_annoy n_val=100"))
    far = next(line for line in paired_images.splitlines() if line.startswith("heatmap_annoy n_val=200"))
    assert near.split()[2] == "3" and f"{5 * 0.04 / 6:+.4f}" in near  # 3 seeds, ΔAULC = 5/6 * mean gain
    assert far.split()[2] == "2" and "not distinguishable from random" in far
    assert "Paired by seed vs random, x = keypoints" in text
    ranking = text.split("Ranking by normalised area")[1].split("\n\n")[0]
    assert "oracle_loss" not in ranking and "full_pool" not in ranking
    # the oracle gains 0.10, 0.12, 0.14 from round 1 on: ΔAULC 5/6 of that, mean 0.1, s = 5/6 * 0.02
    low = 0.1 - T_975_DF2 * (5 * 0.02 / 6) / math.sqrt(3)
    assert f"Control: oracle_loss n_val=100 vs random: ΔAULC +0.1000 [{low:+.4f}," in text
    assert "the oracle beats random" in text and "cannot go below 0.25" in text
