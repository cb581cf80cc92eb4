"""Helpers of the annotate tests."""

from pathlib import Path

import numpy as np

# ../shared relative to the repo root (this file is tests/annotate/annotate_support.py).
COCO_MINI = Path(__file__).resolve().parents[3] / "shared/fixtures/coco_mini_train2017"


def person(points: dict[int, tuple[float, float, float]], score: float) -> dict:
    """A COCO keypoint result with the given keypoints ``{k: (x, y, score)}``, the rest 0, 0, 0."""
    kps = np.zeros((17, 3))
    for k, xys in points.items():
        kps[k] = xys
    return {"keypoints": [float(v) for v in kps.reshape(-1)], "score": score}
