"""Conditions, the one non-result list, annotation counts, FAILED runs and the full_pool reference."""

import logging

import pytest
from fakes import FakeSource, fake_pieces
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from al_bench.loop.labeled import LabeledSet, RevealedSource, annotation_counts
from al_bench.loop.results import RunResult
from al_bench.loop.runner import run_experiment
from al_bench.loop.state import NON_RESULT_KEYS, condition, condition_name, result_config, run_key


def _runs(cfg):
    client = MlflowClient(cfg.tracking.uri)
    experiment = client.get_experiment_by_name("al_bench")
    return client, client.search_runs([experiment.experiment_id]) if experiment else []


def _with(cfg, key, value):
    cfg = cfg.copy()
    OmegaConf.set_struct(cfg, False)
    OmegaConf.update(cfg, key, value, force_add=True)
    return cfg


def _crashing(pieces, n_labeled=20):
    def fit(cfg_, source, labeled_ids, init_model=None):
        if len(labeled_ids) == n_labeled:  # round 2
            raise RuntimeError("boom in round 2")
        return pieces.fit(cfg_, source, labeled_ids, init_model)

    return pieces.__class__(**{**pieces.__dict__, "fit": fit})


def test_condition_is_the_config_without_the_seed(tmp_path, compose_cfg):
    cfg = compose_cfg(tmp_path, "strategy=heatmap_annoy")
    other_seed = compose_cfg(tmp_path, "strategy=heatmap_annoy", "seed=1")
    assert condition(cfg) == condition(other_seed) and run_key(cfg) != run_key(other_seed)
    # index.seed is ${seed}: it goes with the seed; data.seed is a setting of its own.
    assert result_config(cfg, seed_placeholder=True)["index"]["seed"] == "<seed>"
    assert "seed" not in result_config(cfg, seed_placeholder=True)
    assert condition(cfg) != condition(compose_cfg(tmp_path, "strategy=heatmap_annoy", "data.seed=3"))
    assert condition(cfg) != condition(compose_cfg(tmp_path, "strategy=heatmap_annoy", "data.n_val=21"))
    assert condition(cfg) != condition(compose_cfg(tmp_path, "strategy=heatmap_exact"))
    progress_off = compose_cfg(tmp_path, "strategy=heatmap_annoy", "train.progress=false")
    assert condition(cfg) == condition(progress_off) and run_key(cfg) == run_key(progress_off)


def test_condition_name_is_the_strategy_and_the_result_overrides(tmp_path, compose_cfg):
    cfg = compose_cfg(tmp_path, "strategy=heatmap_annoy")
    overrides = [
        "strategy=heatmap_annoy",
        "strategy.selection_ratio=0.2",
        "seed=1",
        "index.n_trees=10",
        "train.progress=false",
        "hydra/launcher=joblib",
        "num_threads=1",
        "pieces._target_=fakes.fake_pieces",
        "cost.per_image_s=3",
    ]
    assert condition_name(cfg, overrides) == "heatmap_annoy n_trees=10 selection_ratio=0.2"
    assert condition_name(cfg, []) == "heatmap_annoy"
    # Ambiguous or seed-like short names keep their full key.
    assert condition_name(cfg, ["data.seed=3", "model.width=8", "train.width=4"]) == (
        "heatmap_annoy data.seed=3 model.width=8 train.width=4"
    )
    long = condition_name(cfg, [f"data.k{i}=value{i}" for i in range(30)])
    assert len(long) == 120 and long.endswith("~" + condition(cfg)[:8])


def test_full_pool_condition_ignores_the_selection_settings(tmp_path, compose_cfg):
    base = compose_cfg(tmp_path, "strategy=full_pool")
    other = compose_cfg(tmp_path, "strategy=full_pool", "al.budget=7", "al.rounds=5", "index=exact")
    assert condition(base) == condition(other) and run_key(base) == run_key(other)
    assert condition(base) != condition(compose_cfg(tmp_path, "strategy=full_pool", "data.n_val=21"))
    assert condition(base) != condition(compose_cfg(tmp_path, "strategy=random"))
    assert condition_name(other, ["strategy=full_pool", "al.budget=7", "strategy.x=1"]) == "full_pool"
    with pytest.raises(ValueError, match="strategy.kind='nope'.*valid kinds: al, full_pool"):
        condition(compose_cfg(tmp_path, "strategy=random", "+strategy.kind=nope"))


def _changed(cfg, key):
    """``cfg`` with the non-result setting ``key`` changed (sections: one leaf inside them)."""
    leaf = {
        "paths": "paths.min_free_mb",
        "hydra": "hydra.verbose",
        "tracking": "tracking.check_timeout_s",
        "cost": "cost.per_image_s",
    }.get(key, key)
    value = OmegaConf.select(cfg, leaf, default=None)
    if isinstance(value, bool):
        new = not value
    elif isinstance(value, (int, float)):
        new = value + 1
    elif isinstance(value, str):
        new = value + "-changed"
    else:
        new = 7
    return _with(cfg, leaf, new)


