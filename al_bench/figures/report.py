"""Every figure and table of one experiment in one call: what was written, and what was skipped and why.

This is what ``al-bench-figures`` and the analysis notebook call; each figure family lives in its own
module and raises ``FiguresError`` with a reason when its inputs are missing, which becomes a skip here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from al_bench.figures.coverage import plot_coverage
from al_bench.figures.gallery import plot_selection_grid
from al_bench.figures.heatmaps import plot_activation_extremes
from al_bench.figures.learning_curves import (
    format_auc_table,
    format_paired_table,
    plot_learning_curves,
    write_auc_table,
    write_paired_table,
)
from al_bench.figures.runs import FiguresError, format_incomplete, load_runs, split_runs
from al_bench.figures.sweeps import SWEEP_PARAMS, plot_sweep, swept_params
from al_bench.figures.timing import plot_sampling_time, timing_table


@dataclass
class FigureReport:
    """Outcome of ``write_all_figures``.

    Attributes:
        written: ``{figure name: [paths]}`` in the order written.
        skipped: ``{figure name: reason}`` for figures whose inputs are missing.
        failed: ``{figure name: error}`` for figures that raised something unexpected (a bug to report).
        auc_table: the AUC table (None when the learning-curve metric was not logged).
        auc_text: its printable form.
        timing: the sampling-time table (None when no timing was logged).
        incomplete: runs left out of every figure (failed, unfinished, missing rounds, superseded).
        incomplete_text: their printable list ('' when none).
        paired: the paired table against the reference (None when it could not be made).
        paired_text: its printable form.
    """

    written: dict[str, list[Path]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    auc_table: pd.DataFrame | None = None
    auc_text: str = ""
    timing: pd.DataFrame | None = None
    incomplete: pd.DataFrame | None = None
    incomplete_text: str = ""
    paired: pd.DataFrame | None = None
    paired_text: str = ""

    def attempt(self, name: str, make: Callable[[], list[Path]]) -> None:
        """Run one figure function and file its outcome under ``name``."""
        try:
            self.written[name] = list(make())
        except FiguresError as exc:
            self.skipped[name] = str(exc)
        except Exception as exc:  # noqa: BLE001  (one broken figure must not cost the others; reported as failed)
            self.failed[name] = f"{type(exc).__name__}: {exc}"


def write_all_figures(
    tracking_uri: str,
    experiment: str,
    out_dir: str | Path,
    metric: str = "ap",
    runs: pd.DataFrame | None = None,
    with_heatmaps: bool = True,
    reference: str = "random",
    axis: str = "images",
    extra_figures: Sequence[str] = (),
) -> FigureReport:
    """Write every figure and table the experiment's runs allow.

    Args:
        tracking_uri: MLflow tracking URI.
        experiment: experiment name.
        out_dir: output folder (created).
        metric: learning-curve metric (``ap``, ``person_count_accuracy``, ...).
        runs: an already loaded tidy table (skips reloading).
        with_heatmaps: include poster Figure 2 (runs pose inference on a pool sample: slowest figure).
        reference: condition name (or strategy) the paired table compares with (``--reference``).
        axis: x axis of the learning curves, AULC and paired tables (``images``, ``persons``,
            ``keypoints``, ``cost``).
        extra_figures: dotted paths of the user's figure functions, each
            ``(runs: DataFrame, tracking_uri: str, out_dir: Path) -> list[Path]``, filed under their
            path like the built-in ones (a ``FiguresError`` is a skip, any other error a failure).

    Returns:
        A :class:`FigureReport`.

    Raises:
        StoreUnreachableError, ExperimentNotFoundError, FiguresError: the runs cannot be loaded at all.
    """
    out = Path(out_dir)
    loaded = load_runs(tracking_uri, experiment) if runs is None else runs
    runs, report = _complete_and_listed(loaded, out)

    def auc() -> list[Path]:
        report.auc_table, path = write_auc_table(runs, out, metric, axis, reference)
        report.auc_text = format_auc_table(report.auc_table, metric)
        return [path]

    def paired() -> list[Path]:
        report.paired, path = write_paired_table(runs, out, metric, reference, axis)
        report.paired_text = format_paired_table(report.paired)
        return [path]

    def timing() -> list[Path]:
        report.timing = timing_table(runs)
        path = out / "sampling_time.csv"
        report.timing.to_csv(path, index=False, float_format="%.6g")
        return [*plot_sampling_time(runs, out), path]

    suffix = "" if axis == "images" else f"_{axis}"
    report.attempt(
        f"learning_curve_{metric}{suffix}", lambda: plot_learning_curves(runs, out, metric, axis=axis)
    )
    report.attempt(f"auc_{metric}{suffix}", auc)
    report.attempt(f"paired_vs_{reference}{suffix}", paired)
    report.attempt("sampling_time", timing)
    swept = swept_params(runs)
    for key in SWEEP_PARAMS:
        name = f"sweep_{key.replace('.', '_')}"
        if key in swept:
            report.attempt(name, lambda key=key: plot_sweep(runs, key, out, metric))
        else:
            report.skipped[name] = f"the experiment does not sweep {key} (it takes fewer than two values)"
    report.attempt("coverage", lambda: plot_coverage(runs, tracking_uri, out))
    report.attempt("selection_grid", lambda: plot_selection_grid(runs, tracking_uri, out))
    if with_heatmaps:
        report.attempt("activation_extremes", lambda: plot_activation_extremes(runs, tracking_uri, out))
    else:
        report.skipped["activation_extremes"] = "not requested (--no-heatmaps)"
    for target in extra_figures:
        report.attempt(target, lambda target=target: _user_figure(target)(runs, tracking_uri, out))
    return report


def _user_figure(target: str) -> Callable[..., list[Path]]:
    """The function a ``--figure MODULE.FUNCTION`` names (a ``FiguresError`` when it cannot be imported)."""
    from hydra.utils import get_method

    try:
        return get_method(target)
    except Exception as exc:  # Hydra wraps import failures in its own exception types
        raise FiguresError(f"cannot import figure function {target!r}: {exc}") from exc


INCOMPLETE_FILE = "incomplete_runs.csv"


def _complete_and_listed(runs: pd.DataFrame, out: Path) -> tuple[pd.DataFrame, FigureReport]:
    """The complete runs, and a report that lists the others (written to ``incomplete_runs.csv``).

    The CSV is written even when empty, so a stale list from an earlier call never lingers.
    """
    complete, incomplete = split_runs(runs)
    if complete.empty:
        detail = format_incomplete(incomplete)
        raise FiguresError(
            "no complete run (FINISHED with every round logged)" + (f"; {detail}" if detail else "")
        )
    out.mkdir(parents=True, exist_ok=True)
    path = out / INCOMPLETE_FILE
    incomplete.to_csv(path, index=False)
    report = FigureReport(incomplete=incomplete, incomplete_text=format_incomplete(incomplete))
    report.written["incomplete_runs"] = [path]
    return complete, report
