"""PoseDataset and transforms: shapes, alignment of image/keypoints/targets, loss masks, determinism."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from al_bench.data.coco import CocoKeypoints
from al_bench.data.dataset import PoseDataset, collate
from al_bench.data.skeleton import flip_permutation
from al_bench.data.targets import cell_centers
from al_bench.data.transforms import AugmentConfig, denormalize
from al_bench.pose.train import model_input

S, STRIDE = 368, 8


@pytest.fixture(scope="module")
def sample_source(coco_sample) -> CocoKeypoints:
    return CocoKeypoints(coco_sample / "person_keypoints_sample.json", coco_sample)


def _dataset(source, **kwargs) -> PoseDataset:
    return PoseDataset(source, source.image_ids, S, STRIDE, sigma=7.0, paf_width=8.0, **kwargs)


def test_items_have_the_contract_shapes(sample_source):
    item = _dataset(sample_source)[1]
    assert item["image"].shape == (3, S, S) and item["image"].dtype == torch.float32
    assert item["heatmaps"].shape == (18, 46, 46) and item["pafs"].shape == (38, 46, 46)
    assert item["mask"].shape == (1, 46, 46)
    assert item["image_id"] == 40083 and item["offset"].shape == (2,)
    assert item["scale"] == pytest.approx(S / 500)
    # letterbox of a 500 x 333 image: padded above and below with the ImageNet mean (normalises to ~0)
    assert item["image"][:, :20].abs().max() < 0.02
    assert item["image"][:, S // 2].std() > 0.3
    batch = collate([item, _dataset(sample_source)[0]])
    assert batch["image"].shape == (2, 3, S, S) and batch["image_id"].tolist() == [40083, 785]


def test_uint8_pixel_items_normalise_to_the_same_training_input(sample_source):
    aug = AugmentConfig(scale=(0.9, 1.1), rotation_deg=10, flip=True)
    floats = _dataset(sample_source, augment=aug, seed=3)
    pixels = _dataset(sample_source, augment=aug, seed=3, normalized=False)
    for i in range(len(floats)):
        a, b = floats[(1, i)], pixels[(1, i)]
        assert "image" not in b and b["pixels"].shape == (S, S, 3) and b["pixels"].dtype == torch.uint8
        assert torch.equal(a["heatmaps"], b["heatmaps"]) and torch.equal(a["affine"], b["affine"])
        x = model_input(collate([b]), torch.device("cpu"), channels_last=True)
        assert x.is_contiguous(memory_format=torch.channels_last) and torch.equal(x[0], a["image"])


def test_inference_items_have_no_targets(sample_source):
    item = _dataset(sample_source, with_targets=False)[0]
    assert {"image", "image_id", "scale", "offset"} <= set(item)
    assert not {"heatmaps", "pafs", "mask"} & set(item)


def test_heatmap_peaks_land_on_annotated_keypoints(sample_source):
    ds = _dataset(sample_source)
    centers = cell_centers(46, STRIDE)
    n_checked = 0
    for index, image_id in enumerate(sample_source.image_ids):
        item = ds[index]
        heatmaps = item["heatmaps"].numpy()
        # map the raw annotations with the item's own scale/offset (the documented inverse)
        kps = sample_source.keypoints(image_id)
        xy = kps[..., :2] * item["scale"] + item["offset"].numpy()
        for person, person_xy in zip(kps, xy, strict=True):
            for k in np.flatnonzero(person[:, 2] > 0):
                x, y = person_xy[k]
                cx, cy = (
                    int(np.clip(np.round((x - 3.5) / STRIDE), 0, 45)),
                    int(np.clip(np.round((y - 3.5) / STRIDE), 0, 45)),
                )
                window = heatmaps[k, max(cy - 1, 0) : cy + 2, max(cx - 1, 0) : cx + 2]
                py, px = np.unravel_index(window.argmax(), window.shape)
                peak_x, peak_y = centers[max(cx - 1, 0) + px], centers[max(cy - 1, 0) + py]
                assert abs(peak_x - x) <= STRIDE and abs(peak_y - y) <= STRIDE, (image_id, k)
                assert window.max() > 0.6
                n_checked += 1
    assert n_checked > 150


def test_zero_keypoint_persons_are_masked(sample_source):
    ds = _dataset(sample_source)
    for index, image_id in enumerate(sample_source.image_ids):
        item = ds[index]
        mask = item["mask"][0].numpy()
        zero_kp = [a for a in sample_source.annotations(image_id) if a["num_keypoints"] == 0]
        for ann in zero_kp:  # persons 1202706 (image 40083) and 508900 (image 196141)
            x, y, w, h = ann["bbox"]
            cx, cy = (np.array([x + w / 2, y + h / 2]) * item["scale"] + item["offset"].numpy()) // STRIDE
            assert mask[int(cy), int(cx)] == 0, ann["id"]
        if not zero_kp:
            assert mask.min() == 1.0, image_id
        else:
            assert 0.9 < mask.mean() < 1.0, "only the small zero-keypoint persons are masked"
    assert (
        sum(a["num_keypoints"] == 0 for i in sample_source.image_ids for a in sample_source.annotations(i))
        == 2
    )


def test_crowd_regions_are_masked(coco_sample, tmp_path):
    data = json.loads((coco_sample / "person_keypoints_sample.json").read_text())
    ann = next(a for a in data["annotations"] if a["id"] == 442619)  # the only person of image 785
    data["annotations"].append(
        {
            **ann,
            "id": 1,
            "iscrowd": 1,
            "num_keypoints": 0,
            "keypoints": [0] * 51,
            "segmentation": [],
            "bbox": [0, 0, 100, 100],
        }
    )
    path = tmp_path / "crowd.json"
    path.write_text(json.dumps(data))
    source = CocoKeypoints(path, coco_sample)
    mask = PoseDataset(source, [785], S, STRIDE, 7.0, 8.0)[0]["mask"][0]
    # box (0..100, 0..100) at scale 0.575 and y offset 44: cells 0..7 x 5..12 are ignored
    assert mask[8, 3] == 0 and mask[20, 20] == 1 and mask[4, 3] == 1


def _dot_source(tmp_path, width=200, height=120, dot=(150, 30)) -> CocoKeypoints:
    """A black image with one white 3x3 dot annotated as the nose (and left eye 10 px to its left)."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[dot[1] - 1 : dot[1] + 2, dot[0] - 1 : dot[0] + 2] = 255
    Image.fromarray(pixels).save(tmp_path / "dot.png")
    kps = [0] * 51
    kps[0:3] = [dot[0], dot[1], 2]
    kps[3:6] = [dot[0] - 10, dot[1], 2]
    coco = {
        "images": [{"id": 7, "file_name": "dot.png", "width": width, "height": height}],
        "annotations": [{"id": 70, "image_id": 7, "category_id": 1, "iscrowd": 0, "keypoints": kps, "num_keypoints": 2,
                         "area": 500.0, "bbox": [100, 10, 60, 60]}],
        "categories": [{"id": 1, "name": "person"}],
    }  # fmt: skip
    (tmp_path / "dot.json").write_text(json.dumps(coco))
    return CocoKeypoints(tmp_path / "dot.json", tmp_path)


