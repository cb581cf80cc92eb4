"""End-of-run report: the results table, AULC per condition, the paired table, the ranking, the control.

Used by the runner (one run) and by :class:`ReportCallback`, a Hydra callback that, at the end of a
single run or of a whole multirun (any launcher), reads every job's ``al_result.json``, prints a
compact table (run x round: n_labeled, persons, keypoints, AP, sampling time), the normalised AULC
per condition on the images and keypoints axes, the table of per-seed paired differences against
random (:mod:`al_bench.stats`, the same numbers as ``al-bench-figures``), a ranking of the methods
that says which are not distinguishable from random, and whether the positive control (the
label-using oracle) beats random; then writes ``learning_curve.png`` and says how to open the MLflow
UI on the store.

Runs are grouped by their ``condition`` (fallback for old result files: the overrides without the
seed), seeds are counted distinct, and only FINISHED runs with every round enter a number; the
others are listed as incomplete.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from al_bench.loop.results import RunResult, read_results
from al_bench.stats import (
    aulc_between,
    common_range,
    normalized_aulc,
    paired_differences,
    reference_candidates,
    reference_for,
    verdict,
)

FIGURE_FILE = "learning_curve.png"
REFERENCE = "random"
RARE_METRIC = "ap_rare"  # mean AP over the val images of data.rare_families (evaluate/families.py)
FULL_POOL = "full_pool"
REPORT_AXES = {"images": "n_labeled", "keypoints": "n_keypoints"}
"""Axes the report shows AULC and paired differences on (name -> per-round metric)."""

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


def curve(
    rounds: Sequence[Mapping[str, float]], metric: str = "ap", x: str = "n_labeled"
) -> tuple[np.ndarray, np.ndarray]:
    """``(x, metric)`` arrays of one run's rounds (NaN where a round did not log them)."""
    return (
        np.array([float(r.get(x, math.nan)) for r in rounds]),
        np.array([float(r.get(metric, math.nan)) for r in rounds]),
    )


# ``normalized_aulc`` (imported above) is the one AULC, shared with the figures: al_bench.stats.aulc.


def _override_dict(result: RunResult) -> dict[str, str]:
    pairs = (o.lstrip("+~").split("=", 1) for o in result.overrides if "=" in o)
    return {k: v for k, v in pairs if k not in _UNLABELED_KEYS and k.split(".")[0] not in _UNLABELED_GROUPS}


def labels(results: Sequence[RunResult]) -> list[str]:
    """The configuration each run belongs to: its strategy plus the overrides that vary between the
    runs (seed excluded: runs differing only in seed share a label). The fallback for result files
    without a ``condition``."""
    overrides = [_override_dict(r) for r in results]
    keys = sorted({k for o in overrides for k in o})
    varying = [k for k in keys if len({o.get(k) for o in overrides}) > 1]
    return [
        " ".join([r.strategy, *(f"{k}={o[k]}" for k in varying if k in o)])
        for r, o in zip(results, overrides)
    ]


def conditions(results: Sequence[RunResult]) -> tuple[list[str], dict[str, str]]:
    """Per run its condition key, and the readable name of each key.

    The key is the run's ``condition`` (its config hash); result files written before it existed
    fall back to the strategy plus the overrides that vary (:func:`labels`) -- never merging runs
    whose overrides differ. A name shared by two keys gets the key appended.
    """
    fallback = labels(results)
    keys = [r.condition or f"overrides:{label}" for r, label in zip(results, fallback)]
    names: dict[str, str] = {}
    for key, result, label in zip(keys, results, fallback):
        names.setdefault(key, result.condition_name or label)
    taken = defaultdict(list)
    for key, name in names.items():
        taken[name].append(key)
    return keys, {k: (n if len(taken[n]) == 1 else f"{n} [{k[:8]}]") for k, n in names.items()}


