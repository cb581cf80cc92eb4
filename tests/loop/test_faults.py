"""The fault-injection hook: inert without AL_BENCH_FAULT, a real SIGKILL at the named point with it."""

import os
import signal
import subprocess
import sys

import pytest

from al_bench.loop import faults


def test_parse_points_rounds_and_run_names():
    assert faults.parse_faults("train:1|log:0@random-seed0| select:12 ") == [
        ("train", 1, None),
        ("log", 0, "random-seed0"),
        ("select", 12, None),
    ]
    for bad in ("eval:1", "train", "train:x", "train:-1"):
        with pytest.raises(
            ValueError, match=r"AL_BENCH_FAULT=.*bad entry .*point in \('train', 'select', 'log'\)"
        ):
            faults.parse_faults(bad)


def test_inert_unless_the_point_round_and_run_match(monkeypatch):
    monkeypatch.delenv(faults.FAULT_ENV, raising=False)
    faults.fault_point("train", 1, "random-seed0")  # no variable: nothing happens
    monkeypatch.setenv(faults.FAULT_ENV, "train:1@other-seed0|select:0")
    faults.fault_point("train", 1, "random-seed0")  # another run
    faults.fault_point("train", 0, "other-seed0")  # another round
    faults.fault_point("log", 0, "other-seed0")  # another point


def test_hit_point_kills_the_process_with_sigkill():
    code = (
        "from al_bench.loop.faults import fault_point as f; f('select', 1, 'random-seed0'); print('survived')"
    )
    env = {**os.environ, faults.FAULT_ENV: "train:1|select:1@random-seed0"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == -signal.SIGKILL and "survived" not in proc.stdout
    assert "AL_BENCH_FAULT: killing random-seed0 at select:1" in proc.stderr
