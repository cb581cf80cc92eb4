"""The one place that owns how al_bench figures look: colours, labels, fonts, and saving.

Every figure module draws through these helpers so that a strategy has the same colour and
name in every figure, axes carry units, and every figure is written as PNG (for viewing) and
PDF (for papers) side by side.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

# Figures are written to files from scripts, tests and headless machines: never open a window.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # the backend must be chosen before pyplot is imported
import numpy as np

STRATEGY_COLORS: dict[str, str] = {
    "random": "#7f7f7f",
    "uncertainty": "#ff7f0e",
    "diversity": "#2ca02c",
    "heatmap_annoy": "#1f77b4",
    "heatmap_exact": "#9467bd",
    "coreset": "#8c564b",
    "mpe": "#e377c2",
    "uncertainty_random": "#bcbd22",
    "oracle_loss": "#444444",
    "full_pool": "#000000",
}
"""Fixed colour per known strategy; unknown strategies take the remaining tab10 colours in order."""

STRATEGY_LABELS: dict[str, str] = {
    "random": "random",
    "uncertainty": "uncertainty only",
    "diversity": "diversity only",
    "heatmap_annoy": "heatmap + Annoy (paper)",
    "heatmap_exact": "heatmap + exact kNN",
    "coreset": "core-set (k-center)",
    "mpe": "multiple-peak entropy",
    "uncertainty_random": "uncertainty + random subset",
    "oracle_loss": "oracle loss (uses labels)",
    "full_pool": "full pool",
}

METRIC_LABELS: dict[str, str] = {
    "ap": "OKS AP (0–1)",
    "ap50": "OKS AP@0.5 (0–1)",
    "ap75": "OKS AP@0.75 (0–1)",
    "apm": "OKS AP medium (0–1)",
    "apl": "OKS AP large (0–1)",
    "ar": "OKS AR (0–1)",
    "person_count_accuracy": "person-count accuracy (fraction of images)",
    "sampling_time_s": "sampling time per round (s)",
    "train_time_s": "training time per round (s)",
    "n_labeled": "labeled images (count)",
    "n_persons": "labeled persons (count)",
    "n_keypoints": "labelled keypoints (count)",
    "annotation_cost_s": "annotation cost (s)",
}

PARAM_LABELS: dict[str, str] = {
    "strategy.selection_ratio": "selection ratio (fraction of candidates kept)",
    "index.n_trees": "Annoy trees (count)",
    "al.budget": "budget (images per round)",
}

TIMING_PARTS: dict[str, str] = {
    "uncertainty_s": "uncertainty (pool inference)",
    "embedding_s": "embedding",
    "index_build_s": "index build",
    "query_s": "neighbour queries",
}
"""Sampling-time components in stacking order (DESIGN.md: sampling time is their sum)."""

TIMING_COLORS: dict[str, str] = {
    "uncertainty_s": "#4c72b0",
    "embedding_s": "#dd8452",
    "index_build_s": "#55a868",
    "query_s": "#c44e52",
}

RC_PARAMS: dict[str, object] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,  # embed TrueType so the PDF text stays editable in papers
}


STRATEGY_ORDER: tuple[str, ...] = (
    "random",
    "uncertainty",
    "uncertainty_random",
    "diversity",
    "coreset",
    "mpe",
    "heatmap_exact",
    "heatmap_annoy",
    "oracle_loss",
)
"""Legend and bar order: baselines first, the paper's method last; unknown strategies go after, by name."""


def strategy_rank(strategy: str) -> tuple[int, str]:
    """Sort key that puts strategies in ``STRATEGY_ORDER``."""
    known = strategy in STRATEGY_ORDER
    return (STRATEGY_ORDER.index(strategy) if known else len(STRATEGY_ORDER), strategy)


def shade(color: str, amount: float) -> str:
    """A darker (amount < 0) or lighter (amount > 0) variant of ``color``; amount in [-1, 1].

    Used to tell apart several conditions (sweep values) of one strategy while keeping its hue.
    """
    rgb = np.array(matplotlib.colors.to_rgb(color))
    target = np.ones(3) if amount > 0 else np.zeros(3)
    return matplotlib.colors.to_hex(rgb + (target - rgb) * abs(amount))


def shades(color: str, n: int) -> list[str]:
    """``n`` shades of one colour from dark to light (the colour itself when n == 1)."""
    if n == 1:
        return [matplotlib.colors.to_hex(color)]
    return [shade(color, a) for a in np.linspace(-0.45, 0.55, n)]


def apply_style() -> None:
    """Set the shared matplotlib rc parameters (idempotent)."""
    plt.rcParams.update(RC_PARAMS)


def strategy_color(strategy: str) -> str:
    """Colour of a strategy, stable across figures.

    Args:
        strategy: strategy name as in the run's ``strategy`` tag.

    Returns:
        A matplotlib colour string.
    """
    if strategy in STRATEGY_COLORS:
        return STRATEGY_COLORS[strategy]
    spare = [
        c for c in plt.get_cmap("tab10").colors if matplotlib.colors.to_hex(c) not in STRATEGY_COLORS.values()
    ]
    # Hash-free and order-free: the same unknown name always maps to the same spare colour.
    index = sum(ord(ch) for ch in strategy) % len(spare)
    return matplotlib.colors.to_hex(spare[index])


def strategy_label(strategy: str) -> str:
    """Human-readable name of a strategy (the raw name when unknown)."""
    return STRATEGY_LABELS.get(strategy, strategy)


def metric_label(metric: str) -> str:
    """Axis label with unit for a metric (the raw name when unknown)."""
    return METRIC_LABELS.get(metric, metric)


def is_fraction(metric: str) -> bool:
    """True for metrics bounded to [0, 1] (AP, AR, accuracies, recalls): axes and bands are clipped to it."""
    return metric.startswith(("ap", "ar", "quality_knn_recall", "quality_overlap")) or metric.endswith(
        "accuracy"
    )


def metric_short(metric: str) -> str:
    """A metric's name without its unit, for titles ("OKS AP")."""
    return metric_label(metric).split(" (")[0]


def param_label(param: str) -> str:
    """Axis label with unit for a swept config key (the raw key when unknown)."""
    return PARAM_LABELS.get(param, param)


def place_legend(ax: plt.Axes, n_entries: int, **kwargs) -> None:
    """Legend inside the axes for a few entries, below them for many (so it never hides data)."""
    if n_entries <= 4:
        ax.legend(loc=kwargs.pop("loc", "best"), frameon=False, **kwargs)
    else:
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.15),
            ncol=1 if n_entries > 8 else 2,
            frameon=False,
            **kwargs,
        )


def save_figure(fig: plt.Figure, out_dir: str | Path, name: str) -> list[Path]:
    """Write a figure as ``<out_dir>/<name>.png`` and ``.pdf`` and close it.

    Args:
        fig: the figure to write.
        out_dir: folder to write into (created when missing).
        name: file stem.

    Returns:
        The two written paths, PNG first.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for path in paths:
        fig.savefig(path)
    plt.close(fig)
    return paths


CONTROL_COLOR = "#555555"
"""Label-using controls (the oracle) are drawn grey and dotted, apart from the methods."""

FULL_POOL_COLOR = "#000000"
"""The full-pool upper reference: a dashed black horizontal line."""
