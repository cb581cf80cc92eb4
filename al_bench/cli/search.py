"""``al-bench-search``: the ANN-vs-exact benchmark (config ``conf/search_bench.yaml``).

Example: ``al-bench-search pool_sizes=[10000,100000] annoy.n_trees=[10,50] repeats=1``.
The config directory is the repository's ``conf/`` (editable install: ``pip install -e .``).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from al_bench.bench.search_bench import run_search_bench
from al_bench.cli.main import require_conf_dir


def run(cfg: DictConfig) -> None:
    """Run the benchmark grid (CSV + table + MLflow)."""
    run_search_bench(cfg)


def main() -> None:
    """Console-script entry point: compose ``conf/search_bench.yaml`` with Hydra and call :func:`run`."""
    conf_dir = require_conf_dir("al-bench-search", "search_bench")
    hydra.main(version_base="1.3", config_path=str(conf_dir), config_name="search_bench")(run)()


if __name__ == "__main__":
    main()
