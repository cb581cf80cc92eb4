"""Image figures of the poster: selected pool images in colour among grey ones (Figure 3), and the pool
images with the lowest and highest heatmap activation with their heatmaps overlaid (Figure 2).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from al_bench.figures import style
from al_bench.figures.pool import load_pool, run_params
from al_bench.figures.runs import (
    FiguresError,
    load_initial_ids,
    load_selection_records,
)

PAPER_STRATEGY = "heatmap_annoy"
CANDIDATE_KEYS = ("candidate_ids", "candidates")
"""``info`` keys a selection record may carry with the ids the diversity stage chose from."""


def pick_run(
    runs: pd.DataFrame, strategy: str | None = None, seed: int | None = None
) -> tuple[str, str, int]:
    """The run a single-run figure shows: the paper's strategy (else the last in legend order), lowest seed.

    Returns:
        ``(run_id, strategy, seed)``.

    Raises:
        FiguresError: no run matches ``strategy`` / ``seed``.
    """
    present = sorted(runs["strategy"].unique(), key=style.strategy_rank)
    chosen = strategy or (PAPER_STRATEGY if PAPER_STRATEGY in present else present[-1])
    mine = runs[runs["strategy"] == chosen]
    if seed is not None:
        mine = mine[mine["seed"] == seed]
    if mine.empty:
        raise FiguresError(
            f"no run with strategy {chosen!r}"
            + (f" and seed {seed}" if seed is not None else "")
            + f"; strategies here: {', '.join(present)}"
        )
    first = mine.sort_values(["seed", "run_id"]).iloc[0]
    return str(first["run_id"]), chosen, int(first["seed"])


def thumbnail(path: Path, size: int, grey: bool) -> np.ndarray:
    """Square letterboxed thumbnail as (size, size, 3) uint8; grey ones are also faded so colour stands out."""
    with Image.open(path) as image:
        image = ImageOps.pad(image.convert("RGB"), (size, size), color=(255, 255, 255))
    if grey:
        image = ImageOps.grayscale(image).convert("RGB")
        return (np.asarray(image, dtype=np.float32) * 0.55 + 255 * 0.45).astype(np.uint8)
    return np.asarray(image)


def grid_ids(
    record: dict,
    earlier: set[int],
    pool_ids: np.ndarray,
    n_images: int,
    ratio: float,
    rng: np.random.Generator,
) -> tuple[list[int], set[int], str]:
    """Which images the grid shows: selected ones plus not-selected ones, shuffled together.

    The grey images are the candidates the diversity stage dropped when the record lists them,
    else a random sample of the images still unlabeled at that round.

    Returns:
        ``(ids in display order, selected ids among them, description of the grey images)``.
    """
    selected = [int(i) for i in record["ids"]]
    info = record.get("info") or {}
    candidates = next((info[k] for k in CANDIDATE_KEYS if isinstance(info.get(k), list)), None)
    if candidates is not None:
        n_sel = min(len(selected), max(1, round(n_images * ratio)))
        others = [int(i) for i in candidates if int(i) not in set(selected)]
        grey_text = "candidates the diversity stage dropped"
    else:
        n_sel = min(len(selected), max(1, round(n_images * ratio)))
        taken = earlier | set(selected)
        others = [int(i) for i in pool_ids if int(i) not in taken]
        grey_text = "a random sample of the still-unlabeled pool"
    shown_sel = list(rng.choice(selected, size=n_sel, replace=False)) if n_sel < len(selected) else selected
    n_other = min(len(others), n_images - len(shown_sel))
    shown_other = list(rng.choice(others, size=n_other, replace=False)) if n_other else []
    ids = [int(i) for i in rng.permutation(np.asarray(shown_sel + shown_other, dtype=np.int64))]
    return ids, {int(i) for i in shown_sel}, grey_text


def plot_selection_grid(
    runs: pd.DataFrame,
    tracking_uri: str,
    out_dir: str | Path,
    strategy: str | None = None,
    seed: int | None = None,
    round_idx: int = 0,
    n_images: int = 40,
    n_cols: int = 8,
    thumb_px: int = 96,
    name: str = "selection_grid",
) -> list[Path]:
    """Poster Figure 3: a grid of pool images, the ones selected in one round in colour, the rest grey.

    The share of coloured images follows the run's ``strategy.selection_ratio`` (0.2 when not logged),
    as in the poster, where 20 % of the candidates were chosen.

    Args:
        runs: tidy table from ``load_runs``.
        tracking_uri: MLflow tracking URI (selection artifacts).
        out_dir: folder for the PNG and PDF.
        strategy: strategy shown (default: the paper's, heatmap_annoy, when present).
        seed: seed shown (default: the lowest).
        round_idx: AL round whose selection is shown.
        n_images: images in the grid.
        n_cols: grid columns.
        thumb_px: thumbnail side in pixels.
        name: file stem.

    Returns:
        Paths of the PNG and PDF.

    Raises:
        FiguresError: the run logged no selection for ``round_idx``, or the pool images are missing.
    """
    run_id, strategy, seed = pick_run(runs, strategy, seed)
    records = load_selection_records(tracking_uri, run_id)
    if round_idx not in records:
        raise FiguresError(
            f"run {run_id} ({strategy}, seed {seed}) logged no selections/round_{round_idx:02d}.json"
        )
    params = run_params(runs, run_id)
    pool = load_pool(params)
    ratio = float(params.get("strategy.selection_ratio", 0.2))
    earlier = set(load_initial_ids(tracking_uri, run_id))
    earlier |= {i for r, rec in records.items() if r < round_idx for i in rec["ids"]}
    rng = np.random.default_rng(seed)  # the same figure every time for the same run
    ids, chosen, grey_text = grid_ids(records[round_idx], earlier, pool.image_ids, n_images, ratio, rng)
    n_rows = -(-len(ids) // n_cols)
    style.apply_style()
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.25 * n_cols, 1.25 * n_rows + 0.9), squeeze=False)
    color = style.strategy_color(strategy)
    for ax, image_id in zip(axes.flat, ids):
        try:
            ax.imshow(thumbnail(pool.image_path(image_id), thumb_px, grey=image_id not in chosen))
        except OSError as exc:
            raise FiguresError(
                f"cannot read pool image {image_id} ({pool.image_path(image_id)}): {exc}"
            ) from exc
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(image_id in chosen)
            spine.set_color(color)
            spine.set_linewidth(3)
    for ax in list(axes.flat)[len(ids) :]:
        ax.axis("off")
    fig.suptitle(
        f"Round {round_idx} selection of {style.strategy_label(strategy)}, seed {seed}: "
        f"{len(chosen)} selected in colour\namong {len(ids) - len(chosen)} in grey ({grey_text})"
    )
    fig.tight_layout()
    return style.save_figure(fig, out_dir, name)
