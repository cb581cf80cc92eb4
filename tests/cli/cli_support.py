"""Command lines and environment for running ``al-bench`` as a real subprocess in tests.

A plain module (not conftest) so test files import it by a unique name.
"""

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKES_DIR = REPO / "tests" / "loop"  # fakes.py: fast stand-ins for data/pose/strategies
# Tiny real runs: 40 pool / 20 val synthetic images, 10 + 2 x 5 labeled, a few optimizer steps.
TINY = [
    "data.n_pool=40",
    "data.n_val=20",
    "al.initial=10",
    "al.budget=5",
    "al.rounds=2",
    "train.steps=4",
    "train.warm_start_steps=2",
    "train.min_steps=2",
    "train.progress=false",
]
FAKE_PIECES = "pieces._target_=fakes.fake_pieces"
# The result overrides of TINY as the default run name shows them (train.progress is a non-result key).
TINY_NAME = "budget=5_initial=10_rounds=2_n_pool=40_n_val=20_min_steps=2_steps=4_warm_start_steps=2"


def tiny_run_name(strategy: str, seed: int) -> str:
    """The default MLflow run name of a TINY run: ``<condition_name>-seed<N>``, spaces as ``_``."""
    return f"{strategy}_{TINY_NAME}-seed{seed}"


def al_bench_command(out_dir: Path, *overrides: str, cache_dir: Path | None = None) -> list[str]:
    """The ``al-bench`` command line writing under ``out_dir`` (optionally a shared cache dir)."""
    cache = [f"paths.cache_dir={cache_dir}"] if cache_dir else []
    # In-process jobs unless a test picks a launcher: a SIGKILL of the command then kills the job too.
    launcher = [] if any(o.startswith("hydra/launcher=") for o in overrides) else ["hydra/launcher=basic"]
    # The default preset sweeps seeds 0,1,2: one seed unless a test sweeps seeds itself.
    seed = [] if any(o.startswith("seed=") for o in overrides) else ["seed=0"]
    return [
        sys.executable,
        "-m",
        "al_bench.cli.main",
        f"paths.output_dir={out_dir}",
        *cache,
        *TINY,
        *launcher,
        *seed,
        *overrides,
    ]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = os.pathsep.join([str(FAKES_DIR), env.get("PYTHONPATH", "")])
    return env