def _brightest(item) -> np.ndarray:
    gray = denormalize(item["image"].numpy()).astype(float).sum(-1)
    ys, xs = np.nonzero(gray >= max(gray.max() * 0.6, 400))  # padding (the ImageNet mean) sums to 344
    weights = gray[ys, xs]
    return np.array([np.average(xs, weights=weights), np.average(ys, weights=weights)])


def test_letterbox_keeps_image_and_keypoints_aligned(tmp_path):
    source = _dot_source(tmp_path)
    ds = PoseDataset(source, [7], 128, 4, 3.0, 4.0)
    item = ds[0]
    nose = ds.input_keypoints(0)[0, 0]
    assert np.abs(_brightest(item) - nose[:2]).max() < 0.75
    # documented inverse: original = (input - offset) / scale
    assert np.allclose((nose[:2] - item["offset"].numpy()) / item["scale"], [150, 30], atol=1e-3)


def test_augmentation_keeps_image_and_keypoints_aligned_and_flips_chirality(tmp_path):
    source = _dot_source(tmp_path)
    augment = AugmentConfig(True, (0.8, 1.3), 35.0, True)
    ds = PoseDataset(source, [7] * 12, 128, 4, 3.0, 4.0, augment=augment, seed=4)
    flips = 0
    for index in range(len(ds)):
        item = ds[index]
        kps = ds.input_keypoints(index)[0]
        nose = kps[0]
        assert np.abs(_brightest(item) - nose[:2]).max() < 1.0, index
        # affine is the exact original -> input map
        assert np.allclose(item["affine"].numpy() @ [150, 30, 1], nose[:2], atol=1e-3)
        eye = kps[1] if not item["flipped"] else kps[flip_permutation()[1]]
        assert eye[2] == 2 and np.hypot(*(eye[:2] - nose[:2])) == pytest.approx(
            10 * np.sqrt(abs(np.linalg.det(item["affine"][:, :2].numpy()))), rel=1e-4
        )
        if item["flipped"]:
            flips += 1
            assert kps[1, 2] == 0 and kps[2, 2] == 2, "a flipped left eye becomes the right eye"
    assert 0 < flips < len(ds)


