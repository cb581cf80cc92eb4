"""Deterministic fault injection for the reliability tests: ``kill -9`` at a named point of a run.

Inert unless the environment variable ``AL_BENCH_FAULT`` is set. Its value is one or more points
separated by ``|``, each ``<point>:<round>`` or ``<point>:<round>@<run_name>`` (the latter hits only
the run of that name, e.g. one job of a sweep)::

    AL_BENCH_FAULT=train:1                       # killed while round 1 trains (model not yet saved)
    AL_BENCH_FAULT=select:1@heatmap_annoy-seed0  # killed after round 1's pick, before it is labeled
    AL_BENCH_FAULT=log:0                         # killed after round 0 reached MLflow, before the state is saved

When a point is hit the process sends itself ``SIGKILL``: no ``finally`` blocks, no atexit handlers,
no flushing, exactly like the OOM killer or a pre-empted cluster job. The points are placed in
:mod:`al_bench.loop.runner`; docs/RELIABILITY.md lists what a rerun keeps after each.
"""

from __future__ import annotations

import os
import signal
import sys

FAULT_ENV = "AL_BENCH_FAULT"
FAULT_POINTS = ("train", "select", "log")


def parse_faults(spec: str) -> list[tuple[str, int, str | None]]:
    """``"train:1|log:0@random-seed0"`` -> ``[("train", 1, None), ("log", 0, "random-seed0")]``.

    Raises:
        ValueError: naming the entry and the valid points, for a malformed spec.
    """
    faults = []
    for entry in filter(None, (part.strip() for part in spec.split("|"))):
        where, _, run_name = entry.partition("@")
        point, _, round_text = where.partition(":")
        if point not in FAULT_POINTS or not round_text.strip().isdigit():
            raise ValueError(
                f"{FAULT_ENV}={spec!r}: bad entry {entry!r}; expected <point>:<round>[@<run_name>] "
                f"with point in {FAULT_POINTS}"
            )
        faults.append((point, int(round_text), run_name or None))
    return faults


def fault_point(point: str, round_idx: int, run_name: str) -> None:
    """Kill this process with SIGKILL when ``AL_BENCH_FAULT`` names ``point`` at ``round_idx``."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    for name, rnd, only_run in parse_faults(spec):
        if name == point and rnd == round_idx and only_run in (None, run_name):
            print(
                f"[al-bench] {FAULT_ENV}: killing {run_name} at {point}:{round_idx}",
                file=sys.stderr,
                flush=True,
            )
            os.kill(os.getpid(), signal.SIGKILL)
