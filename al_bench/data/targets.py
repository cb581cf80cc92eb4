"""OpenPose training targets at the model's output stride: keypoint heatmaps and part-affinity fields.

Coordinates are in *input* pixels (after resize/pad). Output cell ``j`` covers input pixels
``[j*stride, (j+1)*stride)`` and is centred at ``j*stride + (stride - 1) / 2``; the decoder uses the
same convention (:func:`cell_centers`), so encode -> decode round-trips exactly.
"""

from __future__ import annotations

import numpy as np

from al_bench.data.skeleton import LIMBS, NUM_HEATMAPS, NUM_KEYPOINTS, NUM_PAFS


def cell_centers(n_cells: int, stride: int) -> np.ndarray:
    """Input-pixel coordinates of the centres of ``n_cells`` output cells along one axis."""
    return np.arange(n_cells, dtype=np.float32) * stride + (stride - 1) / 2.0


def encode_heatmaps(keypoints: np.ndarray, out_hw: tuple[int, int], stride: int, sigma: float) -> np.ndarray:
    """Gaussian keypoint heatmaps, max over people, plus a background channel.

    Args:
        keypoints: ``(P, 17, 3)`` array of ``x, y, v`` in input pixels; ``v > 0`` means labelled.
        out_hw: output map size ``(h, w)``.
        stride: input pixels per output cell.
        sigma: Gaussian standard deviation in input pixels.

    Returns:
        ``(18, h, w)`` float32; channel 17 is the background ``1 - max_k H_k``.
    """
    h, w = out_hw
    maps = np.zeros((NUM_HEATMAPS, h, w), dtype=np.float32)
    ys, xs = cell_centers(h, stride), cell_centers(w, stride)
    for person in np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3):
        for k, (x, y, v) in enumerate(person):
            if v <= 0:
                continue
            gx = np.exp(-((xs - x) ** 2) / (2 * sigma**2))
            gy = np.exp(-((ys - y) ** 2) / (2 * sigma**2))
            np.maximum(maps[k], np.outer(gy, gx), out=maps[k])
    maps[NUM_KEYPOINTS] = 1.0 - maps[:NUM_KEYPOINTS].max(axis=0)
    return maps


def encode_pafs(keypoints: np.ndarray, out_hw: tuple[int, int], stride: int, width: float) -> np.ndarray:
    """Part-affinity fields on COCO's 19 limbs, averaged where limbs of several people overlap.

    A cell gets the limb's unit vector when its centre lies within ``width`` input pixels of the
    segment between the two labelled endpoints.

    Returns:
        ``(38, h, w)`` float32; channels ``2l, 2l+1`` hold the x and y components of limb ``l``.
    """
    h, w = out_hw
    pafs = np.zeros((NUM_PAFS, h, w), dtype=np.float32)
    counts = np.zeros((len(LIMBS), h, w), dtype=np.float32)
    gy, gx = np.meshgrid(cell_centers(h, stride), cell_centers(w, stride), indexing="ij")
    for person in np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3):
        for limb, (a, b) in enumerate(LIMBS):
            if person[a, 2] <= 0 or person[b, 2] <= 0:
                continue
            d = person[b, :2] - person[a, :2]
            length = float(np.hypot(*d))
            if length < 1e-3:
                continue
            u = d / length
            rx, ry = gx - person[a, 0], gy - person[a, 1]
            along = rx * u[0] + ry * u[1]
            across = np.abs(rx * u[1] - ry * u[0])
            on_limb = (along >= -width / 2) & (along <= length + width / 2) & (across <= width)
            pafs[2 * limb][on_limb] += u[0]
            pafs[2 * limb + 1][on_limb] += u[1]
            counts[limb][on_limb] += 1
    np.divide(pafs, np.repeat(np.maximum(counts, 1), 2, axis=0), out=pafs)
    return pafs


def encode_targets(
    keypoints: np.ndarray, out_hw: tuple[int, int], stride: int, sigma: float, paf_width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps ``(18, h, w)`` and PAFs ``(38, h, w)`` for the people in one image."""
    return encode_heatmaps(keypoints, out_hw, stride, sigma), encode_pafs(
        keypoints, out_hw, stride, paf_width
    )
