"""Run keys, atomic state files, RNG capture and the round-0 cache."""

import json
import random
import threading

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from al_bench.loop.round0 import cached_round0, round0_key
from al_bench.loop.state import (
    RunState,
    atomic_write_json,
    capture_rng,
    load_state,
    restore_rng,
    result_config,
    run_key,
    save_state,
)


def _cfg(**over):
    base = {
        "paths": {"output_dir": "/a", "cache_dir": "${paths.output_dir}/cache"},
        "data": {"root": "${paths.cache_dir}/synthetic", "n_pool": 40},
        "tracking": {"uri": "sqlite:///x.db"},
        "run_name": "r",
        "seed": 0,
        "strategy": {"name": "random"},
    }
    return OmegaConf.merge(base, over)


def test_run_key_ignores_paths_tracking_and_name_but_not_results():
    key = run_key(_cfg())
    assert key == run_key(
        _cfg(paths={"output_dir": "/elsewhere"}, tracking={"uri": "http://h"}, run_name="x")
    )
    assert key != run_key(_cfg(seed=1))
    assert key != run_key(_cfg(data={"n_pool": 41}))
    assert result_config(_cfg())["data"]["root"] == "<paths.cache_dir>/synthetic"


def test_save_load_state_and_checkpoint_cleanup(tmp_path):
    (tmp_path / "model_round00.pt").write_text("old")
    (tmp_path / "model_round01.pt").write_text("new")
    state = RunState(
        run_key="k", completed_round=1, checkpoint="model_round01.pt", metrics=[{"round": 0, "ap": 0.5}]
    )
    save_state(tmp_path, state)
    assert load_state(tmp_path, "k") == state
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_round01.pt", "state.json"]
    assert load_state(tmp_path / "none", "k") is None
    with pytest.raises(ValueError, match="run_key k.*expected version 1 / run_key other"):
        load_state(tmp_path, "other")
    (tmp_path / "state.json").write_text("{torn")
    with pytest.raises(ValueError, match="corrupt AL state file"):
        load_state(tmp_path, "k")


def test_atomic_write_leaves_old_file_when_writer_fails(tmp_path):
    path = tmp_path / "s.json"
    atomic_write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"a": object()})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]  # no temp files left behind


def test_rng_capture_restore_is_json_and_exact():
    state = json.loads(json.dumps(capture_rng()))
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_round0_cache_trains_once_across_threads(tmp_path):
    calls = []

    def train():
        calls.append(1)
        return {"w": 42}, {"train_time_s": 1.5}

    def save(path, model):
        path.write_text(json.dumps(model))

    def load(path):
        return json.loads(path.read_text())

    out = []
    threads = [
        threading.Thread(
            target=lambda: out.append(cached_round0(tmp_path / "round0" / "k", train, save, load))
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(cached for _, _, cached in out) == [False, True, True]
    assert all(model == {"w": 42} and stats == {"train_time_s": 1.5} for model, stats, _ in out)


def test_round0_key_depends_on_what_trains_the_model():
    rc = {"data": {"n": 1}, "model": {"w": 2}, "train": {"s": 3}, "strategy": {"name": "a"}}
    key = round0_key("fp", rc, 0, [1, 2])
    assert key == round0_key("fp", {**rc, "strategy": {"name": "b"}}, 0, [1, 2])
    assert (
        len(
            {
                key,
                round0_key("fp2", rc, 0, [1, 2]),
                round0_key("fp", rc, 1, [1, 2]),
                round0_key("fp", rc, 0, [1, 3]),
            }
        )
        == 4
    )
