"""``al-bench-select``: pick the images to annotate next from a trained model (logic: ``al_bench.annotate.select``).

    al-bench-select run=<MLflow run id> images=DIR budget=N [labeled=labeled.json] [strategy=...]
    al-bench-select checkpoint=model.pt images=DIR budget=N [out=DIR] [track=false]

The model key is ``checkpoint=`` (``model`` is al-bench's config group of network configs). Composed from
the repository's ``conf/select.yaml`` (same strategy / embedding / index / infer / tracking / paths groups
as ``al-bench``). A bad input exits with one line naming it.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from al_bench.cli.main import CONF_DIR, require_conf_dir


def run(cfg: DictConfig) -> None:
    """The task function: one selection; prints the picks and where they were written."""
    from al_bench.annotate.select import SelectError, run_select, summary_text
    from al_bench.threads import set_cpu_threads

    set_cpu_threads(int(cfg.get("num_threads", 2)))
    try:
        result = run_select(cfg)
    except (SelectError, ValueError, FileNotFoundError) as err:
        sys.exit(f"al-bench-select: {err}")
    print(summary_text(result))


def main() -> None:
    """Console-script entry point."""
    require_conf_dir("al-bench-select", "select")
    import hydra

    hydra.main(config_path=str(CONF_DIR), config_name="select", version_base="1.3")(run)()


if __name__ == "__main__":
    main()
