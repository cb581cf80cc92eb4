"""Every figure function writes a readable PNG and a PDF from the synthetic store; their tables are right."""

from pathlib import Path

import numpy as np
import pytest
from figures_store import FAMILIES, N_POOL, family_of
from PIL import Image

from al_bench.figures.coverage import coverage_table, factor_shares, plot_coverage
from al_bench.figures.gallery import grid_ids, pick_run, plot_selection_grid
from al_bench.figures.learning_curves import format_auc_table, plot_learning_curves, write_auc_table
from al_bench.figures.runs import FiguresError, load_runs
from al_bench.figures.sweeps import plot_sweep, sweep_table, swept_params
from al_bench.figures.timing import plot_sampling_time, timing_table


def assert_png_and_pdf(paths: list[Path], stem: str) -> None:
    png, pdf = paths[:2]
    assert (png.name, pdf.name) == (f"{stem}.png", f"{stem}.pdf")
    with Image.open(png) as image:
        assert image.width > 300 and image.height > 200
        # not a blank canvas: a real plot has many distinct colours
        assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 20
    assert pdf.read_bytes()[:5] == b"%PDF-"


@pytest.fixture(scope="module")
def sweep_runs(store_uri):
    return load_runs(store_uri, "sweep", progress=False)


@pytest.mark.parametrize("metric", ["ap", "person_count_accuracy"])
def test_learning_curves(bench_runs, tmp_path, metric):
    assert_png_and_pdf(plot_learning_curves(bench_runs, tmp_path, metric), f"learning_curve_{metric}")


def test_learning_curves_draw_the_decoder_ceiling(bench_runs, tmp_path, monkeypatch):
    import al_bench.figures.learning_curves as curves

    runs = bench_runs.copy()
    runs["decoder_ceiling_ap"] = np.where(runs["step"] == 0, 0.9576, np.nan)  # logged at round 0 only
    drawn = {}
    monkeypatch.setattr(
        curves.style, "save_figure", lambda fig, out, stem: drawn.setdefault("fig", fig) and []
    )
    plot_learning_curves(runs, tmp_path, "ap")
    legend = [t.get_text() for t in drawn["fig"].axes[0].get_legend().get_texts()]
    assert "decoder ceiling (0.958)" in legend
    drawn.clear()
    plot_learning_curves(runs, tmp_path, "ap", ceiling=False)
    assert not any("ceiling" in t.get_text() for t in drawn["fig"].axes[0].get_legend().get_texts())


def test_learning_curves_unknown_metric_lists_logged_ones(bench_runs, tmp_path):
    with pytest.raises(FiguresError, match=r"metric 'apx' was not logged.*ap50"):
        plot_learning_curves(bench_runs, tmp_path, "apx")


def test_auc_table_csv_and_text(bench_runs, tmp_path):
    table, csv = write_auc_table(bench_runs, tmp_path, "ap")
    lines = csv.read_text().splitlines()
    assert lines[0].startswith("condition,condition_name,strategy,role,auc_mean,auc_std")
    assert lines[1].split(",")[1:4] == ["heatmap_annoy", "heatmap_annoy", "method"]
    text = format_auc_table(table, "ap")
    assert "AUC mean" in text and "uncertainty" in text


def test_sampling_time_table_and_figure(bench_runs, tmp_path):
    table = timing_table(bench_runs).set_index("condition_name")
    assert list(table.index) == ["random", "uncertainty", "heatmap_annoy"]
    assert table.loc[
        "heatmap_annoy", ["uncertainty_s", "embedding_s", "index_build_s", "query_s"]
    ].tolist() == pytest.approx([1.0, 0.5, 0.25, 0.125])
    assert table.loc["heatmap_annoy", "total_s"] == pytest.approx(1.875)
    assert table.loc["heatmap_annoy", "logged_total_s"] == pytest.approx(1.875)  # fixture logs the exact sum
    assert table.loc["uncertainty", "n_rounds"] == 3  # the last round does not select
    assert_png_and_pdf(plot_sampling_time(bench_runs, tmp_path), "sampling_time")


