"""``al-bench``: the Hydra app that runs AL experiments (one job = one strategy x one seed).

With no arguments it runs the ``quick`` preset: every strategy on the synthetic data set, as a
Hydra multirun. Configs are read from the repository's ``conf/`` (an editable install).
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

import al_bench
from al_bench.config_schema import register_configs

CONF_DIR = al_bench.CONF_DIR
# conf/ names its schemas in defaults lists: they must be in the ConfigStore before any compose
# (al-bench-search and al-bench-select import this module too).
register_configs()


def run(cfg: DictConfig) -> float:
    """The task function: one AL run; returns the last round's AP (what a sweeper optimises)."""
    from al_bench.loop.runner import run_experiment

    return run_experiment(cfg)


def require_conf_dir(program: str, config_name: str) -> Path:
    """The repository's ``conf/``, or exit with how to install when ``config_name`` is not there."""
    if not (CONF_DIR / f"{config_name}.yaml").is_file():
        sys.exit(
            f"{program}: config directory {CONF_DIR} not found. {program} reads the repository's conf/; "
            "install it from a checkout with `pip install -e .`"
        )
    return CONF_DIR


def main() -> None:
    """Console-script entry point: compose the config with Hydra and call :func:`run`."""
    require_conf_dir("al-bench", "config")
    import hydra

    hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")(run)()


if __name__ == "__main__":
    main()
