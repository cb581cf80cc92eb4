"""The AL runner with fake data/pose/strategy pieces: rounds, MLflow logging, determinism, resume."""

import dataclasses
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import fake_pieces
from mlflow.tracking import MlflowClient

from al_bench.loop.runner import run_experiment
from al_bench.loop.state import load_state, run_key, state_dir


def _summary(cfg):
    """Selections and time-free metrics of a finished run, read from its state."""
    state = load_state(state_dir(cfg.paths.state_dir, run_key(cfg)), run_key(cfg))
    metrics = [{k: v for k, v in m.items() if not k.endswith("_s")} for m in state.metrics]
    return [s["ids"] for s in state.selections], metrics, state


def test_run_logs_every_round_and_labels_each_image_once(tmp_path, compose_cfg):
    cfg = compose_cfg(tmp_path, "strategy=uncertainty")
    final_ap = run_experiment(cfg, fake_pieces())
    selections, metrics, state = _summary(cfg)
    assert state.finished and state.completed_round == 2
    assert [m["n_labeled"] for m in metrics] == [10, 15, 20]
    assert metrics[0]["ap"] < metrics[-1]["ap"] == pytest.approx(final_ap)
    labeled = {i for i, _ in state.labeled["labeled"]}
    picked = [i for ids in selections for i in ids]
    assert len(picked) == len(set(picked)) == 10 and len(labeled) == 20
    assert [r for _, r in state.labeled["labeled"]].count(0) == 10

    client = MlflowClient(cfg.tracking.uri)
    [run] = client.search_runs([client.get_experiment_by_name("al_bench").experiment_id])
    assert run.info.run_name == "uncertainty-seed0" and run.info.status == "FINISHED"
    assert run.data.tags["run_key"] == run_key(cfg) and run.data.tags["dataset"] == "fake"
    assert run.data.params["al.budget"] == "5" and run.data.params["strategy.name"] == "uncertainty"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "ap")] == [0, 1, 2]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "sampling_time_s")] == [0, 1]
    assert [m.value for m in client.get_metric_history(run.info.run_id, "n_labeled")] == [10, 15, 20]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "selections", "model", "figures"} <= artifacts
    names = sorted(a.path for a in client.list_artifacts(run.info.run_id, "selections"))
    assert names == ["selections/initial.json", "selections/round_00.json", "selections/round_01.json"]
    local = client.download_artifacts(run.info.run_id, "selections/round_01.json", str(tmp_path))
    assert json.loads(Path(local).read_text())["ids"] == selections[1]


def test_same_config_and_seed_give_same_results_anywhere(tmp_path, compose_cfg):
    a = compose_cfg(tmp_path / "a", "strategy=random")
    b = compose_cfg(tmp_path / "b", "strategy=random")
    run_experiment(a, fake_pieces())
    run_experiment(b, fake_pieces())
    assert _summary(a)[:2] == _summary(b)[:2]
    other_seed = compose_cfg(tmp_path / "a", "strategy=random", "seed=1")
    run_experiment(other_seed, fake_pieces())
    assert _summary(other_seed)[0] != _summary(a)[0]


def test_strategies_share_l0_and_the_round0_model(tmp_path, compose_cfg, caplog):
    caplog.set_level(logging.INFO, logger="al_bench")
    first = compose_cfg(tmp_path, "strategy=random")
    second = compose_cfg(tmp_path, "strategy=coreset")
    run_experiment(first, fake_pieces())
    run_experiment(second, fake_pieces())
    assert "round-0 model from cache" in caplog.text
    s1, s2 = _summary(first)[2], _summary(second)[2]
    l0 = [[i for i, r in s.labeled["labeled"] if r == 0] for s in (s1, s2)]
    assert l0[0] == l0[1]
    assert s1.metrics[0]["ap"] == s2.metrics[0]["ap"]