def test_sweeps_are_found_and_held_one_at_a_time(bench_runs, sweep_runs, tmp_path):
    assert swept_params(bench_runs) == []
    assert swept_params(sweep_runs) == ["strategy.selection_ratio", "index.n_trees"]
    trees = sweep_table(sweep_runs, "index.n_trees")
    assert trees.attrs["fixed"] == {"strategy.selection_ratio": "0.2"}
    assert trees["value"].tolist() == [2.0, 10.0, 50.0]
    # fixture: index build 0.25 s * trees / 10, other parts 1 + 0.5 + 0.125 s
    assert trees["time_mean"].tolist() == pytest.approx([1.625 + 0.05, 1.625 + 0.25, 1.625 + 1.25])
    # fixture: recall 0.5 + trees / 100, capped at 1
    assert trees["recall_mean"].tolist() == pytest.approx([0.52, 0.6, 1.0])
    # final AP = mean over seeds of (last AP + ratio / 10 + trees / 1000)
    assert trees["final_mean"].iloc[0] == pytest.approx((0.45 + 0.47) / 2 + 0.02 + 0.002)
    # the selection-ratio figure is drawn by the CLI test
    assert_png_and_pdf(plot_sweep(sweep_runs, "index.n_trees", tmp_path), "sweep_index_n_trees")


def test_sweep_without_variation_is_refused(bench_runs, tmp_path):
    with pytest.raises(FiguresError, match="fewer than two values"):
        plot_sweep(bench_runs, "index.n_trees", tmp_path)


def test_factor_shares_count_list_values_per_image():
    attributes = {1: {"f": ["a", "a", "b"]}, 2: {"f": ["a"]}, 3: {"f": "c"}}
    assert factor_shares(attributes, [1, 2, 3], "f") == pytest.approx({"a": 2 / 3, "b": 1 / 3, "c": 1 / 3})
    with pytest.raises(FiguresError, match="image id 9"):
        factor_shares(attributes, [9], "f")


def test_coverage_finds_the_rare_family(bench_runs, store_uri, tmp_path):
    table = coverage_table(bench_runs, store_uri)
    lying = table[(table["factor"] == "pose_families") & (table["value"] == "lying")].set_index("who")[
        "share"
    ]
    assert lying["pool"] == pytest.approx(sum(family_of(i) == "lying" for i in range(1, N_POOL + 1)) / N_POOL)
    assert lying["heatmap_annoy"] == pytest.approx(4 / 12)  # fixture: 4 of its 12 picks per seed are 'lying'
    assert "random" not in lying  # the fixture's random picks skip every 10th image
    families = set(table[table["factor"] == "pose_families"]["value"])
    assert families <= set(FAMILIES)
    paths = plot_coverage(bench_runs, store_uri, tmp_path)
    assert_png_and_pdf(paths, "coverage")
    assert paths[2].read_text().startswith("factor,value,who,share,n_images")


def test_selection_grid(bench_runs, store_uri, tmp_path):
    assert pick_run(bench_runs)[1:] == ("heatmap_annoy", 0)
    assert pick_run(bench_runs, "random", 1)[1:] == ("random", 1)
    with pytest.raises(FiguresError, match="no run with strategy 'coreset'"):
        pick_run(bench_runs, "coreset")
    assert_png_and_pdf(plot_selection_grid(bench_runs, store_uri, tmp_path, n_images=16), "selection_grid")
    with pytest.raises(FiguresError, match="round_07"):
        plot_selection_grid(bench_runs, store_uri, tmp_path, round_idx=7)


def test_grid_ids_mix_selected_and_unselected():
    rng = np.random.default_rng(0)
    record = {"round": 1, "ids": [5, 6, 7, 8]}
    ids, chosen, text = grid_ids(
        record, earlier={1, 2}, pool_ids=np.arange(1, 41), n_images=10, ratio=0.2, rng=rng
    )
    assert len(ids) == 10 and len(set(ids)) == 10
    assert len(chosen) == 2 and chosen <= {5, 6, 7, 8}
    assert not {1, 2} & set(ids)  # already labeled images are not shown as unselected
    assert not ({5, 6, 7, 8} - chosen) & set(ids)  # selected ones never appear grey
    assert "random sample" in text
    with_candidates = {"round": 0, "ids": [3, 4], "info": {"candidate_ids": [3, 4, 11, 12, 13]}}
    ids, chosen, text = grid_ids(with_candidates, set(), np.arange(1, 41), n_images=10, ratio=0.5, rng=rng)
    assert set(ids) == {3, 4, 11, 12, 13} and chosen == {3, 4}
    assert "candidates" in text
