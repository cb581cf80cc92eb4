"""Results table, AULC ranking and the learning-curve figure."""

import pytest

from al_bench.loop.report import format_table, labels, normalized_aulc, ranking, summarize
from al_bench.loop.results import RunResult, write_result


def _result(strategy, seed, aps, overrides=()):
    rounds = [
        {
            "round": r,
            "n_labeled": 10 + 5 * r,
            "ap": ap,
            **({"sampling_time_s": 0.5} if r < len(aps) - 1 else {}),
        }
        for r, ap in enumerate(aps)
    ]
    return RunResult(
        f"{strategy}-seed{seed}", strategy, seed, "k", list(overrides), "sqlite:///x/mlflow.db", "id", rounds
    )


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
    assert summarize(tmp_path / "0" / "nothing") is None
