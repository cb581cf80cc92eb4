"""Batched inference: COCO keypoint results, per-keypoint heatmap peaks and pooled backbone features.

Settings come from the ``infer`` config group (batch size, device, peak count, flip / multi-scale test,
decoder). Test-time augmentation is off by default; when on, the maps of the flipped and/or rescaled
inputs are mapped back onto the plain input's output grid and averaged before decoding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from al_bench.data.dataset import PoseDataset
from al_bench.data.skeleton import LIMBS, NUM_KEYPOINTS, flip_permutation
from al_bench.pose.decode import DecodeParams, decode_maps, peak_values, to_coco_results
from al_bench.pose.models import PoseNet
from al_bench.pose.train import resolve_device, source_image_cache

WANTS = ("results", "peaks", "features")


@dataclass
class Predictions:
    """What :func:`predict` computed, rows aligned with ``image_ids`` (the input order).

    Attributes:
        image_ids: ``(N,)`` int64 global image ids.
        results: COCO keypoint results (empty unless ``"results"`` was wanted).
        peaks: ``(N, 17, M)`` float32 per-keypoint NMS peak values, descending, 0-padded; None unless wanted.
        features: ``(N, D)`` float32 pooled backbone features; None unless wanted.
    """

    image_ids: np.ndarray
    results: list[dict]
    peaks: np.ndarray | None = None
    features: np.ndarray | None = None


def _flip_channel_maps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How to undo a horizontal flip: heatmap channel permutation, PAF channel permutation and the
    sign of each PAF channel (x components negate; a limb whose mirror runs the other way negates both)."""
    perm = flip_permutation()
    heat = np.concatenate([perm, [NUM_KEYPOINTS]])
    index = {limb: i for i, limb in enumerate(LIMBS)}
    paf, sign = np.zeros(2 * len(LIMBS), np.int64), np.ones(2 * len(LIMBS), np.float32)
    for i, (a, b) in enumerate(LIMBS):
        mirrored = (int(perm[a]), int(perm[b]))
        j, direction = (index[mirrored], 1.0) if mirrored in index else (index[mirrored[::-1]], -1.0)
        paf[2 * i], paf[2 * i + 1] = 2 * j, 2 * j + 1
        sign[2 * i], sign[2 * i + 1] = -direction, direction
    return heat, paf, sign


def _forward_maps(
    model: PoseNet, x: torch.Tensor, flip: bool, scales: Sequence[float], feats: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Last-stage heatmaps and PAFs on the plain input's grid, averaged over scales (and a flip).

    ``feats``: backbone feature maps of the plain input when already computed (reused for scale 1).
    """
    h, w = x.shape[-2] // model.stride, x.shape[-1] // model.stride
    heat_perm, paf_perm, paf_sign = (torch.from_numpy(a).to(x.device) for a in _flip_channel_maps())
    heat_sum, paf_sum, n = 0.0, 0.0, 0
    for scale in scales:
        xs = x if scale == 1 else F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
        for mirrored in (False, True) if flip else (False,):
            if scale == 1 and not mirrored and feats is not None:
                heat, paf = model.run_stages(feats)[-1]
            else:
                heat, paf = model(xs.flip(-1) if mirrored else xs)[-1]
            heat, paf = heat.float(), paf.float()
            if mirrored:
                heat = heat.flip(-1)[:, heat_perm]
                paf = paf.flip(-1)[:, paf_perm] * paf_sign[None, :, None, None]
            if heat.shape[-2:] != (h, w):
                heat = F.interpolate(heat, size=(h, w), mode="bilinear", align_corners=False)
                paf = F.interpolate(paf, size=(h, w), mode="bilinear", align_corners=False)
            heat_sum, paf_sum, n = heat_sum + heat, paf_sum + paf, n + 1
    return heat_sum / n, paf_sum / n


def _infer_cfg(cfg: Mapping[str, Any]) -> dict:
    infer = dict(cfg.get("infer") or {})
    infer.setdefault("device", cfg.get("train", {}).get("device", "auto"))
    return infer


def _loader(
    model: PoseNet, source: Any, image_ids: Sequence[int], cfg: Mapping[str, Any], infer: dict
) -> DataLoader:
    # Targets are not built (with_targets=False); sigma / paf_width only satisfy the signature.
    dataset = PoseDataset(
        source,
        [int(i) for i in image_ids],
        input_size=model.input_size,
        stride=model.stride,
        sigma=1.0,
        paf_width=1.0,
        augment=None,
        with_targets=False,
        image_cache=source_image_cache(cfg, source, model.input_size),
    )
    return DataLoader(dataset, batch_size=int(infer.get("batch_size", 32)), shuffle=False,
                      num_workers=int(infer.get("num_workers", 0)))  # fmt: skip


@torch.no_grad()
def predict(
    model: PoseNet, source: Any, image_ids: Sequence[int], cfg: Mapping[str, Any], want: Sequence[str] = WANTS
) -> Predictions:
    """Run ``model`` on ``image_ids`` of ``source`` (letterboxed, no augmentation).

    Args:
        model: a trained :class:`PoseNet` (left in eval mode).
        source: a :class:`~al_bench.data.coco.CocoKeypoints`.
        image_ids: global ids; the outputs keep this order.
        cfg: the composed config (``infer`` group: ``batch_size``, ``device``, ``max_peaks``, ``flip``,
            ``scales``, ``decode``).
        want: any of ``"results"``, ``"peaks"``, ``"features"``; the rest is not computed.

    Returns:
        :class:`Predictions`; results are in original-image pixels.
    """
    unknown = sorted(set(want) - set(WANTS))
    if unknown:
        raise ValueError(f"predict(want=...) got {unknown}; valid: {list(WANTS)}")
    infer = _infer_cfg(cfg)
    device = resolve_device(str(infer["device"]))
    params = DecodeParams.from_cfg(infer.get("decode"))
    max_peaks = int(infer.get("max_peaks", 8))
    scales = [float(s) for s in infer.get("scales", [1.0])]
    flip = bool(infer.get("flip", False))
    model.eval().to(device)
    results, peaks, features = [], [], []
    for batch in tqdm(_loader(model, source, image_ids, cfg, infer), desc="predict", leave=False):
        x = batch["image"].to(device)
        feats = model.backbone(x)
        if "features" in want:
            features.append(feats.mean(dim=(2, 3)).float().cpu())
        if "results" not in want and "peaks" not in want:
            continue
        heat, paf = _forward_maps(model, x, flip, scales, feats)
        if "peaks" in want:
            peaks.append(peak_values(heat, max_peaks).cpu())
        if "results" in want:
            for i in range(x.shape[0]):
                poses = decode_maps(heat[i], paf[i], model.stride, params)
                offset = batch["offset"][i].numpy()
                results += to_coco_results(poses, int(batch["image_id"][i]), float(batch["scale"][i]), offset)
    return Predictions(
        image_ids=np.asarray([int(i) for i in image_ids], dtype=np.int64),
        results=results,
        peaks=torch.cat(peaks).numpy().astype(np.float32) if peaks else None,
        features=torch.cat(features).numpy().astype(np.float32) if features else None,
    )
