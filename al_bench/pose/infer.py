"""Batched inference: COCO keypoint results, per-keypoint heatmap peaks and pooled backbone features.

Settings come from the ``infer`` config group (batch size, device, memory format, peak count, flip /
multi-scale test, decoder). Test-time augmentation is off by default; when on, the maps of the flipped
and/or rescaled inputs are mapped back onto the plain input's output grid and averaged before decoding.
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

from al_bench.data.dataset import CachedInputBatches, HeightResizedImages, PoseDataset, collate_widths
from al_bench.data.skeleton import LIMBS, NUM_KEYPOINTS, flip_permutation
from al_bench.data.targets import cell_centers
from al_bench.data.transforms import normalized_pad
from al_bench.devices import memory_format, resolve_device
from al_bench.pose.decode import DecodeParams, decode_batch, peak_values, to_coco_results
from al_bench.pose.models import PoseNet
from al_bench.pose.traced import traced_forward
from al_bench.pose.train import source_image_cache
from al_bench.threads import InOrder, read_ahead

WANTS = ("results", "peaks", "features", "heatmaps")


@dataclass
class Predictions:
    """What :func:`predict` computed, rows aligned with ``image_ids`` (the input order).

    Attributes:
        image_ids: ``(N,)`` int64 global image ids.
        results: COCO keypoint results (empty unless ``"results"`` was wanted).
        peaks: ``(N, 17, M)`` float32 per-keypoint NMS peak values, descending, 0-padded; None unless wanted.
        features: ``(N, D)`` float32 pooled backbone features; None unless wanted.
        heatmaps: ``(N, 17, h, w)`` float32 last-stage keypoint heatmaps on the output grid (after any
            flip / multi-scale averaging); None unless wanted (the figures draw them).
    """

    image_ids: np.ndarray
    results: list[dict]
    peaks: np.ndarray | None = None
    features: np.ndarray | None = None
    heatmaps: np.ndarray | None = None


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


def _pad_value() -> torch.Tensor:
    """``(1, 3, 1, 1)`` the normalised letterbox padding colour (~0): what stride-alignment pads with."""
    return torch.from_numpy(normalized_pad())[None]


RESIZES = ("long_side", "height")


def _pad_to_stride(x: torch.Tensor, stride: int) -> torch.Tensor:
    """``x`` padded at the bottom and right to a multiple of ``stride`` with the letterbox padding colour."""
    h, w = x.shape[-2:]
    hp, wp = -(-h // stride) * stride, -(-w // stride) * stride
    if (hp, wp) == (h, w):
        return x
    out = _pad_value().to(x.device, x.dtype).expand(x.shape[0], x.shape[1], hp, wp).clone()
    out[..., :h, :w] = x
    return out


def _plain_cells_in_scaled_map(
    n_plain: int, n_scaled_px: int, ratio: float, stride: int, mirrored: bool, device: torch.device
) -> torch.Tensor:
    """Fractional scaled-map cell index of every plain output cell centre along one axis.

    Plain cell centre ``c`` (input pixels, :func:`~al_bench.data.targets.cell_centers`) lies at
    ``(c + 0.5) * ratio - 0.5`` in the scaled input (``align_corners=False`` resize), at
    ``n_scaled_px - 1`` minus that in its mirror, and at cell ``(u - (stride - 1) / 2) / stride`` there.
    """
    centres = torch.from_numpy(cell_centers(n_plain, stride)).to(device, torch.float64)
    u = (centres + 0.5) * ratio - 0.5
    if mirrored:
        u = (n_scaled_px - 1) - u
    return (u - (stride - 1) / 2.0) / stride


def _to_plain_grid(
    maps: torch.Tensor,
    plain_hw: tuple[int, int],
    scaled_hw: tuple[int, int],
    ratio: tuple[float, float],
    stride: int,
    mirrored: bool,
) -> torch.Tensor:
    """Resample the valid output cells of a scaled (and mirrored) input onto the plain input's grid.

    ``maps`` are the outputs of the stride-padded scaled input; its cells that cover the scaled image
    (``ceil(scaled / stride)``) are kept and sampled bilinearly at the exact positions of the plain cell
    centres (edge cells clamp), so a keypoint lands where it lies in the plain input.
    """
    valid = (-(-scaled_hw[0] // stride), -(-scaled_hw[1] // stride))
    maps = maps[..., : valid[0], : valid[1]]
    iy = _plain_cells_in_scaled_map(plain_hw[0], scaled_hw[0], ratio[0], stride, False, maps.device)
    ix = _plain_cells_in_scaled_map(plain_hw[1], scaled_hw[1], ratio[1], stride, mirrored, maps.device)
    gy = (2 * iy + 1) / maps.shape[-2] - 1  # grid_sample's align_corners=False normalisation
    gx = (2 * ix + 1) / maps.shape[-1] - 1
    grid = torch.stack(torch.broadcast_tensors(gx[None, :], gy[:, None]), dim=-1).to(maps.dtype)
    grid = grid[None].expand(maps.shape[0], -1, -1, -1)
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _forward_maps(
    model: PoseNet, x: torch.Tensor, flip: bool, scales: Sequence[float], feats: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Last-stage heatmaps and PAFs on the plain input's grid, averaged over scales (and a flip).

    Stride-aligned multi-scale test: each scaled input (``round(side * scale)`` px) is padded to a multiple
    of the stride with the letterbox colour, its (mirrored) output cells that cover the image are kept and
    resampled at the exact positions of the plain grid's cell centres (:func:`_to_plain_grid`).
    ``feats``: backbone feature maps of the plain input when already computed (reused for scale 1).
    """
    stride = model.stride
    height, width = x.shape[-2:]
    plain_hw = (height // stride, width // stride)
    heat_perm, paf_perm, paf_sign = (torch.from_numpy(a).to(x.device) for a in _flip_channel_maps())
    heat_sum, paf_sum, n = 0.0, 0.0, 0
    for scale in scales:
        scaled_hw = (max(1, round(height * scale)), max(1, round(width * scale)))
        ratio = (scaled_hw[0] / height, scaled_hw[1] / width)
        xs = x
        if scaled_hw != (height, width):
            xs = F.interpolate(x, size=scaled_hw, mode="bilinear", align_corners=False)
        for mirrored in (False, True) if flip else (False,):
            if scaled_hw == (height, width) and not mirrored and feats is not None:
                heat, paf = model.run_stages(feats)[-1]
            else:
                heat, paf = model(_pad_to_stride(xs.flip(-1) if mirrored else xs, stride))[-1]
            heat, paf = heat.float(), paf.float()
            if mirrored or scaled_hw != (height, width) or heat.shape[-2:] != plain_hw:
                heat = _to_plain_grid(heat, plain_hw, scaled_hw, ratio, stride, mirrored)
                paf = _to_plain_grid(paf, plain_hw, scaled_hw, ratio, stride, mirrored)
            if mirrored:
                heat = heat[:, heat_perm]
                paf = paf[:, paf_perm] * paf_sign[None, :, None, None]
            heat_sum, paf_sum, n = heat_sum + heat, paf_sum + paf, n + 1
    # NCHW for the decoder, whatever the model's memory format.
    return (heat_sum / n).contiguous(), (paf_sum / n).contiguous()


def _model_outputs(
    model: PoseNet, x: torch.Tensor, maps_wanted: bool, jit: bool, flip: bool, scales: Sequence[float]
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Backbone feature maps and, when ``maps_wanted``, the averaged last-stage heatmaps and PAFs
    (NCHW float32): from the cached trace when ``jit``, else eagerly (:func:`_forward_maps`)."""
    if maps_wanted and jit:
        feats, heat, paf = traced_forward(model, x)(x)
        return feats, heat.float().contiguous(), paf.float().contiguous()
    feats = model.backbone(x)
    if not maps_wanted:
        return feats, None, None
    return feats, *_forward_maps(model, x, flip, scales, feats)


def _infer_cfg(cfg: Mapping[str, Any]) -> dict:
    infer = dict(cfg.get("infer") or {})
    infer.setdefault("device", cfg.get("train", {}).get("device", "auto"))
    return infer


def _loader(
    model: PoseNet, source: Any, image_ids: Sequence[int], cfg: Mapping[str, Any], infer: dict
) -> DataLoader | CachedInputBatches:
    """Batches of plain inputs: letterboxed squares (``infer.resize: long_side``; read a batch at a time
    from the image cache when it holds every id) or OpenPose's height-fitted inputs, padded to the
    batch's widest (``height``)."""
    resize = str(infer.get("resize", "long_side"))
    if resize not in RESIZES:
        raise ValueError(f"infer.resize must be one of {list(RESIZES)}, got {resize!r}")
    batch_size, workers = int(infer.get("batch_size", 32)), int(infer.get("num_workers", 0))
    if resize == "height":
        images = HeightResizedImages(source, image_ids, model.input_size, model.stride)
        return DataLoader(images, batch_size=batch_size, num_workers=workers, collate_fn=collate_widths)
    cache = source_image_cache(cfg, source, model.input_size)
    if cache is not None and all(int(i) in cache for i in image_ids):
        return CachedInputBatches(source, image_ids, cache, batch_size)
    dataset = PoseDataset(
        source,
        [int(i) for i in image_ids],
        input_size=model.input_size,
        stride=model.stride,
        augment=None,
        with_targets=False,
        image_cache=cache,
    )
    return DataLoader(dataset, batch_size=batch_size, num_workers=workers)


def _valid_columns(batch: dict, n_columns: int, input_width: int) -> torch.Tensor | None:
    """``(B, 1, 1, n_columns)`` bool: the columns of a map ``n_columns`` wide that cover each image of a
    batch padded to its widest (``infer.resize: height``); None when every image fills the input."""
    if "input_width" not in batch:
        return None
    covered = torch.ceil(batch["input_width"].double() * n_columns / input_width).long()
    return (torch.arange(n_columns)[None, :] < covered[:, None])[:, None, None, :]


def _pooled(feats: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    """Mean backbone features per image, over the cells that cover it (not another image's padding)."""
    if valid is None:
        return feats.mean(dim=(2, 3))
    weight = valid.to(feats.device, feats.dtype)
    return (feats * weight).sum(dim=(2, 3)) / (weight.sum(dim=(2, 3)) * feats.shape[-2])


@torch.no_grad()
def _batch_outputs(
    batch: dict,
    heat: torch.Tensor | None,
    paf: torch.Tensor | None,
    pooled: torch.Tensor | None,
    want: Sequence[str],
    max_peaks: int,
    stride: int,
    params: DecodeParams,
) -> dict[str, Any]:
    """What :func:`predict` keeps of one batch: peak values, heatmaps, pooled features (CPU tensors or
    None) and COCO results (in original-image pixels)."""
    results: list[dict] = []
    if "results" in want:
        for i, poses in enumerate(decode_batch(heat, paf, stride, params)):
            offset = batch["offset"][i].numpy()
            results += to_coco_results(poses, int(batch["image_id"][i]), float(batch["scale"][i]), offset)
    return {
        "peaks": peak_values(heat, max_peaks).cpu() if "peaks" in want else None,
        "heatmaps": heat[:, :NUM_KEYPOINTS].cpu() if "heatmaps" in want else None,
        "features": pooled,
        "results": results,
    }


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
            ``scales``, ``resize``, ``decode``).
        want: any of ``"results"``, ``"peaks"``, ``"features"``, ``"heatmaps"``; the rest is not computed.

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
    # The memory format is set either way, so predictions do not depend on how the model was trained.
    layout = memory_format(bool(infer.get("channels_last", False)))
    model.eval().to(device, memory_format=layout)
    maps_wanted = bool({"results", "peaks", "heatmaps"} & set(want))
    # Reading the next batch and finding peaks / decoding the last one run on helper threads while
    # the model runs (infer.overlap): with one torch thread, the job's second core does them.
    overlap = bool(infer.get("overlap", True))
    # One TorchScript graph for backbone + stages where it gives the same floats (a PoseNet, whose
    # forward has no data-dependent Python, on CPU, no test-time augmentation): it runs without the
    # GIL, so the helper threads do not slow the model (infer.jit; al_bench/pose/traced.py).
    jit = bool(infer.get("jit", True)) and isinstance(model, PoseNet) and device.type == "cpu"
    jit = jit and scales == [1.0] and not flip
    loader = _loader(model, source, image_ids, cfg, infer)
    with InOrder(overlap) as outputs:
        for batch in tqdm(read_ahead(loader, overlap), total=len(loader), desc="predict", leave=False):
            x = batch["image"].to(device).contiguous(memory_format=layout)
            feats, heat, paf = _model_outputs(model, x, maps_wanted, jit, flip, scales)
            valid = _valid_columns(batch, feats.shape[-1], x.shape[-1])
            pooled = _pooled(feats, valid).float().cpu() if "features" in want else None
            if maps_wanted and valid is not None:  # nothing is found in another image's padding
                keep = _valid_columns(batch, heat.shape[-1], x.shape[-1]).to(heat.device, heat.dtype)
                heat, paf = heat * keep, paf * keep
            outputs.submit(_batch_outputs, batch, heat, paf, pooled, want, max_peaks, model.stride, params)
        parts = outputs.results()
    results = [r for part in parts for r in part["results"]]
    peaks, features, heatmaps = (
        [p[k] for p in parts if p[k] is not None] for k in ("peaks", "features", "heatmaps")
    )
    return Predictions(
        image_ids=np.asarray([int(i) for i in image_ids], dtype=np.int64),
        results=results,
        peaks=torch.cat(peaks).numpy().astype(np.float32) if peaks else None,
        features=torch.cat(features).numpy().astype(np.float32) if features else None,
        heatmaps=torch.cat(heatmaps).numpy().astype(np.float32) if heatmaps else None,
    )