def split_results(
    results: Sequence[RunResult],
) -> tuple[list[tuple[str, RunResult]], list[tuple[RunResult, str]]]:
    """The runs that count, with their condition key, and the others with the reason.

    A run counts when its status is FINISHED and it logged rounds ``0..R`` without a gap, R being
    the most rounds any run of its condition logged. Of two counting runs of one condition and seed
    the later one (in job order) counts, so a seed is never counted twice.
    """
    keys, _ = conditions(results)
    most: dict[str, int] = defaultdict(int)
    for key, result in zip(keys, results):
        most[key] = max(most[key], len(result.rounds))
    chosen: dict[tuple[str, int], RunResult] = {}
    dropped: list[tuple[RunResult, str]] = []
    for key, result in zip(keys, results):
        logged = [int(r.get("round", i)) for i, r in enumerate(result.rounds)]
        if result.status != "FINISHED":
            dropped.append((result, f"status {result.status}"))
        elif logged != list(range(most[key])):
            dropped.append((result, f"{len(logged)} of {most[key]} rounds logged"))
        else:
            if (key, result.seed) in chosen:
                dropped.append((chosen[(key, result.seed)], "a later run of the same condition and seed"))
            chosen[(key, result.seed)] = result
    by_identity = {id(r): k for k, r in zip(keys, results)}
    return [(by_identity[id(r)], r) for r in chosen.values()], dropped


def format_incomplete(dropped: Sequence[tuple[RunResult, str]], names: Mapping[str, str]) -> str:
    """The runs left out of every number, one line each ('' when none)."""
    if not dropped:
        return ""
    keys, _ = conditions([r for r, _ in dropped])
    lines = [f"Incomplete runs (left out of every table): {len(dropped)}"]
    for (result, reason), key in zip(dropped, keys):
        name = result.condition_name or names.get(result.condition, "") or key.removeprefix("overrides:")
        lines.append(
            f"  {result.run_name} [{name}, seed {result.seed}]: {reason}, {len(result.rounds)} round(s) logged"
        )
    return "\n".join(lines)


def _width(names, minimum: int) -> int:
    """Column width that shows every name whole: a cut name could make two conditions read the same."""
    return max([minimum, *(len(n) for n in names)])


def format_table(results: Sequence[RunResult]) -> str:
    """Compact table: one row per run and round (n_labeled, persons, keypoints, AP, sampling time)."""
    _, names = conditions(results)
    keys, _ = conditions(results)
    labels = [f"{names[key]} seed={result.seed}" for key, result in zip(keys, results)]
    w = _width(labels, 44)
    header = f"{'run':<{w}} {'round':>5} {'n_labeled':>9} {'persons':>7} {'keypoints':>9} {'AP':>7} {'sampling_s':>10}"
    lines = [header, "-" * len(header)]
    for name, result in zip(labels, results):
        for r in result.rounds:
            sampling = f"{r['sampling_time_s']:.2f}" if "sampling_time_s" in r else "-"
            persons = f"{int(r['n_persons'])}" if "n_persons" in r else "-"
            keypoints = f"{int(r['n_keypoints'])}" if "n_keypoints" in r else "-"
            lines.append(
                f"{name:<{w}} {int(r['round']):>5} {int(r['n_labeled']):>9} {persons:>7} {keypoints:>9} "
                f"{r['ap']:>7.4f} {sampling:>10}"
            )
    return "\n".join(lines)


def _groups(results: Sequence[RunResult]) -> tuple[dict[str, list[RunResult]], dict[str, str]]:
    """Complete runs per condition key (one per seed), and the names."""
    kept, _ = split_results(results)
    _, names = conditions(results)
    groups: dict[str, list[RunResult]] = defaultdict(list)
    for key, result in kept:
        groups[key].append(result)
    return dict(groups), names


def _has_axis(runs: Sequence[RunResult], x: str) -> bool:
    return all(x in r for run in runs for r in run.rounds)


def _curves(
    groups: Mapping[str, Sequence[RunResult]], x: str, metric: str = "ap"
) -> dict[str, dict[int, tuple]]:
    return {key: {r.seed: curve(r.rounds, metric, x) for r in runs} for key, runs in groups.items()}


