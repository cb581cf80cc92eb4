"""COCO's 17 keypoints, its 19-limb skeleton and OKS constants, used natively everywhere.

No 18-part "neck" conversion: heatmaps have 17 keypoint channels + 1 background channel and
PAFs have 2 x 19 channels, one (x, y) pair per COCO skeleton limb, in this order.
"""

from __future__ import annotations

import numpy as np

KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
NUM_KEYPOINTS = len(KEYPOINT_NAMES)  # 17

# COCO's skeleton exactly as in person_keypoints_*.json (1-based keypoint indices).
COCO_SKELETON_1BASED: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip
LIMBS: tuple[tuple[int, int], ...] = tuple((a - 1, b - 1) for a, b in COCO_SKELETON_1BASED)
NUM_LIMBS = len(LIMBS)  # 19

NUM_HEATMAPS = NUM_KEYPOINTS + 1  # + background channel (last)
NUM_PAFS = 2 * NUM_LIMBS  # channel 2*l is the x component of limb l, 2*l + 1 the y component

# Left/right pairs (0-based) swapped by a horizontal flip.
FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2),
    (3, 4),
    (5, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (13, 14),
    (15, 16),
)


def flip_permutation() -> np.ndarray:
    """Index permutation mapping keypoint k to its mirror image (identity for the nose)."""
    perm = np.arange(NUM_KEYPOINTS)
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return perm


# Per-keypoint OKS sigmas, as in pycocotools' COCOeval.
OKS_SIGMAS = (
    np.array(
        [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
    )
    / 10.0
)

PERSON_CATEGORY: dict = {
    "supercategory": "person",
    "id": 1,
    "name": "person",
    "keypoints": list(KEYPOINT_NAMES),
    "skeleton": [list(limb) for limb in COCO_SKELETON_1BASED],
}
