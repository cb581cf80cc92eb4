"""OpenPose training targets at the model's output stride: keypoint heatmaps and part-affinity fields.

Coordinates are in *input* pixels (after resize/pad). Output cell ``j`` covers input pixels
``[j*stride, (j+1)*stride)`` and is centred at ``j*stride + (stride - 1) / 2``; the decoder uses the
same convention (:func:`cell_centers`), so encode -> decode round-trips exactly.
"""

from __future__ import annotations

import numpy as np

from al_bench.data.skeleton import LIMBS, NUM_HEATMAPS, NUM_KEYPOINTS, NUM_LIMBS, NUM_PAFS


def cell_centers(n_cells: int, stride: int) -> np.ndarray:
    """Input-pixel coordinates of the centres of ``n_cells`` output cells along one axis."""
    return np.arange(n_cells, dtype=np.float32) * stride + (stride - 1) / 2.0


def _labelled(keypoints: np.ndarray) -> np.ndarray:
    """``(P, 17, 3)`` float32 view of ``keypoints`` (any ``(..., 17, 3)`` array)."""
    return np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)


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
    people = _labelled(keypoints)
    if len(people):
        # All people and keypoints at once: separable Gaussians (P, 17, h) x (P, 17, w), 0 where unlabelled.
        ys, xs = cell_centers(h, stride), cell_centers(w, stride)
        inv = np.float32(-0.5 / sigma**2)
        gx = np.exp(inv * (xs[None, None, :] - people[..., 0:1]) ** 2)
        gy = np.exp(inv * (ys[None, None, :] - people[..., 1:2]) ** 2)
        gy *= (people[..., 2:3] > 0).astype(np.float32)
        maps[:NUM_KEYPOINTS] = (gy[..., :, None] * gx[..., None, :]).max(axis=0)
    maps[NUM_KEYPOINTS] = 1.0 - maps[:NUM_KEYPOINTS].max(axis=0)
    return maps


_LIMB_ENDS = np.asarray(LIMBS, dtype=np.int64)  # (19, 2)


def encode_pafs(keypoints: np.ndarray, out_hw: tuple[int, int], stride: int, width: float) -> np.ndarray:
    """Part-affinity fields on COCO's 19 limbs, averaged where limbs of several people overlap.

    A cell gets the limb's unit vector when its centre lies within ``width`` input pixels of the
    segment between the two labelled endpoints.

    Returns:
        ``(38, h, w)`` float32; channels ``2l, 2l+1`` hold the x and y components of limb ``l``.
    """
    h, w = out_hw
    people = _labelled(keypoints)
    a, b = people[:, _LIMB_ENDS[:, 0]], people[:, _LIMB_ENDS[:, 1]]  # (P, 19, 3) each
    d = (b[..., :2] - a[..., :2]).reshape(-1, 2)
    length = np.hypot(d[:, 0], d[:, 1])
    valid = ((a[..., 2] > 0) & (b[..., 2] > 0)).reshape(-1) & (length >= 1e-3)
    pafs = np.zeros((NUM_PAFS, h, w), dtype=np.float32)
    if not valid.any():
        return pafs
    # Every labelled (person, limb) segment at once, as (S, h, w) masks of the cells on the segment.
    # Distances along / across a segment are affine in the cell centres, so each is one broadcast sum
    # of a (S, h, 1) and a (S, 1, w) term (no full-grid temporaries per coordinate).
    limb = np.tile(np.arange(NUM_LIMBS), len(people))[valid]
    start, d, length = a[..., :2].reshape(-1, 2)[valid], d[valid], length[valid]
    ux, uy = (d / length[:, None]).T[..., None, None]  # (S, 1, 1) each
    ys = cell_centers(h, stride)[None, :, None] - start[:, 1, None, None]  # (S, h, 1)
    xs = cell_centers(w, stride)[None, None, :] - start[:, 0, None, None]  # (S, 1, w)
    # Centre "along" on the segment's midpoint: on the limb when |along| <= length / 2 + width / 2.
    # In-place where possible: fresh (S, h, w) float arrays cost page faults, not arithmetic.
    along = (ys * uy - length[:, None, None] / 2) + xs * ux
    across = ys * ux - xs * uy
    on_limb = np.abs(along, out=along) <= (length[:, None, None] + width) / 2
    on_limb &= np.abs(across, out=across) <= width
    # Sum and count the unit vectors per (limb, cell) over the few cells on a segment, then average
    # where segments of one limb overlap. (Not a one-hot matmul: BLAS threads spin in data workers.)
    segment, cell = np.nonzero(on_limb.reshape(len(limb), h * w))
    slot = limb[segment] * (h * w) + cell
    size = NUM_LIMBS * h * w
    count = np.maximum(np.bincount(slot, minlength=size), 1)
    for axis, u in ((0, ux), (1, uy)):
        total = np.bincount(slot, weights=u.reshape(-1)[segment], minlength=size)
        pafs[axis::2] = (total / count).reshape(NUM_LIMBS, h, w)
    return pafs


def encode_targets(
    keypoints: np.ndarray, out_hw: tuple[int, int], stride: int, sigma: float, paf_width: float
) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps ``(18, h, w)`` and PAFs ``(38, h, w)`` for the people in one image."""
    return encode_heatmaps(keypoints, out_hw, stride, sigma), encode_pafs(
        keypoints, out_hw, stride, paf_width
    )
