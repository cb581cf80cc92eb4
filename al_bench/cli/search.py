"""``al-bench-search``: the ANN-vs-exact benchmark (config ``conf/search_bench.yaml``).

Example: ``al-bench-search pool_sizes=[10000,100000] annoy.n_trees=[10,50] repeats=1``.
The config directory is the repository's ``conf/`` (editable install: ``pip install -e .``).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

import al_bench
from al_bench.bench.search_bench import run_search_bench

CONFIG_DIR = str(Path(al_bench.__file__).resolve().parents[1] / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="search_bench")
def main(cfg: DictConfig) -> None:
    """Compose the config, run the benchmark grid (CSV + table + MLflow)."""
    run_search_bench(cfg)


if __name__ == "__main__":
    main()
