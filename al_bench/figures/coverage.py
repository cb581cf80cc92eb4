"""Coverage of the synthetic pool's latent factors (pose family, scene, person count) by each strategy.

Answers "which strategies find the rare poses": for every factor value, the share of a strategy's
selected images that show it, next to its share of the pool. Selections are all rounds' picks
(``selections/round_XX.json``); the initial labeled set is the same for every strategy and left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from al_bench.figures import style
from al_bench.figures.pool import load_pool, run_params
from al_bench.figures.runs import FiguresError, load_selections

FACTORS: dict[str, str] = {
    "pose_families": "pose family (image shows ≥ 1 person of it)",
    "scene_type": "scene type",
    "n_persons": "annotated persons per image",
    "n_occluders": "occluders per image",
}
"""Per-image ``attributes`` keys of the synthetic generator (al_bench/data/synthetic.py) and their titles."""


def _values(attribute) -> set[str]:
    """The values an image has for one factor: every list element, or the scalar itself."""
    if isinstance(attribute, (list, tuple)):
        return {str(v) for v in attribute}
    return {str(attribute)}


def factor_shares(attributes: dict[int, dict], ids: Iterable[int], factor: str) -> dict[str, float]:
    """Share of ``ids`` whose ``attributes[id][factor]`` contains each value.

    For list-valued factors (pose families) an image counts for every value it contains, so shares
    can add up to more than 1.

    Args:
        attributes: per-image attributes, ``{image_id: {factor: value or list}}``.
        ids: the images to count.
        factor: attribute key.

    Returns:
        ``{value: share in [0, 1]}``; empty when ``ids`` is empty.

    Raises:
        FiguresError: an id is not in ``attributes`` (a selection outside this pool).
    """
    ids = list(ids)
    counts: dict[str, int] = {}
    for image_id in ids:
        if image_id not in attributes:
            raise FiguresError(f"selected image id {image_id} is not in the pool annotation file")
        for value in _values(attributes[image_id].get(factor, "(missing)")):
            counts[value] = counts.get(value, 0) + 1
    return {v: c / len(ids) for v, c in counts.items()} if ids else {}


def coverage_table(runs: pd.DataFrame, tracking_uri: str) -> pd.DataFrame:
    """Per factor value: pool share and each strategy's share among its selections (pooled over seeds).

    Args:
        runs: tidy table from ``load_runs``.
        tracking_uri: where the selection artifacts are.

    Returns:
        Long table with columns ``factor, value, who`` (``pool`` or a strategy name), ``share``,
        ``n_images`` (images counted for ``who``).

    Raises:
        FiguresError: the pool cannot be found, has no ``attributes`` (real COCO), or no run logged selections.
    """
    first = runs["run_id"].iloc[0]
    pool = load_pool(run_params(runs, first))
    attributes = {int(i): pool.attributes(int(i)) for i in pool.image_ids}
    present = [f for f in FACTORS if any(f in a for a in attributes.values())]
    if not present:
        raise FiguresError(
            f"pool {pool.ann_file} has no per-image 'attributes' ({', '.join(FACTORS)}): "
            "coverage needs the synthetic data set"
        )
    selected: dict[str, list[int]] = {}
    for (strategy, run_id), _ in runs.groupby(["strategy", "run_id"], sort=False):
        picks = load_selections(tracking_uri, run_id)
        selected.setdefault(strategy, []).extend(i for r in sorted(picks) for i in picks[r])
    if not any(selected.values()):
        raise FiguresError("no run logged selections/round_XX.json artifacts")
    rows = []
    for factor in present:
        groups = {"pool": list(attributes), **{s: ids for s, ids in selected.items() if ids}}
        for who, ids in groups.items():
            for value, share in factor_shares(attributes, ids, factor).items():
                rows.append(
                    {"factor": factor, "value": value, "who": who, "share": share, "n_images": len(ids)}
                )
    return pd.DataFrame(rows, columns=["factor", "value", "who", "share", "n_images"])


def _value_order(part: pd.DataFrame) -> list[str]:
    """Factor values from most to least frequent in the pool (numbers in numeric order)."""
    values = list(dict.fromkeys(part["value"]))
    if all(v.lstrip("-").isdigit() for v in values):
        return sorted(values, key=int)
    pool = part[part["who"] == "pool"].set_index("value")["share"]
    return sorted(values, key=lambda v: -pool.get(v, 0.0))


def plot_coverage(
    runs: pd.DataFrame, tracking_uri: str, out_dir: str | Path, name: str = "coverage"
) -> list[Path]:
    """Grouped bars per factor: each strategy's share of selected images per value; pool share as a black tick.

    Args:
        runs: tidy table from ``load_runs``.
        tracking_uri: MLflow tracking URI (selection artifacts).
        out_dir: folder for the PNG, PDF and ``coverage.csv``.
        name: file stem.

    Returns:
        Paths of the PNG, PDF and CSV.
    """
    table = coverage_table(runs, tracking_uri)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / f"{name}.csv"
    table.to_csv(csv_path, index=False, float_format="%.6g")
    # A factor with one value in the pool (e.g. always one person) says nothing about coverage.
    pool_rows = table[table["who"] == "pool"]
    factors = [f for f in dict.fromkeys(table["factor"]) if (pool_rows["factor"] == f).sum() > 1]
    if not factors:
        raise FiguresError("every pool attribute takes a single value: nothing to compare")
    strategies = sorted((w for w in table["who"].unique() if w != "pool"), key=style.strategy_rank)
    style.apply_style()
    n_cols = 1 if len(factors) == 1 else 2
    n_rows = -(-len(factors) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(6.0 * n_cols, 2.9 * n_rows + 1.0), squeeze=False)
    width = 0.8 / len(strategies)
    for ax, factor in zip(axes.flat, factors):
        part = table[table["factor"] == factor]
        values = _value_order(part)
        x = np.arange(len(values))
        for k, strategy in enumerate(strategies):
            mine = part[part["who"] == strategy].set_index("value")["share"]
            n = int(part[part["who"] == strategy]["n_images"].max())
            ax.bar(
                x - 0.4 + width * (k + 0.5),
                [100 * mine.get(v, 0.0) for v in values],
                width,
                color=style.strategy_color(strategy),
                label=f"{style.strategy_label(strategy)} ({n} picks)",
            )
        pool = part[part["who"] == "pool"].set_index("value")["share"]
        n_pool = int(part[part["who"] == "pool"]["n_images"].max())
        ax.hlines(
            [100 * pool.get(v, 0.0) for v in values],
            x - 0.42,
            x + 0.42,
            color="black",
            linewidth=2,
            zorder=3,
            label=f"pool ({n_pool} images)",
        )
        ax.set_xticks(x, values, rotation=20 if len(values) > 4 else 0)
        ax.set_ylabel("images (%)")
        ax.set_title(FACTORS.get(factor, factor), loc="left")
        ax.grid(axis="x", visible=False)
    for ax in list(axes.flat)[len(factors) :]:
        ax.set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(4, len(labels)),
        frameon=False,
    )
    fig.suptitle(
        "What each strategy selected (all rounds, all seeds) vs the pool\n"
        "bars: share of selected images; black line: share of pool images"
    )
    fig.tight_layout()
    return [*style.save_figure(fig, out, name), csv_path]
