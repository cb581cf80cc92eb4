"""Loading runs back from MLflow: tidy table, selections, errors."""

import pytest
from figures_store import AP, INITIAL, N_POOL, selection_ids

from al_bench.figures.runs import (
    ExperimentNotFoundError,
    StoreUnreachableError,
    add_conditions,
    condition_order,
    load_initial_ids,
    load_runs,
    load_selections,
    metric_columns,
)


def test_tidy_table_has_one_row_per_run_and_round(bench_runs):
    assert len(bench_runs) == 3 * 2 * 4  # the parent run (no strategy tag) is skipped
    assert bench_runs["run_id"].nunique() == 6
    row = bench_runs[
        (bench_runs["strategy"] == "uncertainty") & (bench_runs["seed"] == 1) & (bench_runs["step"] == 2)
    ]
    assert row["ap"].item() == pytest.approx(AP[("uncertainty", 1)][2])
    assert row["n_labeled"].item() == 16
    assert row["params.al.budget"].item() == "4"
    assert row["tags.dataset"].item() == "synthetic"
    assert {"ap", "n_labeled", "sampling_time_s", "query_s"} <= set(metric_columns(bench_runs))
    # the last round selects nothing, so it logs no timing
    last = bench_runs[bench_runs["step"] == 3]
    assert last["sampling_time_s"].isna().all()


def test_selections_and_initial_set_round_trip(store_uri, bench_runs):
    run = bench_runs[(bench_runs["strategy"] == "heatmap_annoy") & (bench_runs["seed"] == 0)]["run_id"].iloc[
        0
    ]
    picks = load_selections(store_uri, run)
    assert picks == {r: selection_ids("heatmap_annoy", 0, r) for r in range(3)}
    assert load_initial_ids(store_uri, run) == list(range(N_POOL - INITIAL + 1, N_POOL + 1))


def test_unknown_experiment_names_the_existing_ones(store_uri):
    with pytest.raises(ExperimentNotFoundError, match=r"no experiment named 'nope'.*bench.*sweep"):
        load_runs(store_uri, "nope", progress=False)


def test_missing_sqlite_file_is_not_created(tmp_path):
    db = tmp_path / "missing" / "mlflow.db"
    with pytest.raises(StoreUnreachableError, match="no MLflow store at"):
        load_runs(f"sqlite:///{db}", "bench", progress=False)
    assert not db.exists()


def test_conditions_split_swept_params_only(store_uri, bench_runs):
    assert set(bench_runs["condition_name"]) == {"random", "uncertainty", "heatmap_annoy"}
    assert bench_runs.groupby("condition")["strategy"].nunique().max() == 1
    assert set(bench_runs["role"]) == {"method"}
    sweep = load_runs(store_uri, "sweep", progress=False)
    order = condition_order(sweep)
    assert len(order) == 5
    name = sweep.drop_duplicates("condition").set_index("condition")["condition_name"]
    # settings in key order; numbers sort numerically: n_trees=2 before n_trees=10
    assert [name[c] for c in order[:3]] == [
        "heatmap_annoy n_trees=2 selection_ratio=0.2",
        "heatmap_annoy n_trees=10 selection_ratio=0.1",
        "heatmap_annoy n_trees=10 selection_ratio=0.2",
    ]
    # the fallback condition ignores the seed (and index.seed when it follows it), nothing else
    assert sweep.groupby("condition")["seed"].nunique().tolist() == [2] * 5
    assert add_conditions(sweep)["condition"].tolist() == sweep["condition"].tolist()  # stable hash
