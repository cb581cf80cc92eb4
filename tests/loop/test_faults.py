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


def _child(code: str, spec: str | None) -> subprocess.CompletedProcess:
    """Run ``code`` in a child process (a SIGKILL there must not kill pytest) with ``AL_BENCH_FAULT=spec``."""
    env = {k: v for k, v in os.environ.items() if k != faults.FAULT_ENV}
    if spec is not None:
        env[faults.FAULT_ENV] = spec
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_inert_unless_the_point_round_and_run_match():
    code = (
        "from al_bench.loop.faults import fault_point as f\n"
        "f('train', 1, 'random-seed0'); print('unset')\n"  # with no variable
        "f('train', 1, 'random-seed0'); print('other run')\n"
        "f('train', 0, 'other-seed0'); print('other round')\n"
        "f('log', 0, 'other-seed0'); print('other point')\n"
    )
    proc = _child(code, "train:1@other-seed0|select:0")
    assert proc.returncode == 0 and proc.stdout.split("\n")[:4] == [
        "unset",
        "other run",
        "other round",
        "other point",
    ]
    assert _child(code, None).returncode == 0


def test_hit_point_kills_the_process_with_sigkill():
    code = (
        "from al_bench.loop.faults import fault_point as f\n"
        "f('train', 0, 'random-seed0'); print('before', flush=True)\n"
        "f('select', 1, 'random-seed0'); print('survived')"
    )
    proc = _child(code, "train:1|select:1@random-seed0")
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout == "before\n"  # what ran before the point survived, nothing after it
    assert "AL_BENCH_FAULT: killing random-seed0 at select:1" in proc.stderr
