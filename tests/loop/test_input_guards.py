"""The AL loop on bad input: unreadable pool images, exhausted or empty pools, a disk that fills mid-run."""

import dataclasses
import errno
import json
from pathlib import Path

import pytest
from fakes import fake_pieces
from image_fakes import fake_model_real_data_pieces
from mlflow.tracking import MlflowClient

from al_bench.data.integrity import UnreadableImageWarning
from al_bench.data.sources import build_sources
from al_bench.loop.budget import BudgetWarning
from al_bench.loop.runner import run_experiment
from al_bench.loop.state import load_state, run_key, state_dir


def _state(cfg):
    return load_state(state_dir(cfg.paths.state_dir, run_key(cfg)), run_key(cfg))


def _run(cfg):
    client = MlflowClient(cfg.tracking.uri)
    [run] = client.search_runs([client.get_experiment_by_name("al_bench").experiment_id])
    return client, run


def test_corrupt_pool_image_is_left_out_counted_and_never_selected(tmp_path, compose_cfg):
    cfg = compose_cfg(tmp_path, "strategy=uncertainty")
    clean = build_sources(cfg.data)  # generates the synthetic set
    bad_id = int(clean.pool.image_ids[7])
    bad_path = clean.pool.image_path(bad_id)
    bad_path.write_bytes(bad_path.read_bytes()[:200])  # truncated

    with pytest.warns(UnreadableImageWarning, match=rf"pool: left out 1 unreadable image.*{bad_path.name}"):
        run_experiment(cfg, fake_model_real_data_pieces())  # the fake model decodes every image it sees

    state = _state(cfg)
    assert state.finished and bad_id not in {i for i, _ in state.labeled["labeled"]}
    assert all(bad_id not in s["ids"] for s in state.selections)
    client, run = _run(cfg)
    history = client.get_metric_history(run.info.run_id, "skipped_images")
    assert [(m.step, m.value) for m in history] == [(0, 1.0)]
    assert client.get_metric_history(run.info.run_id, "skipped_val_images")[0].value == 0.0
    local = client.download_artifacts(run.info.run_id, "data/skipped_images.json", str(tmp_path))
    listing = json.loads(Path(local).read_text())
    assert (
        list(listing["pool"]) == [str(bad_id)] and "image file is truncated" in listing["pool"][str(bad_id)]
    )


def test_budget_larger_than_the_pool_warns_and_selects_what_is_left(tmp_path, compose_cfg):
    cfg = compose_cfg(tmp_path, "strategy=random", "al.budget=20")
    with pytest.warns(
        BudgetWarning, match=r"al.initial=10 \+ al.budget=20 x al.rounds=2 = 50 images, but the pool has 40"
    ):
        run_experiment(cfg, fake_pieces())
    assert [m["n_labeled"] for m in _state(cfg).metrics] == [10, 30, 40]
    assert [len(s["ids"]) for s in _state(cfg).selections] == [20, 10]


def test_empty_pool_is_an_error_before_training(tmp_path, compose_cfg):
    cfg = compose_cfg(tmp_path, "strategy=random", "data.n_pool=0")
    with pytest.raises(ValueError, match="the AL pool is empty: no image can be labeled"):
        run_experiment(cfg, fake_pieces())
    assert _state(cfg) is None


def test_disk_full_mid_run_keeps_the_last_round_and_resumes_identically(tmp_path, compose_cfg):
    reference = compose_cfg(tmp_path / "reference", "strategy=uncertainty")
    run_experiment(reference, fake_pieces())
    cfg = compose_cfg(tmp_path / "full", "strategy=uncertainty")
    pieces = fake_pieces()

    def save_fails_in_round_1(path, model, cfg_):
        if "round01" in path.name.lstrip("."):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        pieces.save_model(path, model, cfg_)

    with pytest.raises(OSError, match=r"No space left on device: '.*model_round01\.pt"):
        run_experiment(cfg, dataclasses.replace(pieces, save_model=save_fails_in_round_1))
    kept = _state(cfg)
    assert kept.completed_round == 0 and kept.checkpoint == "model_round00.pt"
    assert not list(state_dir(cfg.paths.state_dir, run_key(cfg)).glob(".*.tmp")), "no temp files left"

    run_experiment(cfg, fake_pieces())  # space freed: the same command resumes
    resumed, expected = _state(cfg), _state(reference)
    assert [s["ids"] for s in resumed.selections] == [s["ids"] for s in expected.selections]
    assert [m["ap"] for m in resumed.metrics] == [m["ap"] for m in expected.metrics]
    client, run = _run(cfg)
    for key in run.data.metrics:
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert len(steps) == len(set(steps)), f"{key} logged twice at a step: {steps}"
