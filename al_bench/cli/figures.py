"""``al-bench-figures``: every paper figure and table of one MLflow experiment, written to a folder.

Thin on purpose: parse arguments, compose the figure configs (``conf/figures_report.yaml``, the
``figures`` group, the user's ``--config-dir``; ``al_bench.figures.configs``), call
``al_bench.figures.report.write_all_figures``, print paths, the AUC table and what was skipped.
User errors (unknown experiment or figure, unreachable store) end with a one-line message and exit
status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from al_bench.figures.runs import FiguresError, default_tracking_uri


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="al-bench-figures",
        description="Write the paper figures and tables (PNG + PDF + CSV) of one MLflow experiment of al_bench runs.",
    )
    parser.add_argument(
        "--experiment", required=True, help="MLflow experiment name (the loop's tracking.experiment_name)"
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite:///outputs/mlflow.db)",
    )
    parser.add_argument("--out", default=None, help="output folder (default: figures/<experiment>)")
    parser.add_argument(
        "--metric", default="ap", help="learning-curve metric, e.g. ap, ap50, person_count_accuracy"
    )
    parser.add_argument(
        "--reference",
        default="random",
        help="condition_name (or strategy) the paired table compares every condition with (default: random)",
    )
    parser.add_argument(
        "--x",
        dest="axis",
        choices=["images", "persons", "keypoints", "cost"],
        default="images",
        help="x axis of the learning curves, AULC and paired tables: labeled images, persons, "
        "keypoints, or annotation cost in seconds (params cost.per_image_s/per_person_s/per_keypoint_s)",
    )
    parser.add_argument(
        "--figure",
        dest="figures",
        action="append",
        default=[],
        metavar="NAME",
        help="also draw the figure figures/NAME.yaml of conf/ or of a --config-dir (repeatable); "
        "a MODULE.FUNCTION on the Python path works too (docs/ARCHITECTURE.md, 'How to add a figure')",
    )
    parser.add_argument(
        "--config-dir",
        dest="config_dirs",
        action="append",
        default=[],
        metavar="DIR",
        help="a config folder of yours, searched after conf/ for figures/NAME.yaml (repeatable; "
        "Hydra's hydra.searchpath)",
    )
    parser.add_argument(
        "--no-heatmaps",
        action="store_true",
        help="skip poster Figure 2 (pose inference on a pool sample; the slowest figure)",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="Hydra overrides of the figure configs, e.g. figures.selection_grid.n_images=16",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 a figure failed unexpectedly, 2 user error)."""
    # Not a Hydra app: the package's status messages (logging, al_bench.*) go to the terminal.
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    # An unreachable tracking server must fail in seconds, not after minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from al_bench.figures.configs import compose_figures
    from al_bench.figures.report import write_all_figures

    uri = args.tracking_uri or default_tracking_uri()
    out = args.out or os.path.join("figures", args.experiment)
    # A dotted name is a function on the Python path (the pre-config way); any other name a figure config.
    names = [f for f in args.figures if "." not in f]
    dotted = [f for f in args.figures if "." in f]
    try:
        figures = compose_figures(names, args.config_dirs, args.overrides)
        print(f"al-bench-figures: experiment {args.experiment!r} from {uri} -> {out}")
        report = write_all_figures(
            uri,
            args.experiment,
            out,
            args.metric,
            with_heatmaps=not args.no_heatmaps,
            reference=args.reference,
            axis=args.axis,
            extra_figures=dotted,
            figures=figures,
        )
    except FiguresError as exc:
        print(f"al-bench-figures: {exc}", file=sys.stderr)
        return 2
    for name, paths in report.written.items():
        for path in paths:
            print(f"wrote {path}  [{name}]")
    if report.incomplete_text:
        print("\n" + report.incomplete_text)
    if report.auc_text:
        print("\n" + report.auc_text + "\n")
    if report.paired_text:
        print(report.paired_text + "\n")
    for name, reason in report.skipped.items():
        print(f"skipped {name}: {reason}")
    for name, error in report.failed.items():
        print(f"FAILED {name}: {error}", file=sys.stderr)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