def _full_pool_ap(groups: Mapping[str, Sequence[RunResult]]) -> float:
    """Mean final AP of the full-pool runs (NaN without them): the upper reference."""
    finals = [r.final_ap for runs in groups.values() for r in runs if r.strategy == FULL_POOL]
    return float(np.mean(finals)) if finals else math.nan


def _is_method(runs: Sequence[RunResult]) -> bool:
    return not any(r.uses_labels for r in runs) and runs[0].strategy != FULL_POOL


def paired(
    results: Sequence[RunResult], axis: str = "images", reference: str = REFERENCE, metric: str = "ap"
) -> list[dict]:
    """Per-seed paired ΔAULC and Δ final value of ``metric`` (AP, or e.g. ``ap_rare``) of every
    condition against ``reference`` on ``axis``.

    Each pair of runs is compared over the x range both cover (:mod:`al_bench.stats`). Returns the
    rows of :func:`al_bench.stats.paired_differences` plus ``condition_name`` and ``uses_labels``;
    [] when the axis or the metric was not logged or no condition is the reference.
    """
    groups, names = _groups(results)
    groups = {k: v for k, v in groups.items() if v[0].strategy != FULL_POOL}
    x = REPORT_AXES[axis]
    logged = [r for runs in groups.values() for r in runs]
    if not groups or not _has_axis(logged, x) or not _has_axis(logged, metric):
        return []
    strategies = {k: runs[0].strategy for k, runs in groups.items()}
    mine = {k: names[k] for k in groups}
    refs = reference_candidates(reference, mine, strategies)
    compared = {k: reference_for(k, reference, mine, strategies) for k in groups if k not in refs}
    rows = paired_differences(_curves(groups, x, metric), compared)
    for row in rows:
        row["condition_name"] = names[row["condition"]]
        row["uses_labels"] = any(r.uses_labels for r in groups[row["condition"]])
    return rows


def _metric_note(metric: str) -> str:
    return "" if metric == "ap" else f", metric = {metric}"


def format_paired(
    rows: Sequence[Mapping[str, Any]], axis: str, reference: str = REFERENCE, metric: str = "ap"
) -> str:
    """The paired table as text: the CSV's columns plus the p-value floor and a verdict."""
    w = _width([r["condition_name"] + " (control)" for r in rows], 40)
    header = (
        f"{'condition':<{w}} {'seeds':>5} {'dAULC':>8} {'95% CI low':>10} {'95% CI high':>11} "
        f"{'dfinal':>8} {'p':>6} {'p floor':>7}  verdict"
    )
    lines = [
        f"Paired by seed vs {reference}, x = {axis}{_metric_note(metric)} "
        + "(ΔAULC over each pair's common range; exact sign-flip p)",
        header,
        "-" * len(header),
    ]
    ordered = sorted(
        rows, key=lambda r: (r["uses_labels"], -np.nan_to_num(r["delta_aulc_mean"], nan=-np.inf))
    )
    for row in ordered:
        tag = " (control)" if row["uses_labels"] else ""
        lines.append(
            f"{row['condition_name'] + tag:<{w}} {row['seeds']:>5} {row['delta_aulc_mean']:>+8.4f} "
            f"{row['delta_aulc_ci_low']:>+10.4f} {row['delta_aulc_ci_high']:>+11.4f} "
            f"{row['delta_final_mean']:>+8.4f} {row['p_value']:>6.3g} {row['p_floor']:>7.3g}  "
            + verdict(row["seeds"], row["delta_aulc_ci_low"], row["delta_aulc_ci_high"], reference)
        )
    return "\n".join(lines)


