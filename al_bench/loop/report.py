"""End-of-run report: the results table, the ranking by area under the learning curve, the figure.

Used by the runner (one run) and by :class:`ReportCallback`, a Hydra callback that, at the end of a
single run or of a whole multirun (any launcher), reads every job's ``al_result.json``, prints a
compact table (run x round: n_labeled, AP, sampling time), ranks the configurations by normalised
area under the AP-vs-n_labeled curve (mean over seeds), writes ``learning_curve.png`` and says how
to open the MLflow UI on the store.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from al_bench.loop.results import RunResult, read_results

FIGURE_FILE = "learning_curve.png"
# Overrides that do not name a configuration in the report (seed is averaged over; the strategy is
# always named; where things are written and logged does not change results).
_UNLABELED_KEYS = ("seed", "strategy", "run_name")
_UNLABELED_GROUPS = ("paths", "tracking", "hydra")


def format_round(metrics: Mapping[str, float]) -> str:
    """One line for a finished round."""
    parts = [f"n_labeled={int(metrics['n_labeled'])}", f"AP={metrics.get('ap', float('nan')):.4f}"]
    parts.append(f"train={metrics.get('train_time_s', 0.0):.1f}s")
    if "sampling_time_s" in metrics:
        parts.append(f"sampling={metrics['sampling_time_s']:.2f}s")
    return " ".join(parts)


def curve(rounds: Sequence[Mapping[str, float]], metric: str = "ap") -> tuple[np.ndarray, np.ndarray]:
    """``(n_labeled, metric)`` arrays of one run's rounds."""
    return (
        np.array([float(r["n_labeled"]) for r in rounds]),
        np.array([float(r.get(metric, math.nan)) for r in rounds]),
    )


def normalized_aulc(n_labeled: Sequence[float], values: Sequence[float]) -> float:
    """Trapezoid area under ``values`` vs ``n_labeled`` divided by the n_labeled span.

    That is the mean of the curve over the labeled range, in the metric's own units (AP). A curve of
    one point gives that point.
    """
    x, y = np.asarray(n_labeled, dtype=float), np.asarray(values, dtype=float)
    if len(x) == 0:
        return math.nan
    if len(x) == 1 or x[-1] == x[0]:
        return float(y.mean())
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def _override_dict(result: RunResult) -> dict[str, str]:
    pairs = (o.lstrip("+~").split("=", 1) for o in result.overrides if "=" in o)
    return {k: v for k, v in pairs if k not in _UNLABELED_KEYS and k.split(".")[0] not in _UNLABELED_GROUPS}


def labels(results: Sequence[RunResult]) -> list[str]:
    """The configuration each run belongs to: its strategy plus the overrides that vary between the
    runs (seed excluded: runs differing only in seed share a label)."""
    overrides = [_override_dict(r) for r in results]
    keys = sorted({k for o in overrides for k in o})
    varying = [k for k in keys if len({o.get(k) for o in overrides}) > 1]
    return [
        " ".join([r.strategy, *(f"{k}={o[k]}" for k in varying if k in o)])
        for r, o in zip(results, overrides)
    ]


def _groups(results: Sequence[RunResult]) -> dict[str, list[RunResult]]:
    groups: dict[str, list[RunResult]] = defaultdict(list)
    for name, result in zip(labels(results), results):
        groups[name].append(result)
    return groups


def format_table(results: Sequence[RunResult]) -> str:
    """Compact table: one row per run and round (n_labeled, AP, sampling time)."""
    header = f"{'run':<44} {'round':>5} {'n_labeled':>9} {'AP':>7} {'sampling_s':>10}"
    lines = [header, "-" * len(header)]
    for name, result in zip(labels(results), results):
        name = f"{name} seed={result.seed}"[:44]
        for r in result.rounds:
            sampling = f"{r['sampling_time_s']:.2f}" if "sampling_time_s" in r else "-"
            lines.append(
                f"{name:<44} {int(r['round']):>5} {int(r['n_labeled']):>9} {r['ap']:>7.4f} {sampling:>10}"
            )
    return "\n".join(lines)