@pytest.mark.parametrize("key", NON_RESULT_KEYS)
def test_changing_a_non_result_setting_resumes_the_same_run(tmp_path, compose_cfg, key, caplog):
    caplog.set_level(logging.INFO, logger="al_bench")
    cfg = compose_cfg(tmp_path, "strategy=uncertainty")
    with pytest.raises(RuntimeError, match="boom in round 2"):
        run_experiment(cfg, _crashing(fake_pieces()))
    client, [failed] = _runs(cfg)
    changed = _changed(cfg, key)
    assert condition(changed) == condition(cfg)
    run_experiment(changed, fake_pieces())
    assert "resuming after round 1" in caplog.text
    assert [p.name for p in (tmp_path / "state").iterdir()] == [run_key(cfg)]
    client, [run] = _runs(cfg)
    assert run.info.run_id == failed.info.run_id and run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "ap")] == [0, 1, 2]


def test_a_run_that_raises_ends_failed_with_its_error_and_resumes(tmp_path, compose_cfg):
    cfg = compose_cfg(tmp_path, "strategy=uncertainty")
    with pytest.raises(RuntimeError, match="boom in round 2"):
        run_experiment(cfg, _crashing(fake_pieces()))
    client, [run] = _runs(cfg)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "RuntimeError: boom in round 2"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "ap")] == [0, 1]
    run_experiment(cfg, fake_pieces())
    client, [again] = _runs(cfg)
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"
    assert "error" not in again.data.tags


def test_tags_and_annotation_counts_of_an_al_run(tmp_path, compose_cfg):
    cfg = compose_cfg(tmp_path, "strategy=uncertainty")
    run_experiment(cfg, fake_pieces())
    client, [run] = _runs(cfg)
    tags = run.data.tags
    assert tags["kind"] == "al" and tags["uses_labels"] == "false"
    assert tags["condition"] == condition(cfg) and tags["condition_name"] == "uncertainty"
    assert run.info.run_name == "uncertainty-seed0"
    assert run.data.params["cost.per_keypoint_s"] == "2.0"
    # Fake images hold one person with 17 labelled keypoints each.
    history = {
        k: [m.value for m in client.get_metric_history(run.info.run_id, k)]
        for k in ("n_persons", "n_keypoints")
    }
    assert history == {"n_persons": [10, 15, 20], "n_keypoints": [170, 255, 340]}


def test_a_label_reading_strategy_is_tagged_uses_labels(tmp_path, compose_cfg):
    pieces = fake_pieces()
    strategy = pieces.build_strategy(None)
    strategy.uses_labels = True
    run_experiment(
        compose_cfg(tmp_path, "strategy=random", "run_name=oracle"),
        pieces.__class__(**{**pieces.__dict__, "build_strategy": lambda cfg: strategy}),
    )
    _, [run] = _runs(compose_cfg(tmp_path))
    assert run.data.tags["uses_labels"] == "true" and run.info.run_name == "oracle"


def test_annotation_counts_skip_crowds_and_unlabelled_persons():
    source = FakeSource(3, 1, seed=0)
    anns = source.coco.imgToAnns[1]
    blank = {**anns[0], "id": 91, "keypoints": [0.0] * 51, "num_keypoints": 0}
    crowd = {**anns[0], "id": 92, "iscrowd": 1}
    partial = {**anns[0], "id": 93, "keypoints": [5.0, 5.0, 1.0] * 3 + [0.0] * 42, "num_keypoints": 3}
    anns.extend([blank, crowd, partial])
    assert annotation_counts(source, [1, 2]) == (3, 17 + 3 + 17)
    labeled = LabeledSet(source.image_ids)
    labeled.add([2], 0)
    with pytest.raises(PermissionError, match="pool image 1 read before it was labeled"):
        annotation_counts(RevealedSource(source, labeled), [1])


def test_full_pool_trains_once_on_the_whole_pool_and_is_shared(tmp_path, compose_cfg, caplog):
    caplog.set_level(logging.INFO, logger="al_bench")
    cfg = compose_cfg(tmp_path, "strategy=full_pool")
    run_experiment(cfg, fake_pieces())
    client, [run] = _runs(cfg)
    tags = run.data.tags
    assert (tags["strategy"], tags["kind"], tags["condition_name"]) == ("full_pool", "full_pool", "full_pool")
    assert tags["condition"] == condition(cfg) and tags["seed"] == "0" and tags["uses_labels"] == "false"
    assert run.info.status == "FINISHED" and run.info.run_name == "full_pool-seed0"
    for key, value in (("n_labeled", 40), ("n_persons", 40), ("n_keypoints", 680)):
        assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, key)] == [(0, value)]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "ap")] == [0]
    # Another sweep's selection settings: the same run; another state dir: the cached model.
    caplog.clear()
    run_experiment(compose_cfg(tmp_path, "strategy=full_pool", "al.budget=7"), fake_pieces())
    assert "already finished" in caplog.text
    caplog.clear()
    run_experiment(
        compose_cfg(tmp_path, "strategy=full_pool", f"paths.state_dir={tmp_path}/s2"), fake_pieces()
    )
    assert "round-0 model from cache full_pool/" in caplog.text
    assert len(_runs(cfg)[1]) == 1


def test_old_results_load_with_defaults():
    old = {
        "run_name": "r",
        "strategy": "random",
        "seed": 0,
        "run_key": "k",
        "overrides": [],
        "tracking_uri": "u",
        "mlflow_run_id": None,
        "rounds": [],
    }
    result = RunResult(**old)
    assert (result.condition, result.uses_labels, result.status, result.kind) == ("", False, "FINISHED", "al")