def aulc_rows(results: Sequence[RunResult], axis: str = "images") -> list[dict[str, Any]]:
    """AULC per condition on ``axis``, mean and sample std (ddof=1) over seeds (full-pool runs excluded).

    On the keypoints axis runs end at different x: every run's AULC is taken over the range all runs
    cover. Returns dicts ``{"condition", "label", "aulc", "aulc_std", "final_ap", "n_seeds",
    "uses_labels"}`` (methods best first, then controls); [] when the axis was not logged.
    """
    groups, names = _groups(results)
    groups = {k: v for k, v in groups.items() if v[0].strategy != FULL_POOL}
    x = REPORT_AXES[axis]
    if not groups or not _has_axis([r for runs in groups.values() for r in runs], x):
        return []
    x_range = None
    if axis != "images":
        x_range = common_range(*(curve(r.rounds, "ap", x)[0] for runs in groups.values() for r in runs))
    rows = []
    for key, runs in groups.items():
        curves = [curve(r.rounds, "ap", x) for r in runs]
        areas = [normalized_aulc(*c) if x_range is None else aulc_between(*c, *x_range) for c in curves]
        rows.append(
            {
                "condition": key,
                "label": names[key],
                "aulc": float(np.mean(areas)),
                "aulc_std": float(np.std(areas, ddof=1)) if len(areas) > 1 else math.nan,
                "final_ap": float(np.mean([r.final_ap for r in runs])),
                "n_seeds": len({r.seed for r in runs}),
                "uses_labels": not _is_method(runs),
            }
        )
    return sorted(rows, key=lambda row: (row["uses_labels"], -row["aulc"], row["label"]))


def ranking(results: Sequence[RunResult], reference: str = REFERENCE) -> list[dict[str, Any]]:
    """The methods (no label-using control, no full pool) ranked by mean normalised AULC on images.

    Returns:
        dicts ``{"condition", "label", "aulc", "aulc_std"`` (sample std, ddof=1; NaN for 1 seed)``,
        "final_ap", "n_seeds", "verdict_images", "verdict_keypoints", "gap_share"}``: the verdicts
        say how the paired interval against ``reference`` reads ("reference" for the reference
        itself), ``gap_share`` the share of the reference -> full-pool gap in final AP that the
        method closes (NaN without full-pool runs).
    """
    rows = [row for row in aulc_rows(results, "images") if not row["uses_labels"]]
    verdicts = {
        axis: {
            r["condition"]: verdict(r["seeds"], r["delta_aulc_ci_low"], r["delta_aulc_ci_high"], reference)
            for r in paired(results, axis, reference)
        }
        for axis in REPORT_AXES
    }
    groups, _ = _groups(results)
    pool = _full_pool_ap(groups)
    refs = [row for row in rows if row["label"] == reference] or [
        row for row in rows if groups[row["condition"]][0].strategy == reference
    ]
    low = refs[0]["final_ap"] if len(refs) == 1 else math.nan
    for row in rows:
        for axis in REPORT_AXES:
            default = "reference" if any(row is r for r in refs) else "n/a (no paired reference)"
            row[f"verdict_{axis}"] = verdicts[axis].get(row["condition"], default)
        row["gap_share"] = (row["final_ap"] - low) / (pool - low) if pool != low else math.nan
    return rows


def format_ranking(rows: Sequence[Mapping[str, Any]]) -> str:
    """The ranking as text."""
    w = _width([row["label"] for row in rows], 40)
    header = (
        f"{'rank':>4}  {'configuration':<{w}} {'AULC(AP)':>9} {'+-std':>7} {'final AP':>8} {'seeds':>5}  "
        "vs random (images | keypoints)"
    )
    lines = [header, "-" * len(header)]
    for i, row in enumerate(rows, 1):
        gap = row.get("gap_share", math.nan)
        gap_text = f"  gap share {gap:.2f}" if isinstance(gap, float) and math.isfinite(gap) else ""
        lines.append(
            f"{i:>4}  {row['label']:<{w}} {row['aulc']:>9.4f} {row['aulc_std']:>7.4f} "
            f"{row['final_ap']:>8.4f} {row['n_seeds']:>5}  "
            f"{row.get('verdict_images', '')} | {row.get('verdict_keypoints', '')}{gap_text}"
        )
    return "\n".join(lines)


