"""Decoded-image cache: built once, atomically, keyed by the files; items identical with and without it."""

import os

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from al_bench.data.coco import CocoKeypoints
from al_bench.data.dataset import CachedInputBatches, PoseDataset
from al_bench.data.image_cache import META_FILE, image_cache
from al_bench.data.transforms import _NORMALIZE_LUT, AugmentConfig, denormalize, normalize_batch


def _source(coco_sample):
    return CocoKeypoints(coco_sample / "person_keypoints_sample.json", coco_sample)


def test_inference_items_are_bit_identical_with_the_cache(coco_sample, tmp_path):
    source = _source(coco_sample)
    cache = image_cache(source, 368, tmp_path, progress=False)
    plain = PoseDataset(source, source.image_ids, 368, 8, 7.0, 8.0, with_targets=False)
    cached = PoseDataset(source, source.image_ids, 368, 8, 7.0, 8.0, with_targets=False, image_cache=cache)
    for i in range(len(plain)):
        assert torch.equal(plain[i]["image"], cached[i]["image"])


def test_cached_batches_equal_the_collated_inference_items(coco_sample, tmp_path):
    source = _source(coco_sample)
    cache = image_cache(source, 368, tmp_path, progress=False)
    ids = list(source.image_ids)[::-1]  # any order: batches follow the ids given
    items = PoseDataset(source, ids, 368, 8, with_targets=False, image_cache=cache)
    expected = DataLoader(items, batch_size=3)
    got = list(CachedInputBatches(source, ids, cache, batch_size=3))
    assert len(got) == len(CachedInputBatches(source, ids, cache, batch_size=3)) == -(-len(ids) // 3)
    for a, b in zip(expected, got, strict=True):
        assert set(b) == {"image", "image_id", "scale", "offset"}  # what inference reads
        for key in b:
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def test_batch_normalisation_is_the_item_tables_values():
    # Every uint8 value of every channel: the in-place float32 ops give the lookup table's numbers.
    pixels = torch.arange(256, dtype=torch.uint8)[None, None, :, None].expand(1, 1, 256, 3).contiguous()
    out = normalize_batch(pixels)
    assert out.shape == (1, 3, 1, 256) and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out[0, :, 0, :], torch.from_numpy(_NORMALIZE_LUT))


def test_cached_batches_name_ids_the_cache_lacks(synthetic_set, tmp_path):
    source = CocoKeypoints(synthetic_set.pool_ann, synthetic_set.image_dir)
    cache = image_cache(source, 64, tmp_path, progress=False)
    with pytest.raises(KeyError, match="987654"):
        CachedInputBatches(source, [int(source.image_ids[0]), 987654], cache, batch_size=4)


def test_augmented_items_keep_keypoints_on_the_same_pixels(coco_sample, tmp_path):
    # Warping from the cached letterbox instead of the file: same geometry, pixels within resampling noise.
    source = _source(coco_sample)
    cache = image_cache(source, 368, tmp_path, progress=False)
    aug = AugmentConfig(scale=(0.9, 1.1), rotation_deg=10)
    plain = PoseDataset(source, source.image_ids, 368, 8, 7.0, 8.0, augment=aug, seed=1)
    cached = PoseDataset(source, source.image_ids, 368, 8, 7.0, 8.0, augment=aug, seed=1, image_cache=cache)
    for i in range(len(plain)):
        a, b = plain[(2, i)], cached[(2, i)]
        assert torch.equal(a["affine"], b["affine"]) and torch.equal(a["heatmaps"], b["heatmaps"])
        pixels_a, pixels_b = (denormalize(x["image"].numpy()).astype(float) for x in (a, b))
        # Measured: 0.8-5.3 grey levels apart on average (one more resampling), correlation >= 0.988.
        assert np.abs(pixels_a - pixels_b).mean() < 8
        assert np.corrcoef(pixels_a.ravel(), pixels_b.ravel())[0, 1] > 0.98


def test_the_cache_is_built_once_and_rebuilt_when_a_file_changes(synthetic_set, tmp_path):
    source = CocoKeypoints(synthetic_set.pool_ann, synthetic_set.image_dir)
    first = image_cache(source, 128, tmp_path, progress=False)
    built = (first.directory / META_FILE).stat().st_mtime_ns
    again = image_cache(source, 128, tmp_path, progress=False)
    assert again.directory == first.directory and (again.directory / META_FILE).stat().st_mtime_ns == built
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [first.directory.name], "no temp folder left"
    image_id = int(source.image_ids[0])
    assert first.letterboxed(image_id).shape == (128, 128, 3)
    path = source.image_path(image_id)
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    assert image_cache(source, 128, tmp_path, progress=False).directory != first.directory
    assert image_cache(source, 64, tmp_path, progress=False).size == 64


def test_a_cache_of_another_input_size_is_not_used(synthetic_set, tmp_path):
    source = CocoKeypoints(synthetic_set.pool_ann, synthetic_set.image_dir)
    small = image_cache(source, 64, tmp_path, progress=False)
    ds = PoseDataset(source, source.image_ids[:2], 128, 4, 3.0, 4.0, with_targets=False, image_cache=small)
    assert ds.image_cache is None and ds[0]["image"].shape == (3, 128, 128)
    assert np.isfinite(ds[0]["image"].numpy()).all()
