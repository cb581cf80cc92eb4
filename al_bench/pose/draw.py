"""Figures of predicted skeletons drawn on images (for looking at what a pose model does)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from al_bench.data.skeleton import NUM_KEYPOINTS
from al_bench.data.visualize import contact_sheet, draw_keypoints, letterbox_tile


def results_to_keypoints(results: Sequence[dict], image_id: int, min_score: float = 0.0) -> np.ndarray:
    """``(P, 17, 3)`` keypoints of one image's COCO results (``v = 2`` where a keypoint was found)."""
    people = [
        np.asarray(r["keypoints"], dtype=np.float32).reshape(NUM_KEYPOINTS, 3)
        for r in results
        if r["image_id"] == image_id and r["score"] >= min_score
    ]
    kps = np.stack(people) if people else np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
    kps[..., 2] = np.where(kps[..., 2] > 0, 2.0, 0.0)
    return kps


def prediction_sheet(
    source,
    image_ids: Sequence[int],
    results: Sequence[dict],
    tile: int = 256,
    min_score: float = 0.0,
    with_ground_truth: bool = True,
) -> Image.Image:
    """Contact sheet: per image, the ground truth (left, if asked) and the predicted skeletons (right).

    Args:
        source: a :class:`~al_bench.data.coco.CocoKeypoints`.
        image_ids: images to show.
        results: COCO keypoint results in original-image pixels.
        tile: tile side in pixels (images are letterboxed into it, top-left).
        min_score: hide predicted persons below this score.
        with_ground_truth: add a ground-truth tile before each prediction tile.
    """
    tiles, labels = [], []
    for image_id in image_ids:
        shown, scale = letterbox_tile(source.image_path(image_id), tile)
        radius = max(1.5, tile / 96)
        pred = results_to_keypoints(results, image_id, min_score)
        if with_ground_truth:
            tiles.append(draw_keypoints(shown, _display(source.keypoints(image_id), scale), radius=radius))
            labels.append(f"{image_id} ground truth")
        tiles.append(draw_keypoints(shown, _display(pred, scale), radius=radius))
        labels.append(f"{image_id} predicted ({len(pred)})")
    return contact_sheet(tiles, ncols=4 if with_ground_truth else 8, labels=labels)


def _display(keypoints: np.ndarray, scale: float) -> np.ndarray:
    """Original pixel-centred coordinates -> resized display coordinates."""
    kps = np.array(keypoints, dtype=np.float32)
    kps[..., :2] = (kps[..., :2] + 0.5) * scale - 0.5
    return kps


def save_sheet(sheet: Image.Image, path: str | Path) -> Path:
    """Save a PNG, creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