def format_aulc(rows: Sequence[Mapping[str, Any]], axis: str) -> str:
    """AULC per condition on one axis (controls marked)."""
    names = [row["label"] + (" (control)" if row["uses_labels"] else "") for row in rows]
    w = _width(names, 50)
    header = f"{'condition':<{w}} {'AULC(AP)':>9} {'+-std':>7} {'final AP':>8} {'seeds':>5}"
    lines = [f"Normalised AULC of AP vs {axis} (mean over seeds, sample std)", header, "-" * len(header)]
    for name, row in zip(names, rows):
        lines.append(
            f"{name:<{w}} {row['aulc']:>9.4f} {row['aulc_std']:>7.4f} {row['final_ap']:>8.4f} {row['n_seeds']:>5}"
        )
    return "\n".join(lines)


NO_EFFECT = "the benchmark cannot show a selection effect at this scale"


def control_line(results: Sequence[RunResult], reference: str = REFERENCE) -> str:
    """Whether the positive control (the label-using oracle) beats ``reference`` with a paired
    interval above 0 on the images axis; if not, the sentence that no selection effect can be shown."""
    rows = [r for r in paired(results, "images", reference) if r["uses_labels"]]
    if not rows:
        return f"Control: no label-using control (strategy=oracle_loss) in this sweep; {NO_EFFECT} has not been tested."
    lines = []
    for row in rows:
        numbers = (
            f"{row['condition_name']} vs {reference}: ΔAULC {row['delta_aulc_mean']:+.4f} "
            f"[{row['delta_aulc_ci_low']:+.4f}, {row['delta_aulc_ci_high']:+.4f}], p={row['p_value']:.3g} "
            f"(floor {row['p_floor']:.3g}), {row['seeds']} seed{'s' * (row['seeds'] != 1)}"
        )
        floor = row["p_floor"]
        caveat = (
            f" (with {row['seeds']} seeds the exact p cannot go below {floor:.3g}: use >= 6 seeds for p < 0.05)"
            if floor > 0.05
            else ""
        )
        if row["seeds"] >= 2 and row["delta_aulc_ci_low"] > 0:
            lines.append(
                f"Control: {numbers}: the oracle beats {reference}, so a selection effect is detectable{caveat}."
            )
        else:
            lines.append(f"Control: {NO_EFFECT} ({numbers}).")
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
    """Per condition (complete runs), the AP curve averaged over seeds (rounds aligned by index)."""
    groups, names = _groups(results)
    curves = {}
    for key, runs in sorted(groups.items(), key=lambda kv: names[kv[0]]):
        n = min(len(r.rounds) for r in runs)
        xs = np.mean([curve(r.rounds[:n])[0] for r in runs], axis=0)
        ys = np.mean([curve(r.rounds[:n])[1] for r in runs], axis=0)
        curves[names[key]] = (xs, ys)
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
    _, dropped = split_results(results)
    _, names = conditions(results)
    sections = ["AL results (per run and round)\n" + format_table(results)]
    sections.append(format_incomplete(dropped, names))
    for axis in REPORT_AXES:
        rows = aulc_rows(results, axis)
        sections.append(format_aulc(rows, axis) if rows else f"(no AULC on {axis}: the runs did not log it)")
    for axis in REPORT_AXES:
        rows = paired(results, axis)
        sections.append(
            format_paired(rows, axis)
            if rows
            else f"(no paired table on {axis}: no {REFERENCE} runs or axis not logged)"
        )
    # Rare-mode AP: a strategy that finds rare poses shows it here first (synthetic data only).
    if rows := paired(results, "images", metric=RARE_METRIC):
        sections.append(format_paired(rows, "images", metric=RARE_METRIC))
    sections.append(
        "Ranking by normalised area under the AP learning curve (methods, x = images, mean over seeds; "
        "controls not ranked)\n" + format_ranking(ranking(results))
    )
    sections.append(control_line(results))
    text = "\n\n".join([s for s in sections if s] + [f"Learning curves: {figure_path}", *stores])
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
