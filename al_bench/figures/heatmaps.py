"""Poster Figure 2: pool images with the lowest and the highest keypoint-heatmap activation, heatmaps overlaid.

Activation of an image = mean over the 17 keypoints of the heatmap maximum, clipped at 0 (``peaks[:, :, 0]`` of
``al_bench.pose.infer.predict``); the default uncertainty is ``1 - activation`` (DESIGN.md), so the
low row is what the uncertainty filter sends to annotation. Needs the run's final model checkpoint
artifact (``model/*.pt``) and its ``config.yaml``; without them the figure is skipped with the reason.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from al_bench.figures import style
from al_bench.figures.gallery import pick_run
from al_bench.figures.pool import load_pool, run_params
from al_bench.figures.runs import FiguresError, download_artifact, list_artifact_files

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def find_checkpoint(tracking_uri: str, run_id: str) -> str | None:
    """Artifact path of the run's last model checkpoint under ``model/`` (names sort by round), or None."""
    files = [f for f in list_artifact_files(tracking_uri, run_id, "model") if f.endswith(CHECKPOINT_SUFFIXES)]
    return files[-1] if files else None


def _load_model_and_config(tracking_uri: str, run_id: str, tmp: Path):
    """Download and load the run's checkpoint and resolved config (FiguresError with the reason if absent)."""
    try:
        from omegaconf import OmegaConf

        from al_bench.pose.checkpoint import load_checkpoint
    except ImportError as exc:
        raise FiguresError(f"al_bench.pose inference is not available: {exc}") from exc
    checkpoint = find_checkpoint(tracking_uri, run_id)
    if checkpoint is None:
        raise FiguresError(f"run {run_id} logged no model checkpoint artifact (model/*.pt)")
    if "config.yaml" not in list_artifact_files(tracking_uri, run_id):
        raise FiguresError(f"run {run_id} logged no config.yaml artifact (needed for inference settings)")
    model, _, _ = load_checkpoint(download_artifact(tracking_uri, run_id, checkpoint, tmp))
    cfg = OmegaConf.to_container(OmegaConf.load(download_artifact(tracking_uri, run_id, "config.yaml", tmp)))
    return model, cfg, checkpoint


def activation_scores(model, pool, image_ids: np.ndarray, cfg: dict) -> np.ndarray:
    """Mean over keypoints of each image's heatmap maximum (the refined peak height, ``peaks[..., 0]``),
    by the pose piece's own inference."""
    from al_bench.pose.infer import predict

    peaks = predict(model, pool, [int(i) for i in image_ids], cfg, want=("peaks",)).peaks
    return peaks[:, :, 0].mean(axis=1)


def keypoint_overlays(model, pool, image_ids: list[int], cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """Network input images and their keypoint heatmaps (max over the 17 channels, last stage), the
    heatmaps from the pose piece's own inference (``predict(..., want=("heatmaps",))``).

    Returns:
        ``(images (n, S, S, 3) uint8, heat (n, S, S) float in [0, 1])`` at the model's input size.
    """
    import torch
    import torch.nn.functional as F

    from al_bench.data.dataset import PoseDataset
    from al_bench.data.transforms import denormalize
    from al_bench.pose.infer import predict

    # Only the letterboxed images are read here.
    dataset = PoseDataset(pool, image_ids, model.input_size, model.stride, with_targets=False)
    images = np.stack([denormalize(np.asarray(dataset[i]["image"])) for i in range(len(dataset))])
    maps = predict(model, pool, image_ids, cfg, want=("heatmaps",)).heatmaps
    heat = torch.from_numpy(maps).amax(dim=1, keepdim=True)
    heat = F.interpolate(heat, size=images.shape[1:3], mode="bilinear", align_corners=False)[:, 0]
    return images, heat.clamp(0.0, 1.0).numpy()


def plot_activation_extremes(
    runs: pd.DataFrame,
    tracking_uri: str,
    out_dir: str | Path,
    strategy: str | None = None,
    seed: int | None = None,
    n_each: int = 3,
    max_pool: int = 256,
    name: str = "activation_extremes",
) -> list[Path]:
    """Poster Figure 2: top row the lowest-activation pool images, bottom row the highest, heatmaps overlaid.

    Args:
        runs: tidy table from ``load_runs``.
        tracking_uri: MLflow tracking URI (checkpoint and config artifacts).
        out_dir: folder for the PNG and PDF.
        strategy: whose final model is used (default: the paper's strategy when present).
        seed: which seed (default: the lowest).
        n_each: images per row.
        max_pool: pool images scored (a seeded sample; inference on all of COCO would take long on CPU).
        name: file stem.

    Returns:
        Paths of the PNG and PDF.

    Raises:
        FiguresError: no checkpoint or config artifact, pose inference unavailable, or pool missing.
    """
    run_id, strategy, seed = pick_run(runs, strategy, seed)
    pool = load_pool(run_params(runs, run_id))
    with tempfile.TemporaryDirectory() as tmp:
        model, cfg, checkpoint = _load_model_and_config(tracking_uri, run_id, Path(tmp))
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(pool.image_ids, size=min(max_pool, len(pool.image_ids)), replace=False))
    if len(ids) < 2 * n_each:
        raise FiguresError(f"pool has {len(ids)} images; Figure 2 needs at least {2 * n_each}")
    scores = activation_scores(model, pool, ids, cfg)
    order = np.argsort(scores, kind="stable")
    rows = {
        "low activation (uncertain: sent to annotation)": order[:n_each],
        "high activation (confident)": order[::-1][:n_each],
    }
    shown = [int(ids[i]) for idx in rows.values() for i in idx]
    images, heat = keypoint_overlays(model, pool, shown, cfg)
    style.apply_style()
    fig, axes = plt.subplots(2, n_each, figsize=(2.4 * n_each + 0.8, 5.6), squeeze=False)
    k = 0
    for r, (label, idx) in enumerate(rows.items()):
        for c, i in enumerate(idx):
            ax = axes[r, c]
            ax.imshow(images[k])
            overlay = ax.imshow(heat[k], cmap="jet", alpha=0.45, vmin=0.0, vmax=1.0)
            ax.set_title(f"image {int(ids[i])}\nactivation {scores[i]:.3f}", fontsize="small")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            ax.set_frame_on(False)
            k += 1
        axes[r, 0].set_ylabel(label.replace(" (", "\n("), fontsize="small")
    fig.colorbar(
        overlay, ax=axes, fraction=0.03, pad=0.02, label="keypoint heatmap max over 17 channels (0–1)"
    )
    fig.suptitle(
        f"Lowest vs highest heatmap activation among {len(ids)} pool images\n"
        f"model: {style.strategy_label(strategy)}, seed {seed}, {Path(checkpoint).name}"
    )
    return style.save_figure(fig, out_dir, name)
