"""``al-bench``: the Hydra app that runs AL experiments (one job = one strategy x one seed).

With no arguments it runs the ``quick`` preset: every strategy on the synthetic data set, as a
Hydra multirun. Configs are read from the repository's ``conf/`` (an editable install).
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

import al_bench

CONF_DIR = Path(al_bench.__file__).resolve().parents[1] / "conf"


def run(cfg: DictConfig) -> float:
    """The task function: one AL run; returns the last round's AP (what a sweeper optimises)."""
    from al_bench.loop.runner import run_experiment

    return run_experiment(cfg)


def main() -> None:
    """Console-script entry point: compose the config with Hydra and call :func:`run`."""
    if not (CONF_DIR / "config.yaml").is_file():
        sys.exit(
            f"al-bench: config directory {CONF_DIR} not found. al-bench reads the repository's conf/; "
            "install it from a checkout with `pip install -e .`"
        )
    import hydra

    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(run)()


if __name__ == "__main__":
    main()