def test_round0_val_metrics_are_computed_once_per_round0_model_and_inference_config(tmp_path, compose_cfg):
    def counting_pieces(calls: list):
        pieces = fake_pieces()

        def predict(model, source, ids, cfg, want=("results",)):
            if tuple(want) == ("results",):  # a val evaluation (the fake strategies read peaks)
                calls.append(len(calls))
            return pieces.predict(model, source, ids, cfg, want)

        return dataclasses.replace(pieces, predict=predict)

    first_calls, second_calls, other_calls = [], [], []
    first = compose_cfg(tmp_path, "strategy=random")
    run_experiment(first, counting_pieces(first_calls))
    # A batch size or overlap setting does not change the metrics: the cached ones are read.
    second = compose_cfg(tmp_path, "strategy=coreset", "infer.batch_size=3", "infer.overlap=false")
    run_experiment(second, counting_pieces(second_calls))
    other = compose_cfg(tmp_path, "strategy=coreset", "infer.decode.min_mean_score=0.3", "run_name=other")
    run_experiment(other, counting_pieces(other_calls))
    rounds = first.al.rounds
    assert (len(first_calls), len(second_calls), len(other_calls)) == (rounds + 1, rounds, rounds + 1)
    m1, m2 = _summary(first)[2].metrics[0], _summary(second)[2].metrics[0]
    assert {k: v for k, v in m1.items() if k.startswith(("ap", "eval"))} == {
        k: v for k, v in m2.items() if k.startswith(("ap", "eval"))
    }


def test_rerun_of_finished_run_logs_nothing_new(tmp_path, compose_cfg, caplog):
    caplog.set_level(logging.INFO, logger="al_bench")
    cfg = compose_cfg(tmp_path, "strategy=random")
    ap = run_experiment(cfg, fake_pieces())
    client = MlflowClient(cfg.tracking.uri)
    [run] = client.search_runs([client.get_experiment_by_name("al_bench").experiment_id])
    end_time = run.info.end_time
    assert run_experiment(cfg, fake_pieces()) == ap
    assert "already finished" in caplog.text
    [again] = client.search_runs([client.get_experiment_by_name("al_bench").experiment_id])
    assert again.info.run_id == run.info.run_id and again.info.end_time == end_time
    assert len(client.get_metric_history(run.info.run_id, "ap")) == 3


def test_crash_mid_run_resumes_to_the_uninterrupted_result(tmp_path, compose_cfg):
    reference = compose_cfg(tmp_path / "ref", "strategy=uncertainty")
    run_experiment(reference, fake_pieces())

    cfg = compose_cfg(tmp_path / "crash", "strategy=uncertainty")
    pieces = fake_pieces()

    def crashing_fit(cfg_, source, labeled_ids, init_model=None):
        if len(labeled_ids) == 20:  # round 2
            raise KeyboardInterrupt("killed in round 2")
        return pieces.fit(cfg_, source, labeled_ids, init_model)

    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, pieces.__class__(**{**pieces.__dict__, "fit": crashing_fit}))
    assert _summary(cfg)[2].completed_round == 1
    run_experiment(cfg, fake_pieces())
    assert _summary(cfg)[:2] == _summary(reference)[:2]
    client = MlflowClient(cfg.tracking.uri)
    [run] = client.search_runs([client.get_experiment_by_name("al_bench").experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "ap")] == [0, 1, 2]


def test_bad_strategy_picks_are_rejected(tmp_path, compose_cfg):
    pieces = fake_pieces()

    class Twice:
        def select(self, context, budget):
            ids = np.array([context.pool_ids[0]] * budget)
            return type("S", (), {"ids": ids, "timings": {"total_s": 0.0}})()

    with pytest.raises(RuntimeError, match="uncertainty round 0: strategy returned an id twice"):
        run_experiment(
            compose_cfg(tmp_path, "strategy=uncertainty"),
            pieces.__class__(**{**pieces.__dict__, "build_strategy": lambda cfg: Twice()}),
        )


def test_resume_into_another_store_replays_the_saved_rounds(tmp_path, compose_cfg, empty_mlflow_db):
    cfg = compose_cfg(tmp_path, "strategy=uncertainty")
    pieces = fake_pieces()

    def crashing_fit(cfg_, source, labeled_ids, init_model=None):
        if len(labeled_ids) == 20:
            raise KeyboardInterrupt("killed in round 2")
        return pieces.fit(cfg_, source, labeled_ids, init_model)

    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, pieces.__class__(**{**pieces.__dict__, "fit": crashing_fit}))
    other = tmp_path / "other_store.db"
    shutil.copy(empty_mlflow_db, other)
    run_experiment(
        compose_cfg(tmp_path, "strategy=uncertainty", f"tracking.uri=sqlite:///{other}"), fake_pieces()
    )
    client = MlflowClient(f"sqlite:///{other}")
    [run] = client.search_runs([client.get_experiment_by_name("al_bench").experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "ap")] == [0, 1, 2]
    names = sorted(a.path for a in client.list_artifacts(run.info.run_id, "selections"))
    assert names == ["selections/initial.json", "selections/round_00.json", "selections/round_01.json"]
