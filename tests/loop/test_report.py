"""Results table, AULC ranking and the learning-curve figure."""

import json
import math

import pytest

from al_bench.loop.report import (
    NO_EFFECT,
    aulc_rows,
    control_line,
    format_paired,
    format_table,
    labels,
    normalized_aulc,
    paired,
    ranking,
    split_results,
    summarize,
)
from al_bench.loop.results import RunResult, read_results, write_result

T_975_DF2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom


def _result(strategy, seed, aps, overrides=(), keypoints=None, **fields):
    rounds = [
        {
            "round": r,
            "n_labeled": 10 + 5 * r,
            "ap": ap,
            **({"sampling_time_s": 0.5} if r < len(aps) - 1 else {}),
            **({"n_persons": keypoints[r] // 10, "n_keypoints": keypoints[r]} if keypoints else {}),
        }
        for r, ap in enumerate(aps)
    ]
    return RunResult(
        f"{strategy}-seed{seed}",
        strategy,
        seed,
        "k",
        list(overrides),
        "sqlite:///x/mlflow.db",
        "id",
        rounds,
        **fields,
    )


def _sweep(oracle_finals):
    """random, uncertainty and the oracle over 3 seeds, coreset on seed 0; 2 rounds at 10 and 15 images."""
    random_finals = [0.2, 0.4, 0.3]  # AULC 0.15, 0.25, 0.20
    out = []
    for seed in range(3):
        out.append(_result("random", seed, [0.1, random_finals[seed]], keypoints=[100, 200], condition="r"))
        out.append(
            _result("uncertainty", seed, [0.1, [0.24, 0.36, 0.32][seed]], keypoints=[100, 200], condition="u")
        )
        out.append(
            _result(
                "oracle_loss",
                seed,
                [0.1, oracle_finals[seed]],
                keypoints=[100, 150],
                condition="o",
                uses_labels=True,
            )
        )
    out.append(_result("coreset", 0, [0.1, 0.3], keypoints=[100, 200], condition="c"))
    return out


def test_normalized_aulc_is_the_mean_height_of_the_curve():
    assert normalized_aulc([10, 20], [0.2, 0.4]) == pytest.approx(0.3)
    assert normalized_aulc([10, 15, 30], [0.0, 0.5, 0.5]) == pytest.approx((1.25 + 7.5) / 20)
    assert normalized_aulc([10], [0.7]) == 0.7


def test_labels_name_only_what_varies_besides_seed():
    common = ["al.budget=5", "data.n_pool=40"]
    results = [
        _result(
            "heatmap_annoy",
            seed,
            [0.1],
            [*common, "strategy=heatmap_annoy", f"seed={seed}", f"strategy.selection_ratio={r}"],
        )
        for seed in (0, 1)
        for r in (0.1, 0.2)
    ]
    assert (
        labels(results)
        == [
            "heatmap_annoy strategy.selection_ratio=0.1",
            "heatmap_annoy strategy.selection_ratio=0.2",
        ]
        * 2
    )
    assert labels(results[:1]) == ["heatmap_annoy"]


def test_ranking_averages_seeds_and_sorts_by_area():
    results = [
        _result("random", 0, [0.1, 0.2]),
        _result("random", 1, [0.1, 0.4]),
        _result("coreset", 0, [0.1, 0.5]),
    ]
    rows = ranking(results)
    assert [r["label"] for r in rows] == ["coreset", "random"]
    assert rows[1]["aulc"] == pytest.approx((0.15 + 0.25) / 2) and rows[1]["n_seeds"] == 2
    assert rows[1]["final_ap"] == pytest.approx(0.3)


def test_table_lists_every_round():
    table = format_table([_result("random", 0, [0.1, 0.25])])
    assert "random seed=0" in table and "0.2500" in table and "0.50" in table
    assert len(table.splitlines()) == 2 + 2


def test_summarize_writes_figure_and_names_the_store(tmp_path, capsys):
    for job, seed in (("0", 0), ("1", 1)):
        (tmp_path / job).mkdir()
        write_result(tmp_path / job, _result("random", seed, [0.1, 0.3], [f"seed={seed}"]))
    text = summarize(tmp_path)
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000
    assert "mlflow ui --backend-store-uri sqlite:///" in text and "x/mlflow.db" in text
    assert "Ranking" in text and text in capsys.readouterr().out
    assert "Paired by seed vs random" not in text  # one strategy: nothing to pair
    assert "no label-using control" in text
    assert summarize(tmp_path / "0" / "nothing") is None


def test_ranking_std_is_the_sample_std():
    rows = ranking([_result("random", 0, [0.1, 0.2]), _result("random", 1, [0.1, 0.4])])
    assert rows[0]["aulc_std"] == pytest.approx(0.1 / math.sqrt(2))  # ddof = 1: |0.25 - 0.15| / sqrt(2)
    assert math.isnan(ranking([_result("random", 0, [0.1, 0.2])])[0]["aulc_std"])


def test_old_result_files_load_with_defaults(tmp_path):
    doc = {
        "run_name": "random-seed0",
        "strategy": "random",
        "seed": 0,
        "run_key": "k",
        "overrides": [],
        "tracking_uri": "sqlite:///x",
        "mlflow_run_id": None,
        "rounds": [],
    }
    (tmp_path / "al_result.json").write_text(json.dumps(doc))
    (result,) = read_results(tmp_path)
    assert (result.condition, result.condition_name, result.uses_labels, result.status) == (
        "",
        "",
        False,
        "FINISHED",
    )


def test_paired_table_verdicts_and_the_three_seed_control():
    results = _sweep(oracle_finals=[0.4, 0.5, 0.6])  # oracle AULC 0.25, 0.30, 0.35: deltas .10 .05 .15
    rows = {r["condition_name"]: r for r in paired(results, "images")}
    oracle = rows["oracle_loss"]
    half = T_975_DF2 * 0.05 / math.sqrt(3)
    assert oracle["seeds"] == 3 and oracle["uses_labels"]
    assert oracle["delta_aulc_mean"] == pytest.approx(0.10)
    assert (oracle["delta_aulc_ci_low"], oracle["delta_aulc_ci_high"]) == pytest.approx(
        (0.10 - half, 0.10 + half)
    )
    assert oracle["p_value"] == pytest.approx(0.25) and oracle["p_floor"] == pytest.approx(0.25)
    line = control_line(results)
    assert NO_EFFECT in line and "oracle_loss vs random: ΔAULC +0.1000" in line
    by_label = {r["label"]: r for r in ranking(results)}
    assert "oracle_loss" not in by_label  # a control is never ranked among the methods
    assert (
        by_label["uncertainty"]["verdict_images"] == "not distinguishable from random"
    )  # deltas .02 -.02 .01
    assert by_label["coreset"]["verdict_images"] == "n/a (1 seed)"
    assert by_label["random"]["verdict_images"] == "reference"


def test_control_that_beats_random_and_the_keypoints_axis():
    results = _sweep(oracle_finals=[0.4, 0.6, 0.54])  # deltas 0.10, 0.11, 0.12: interval above 0
    line = control_line(results)
    assert NO_EFFECT not in line and "the oracle beats random" in line
    # keypoints: seed 0 oracle reaches 150 keypoints, random 200: compared over [100, 150] where
    # random is 0.1 + 0.5 * (0.2 - 0.1) = 0.15 -> AULC 0.125 against the oracle's 0.25
    oracle = next(r for r in paired(results, "keypoints") if r["condition"] == "o")
    assert oracle["delta_aulc"][0] == pytest.approx(0.25 - 0.125)
    # the AULC table on keypoints takes every run over the range all runs cover, [100, 150]
    rows = {r["label"]: r for r in aulc_rows(results, "keypoints")}
    assert rows["random"]["aulc"] == pytest.approx((0.125 + 0.175 + 0.15) / 3)


def test_incomplete_and_duplicate_runs_are_left_out():
    results = [
        _result("random", 0, [0.1, 0.2], condition="r"),
        _result("random", 1, [0.1, 0.4], condition="r"),
        _result("random", 2, [0.1], condition="r", status="RUNNING"),
        _result("random", 3, [0.1], condition="r"),  # FINISHED but a round short
        _result("random", 1, [0.1, 0.6], condition="r"),  # the same seed again: only the later counts
    ]
    kept, dropped = split_results(results)
    assert sorted(r.seed for _, r in kept) == [0, 1]
    assert [reason for _, reason in dropped] == [
        "status RUNNING",
        "1 of 2 rounds logged",
        "a later run of the same condition and seed",
    ]
    (row,) = aulc_rows(results)
    assert row["n_seeds"] == 2 and row["aulc"] == pytest.approx((0.15 + 0.35) / 2)


def test_paired_table_on_the_rare_mode_metric():
    """The same pairing on ap_rare: the oracle's rare-family AP rises while its overall AP does not."""
    results = _sweep(oracle_finals=[0.2, 0.4, 0.3])  # overall AP: the oracle ties random
    for run in results:
        for r in run.rounds:
            r["ap_rare"] = r["ap"] + (0.1 * r["round"] if run.strategy == "oracle_loss" else 0.0)
    overall = next(r for r in paired(results, "images") if r["condition"] == "o")
    rare = next(r for r in paired(results, "images", metric="ap_rare") if r["condition"] == "o")
    assert overall["delta_aulc_mean"] == pytest.approx(0.0)
    assert rare["delta_aulc_mean"] == pytest.approx(0.05) and rare["delta_final_mean"] == pytest.approx(0.1)
    assert paired(results[:1] + _sweep([0.2, 0.4, 0.3]), "images", metric="ap_rare") == []  # not logged
    assert "x = images, metric = ap_rare" in format_paired([rare], "images", metric="ap_rare")
