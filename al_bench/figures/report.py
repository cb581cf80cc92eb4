"""Every figure and table of one experiment in one call: what was written, and what was skipped and why.

This is what ``al-bench-figures`` and the analysis notebook call. The figures are objects from config
(``conf/figures/<name>.yaml``, the default set in ``conf/figures_report.yaml``; :mod:`.configs`); each
figure family lives in its own module and raises ``FiguresError`` with a reason when its inputs are
missing, which becomes a skip here. The three figures that also hand a table back to the report
(``write_auc``, ``write_paired``, ``write_sampling_time``) are defined here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from al_bench.figures.configs import build_figure, call_figure, compose_figures
from al_bench.figures.learning_curves import (
    format_auc_table,
    format_paired_table,
    write_auc_table,
    write_paired_table,
)
from al_bench.figures.runs import FiguresError, format_incomplete, load_runs, split_runs
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


HEATMAPS = "activation_extremes"
"""The figure ``with_heatmaps=False`` (``--no-heatmaps``) leaves out."""


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
    figures: Mapping[str, Any] | None = None,
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
        extra_figures: dotted paths of figure functions (``--figure MODULE.FUNCTION``), called like
            the configured ones and filed under their path.
        figures: ``{name: figure config (or callable)}`` to draw, in order; default: the default set
            of ``conf/figures_report.yaml`` (:func:`al_bench.figures.configs.compose_figures`).

    Returns:
        A :class:`FigureReport`; each figure is filed under its name (a ``FiguresError`` is a skip,
        any other error a failure).

    Raises:
        StoreUnreachableError, ExperimentNotFoundError, FiguresError: the runs cannot be loaded at all
            (or the default figure configs cannot be composed).
    """
    figures = compose_figures() if figures is None else figures
    out = Path(out_dir)
    loaded = load_runs(tracking_uri, experiment) if runs is None else runs
    runs, report = _complete_and_listed(loaded, out)
    runtime = {
        "runs": runs,
        "tracking_uri": tracking_uri,
        "out_dir": out,
        "metric": metric,
        "axis": axis,
        "reference": reference,
        "report": report,
    }
    for name, figure in figures.items():
        if name == HEATMAPS and not with_heatmaps:
            report.skipped[name] = "not requested (--no-heatmaps)"
        else:
            report.attempt(name, lambda figure=figure: call_figure(build_figure(figure), **runtime))
    for target in extra_figures:
        report.attempt(target, lambda target=target: call_figure(_user_figure(target), **runtime))
    return report


# The built-in figures that also hand a table back to the report (conf/figures/*.yaml name them).


def write_auc(
    runs: pd.DataFrame, out_dir: Path, metric: str, axis: str, reference: str, report: FigureReport
) -> list[Path]:
    """``auc_<metric>[_<axis>].csv``; the table and its printable form go to ``report``."""
    report.auc_table, path = write_auc_table(runs, out_dir, metric, axis, reference)
    report.auc_text = format_auc_table(report.auc_table, metric)
    return [path]


def write_paired(
    runs: pd.DataFrame, out_dir: Path, metric: str, axis: str, reference: str, report: FigureReport
) -> list[Path]:
    """``paired_vs_<reference>[_<axis>].csv``; the table and its printable form go to ``report``."""
    report.paired, path = write_paired_table(runs, out_dir, metric, reference, axis)
    report.paired_text = format_paired_table(report.paired)
    return [path]


def write_sampling_time(runs: pd.DataFrame, out_dir: Path, report: FigureReport) -> list[Path]:
    """``sampling_time.png/.pdf`` and ``sampling_time.csv``; the table goes to ``report``."""
    report.timing = timing_table(runs)
    path = out_dir / "sampling_time.csv"
    report.timing.to_csv(path, index=False, float_format="%.6g")
    return [*plot_sampling_time(runs, out_dir), path]


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
