"""Bottom-up decoding of OpenPose outputs into COCO keypoint results.

1. Keypoint candidates are NMS peaks of the *output-grid* heatmaps: the grid nodes that are maxima of the
   maps' bilinear upsampling within ``nms_kernel`` x ``nms_kernel`` input pixels (:func:`nms_mask`, the
   same peaks as NMS on the upsampled maps, without upsampling 17 maps to input resolution) above
   ``peak_threshold``, at most ``max_candidates`` per keypoint type (the strongest), found for a whole
   batch at once (:func:`grid_peaks`). Each is refined to sub-pixel precision by a parabola through the
   log of its neighbours; a peak's value is the parabola's height (exact for a Gaussian), so a perfect
   peak reads ~1 wherever it lies in its cell. Cell ``c`` is input pixel ``c * stride + (stride - 1) / 2``
   (:func:`al_bench.data.targets.cell_centers`).
2. PAFs are read where a limb's samples fall as their bilinear upsampling would give them (:func:`paf_at`).
3. Every candidate pair of a limb is scored by the line integral of the limb's PAF along the segment
   (``paf_samples`` points): mean projection onto the segment direction plus a distance prior
   ``min(0, distance_prior * input_size / length - 1)``; a pair is valid when more than
   ``min_paf_fraction`` of the samples project above ``paf_threshold`` (CMU's and Osokin's rule: > 0.8)
   and the score is positive.
4. Assembly is greedy over *all* valid pairs of all 19 limbs, best score first, Kruskal-style: a pair
   joins or merges persons unless that would give a person two peaks of one keypoint type. COCO's
   skeleton has cycles (face, torso); a pair whose two peaks already belong to the same person just
   closes a cycle and adds its score.
5. Fragments are kept: a peak no limb took is a one-keypoint person (COCO labels persons with one
   keypoint), and parts of one person that no limb joins (a face without ears, arms without shoulders)
   are joined when they lie within ``join_reach`` typical skeleton distances of each other
   (:func:`_join_fragments`; ``join_shared``: a part joins every person it fits). ``keep_parts`` > 0
   also keeps the two parts of every join as persons of their own, at that factor of their score: when a
   join was wrong (a lone wrist of one person joined to another), they still match their own person.
6. Person score ``(sum of keypoint peak values + sum of limb scores) / (17 + 19)``: near 1 for a
   complete, confident person, small for fragments, so fragments rank below real people (COCO keeps
   the top 20 per image). Persons with fewer than ``min_keypoints`` keypoints or a mean keypoint peak
   below ``min_mean_score`` are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from itertools import pairwise
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from al_bench.data.skeleton import LIMBS, NUM_KEYPOINTS, NUM_LIMBS


@dataclass(frozen=True)
class DecodeParams:
    """Decoder settings (config group ``infer``, key ``decode``); the defaults are documented in the module."""

    peak_threshold: float = 0.1
    nms_kernel: int = 9
    max_candidates: int = 32
    subpixel: bool = True
    paf_samples: int = 10
    paf_threshold: float = 0.05
    min_paf_fraction: float = 0.8
    distance_prior: float = 0.5
    min_keypoints: int = 1
    min_mean_score: float = 0.2
    max_persons: int = 20
    join_reach: float = 1.0
    join_shared: bool = False
    keep_parts: float = 0.0

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any] | None) -> DecodeParams:
        """Build from a mapping; unknown keys raise a ``ValueError`` listing the valid ones."""
        cfg = dict(cfg or {})
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - valid)
        if unknown:
            raise ValueError(f"unknown infer.decode keys {unknown}; valid: {sorted(valid)}")
        return cls(**cfg)


@dataclass
class Pose:
    """One decoded person: ``keypoints`` ``(17, 3)`` x, y (input pixels), peak value (0 when missing)."""

    keypoints: np.ndarray
    score: float


def nms_mask(heatmaps: torch.Tensor, reach: float = 1.0) -> torch.Tensor:
    """Boolean mask of the grid nodes of ``(B, K, H, W)`` maps that are maxima of the maps' bilinear
    interpolant within ``reach`` cells (``0 < reach <= 1``) along each axis.

    The interpolant is multilinear on each cell, so its maximum over the window's part in one cell lies
    at one of that part's corners: a node ``n`` with edge neighbours ``a``, ``b`` and diagonal neighbour
    ``c`` in a quadrant must beat ``(1 - t) n + t a`` (so ``n >= a``), the same for ``b``, and
    ``(1 - t)^2 n + t (1 - t) (a + b) + t^2 c`` (so ``(2 - t) n >= (1 - t) (a + b) + t c``), ``t = reach``.
    ``reach`` 1 is 3 x 3 max pooling; a smaller reach keeps a peak next to a stronger diagonal neighbour
    (two people's keypoints one cell apart) and drops more of the noise on a blob's shoulder. Ties with
    an edge neighbour: the first node in raster order wins, so a plateau gives one peak, not two.
    """
    t = float(reach)
    if not 0.0 < t <= 1.0:
        raise ValueError(f"nms reach must be in (0, 1] cells, got {reach}")
    h, w = heatmaps.shape[-2:]
    low = torch.finfo(heatmaps.dtype).min / 8  # finite: (1 - t) * pad must stay finite at t = 1
    padded = F.pad(heatmaps, (1, 1, 1, 1), value=low)

    def at(dy: int, dx: int) -> torch.Tensor:
        return padded[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    mask = (heatmaps > at(-1, 0)) & (heatmaps > at(0, -1))
    if t == 1.0:  # the same condition without the arithmetic: 3 x 3 max pooling, as a separable max
        rows = torch.maximum(torch.maximum(padded[..., :, :w], padded[..., :, 1 : w + 1]), padded[..., :, 2:])
        window = torch.maximum(torch.maximum(rows[..., :h, :], rows[..., 1 : h + 1, :]), rows[..., 2:, :])
        return mask & (heatmaps >= window)
    mask &= (heatmaps >= at(1, 0)) & (heatmaps >= at(0, 1))
    for dy in (-1, 1):
        for dx in (-1, 1):
            mask &= (2 - t) * heatmaps >= (1 - t) * (at(dy, 0) + at(0, dx)) + t * at(dy, dx)
    return mask


def nms_reach(kernel_px: int, stride: int) -> float:
    """The NMS window of ``kernel_px`` input pixels (``infer.decode.nms_kernel``) in output cells: what
    NMS over that window of the maps upsampled to input resolution compares, at most one cell."""
    if kernel_px < 3:
        raise ValueError(f"infer.decode.nms_kernel must be >= 3 input pixels, got {kernel_px}")
    return min((kernel_px // 2) / stride, 1.0)


@dataclass
class GridPeaks:
    """NMS peaks of a batch of heatmaps, one row per peak, grouped by image then keypoint type, each group
    strongest first: ``image``, ``kind`` (int64), ``x``, ``y`` (output cells, refined) and ``value``
    (refined height) ``(n,)`` tensors."""

    image: torch.Tensor
    kind: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    value: torch.Tensor


def grid_peaks(
    heatmaps: torch.Tensor,
    reach: float,
    threshold: float,
    subpixel: bool = True,
    strongest: int | None = None,
) -> GridPeaks:
    """Every NMS peak (:func:`nms_mask` with ``reach`` cells) above ``threshold`` of the 17 keypoint
    channels of ``(B, >=17, h, w)`` output-grid heatmaps, refined by :func:`_log_parabola` along each axis
    when ``subpixel`` (else at cell centres, with the grid sample as value). Negative activations count
    as 0. ``strongest``: the caller keeps only each map's first ``strongest`` peaks, so peaks that cannot
    be among them may be left out (fewer to refine and sort; the first ``strongest`` are unchanged)."""
    maps = heatmaps[:, :NUM_KEYPOINTS].float().clamp_min(0)
    mask = nms_mask(maps, reach) & (maps > threshold)
    if strongest is not None:
        mask &= _may_rank_among(maps, mask, strongest)
    image, kind, cy, cx = mask.nonzero(as_tuple=True)
    value, x, y = maps[image, kind, cy, cx], cx.float(), cy.float()
    if subpixel and len(kind):
        grid = maps.flatten(0, 1)  # (B * 17, h, w): one map per (image, keypoint)
        channel = image * NUM_KEYPOINTS + kind
        (dx, gain_x), (dy, gain_y) = (
            _refine_at(grid, channel, cy, cx, 1),
            _refine_at(grid, channel, cy, cx, 0),
        )
        # The height of the refined peak, not of the grid sample: a perfect peak reads ~1 wherever it
        # sits in its cell (a grid sample reads down to exp(-1 / (8 sigma^2)) per axis, sigma in cells).
        x, y, value = x + dx, y + dy, value * torch.exp(gain_x + gain_y)
    # Grouped by (image, kind) (nonzero's order already), strongest first within a group, ties in raster
    # order: one stable sort on channel + (1 - value / bound), a key in [channel, channel + 1).
    channel = (image * NUM_KEYPOINTS + kind).double()
    bound = float(value.max()) * 1.0001 + 1e-12 if len(value) else 1.0
    order = torch.argsort(channel + (1.0 - value.double() / bound), stable=True)
    return GridPeaks(image[order], kind[order], x[order], y[order], value[order])


def peak_values(heatmaps: torch.Tensor, max_peaks: int) -> torch.Tensor:
    """Per-keypoint NMS peak heights, sorted descending, padded with 0: ``(B, 17, max_peaks)``.

    The 3 x 3 maxima of :func:`grid_peaks` (refined heights: a perfect peak reads ~1 wherever it lies in
    its cell) with no threshold, so ``[..., 0]`` is each keypoint's (refined) maximum and an all-zero map
    gives zeros.
    """
    peaks = grid_peaks(heatmaps, 1.0, threshold=0.0, strongest=max_peaks)
    b = heatmaps.shape[0]
    values = torch.zeros(b * NUM_KEYPOINTS, max_peaks, device=heatmaps.device)
    channel = peaks.image * NUM_KEYPOINTS + peaks.kind
    rank = torch.arange(len(channel), device=channel.device) - torch.searchsorted(channel, channel)
    # rank: position within its (image, keypoint) group, strongest first
    keep = rank < max_peaks
    values[channel[keep], rank[keep]] = peaks.value[keep]
    return values.view(b, NUM_KEYPOINTS, max_peaks)


def find_peaks_batch(heatmaps: torch.Tensor, stride: int, params: DecodeParams) -> list[list[np.ndarray]]:
    """Keypoint candidates of a batch of ``(B, >=17, h, w)`` output-grid heatmaps: per image, one
    ``(n_k, 3)`` float32 array ``x, y, value`` (input pixels) per keypoint type, strongest first, at most
    ``params.max_candidates`` (the cap bounds an untrained model's cost)."""
    reach = nms_reach(params.nms_kernel, stride)
    peaks = grid_peaks(
        heatmaps, reach, params.peak_threshold, params.subpixel, strongest=params.max_candidates
    )
    centre = (stride - 1) / 2.0
    table = torch.stack([peaks.x * stride + centre, peaks.y * stride + centre, peaks.value], dim=1)
    table = table.cpu().numpy().astype(np.float32)
    channel = (peaks.image * NUM_KEYPOINTS + peaks.kind).cpu().numpy()
    bounds = np.searchsorted(channel, np.arange(heatmaps.shape[0] * NUM_KEYPOINTS + 1))
    groups = [table[lo : min(hi, lo + params.max_candidates)] for lo, hi in pairwise(bounds)]
    return [groups[i : i + NUM_KEYPOINTS] for i in range(0, len(groups), NUM_KEYPOINTS)]


def find_peaks(heatmaps: torch.Tensor, stride: int, params: DecodeParams) -> list[np.ndarray]:
    """Keypoint candidates of one image's ``(>=17, h, w)`` heatmaps (:func:`find_peaks_batch`)."""
    return find_peaks_batch(heatmaps[None], stride, params)[0]


def _may_rank_among(maps: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """``(B, K, h, w)`` bool: the cells whose refined peak could be among the ``k`` strongest of its map.

    Refinement raises a peak by at most ``exp(2 * MAX_LOG_GAIN)`` (both axes) and never lowers it, so
    the ``k`` strongest refined peaks are all at least the ``k``-th strongest raw one; a raw peak below
    that bound over the gain cannot reach it. An untrained model's noisy maps have ~100 maxima each, of
    which the uncertainty scores keep 8 and the decoder 32.
    """
    cells = maps.shape[-2] * maps.shape[-1]
    if k >= cells:
        return torch.ones_like(mask)
    kth = torch.where(mask, maps, torch.zeros_like(maps)).flatten(2).topk(k, dim=-1).values[..., -1]
    floor = kth * (math.exp(-2 * MAX_LOG_GAIN) * (1 - 1e-4))  # margin for float32 rounding
    return maps >= floor[..., None, None]


def _log_parabola(left: torch.Tensor, centre: torch.Tensor, right: torch.Tensor, usable: torch.Tensor):
    """Vertex of the parabola through the logs of three samples one cell apart: ``(offset, log_gain)``.

    ``offset`` (cells, clamped to +-0.5) is where the peak lies relative to the centre sample and
    ``log_gain`` how much higher (in log) the parabola is there: exact for a Gaussian peak, so
    ``centre * exp(log_gain)`` is the peak's height wherever it sits in its cell. Both are 0 where
    ``usable`` is False or the log is not concave.
    """
    eps = 1e-6
    log_l, log_c, log_r = (torch.log(v.clamp_min(eps)) for v in (left, centre, right))
    curvature = log_l - 2 * log_c + log_r
    usable = usable & (curvature < 0)
    safe = torch.where(usable, curvature, -torch.ones_like(curvature))
    offset = torch.where(usable, 0.5 * (log_l - log_r) / safe, torch.zeros_like(curvature)).clamp(-0.5, 0.5)
    log_gain = (0.5 * safe * offset**2 + 0.5 * (log_r - log_l) * offset).clamp(0.0, MAX_LOG_GAIN)
    return offset, torch.where(usable, log_gain, torch.zeros_like(log_gain))


# A Gaussian of sigma s cells sampled half a cell from its centre reads exp(-1 / (8 s^2)) of its height:
# log gain 0.25 at s = 0.71 (the encodings here: 3 px / stride 4 = 0.75 cells, 7 px / stride 8 = 0.875).
# Sharper, non-Gaussian peaks (noise) would extrapolate far above their samples; the cap stops that.
MAX_LOG_GAIN = 0.25


def _refine_at(grid: torch.Tensor, kind: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor, axis: int):
    """:func:`_log_parabola` along ``axis`` (0 = y, 1 = x) at the cells ``(kind, cy, cx)`` of ``grid``
    ``(K, h, w)``; not usable at the map's border."""
    size = grid.shape[1 + axis]
    pos = cx if axis else cy
    lo, hi = (pos - 1).clamp(0, size - 1), (pos + 1).clamp(0, size - 1)
    if axis:
        left, right = grid[kind, cy, lo], grid[kind, cy, hi]
    else:
        left, right = grid[kind, lo, cx], grid[kind, hi, cx]
    return _log_parabola(left, grid[kind, cy, cx], right, (lo != pos) & (hi != pos))


def paf_at(pafs: np.ndarray, channel: np.ndarray, points: np.ndarray, stride: int) -> np.ndarray:
    """Values of output-grid ``pafs`` ``(C, h, w)`` at input pixels ``points`` ``(P, S, 2)`` (rounded to
    the nearest pixel, clipped to the input), one channel per row: ``channel`` ``(P,)``.

    Exactly what indexing the bilinear upsampling (``align_corners=False``) at those pixels gives, without
    upsampling all 38 channels: the sampler of ``align_corners=False`` maps pixel ``i`` to grid
    coordinate ``max((i + 0.5) / stride - 0.5, 0)`` and blends its two neighbours (clamped at the edge).
    """
    _, h, w = pafs.shape
    ix = np.clip(np.rint(points[..., 0]), 0, w * stride - 1)
    iy = np.clip(np.rint(points[..., 1]), 0, h * stride - 1)
    gx = np.maximum((ix + 0.5) / stride - 0.5, 0).astype(np.float32)
    gy = np.maximum((iy + 0.5) / stride - 0.5, 0).astype(np.float32)
    x0, y0 = gx.astype(np.int64), gy.astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    lx, ly = gx - x0, gy - y0
    c = np.broadcast_to(channel[:, None], x0.shape)
    top = (1 - lx) * pafs[c, y0, x0] + lx * pafs[c, y0, x1]
    bottom = (1 - lx) * pafs[c, y1, x0] + lx * pafs[c, y1, x1]
    return (1 - ly) * top + ly * bottom


def limb_connections(
    peaks: list[np.ndarray], pafs: np.ndarray, stride: int, params: DecodeParams, image_side: float
) -> list[tuple[float, int, int, int, int]]:
    """Every valid candidate pair of every limb, best score first (ties: limb, then candidate order).

    A pair is scored by the line integral of its limb's PAF: ``paf_samples`` points from ``a`` to ``b``,
    mean projection onto the segment direction plus the distance prior; it is valid when more than
    ``min_paf_fraction`` of the samples project above ``paf_threshold`` and the score is positive.
    All pairs of all limbs are scored in one vectorised pass.

    Returns:
        ``(score, global peak a, global peak b, keypoint a, keypoint b)`` tuples; global peak indices
        count over the concatenated ``peaks``.
    """
    counts = np.asarray([len(p) for p in peaks])
    offsets = np.concatenate([[0], np.cumsum(counts)])
    # Every pair (i, j) of every limb's candidates, limb by limb, i-major: one index array each.
    ends = np.asarray(LIMBS)
    nb = counts[ends[:, 1]]
    pairs = counts[ends[:, 0]] * nb
    if not pairs.any():
        return []
    limb = np.repeat(np.arange(len(LIMBS)), pairs)
    i, j = np.divmod(np.arange(len(limb)) - np.repeat(np.cumsum(pairs) - pairs, pairs), nb[limb])
    ga, gb = i + offsets[ends[limb, 0]], j + offsets[ends[limb, 1]]
    all_peaks = np.concatenate(peaks, axis=0)
    a, delta = all_peaks[ga, :2], all_peaks[gb, :2] - all_peaks[ga, :2]
    length = np.linalg.norm(delta, axis=-1)
    unit = delta / np.maximum(length, 1e-6)[:, None]
    t = np.linspace(0.0, 1.0, params.paf_samples, dtype=np.float32)
    points = a[:, None, :] + t[None, :, None] * delta[:, None, :]  # (pairs, samples, 2)
    dots = paf_at(pafs, 2 * limb, points, stride) * unit[:, None, 0]
    dots += paf_at(pafs, 2 * limb + 1, points, stride) * unit[:, None, 1]
    prior = np.minimum(0.0, params.distance_prior * image_side / np.maximum(length, 1e-6) - 1.0)
    score = (dots.mean(axis=-1) + prior).astype(np.float32)
    valid = ((dots > params.paf_threshold).mean(axis=-1) > params.min_paf_fraction) & (score > 0)
    valid &= length > 1e-6
    order = np.flatnonzero(valid)[np.argsort(-score[valid], kind="stable")]
    kinds = ends[limb[order]]
    return list(
        zip(score[order].tolist(), ga[order].tolist(), gb[order].tolist(), *kinds.T.tolist(), strict=True)
    )


def assemble(
    peaks: list[np.ndarray], pafs: np.ndarray, stride: int, params: DecodeParams, image_side: float
) -> list[Pose]:
    """Greedy Kruskal-style assembly of persons from keypoint candidates and output-grid PAFs.

    Args:
        peaks: per keypoint type, ``(n_k, 3)`` candidates (from :func:`find_peaks`).
        pafs: ``(38, h, w)`` output-grid PAFs (sampled as their bilinear upsampling, :func:`paf_at`).
        stride: input pixels per output cell.
        params: decoder settings.
        image_side: network input side in pixels (distance prior).

    Returns:
        Persons sorted by score, best first, at most ``params.max_persons``.
    """
    offsets = np.cumsum([0] + [len(p) for p in peaks])
    all_peaks = np.concatenate(peaks, axis=0) if offsets[-1] else np.zeros((0, 3), np.float32)
    connections = limb_connections(peaks, pafs, stride, params, image_side)

    slots: list[np.ndarray] = []  # per person: global peak index per keypoint type, -1 if none
    limb_scores: list[float] = []
    owner: dict[int, int] = {}
    for score, pa, pb, ka, kb in connections:
        person_a, person_b = owner.get(pa), owner.get(pb)
        if person_a is None and person_b is None:
            person = np.full(NUM_KEYPOINTS, -1, dtype=np.int64)
            person[ka], person[kb] = pa, pb
            owner[pa] = owner[pb] = len(slots)
            slots.append(person)
            limb_scores.append(score)
        elif person_b is None or person_a is None:
            known, new_peak, new_kind = (person_a, pb, kb) if person_b is None else (person_b, pa, ka)
            if slots[known][new_kind] < 0:  # else: the person already has this keypoint elsewhere
                slots[known][new_kind] = new_peak
                owner[new_peak] = known
                limb_scores[known] += score
        elif person_a == person_b:  # closes a cycle of the skeleton
            limb_scores[person_a] += score
        elif not np.any((slots[person_a] >= 0) & (slots[person_b] >= 0)):  # disjoint: merge b into a
            taken = slots[person_b] >= 0
            slots[person_a][taken] = slots[person_b][taken]
            for peak in slots[person_b][taken]:
                owner[int(peak)] = person_a
            limb_scores[person_a] += limb_scores[person_b] + score
            slots[person_b][:] = -1
            limb_scores[person_b] = 0.0
    peak_kinds = np.repeat(np.arange(NUM_KEYPOINTS), np.diff(offsets))
    _add_lone_peaks(slots, limb_scores, peak_kinds, owner, all_peaks[:, 2] >= params.min_mean_score)
    parts: list[tuple[np.ndarray, float]] = []
    if params.join_reach > 0:
        parts = _join_fragments(slots, limb_scores, all_peaks, params.join_reach, params.join_shared)
    poses = [_to_pose(s, ls, all_peaks, params) for s, ls in zip(slots, limb_scores, strict=True)]
    if params.keep_parts > 0:
        poses += _scaled([_to_pose(s, ls, all_peaks, params) for s, ls in parts], params.keep_parts)
    poses = sorted((p for p in poses if p is not None), key=lambda p: -p.score)
    return poses[: params.max_persons]


def _add_lone_peaks(
    slots: list[np.ndarray],
    limb_scores: list[float],
    peak_kinds: np.ndarray,
    owner: dict[int, int],
    strong: np.ndarray,
) -> None:
    """Every ``strong`` peak no limb took becomes a one-keypoint person, in place: COCO labels persons
    with a single keypoint, and the score (peak value / 36) ranks such a person below every connected
    one. A weaker peak alone would fail ``min_mean_score`` anyway (noise of an uncertain model)."""
    owned = np.zeros(len(peak_kinds), dtype=bool)
    owned[list(owner)] = True
    for peak in np.flatnonzero(strong & ~owned):
        person = np.full(NUM_KEYPOINTS, -1, dtype=np.int64)
        person[peak_kinds[peak]] = peak
        slots.append(person)
        limb_scores.append(0.0)


# Typical length of each COCO limb (LIMBS order), in units of sqrt(person area): medians over the 98
# labelled persons of the shared COCO fixtures, left and right averaged (ordinary human proportions).
LIMB_LENGTHS = np.array(
    [0.50, 0.52, 0.50, 0.52, 0.28, 0.70, 0.70, 0.45, 0.38, 0.38, 0.31, 0.31, 0.11, 0.08, 0.08, 0.15, 0.15,
     0.32, 0.32]
)  # fmt: skip


def _skeleton_distances() -> np.ndarray:
    """``(17, 17)`` typical distance between two keypoint types: the shortest path over the skeleton with
    :data:`LIMB_LENGTHS` (an upper bound of how far apart they are on a person of unit scale); inf on
    the diagonal."""
    dist = np.full((NUM_KEYPOINTS, NUM_KEYPOINTS), np.inf)
    np.fill_diagonal(dist, 0.0)
    for (a, b), length in zip(LIMBS, LIMB_LENGTHS, strict=True):
        dist[a, b] = dist[b, a] = length
    for k in range(NUM_KEYPOINTS):  # Floyd-Warshall
        dist = np.minimum(dist, dist[:, k, None] + dist[None, k, :])
    np.fill_diagonal(dist, np.inf)  # two keypoints of one type are never parts of one person
    return dist


SKELETON_DISTANCES = _skeleton_distances()
MAX_JOIN_CANDIDATES = 40  # persons (by score) considered for joining: bounds the cost on noisy maps


def _join_fragments(
    slots: list[np.ndarray],
    limb_scores: list[float],
    all_peaks: np.ndarray,
    reach: float,
    shared: bool = False,
) -> list[tuple[np.ndarray, float]]:
    """Merge persons that are parts of one person with a keypoint missing between them, in place.

    No limb joins two parts when the keypoint between them is unlabelled or not found (a face without
    ears, arms without shoulders, a shin without its knee). Two persons with no keypoint type in common
    are joined when, for some pair of their keypoints ``i, j``, the distance is at most ``reach`` times
    the typical skeleton distance ``SKELETON_DISTANCES[i, j]`` at their scale (the larger of their
    scales, :func:`_scale`; a person without a limb has none). Closest pairs (by that ratio) first, one
    pass, the person with fewer keypoints moving into the other. With ``shared``, a part joins *every*
    person it fits, not only the first (two overlapping people who each lack what the part has: which one
    it belongs to, nothing in the maps says), and leaves the list only at the end.

    Returns:
        The two parts of every join as they were before it, ``(slots, limb score)``: the hypotheses the
        join replaced (``keep_parts``).
    """
    ranked = np.argsort(
        [-_rough_score(s, ls, all_peaks) for s, ls in zip(slots, limb_scores, strict=True)], kind="stable"
    )
    people = [int(i) for i in ranked[:MAX_JOIN_CANDIDATES] if (slots[i] >= 0).any()]
    parts: list[tuple[np.ndarray, float]] = []
    if len(people) < 2:
        return parts
    table = np.stack([slots[i] for i in people])  # (n, 17) global peak index, -1 if none
    present = table >= 0
    member, kind = np.nonzero(present)  # one row per keypoint of the candidates, grouped by member
    xy = all_peaks[table[member, kind], :2]
    per_keypoint = (
        np.linalg.norm(xy[:, None] - xy[None], axis=-1) / SKELETON_DISTANCES[kind[:, None], kind[None]]
    )
    starts = np.flatnonzero(np.r_[True, member[1:] != member[:-1]])  # every candidate has a keypoint
    ratio = np.minimum.reduceat(np.minimum.reduceat(per_keypoint, starts, axis=0), starts, axis=1)
    scale = _scales(table, all_peaks)
    with np.errstate(invalid="ignore"):
        ratio = ratio / np.fmax(scale[:, None], scale[None, :])
    ratio[np.isnan(ratio) | (present.astype(int) @ present.T.astype(int) > 0)] = np.inf
    first, second = np.nonzero(np.triu(ratio <= reach, 1))
    moved: list[int] = []
    for n in np.argsort(ratio[first, second], kind="stable"):
        a, b = people[first[n]], people[second[n]]
        if (slots[a] >= 0).sum() < (slots[b] >= 0).sum():
            a, b = b, a
        moving = slots[b] >= 0
        if not moving.any() or ((slots[a] >= 0) & moving).any():
            continue  # b already moved into another person, or a took one of b's types meanwhile
        parts += [(slots[a].copy(), limb_scores[a]), (slots[b].copy(), limb_scores[b])]
        slots[a][moving] = slots[b][moving]
        limb_scores[a] += limb_scores[b]
        moved.append(b)
        if not shared:
            slots[b][:] = -1
    for b in moved:
        slots[b][:] = -1
        limb_scores[b] = 0.0
    return parts


def _scaled(poses: list[Pose | None], factor: float) -> list[Pose]:
    """The poses that passed the filters, their scores times ``factor``."""
    return [Pose(p.keypoints, p.score * factor) for p in poses if p is not None]


def _rough_score(slots: np.ndarray, limb_score: float, all_peaks: np.ndarray) -> float:
    return float(all_peaks[slots[slots >= 0], 2].sum()) + limb_score


def _scales(table: np.ndarray, all_peaks: np.ndarray) -> np.ndarray:
    """Each person's size (``table``: ``(n, 17)`` peak indices, -1 if none): the median ratio of its limbs'
    lengths to :data:`LIMB_LENGTHS`; NaN for a person without a limb."""
    ends = np.asarray(LIMBS)
    a, b = table[:, ends[:, 0]], table[:, ends[:, 1]]  # (n, 19)
    lengths = np.linalg.norm(all_peaks[a, :2] - all_peaks[b, :2], axis=-1) / LIMB_LENGTHS
    lengths[(a < 0) | (b < 0)] = np.nan
    # The median of each row's non-NaN values (np.nanmedian goes through masked arrays: 10x slower).
    count = np.count_nonzero(~np.isnan(lengths), axis=1)
    ordered = np.sort(lengths, axis=1)  # NaNs last
    rows = np.arange(len(lengths))
    low, high = ordered[rows, np.maximum(count - 1, 0) // 2], ordered[rows, count // 2 - (count == 0)]
    return np.where(count > 0, 0.5 * (low + high), np.nan)


def _to_pose(
    slots: np.ndarray, limb_score: float, all_peaks: np.ndarray, params: DecodeParams
) -> Pose | None:
    """Keypoint array and score of one assembled person, or None when it fails the filters."""
    present = slots >= 0
    n = int(present.sum())
    if n < max(params.min_keypoints, 1):
        return None
    keypoints = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float32)
    keypoints[present] = all_peaks[slots[present]]
    if keypoints[present, 2].mean() < params.min_mean_score:
        return None
    score = (float(keypoints[:, 2].sum()) + limb_score) / (NUM_KEYPOINTS + NUM_LIMBS)
    return Pose(keypoints, score)


def decode_batch(
    heatmaps: torch.Tensor, pafs: torch.Tensor, stride: int, params: DecodeParams
) -> list[list[Pose]]:
    """Decode a batch of output-grid maps ``(B, 18, h, w)``, ``(B, 38, h, w)`` into poses (input pixels).

    Peaks are found for the whole batch at once; assembly runs per image (the distance prior's side is the
    input's longer side, ``stride`` times the grid's).
    """
    side = float(stride * max(heatmaps.shape[-2:]))
    peaks = find_peaks_batch(heatmaps, stride, params)
    pafs_np = pafs.float().cpu().numpy()
    return [assemble(p, pafs_np[i], stride, params, side) for i, p in enumerate(peaks)]


def decode_maps(heatmaps: torch.Tensor, pafs: torch.Tensor, stride: int, params: DecodeParams) -> list[Pose]:
    """Decode one image's output-grid maps ``(18, h, w)``, ``(38, h, w)`` into poses in input pixels."""
    return decode_batch(heatmaps[None], pafs[None], stride, params)[0]


def to_coco_results(poses: list[Pose], image_id: int, scale: float, offset: np.ndarray) -> list[dict]:
    """COCO keypoint results in original-image pixels: ``original_xy = (input_xy - offset) / scale``.

    Missing keypoints are written as ``0, 0, 0``.
    """
    offset = np.asarray(offset, dtype=np.float32).reshape(2)
    results = []
    for pose in poses:
        kps = pose.keypoints.copy()
        present = kps[:, 2] > 0
        kps[present, :2] = (kps[present, :2] - offset) / float(scale)
        kps[~present] = 0.0
        results.append(
            {
                "image_id": int(image_id),
                "category_id": 1,
                "keypoints": [round(float(v), 3) for v in kps.reshape(-1)],
                "score": float(pose.score),
            }
        )
    return results
