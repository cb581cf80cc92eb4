"""``PoseDataset``: the torch Dataset turning a COCO-format source into model inputs and targets.

Owns per-item loading (PIL), the letterbox/augmentation call, target encoding (heatmaps, PAFs) and the
loss mask (0 on crowd regions and on persons with ``num_keypoints == 0``, 1 elsewhere). Augmentation is
seeded per (seed, epoch, index), so an epoch is reproducible; call :meth:`PoseDataset.set_epoch`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, default_collate

from al_bench.data.image_cache import ImageCache
from al_bench.data.targets import encode_targets
from al_bench.data.transforms import (
    AugmentConfig,
    InputTransform,
    fit_height,
    letterbox,
    letterbox_matrix,
    load_image,
    normalize,
    normalize_batch,
    normalized_pad,
    sample_transform,
    scale_matrix,
    warp_image,
)


def _ignore_mask_original(source, image_id: int) -> np.ndarray | None:
    """``(H, W)`` uint8, 1 where the loss must ignore (crowd regions, zero-keypoint persons), or None."""
    ignored = [
        a for a in source.annotations(image_id) if a.get("iscrowd", 0) or a.get("num_keypoints", 0) == 0
    ]
    if not ignored:
        return None
    width, height = source.image_size(image_id)
    mask = np.zeros((height, width), dtype=np.uint8)
    for ann in ignored:
        if ann.get("segmentation"):
            mask |= source.coco.annToMask(ann).astype(np.uint8)
        else:  # no outline: fall back to the box
            x, y, w, h = ann["bbox"]
            mask[int(y) : int(np.ceil(y + h)), int(x) : int(np.ceil(x + w))] = 1
    return mask


def _cell_mask(ignore_input: np.ndarray | None, out_hw: tuple[int, int], stride: int) -> np.ndarray:
    """``(1, h, w)`` float32 loss mask: a cell is ignored when any of its input pixels is ignored."""
    h, w = out_hw
    if ignore_input is None:
        return np.ones((1, h, w), dtype=np.float32)
    blocks = ignore_input[: h * stride, : w * stride].reshape(h, stride, w, stride)
    return (1.0 - blocks.max(axis=(1, 3))).astype(np.float32)[None]


class PoseDataset(Dataset):
    """Model inputs (and targets) for a list of global image ids of one source.

    Args:
        source: a :class:`~al_bench.data.coco.CocoKeypoints` (or anything with its interface).
        image_ids: global image ids, in item order.
        input_size: side ``S`` of the square model input.
        stride: input pixels per output cell; targets are ``S // stride`` cells wide.
        sigma: heatmap Gaussian standard deviation in input pixels (targets only).
        paf_width: PAF half-width in input pixels (targets only).
        augment: training augmentation (an :class:`AugmentConfig` or a ``data.augment`` mapping), or None
            for the plain letterbox (evaluation/inference).
        seed: augmentation seed; item ``i`` of epoch ``e`` uses ``default_rng([seed, e, i])``.
        with_targets: False gives only ``image``, ``image_id``, ``scale``, ``offset`` (inference).
        normalized: False gives ``pixels`` ``(S, S, 3)`` uint8 instead of ``image``: a quarter of the
            bytes between a data worker and training, normalised there a batch at a time
            (:func:`~al_bench.data.transforms.normalize_batch`, the same values).
        image_cache: letterboxed images at ``input_size`` (:mod:`al_bench.data.image_cache`); items of
            cached ids read it instead of decoding their files.

    An item is indexed by its position ``i`` (this epoch, :meth:`set_epoch`) or by ``(epoch, i)``, which
    lets a sampler drive the epochs of persistent data workers (:class:`al_bench.pose.train.EpochBatches`).

    Items are dicts: ``image`` (3, S, S) float32 ImageNet-normalised (or ``pixels``), ``heatmaps``
    (18, h, w), ``pafs`` (38, h, w), ``mask`` (1, h, w), ``image_id`` int, ``scale`` float, ``offset`` (2,) with
    ``original_xy = (input_xy - offset) / scale`` for the un-augmented letterbox, ``affine`` (2, 3) the
    exact original -> input map actually used (includes augmentation), ``flipped`` bool.
    """

    def __init__(
        self,
        source,
        image_ids: Sequence[int],
        input_size: int,
        stride: int,
        sigma: float | None = None,
        paf_width: float | None = None,
        augment: AugmentConfig | Mapping | None = None,
        seed: int = 0,
        with_targets: bool = True,
        image_cache: ImageCache | None = None,
        normalized: bool = True,
    ) -> None:
        if input_size % stride:
            raise ValueError(f"input_size {input_size} must be a multiple of stride {stride}")
        missing = [int(i) for i in image_ids if int(i) not in source.coco.imgs]
        if missing:
            raise KeyError(f"image ids not in {source.ann_file}: {missing[:10]}")
        self.source, self.image_ids = source, [int(i) for i in image_ids]
        self.input_size, self.stride = int(input_size), int(stride)
        if with_targets and (sigma is None or paf_width is None):
            raise ValueError("PoseDataset with targets needs sigma and paf_width (input pixels)")
        self.sigma, self.paf_width = sigma, paf_width
        if augment is not None and not isinstance(augment, AugmentConfig):
            augment = AugmentConfig.from_cfg(augment)
        self.augment, self.seed, self.with_targets = augment, int(seed), with_targets
        self.epoch, self.normalized = 0, bool(normalized)
        usable = image_cache is not None and image_cache.size == self.input_size
        self.image_cache = image_cache if usable else None

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def out_hw(self) -> tuple[int, int]:
        side = self.input_size // self.stride
        return side, side

    def __getitem__(self, index: int | tuple[int, int]) -> dict:
        epoch, index = index if isinstance(index, tuple) else (self.epoch, index)
        image_id = self.image_ids[index]
        width, height = self.source.image_size(image_id)
        transform = self._transform(index, epoch)
        scale = self.input_size / max(width, height)
        pixels = self._input_image(image_id, width, height, transform)
        item = {
            "image_id": image_id,
            "scale": float(scale),
            "offset": torch.from_numpy(self._letterbox_offset(width, height)),
            "affine": torch.from_numpy(transform.matrix[:2].astype(np.float32)),
            "flipped": transform.flipped,
        }
        if self.normalized:
            item["image"] = torch.from_numpy(normalize(pixels))
        else:  # a copy: a cached image is a read-only view into the memmap
            item["pixels"] = torch.from_numpy(np.array(pixels))
        if self.with_targets:
            item.update(self._targets(image_id, transform))
        return item

    def _input_image(self, image_id: int, width: int, height: int, transform: InputTransform) -> np.ndarray:
        """``(S, S, 3)`` uint8 input: from the image cache when it holds the id, else from the file."""
        if self.image_cache is not None and image_id in self.image_cache:
            boxed = self.image_cache.letterboxed(image_id)
            if self.augment is None:  # the plain transform is the letterbox itself
                return boxed
            to_boxed = letterbox_matrix(width, height, self.input_size)
            warped = warp_image(
                Image.fromarray(boxed), transform.matrix @ np.linalg.inv(to_boxed), self.input_size
            )
            return np.asarray(warped)
        zoom = float(np.sqrt(abs(np.linalg.det(transform.matrix[:2, :2]))))
        img, to_loaded = load_image(self.source.image_path(image_id), zoom)
        return np.asarray(warp_image(img, transform.matrix @ np.linalg.inv(to_loaded), self.input_size))

    def _letterbox_offset(self, width: int, height: int) -> np.ndarray:
        return letterbox(width, height, self.input_size)[1]

    def _transform(self, index: int, epoch: int | None = None) -> InputTransform:
        width, height = self.source.image_size(self.image_ids[index])
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch, index]) if self.augment else None
        return sample_transform(width, height, self.input_size, self.augment, rng)

    def input_keypoints(self, index: int) -> np.ndarray:
        """``(P, 17, 3)`` keypoints of item ``index`` (this epoch) in input pixels, as the targets see them."""
        return self._transform(index).apply_points(self.source.keypoints(self.image_ids[index]))

    def _targets(self, image_id: int, transform: InputTransform) -> dict:
        keypoints = transform.apply_points(self.source.keypoints(image_id))
        heatmaps, pafs = encode_targets(
            keypoints, self.out_hw, self.stride, float(self.sigma), float(self.paf_width)
        )
        ignore = _ignore_mask_original(self.source, image_id)
        if ignore is not None:
            warped = warp_image(
                Image.fromarray(ignore * 255),
                transform.matrix,
                self.input_size,
                fill=0,
                resample=Image.NEAREST,
            )
            ignore = (np.asarray(warped) > 127).astype(np.uint8)
        return {
            "heatmaps": torch.from_numpy(heatmaps),
            "pafs": torch.from_numpy(pafs),
            "mask": torch.from_numpy(_cell_mask(ignore, self.out_hw, self.stride)),
        }


# Every item field has a fixed shape, so torch's default collate batches them.
collate = default_collate


class CachedInputBatches:
    """Plain (un-augmented) model inputs of ``image_ids``, read from the image cache a batch at a time.

    The ``image``, ``image_id``, ``scale`` and ``offset`` fields that :class:`PoseDataset` items with
    ``augment=None, with_targets=False`` collate to (same values and dtypes), without a per-item step:
    one memmap read and one in-place normalisation per batch. Inference reads the pool and val through
    it whenever the cache holds every id.
    """

    def __init__(self, source, image_ids: Sequence[int], image_cache: ImageCache, batch_size: int) -> None:
        missing = [int(i) for i in image_ids if int(i) not in image_cache]
        if missing:
            raise KeyError(f"image ids not in the image cache {image_cache.directory}: {missing[:10]}")
        self.source, self.image_ids = source, [int(i) for i in image_ids]
        self.image_cache, self.batch_size = image_cache, int(batch_size)

    def __len__(self) -> int:
        return math.ceil(len(self.image_ids) / self.batch_size)

    def __iter__(self):
        size = self.image_cache.size
        for start in range(0, len(self.image_ids), self.batch_size):
            ids = self.image_ids[start : start + self.batch_size]
            boxes = [letterbox(*self.source.image_size(i), size) for i in ids]
            yield {
                "image": normalize_batch(torch.from_numpy(self.image_cache.letterboxed_batch(ids))),
                "image_id": torch.tensor(ids, dtype=torch.int64),
                "scale": torch.tensor([scale for scale, _ in boxes], dtype=torch.float64),
                "offset": torch.from_numpy(np.stack([offset for _, offset in boxes])),
            }


class HeightResizedImages(Dataset):
    """Model inputs by OpenPose's test protocol (``infer.resize: height``): each image's height resized to
    ``input_size``, aspect kept, the width padded to a multiple of ``stride`` (:func:`fit_height`).

    Items have ``image`` (normalised, ``(3, input_size, W_i)``), ``image_id``, ``scale`` and ``offset`` as
    :class:`PoseDataset`'s, and ``input_width`` ``W_i``; batch them with :func:`collate_widths`. No
    augmentation, no targets, no image cache (the cache holds letterboxed squares).
    """

    def __init__(self, source, image_ids: Sequence[int], input_size: int, stride: int) -> None:
        self.source, self.image_ids = source, [int(i) for i in image_ids]
        self.input_size, self.stride = int(input_size), int(stride)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, index: int) -> dict:
        image_id = self.image_ids[index]
        width, height = self.source.image_size(image_id)
        scale, offset, out_size = fit_height(width, height, self.input_size, self.stride)
        img, to_loaded = load_image(self.source.image_path(image_id), scale)
        image = np.asarray(warp_image(img, scale_matrix(scale, offset) @ np.linalg.inv(to_loaded), out_size))
        return {
            "image": torch.from_numpy(normalize(image)),
            "image_id": image_id,
            "scale": float(scale),
            "offset": torch.from_numpy(offset),
            "input_width": out_size[0],
        }


def collate_widths(items: list[dict]) -> dict:
    """Batch :class:`HeightResizedImages` items: inputs padded on the right to the widest with the
    letterbox padding colour (normalises to ~0, as the stride padding of multi-scale test)."""
    width = max(item["image"].shape[-1] for item in items)
    pad = torch.from_numpy(normalized_pad())  # (3, 1, 1)
    images = pad.expand(len(items), 3, items[0]["image"].shape[-2], width).clone()
    for i, item in enumerate(items):
        images[i, :, :, : item["image"].shape[-1]] = item["image"]
    rest = default_collate([{k: v for k, v in item.items() if k != "image"} for item in items])
    return {"image": images, **rest}
