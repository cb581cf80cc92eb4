"""Visualisation: keypoints drawn where they are, contact sheets of images and of encoded targets."""

import math

import numpy as np
from PIL import Image

from al_bench.data.coco import CocoKeypoints
from al_bench.data.dataset import PoseDataset
from al_bench.data.transforms import denormalize
from al_bench.data.visualize import LABEL_HEIGHT, draw_keypoints, keypoint_sheet, target_sheet


def test_draw_keypoints_marks_visible_filled_and_occluded_hollow():
    kps = np.zeros((1, 17, 3), np.float32)
    kps[0, 5] = (20, 20, 2)  # left shoulder, visible
    kps[0, 10] = (40, 40, 1)  # right wrist, occluded (its elbow is unlabelled: no limb drawn)
    out = np.asarray(draw_keypoints(Image.new("RGB", (64, 64)), kps, radius=3))
    assert out[20, 20].tolist() == [60, 220, 90], "visible: filled with the left-side colour"
    assert out[40, 40].tolist() == [0, 0, 0] and out[40, 43].tolist() == [250, 140, 30], "occluded: a ring"
    unlabelled = kps * [1, 1, 0]
    assert np.asarray(draw_keypoints(Image.new("RGB", (64, 64)), unlabelled)).max() == 0, "v=0 draws nothing"
    kps[0, 6] = (44, 20, 2)  # right shoulder: the shoulder-shoulder limb joins them
    out = np.asarray(draw_keypoints(Image.new("RGB", (64, 64)), kps, radius=3))
    assert (out[20, 24:40] == [80, 160, 255]).all()


def test_keypoint_sheet_png(synthetic_set, tmp_path):
    source = CocoKeypoints(synthetic_set.pool_ann, synthetic_set.image_dir)
    path = keypoint_sheet(source, source.image_ids[:10], tmp_path / "sheet.png", tile=64, ncols=4)
    sheet = Image.open(path)
    assert sheet.size == (4 * 64, 3 * (64 + LABEL_HEIGHT))


def test_target_sheet_of_encoded_heatmaps_and_pafs(coco_sample, tmp_path):
    source = CocoKeypoints(coco_sample / "person_keypoints_sample.json", coco_sample)
    item = PoseDataset(source, [40083], 368, 8, 7.0, 8.0)[0]
    image = Image.fromarray(denormalize(item["image"].numpy()))
    path = target_sheet(
        item["heatmaps"].numpy(), item["pafs"].numpy(), tmp_path / "t.png", image, item["mask"].numpy()
    )
    sheet = np.asarray(Image.open(path))
    n_tiles = 1 + 1 + 18 + 19  # input, mask, heatmaps, PAFs
    assert sheet.shape == (math.ceil(n_tiles / 8) * (96 + LABEL_HEIGHT), 8 * 96, 3)
    # the nose heatmap tile (third tile: row 0, col 2) lights up red where the noses are
    nose_tile = sheet[LABEL_HEIGHT : LABEL_HEIGHT + 96, 2 * 96 : 3 * 96].astype(int)
    assert (nose_tile[..., 0] - nose_tile[..., 2] > 150).sum() > 5