def test_augmentation_is_deterministic_per_seed_epoch_index(sample_source):
    augment = {
        "enabled": True,
        "scale": [0.7, 1.3],
        "rotation_deg": 40,
        "flip": True,
    }  # a data.augment mapping
    a = _dataset(sample_source, augment=augment, seed=1)
    b = _dataset(sample_source, augment=augment, seed=1)
    first = a[2]
    assert torch.equal(first["image"], b[2]["image"]) and torch.equal(first["heatmaps"], b[2]["heatmaps"])
    a.set_epoch(1)
    assert not torch.equal(first["image"], a[2]["image"])
    assert not torch.equal(first["image"], _dataset(sample_source, augment=augment, seed=2)[2]["image"])
    off = _dataset(sample_source, augment={"enabled": False, "scale": [0.5, 0.6]})
    assert off.augment is None


def test_bad_arguments(sample_source):
    with pytest.raises(ValueError, match="multiple of stride"):
        PoseDataset(sample_source, [785], 130, 8, 7.0, 8.0)
    with pytest.raises(KeyError, match=r"image ids not in .*\[1\]"):
        PoseDataset(sample_source, [785, 1], S, STRIDE, 7.0, 8.0)
    with pytest.raises(ValueError, match="with targets needs sigma and paf_width"):
        PoseDataset(sample_source, [785], S, STRIDE)
    assert "heatmaps" not in PoseDataset(sample_source, [785], S, STRIDE, with_targets=False)[0]


def test_synthetic_items(synthetic_set):
    source = CocoKeypoints(synthetic_set.pool_ann, synthetic_set.image_dir)
    ds = PoseDataset(source, source.image_ids[:4], 128, 4, 3.0, 4.0)
    item = ds[0]
    assert item["scale"] == 1.0 and item["offset"].tolist() == [0.0, 0.0]
    original = np.asarray(Image.open(source.image_path(int(source.image_ids[0]))))
    assert np.abs(denormalize(item["image"].numpy()).astype(int) - original).max() <= 1, (
        "128 px: a no-op resize"
    )


def test_synthetic_crowds_small_people_and_person_free_images_train_as_coco_does(synthetic_set):
    """Crowd regions and people below 32² are masked out of the loss; a person-free image is all
    background with the loss everywhere (background is learned from it)."""
    source = CocoKeypoints(synthetic_set.pool_ann, synthetic_set.image_dir)
    ignored = {
        kind: next(i for i in source.image_ids if any(test(a) for a in source.annotations(i)))
        for kind, test in (
            ("crowd", lambda a: a["iscrowd"]),
            ("small", lambda a: not a["iscrowd"] and a["num_keypoints"] == 0),
        )
    }
    for kind, image_id in ignored.items():
        item = PoseDataset(source, [image_id], 128, 4, 3.0, 4.0)[0]
        for ann in source.annotations(image_id):
            if ann["iscrowd"] or ann["num_keypoints"] == 0:
                cells = source.coco.annToMask(ann).reshape(32, 4, 32, 4).max(axis=(1, 3)).astype(bool)
                assert (item["mask"][0].numpy()[cells] == 0).all(), kind
    free = next(i for i in source.image_ids if not source.annotations(i))
    item = PoseDataset(source, [free], 128, 4, 3.0, 4.0)[0]
    assert (
        (item["mask"] == 1).all() and (item["heatmaps"][17] == 1).all() and (item["heatmaps"][:17] == 0).all()
    )
    assert (item["pafs"] == 0).all()