def ranking(results: Sequence[RunResult]) -> list[dict[str, Any]]:
    """Configurations ranked by mean normalised AULC over seeds (best first).

    Returns:
        dicts ``{"label", "aulc", "aulc_std", "final_ap", "n_seeds"}``.
    """
    rows = []
    for name, runs in _groups(results).items():
        areas = [normalized_aulc(*curve(r.rounds)) for r in runs]
        rows.append(
            {
                "label": name,
                "aulc": float(np.mean(areas)),
                "aulc_std": float(np.std(areas)),
                "final_ap": float(np.mean([r.final_ap for r in runs])),
                "n_seeds": len(runs),
            }
        )
    return sorted(rows, key=lambda row: (-row["aulc"], row["label"]))


def format_ranking(rows: Sequence[Mapping[str, Any]]) -> str:
    """The ranking as text."""
    header = f"{'rank':>4}  {'configuration':<44} {'AULC(AP)':>9} {'+-std':>7} {'final AP':>8} {'seeds':>5}"
    lines = [header, "-" * len(header)]
    for i, row in enumerate(rows, 1):
        lines.append(
            f"{i:>4}  {row['label'][:44]:<44} {row['aulc']:>9.4f} {row['aulc_std']:>7.4f} "
            f"{row['final_ap']:>8.4f} {row['n_seeds']:>5}"
        )
    return "\n".join(lines)


def learning_curve_figure(curves: Mapping[str, tuple[np.ndarray, np.ndarray]]):
    """AP vs n_labeled, one line per entry of ``curves`` (``{label: (n_labeled, ap)}``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, (x, y) in curves.items():
        ax.plot(x, y, marker="o", ms=3.5, label=name)
    ax.set_xlabel("labeled images")
    ax.set_ylabel("OKS AP (val)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def close(figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(figure)


def mean_curves(results: Sequence[RunResult]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per configuration, the AP curve averaged over seeds (rounds aligned by index)."""
    curves = {}
    for name, runs in sorted(_groups(results).items()):
        n = min(len(r.rounds) for r in runs)
        xs = np.mean([curve(r.rounds[:n])[0] for r in runs], axis=0)
        ys = np.mean([curve(r.rounds[:n])[1] for r in runs], axis=0)
        curves[name] = (xs, ys)
    return curves


def summarize(invocation_dir: Path) -> str | None:
    """Table, ranking, figure and MLflow pointer for every run under ``invocation_dir``.

    Returns:
        the printed text, or None when no run left a result there.
    """
    from al_bench.tracking.mlflow_tracker import sqlite_path, ui_command

    results = read_results(invocation_dir)
    if not results:
        return None
    figure = learning_curve_figure(mean_curves(results))
    figure_path = Path(invocation_dir) / FIGURE_FILE
    figure.savefig(figure_path, dpi=120)
    close(figure)
    uris = sorted({r.tracking_uri for r in results})
    stores = []
    for uri in uris:
        db = sqlite_path(uri)
        absolute = f"sqlite:///{db.resolve()}" if db is not None else uri
        stores.append(f"MLflow store: {absolute}\n  open the UI with: {ui_command(absolute)}")
    text = "\n\n".join(
        [
            "AL results (per run and round)\n" + format_table(results),
            "Ranking by normalised area under the AP learning curve (mean over seeds)\n"
            + format_ranking(ranking(results)),
            f"Learning curves: {figure_path}",
            *stores,
        ]
    )
    print(text)
    return text


try:  # Hydra is a dependency, but keep this module importable for table code without it.
    from hydra.experimental.callback import Callback
except ImportError:  # pragma: no cover
    Callback = object


class ReportCallback(Callback):
    """Hydra callback: prints the report at the end of a run or a multirun (``hydra.callbacks``)."""

    def on_run_end(self, config, **kwargs) -> None:
        _report(Path(config.hydra.run.dir))

    def on_multirun_end(self, config, **kwargs) -> None:
        _report(Path(config.hydra.sweep.dir))


def _report(invocation_dir: Path) -> None:
    """Print the report, then close the invocation's MLflow parent run (its jobs are all done)."""
    from al_bench.loop.state import stable_hash
    from al_bench.tracking.mlflow_tracker import MlflowTracker

    summarize(invocation_dir)
    key = stable_hash(str(invocation_dir.resolve()))  # as the jobs key it (results.current_job)
    for uri, experiment in sorted(
        {(r.tracking_uri, r.experiment_name) for r in read_results(invocation_dir)}
    ):
        MlflowTracker(uri, experiment).finish_parent(key)
