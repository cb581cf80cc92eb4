"""PAF decoding: encode ground truth into targets, decode them back, and score the result with COCOeval."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from al_bench.data.skeleton import FLIP_PAIRS, NUM_KEYPOINTS, flip_permutation
from al_bench.data.targets import encode_targets
from al_bench.evaluate.coco_eval import evaluate_keypoints
from al_bench.pose.decode import (
    MAX_LOG_GAIN,
    DecodeParams,
    decode_maps,
    find_peaks,
    find_peaks_batch,
    grid_peaks,
    nms_mask,
    paf_at,
    peak_values,
    to_coco_results,
)
from al_bench.pose.infer import _flip_channel_maps
from al_bench.pose.train import target_encoding


def _letterbox(width: int, height: int, size: int) -> tuple[float, np.ndarray]:
    scale = size / max(width, height)
    return scale, np.array([(size - width * scale) / 2, (size - height * scale) / 2], dtype=np.float32)


def _gt_keypoints(coco, image_id: int) -> np.ndarray:
    anns = [
        a
        for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        if a["num_keypoints"] > 0 and not a["iscrowd"]
    ]
    return np.array([a["keypoints"] for a in anns], dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)


@pytest.mark.parametrize("model_name", ["tiny", "lightweight_openpose"])
def test_ground_truth_round_trip_on_real_coco_images(coco_sample, compose_cfg, model_name):
    cfg = compose_cfg(f"model={model_name}")
    size, stride = cfg.model.input_size, cfg.model.stride
    sigma, paf_width = target_encoding(cfg)
    results, n_people = [], 0
    for image_id in coco_sample.getImgIds():
        info = coco_sample.imgs[image_id]
        scale, offset = _letterbox(info["width"], info["height"], size)
        kps = _gt_keypoints(coco_sample, image_id)
        kps[..., :2] = kps[..., :2] * scale + offset
        heatmaps, pafs = encode_targets(kps, (size // stride, size // stride), stride, sigma, paf_width)
        poses = decode_maps(torch.from_numpy(heatmaps), torch.from_numpy(pafs), stride, DecodeParams())
        # Peaks of different persons that fall into one cell leave fragments: kept, at a low score.
        confident = [p for p in poses if p.score >= 0.1]
        assert len(confident) == len(kps), (
            f"image {image_id}: {len(confident)} persons decoded with score >= 0.1, {len(kps)} in the ground truth"
        )
        assert all(p.score < 0.1 for p in poses[len(kps) :])
        results += to_coco_results(poses, image_id, scale, offset)
        n_people += len(kps)
    assert n_people == 12  # 14 annotations, 2 of them with no keypoints
    metrics = evaluate_keypoints(coco_sample, results)
    assert metrics["ap"] >= 0.9, metrics


def _two_people(size: int = 128) -> np.ndarray:
    """Two upright stick people side by side, every keypoint labelled, in input pixels."""
    template = np.array(
        [[0, 0], [2, -2], [-2, -2], [4, -1], [-4, -1], [8, 10], [-8, 10], [10, 22], [-10, 22], [11, 33], [-11, 33],
         [6, 36], [-6, 36], [6, 52], [-6, 52], [6, 68], [-6, 68]], dtype=np.float32,
    )  # fmt: skip
    people = np.zeros((2, NUM_KEYPOINTS, 3), dtype=np.float32)
    for p, cx in enumerate((size * 0.3, size * 0.7)):
        people[p, :, 0] = cx - template[:, 0]  # facing the camera: the person's left is on the image right
        people[p, :, 1] = 20 + template[:, 1]
        people[p, :, 2] = 2
    return people


def test_decoded_keypoints_sit_on_the_encoded_ones_and_map_back_to_the_original_image():
    people = _two_people()
    heatmaps, pafs = encode_targets(people, (32, 32), 4, 2.5, 3.0)
    poses = decode_maps(torch.from_numpy(heatmaps), torch.from_numpy(pafs), 4, DecodeParams())
    assert len(poses) == 2
    decoded = sorted((p.keypoints for p in poses), key=lambda k: k[0, 0])
    for got, want in zip(decoded, people, strict=True):
        np.testing.assert_allclose(got[:, :2], want[:, :2], atol=0.3)
        # Grid samples of a sigma-2.5 Gaussian up to 2 px off its centre read down to exp(-8/12.5) = 0.53;
        # the refined peak reads the Gaussian's height, 1 (sigma 0.625 cells is a little sharper than the
        # refinement's cap allows for at half a cell off: there it reads >= 0.95).
        assert np.all((got[:, 2] > 0.95) & (got[:, 2] <= 1.0 + 1e-5))
    assert all(0.9 < p.score <= 1.0 + 1e-5 for p in poses)  # complete persons: (17 x 1 + 19 x ~1) / 36
    results = to_coco_results(poses, image_id=7, scale=0.5, offset=np.array([10.0, 4.0]))
    original = np.array(results[0]["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(original[:, :2], (poses[0].keypoints[:, :2] - [10.0, 4.0]) / 0.5, atol=1e-3)
    assert results[0]["image_id"] == 7 and results[0]["category_id"] == 1


def test_fragments_below_min_keypoints_or_min_score_are_dropped():
    people = _two_people()[:1]
    people[0, 3:, 2] = 0  # only nose and eyes labelled: a 3-keypoint fragment
    heatmaps, pafs = encode_targets(people, (32, 32), 4, 2.5, 3.0)
    maps = torch.from_numpy(heatmaps), torch.from_numpy(pafs)
    assert len(decode_maps(*maps, 4, DecodeParams(min_keypoints=3))) == 1
    assert decode_maps(*maps, 4, DecodeParams(min_keypoints=4)) == []
    weak = torch.from_numpy(heatmaps) * 0.3
    assert decode_maps(weak, maps[1], 4, DecodeParams(min_mean_score=0.5)) == []
    assert len(decode_maps(weak, maps[1], 4, DecodeParams(min_mean_score=0.2))) == 1


def test_max_persons_keeps_the_best_scored():
    people = _two_people()
    people[1, 9:, 2] = 0  # the second person lacks legs and wrists: lower score
    heatmaps, pafs = encode_targets(people, (32, 32), 4, 2.5, 3.0)
    poses = decode_maps(torch.from_numpy(heatmaps), torch.from_numpy(pafs), 4, DecodeParams(max_persons=1))
    assert len(poses) == 1 and np.count_nonzero(poses[0].keypoints[:, 2]) == 17


def test_unknown_decode_key_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown infer.decode keys \['peak_treshold'\].*'peak_threshold'"):
        DecodeParams.from_cfg({"peak_treshold": 0.2})


def test_peak_values_are_sorted_padded_and_start_with_the_maximum():
    heatmaps = torch.zeros(1, 18, 16, 16)
    heatmaps[0, 0, 3, 3], heatmaps[0, 0, 10, 12], heatmaps[0, 0, 10, 13] = 0.5, 0.9, 0.4  # (10,13) not a max
    heatmaps[0, 1] = -0.2  # negative everywhere: no peaks, maximum clipped to 0
    peaks = peak_values(heatmaps, max_peaks=4)
    assert peaks.shape == (1, 17, 4)
    # The peak at (10, 12) leans towards (10, 13): its refined height exceeds the sample, by at most the cap.
    assert 0.9 < peaks[0, 0, 0] <= 0.9 * np.exp(MAX_LOG_GAIN) + 1e-6
    np.testing.assert_allclose(
        peaks[0, 0, 1:].numpy(), [0.5, 0.0, 0.0]
    )  # an isolated sample: nothing to refine
    assert torch.all(peaks[0, 1:] == 0)


@pytest.mark.parametrize("offset", [0.0, 0.2, 0.5])
def test_peak_values_read_a_gaussian_peak_height_wherever_it_sits_in_its_cell(offset):
    sigma_cells = 0.75  # the tiny model's 3 px at stride 4
    ys, xs = np.mgrid[0:16, 0:16].astype(np.float32)
    cx, cy = 7 + offset, 8 - offset / 2
    gauss = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma_cells**2))
    heatmaps = torch.zeros(1, 18, 16, 16)
    heatmaps[0, 3] = torch.from_numpy(0.8 * gauss)
    peak = float(peak_values(heatmaps, max_peaks=1)[0, 3, 0])
    assert float(heatmaps[0, 3].max()) < 0.8 or offset == 0.0  # the grid sample reads low off-centre
    assert peak == pytest.approx(0.8, abs=2e-3)


def test_flip_channel_maps_undo_a_horizontal_flip_of_the_targets():
    people = _two_people()
    people[0, :, 0] += 5  # break the mirror symmetry of the scene
    people[1, 9, 2] = 0
    heatmaps, pafs = encode_targets(people, (32, 32), 4, 2.5, 3.0)
    mirrored = people[:, flip_permutation()].copy()
    mirrored[..., 0] = np.where(mirrored[..., 2] > 0, 127 - mirrored[..., 0], 0)
    flip_heat, flip_paf = encode_targets(mirrored, (32, 32), 4, 2.5, 3.0)
    heat_perm, paf_perm, paf_sign = _flip_channel_maps()
    np.testing.assert_allclose(flip_heat[:, :, ::-1][heat_perm], heatmaps, atol=1e-6)
    np.testing.assert_allclose(flip_paf[:, :, ::-1][paf_perm] * paf_sign[:, None, None], pafs, atol=1e-6)
    assert (
        sorted(map(tuple, np.sort(FLIP_PAIRS, axis=1)))
        == sorted(tuple(sorted((k, int(heat_perm[k])))) for k in range(NUM_KEYPOINTS) if heat_perm[k] != k)[
            ::2
        ]
    )


def test_candidates_are_capped_to_the_strongest_per_keypoint():
    torch.manual_seed(0)
    noise = torch.rand(18, 32, 32)  # an untrained model's maps: many local maxima
    peaks = find_peaks(noise, 4, DecodeParams(max_candidates=5))
    uncapped = find_peaks(noise, 4, DecodeParams(max_candidates=10_000))
    for capped, full in zip(peaks, uncapped, strict=True):
        assert len(full) > 5 and len(capped) == 5
        np.testing.assert_array_equal(capped, full[:5])
        assert np.all(np.diff(full[:, 2]) <= 0)  # strongest first


def test_nms_mask_at_one_cell_is_3x3_max_pooling_and_keeps_one_node_of_a_plateau():
    maps = torch.rand(2, 3, 19, 13)
    pooled = torch.nn.functional.max_pool2d(maps, 3, stride=1, padding=1)
    assert torch.equal(nms_mask(maps, 1.0), maps == pooled)  # no ties: the same maxima
    maps[0, 0, 4, 3:6] = 2.0  # plateaus above everything: only their first node in raster order
    maps[1, 2, 7:9, 5] = 2.0
    for reach in (0.25, 1.0):
        mask = nms_mask(maps, reach)
        assert mask[0, 0, 4, 3:6].tolist() == [True, False, False]
        assert mask[1, 2, 7:9, 5].tolist() == [True, False]


@pytest.mark.parametrize("reach", [0.25, 0.5, 0.75, 1.0])
def test_nms_mask_finds_the_maxima_of_the_bilinear_interpolant_within_reach(reach):
    maps = torch.rand(1, 2, 12, 10, dtype=torch.float64)
    h, w = maps.shape[-2:]
    offsets = torch.linspace(-reach, reach, 9, dtype=torch.float64)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    py = (ys[..., None, None] + dy).clamp(0, h - 1)  # (h, w, 9, 9) sample points, clamped like upsampling
    px = (xs[..., None, None] + dx).clamp(0, w - 1)
    grid = torch.stack([2 * px / (w - 1) - 1, 2 * py / (h - 1) - 1], dim=-1).reshape(1, h * w, 81, 2)
    dense = F.grid_sample(maps, grid, mode="bilinear", align_corners=True).reshape(1, 2, h, w, 81)
    expected = (maps[..., None] >= dense - 1e-12).all(dim=-1)
    assert torch.equal(nms_mask(maps, reach), expected)
    with pytest.raises(ValueError, match="reach"):
        nms_mask(maps, 0.0)


def test_batch_peaks_equal_each_image_alone_and_peak_values_read_them():
    torch.manual_seed(1)
    maps = torch.rand(3, 18, 16, 20)
    maps[1] = 0.0  # an image with no peak at all
    params = DecodeParams(peak_threshold=0.5, nms_kernel=17)  # +-8 px at stride 8: the 3 x 3 maxima
    batch = find_peaks_batch(maps, 8, params)
    assert len(batch) == 3 and all(len(image) == 17 for image in batch)
    for image, alone in zip(batch, (find_peaks(m, 8, params) for m in maps), strict=True):
        for got, want in zip(image, alone, strict=True):
            np.testing.assert_array_equal(got, want)
    assert all(len(k) == 0 for k in batch[1])
    top = peak_values(maps, max_peaks=2)  # 3 x 3 maxima, no threshold, same refined heights
    for i in (0, 2):
        for k in range(17):
            strongest = batch[i][k][:2, 2]
            np.testing.assert_allclose(top[i, k, : len(strongest)].numpy(), strongest, rtol=1e-6)
    assert torch.all(top[1] == 0)
    with pytest.raises(ValueError, match="infer.decode.nms_kernel"):
        find_peaks_batch(maps, 8, DecodeParams(nms_kernel=1))


@pytest.mark.parametrize("reach", [1.0, 0.5])
def test_keeping_only_the_strongest_peaks_leaves_them_unchanged(reach):
    """grid_peaks(strongest=k) may skip peaks, never one of a map's k strongest refined ones: noisy maps
    (an untrained model's, ~100 maxima each) with a few sharp and a few blurred peaks."""
    torch.manual_seed(2)
    maps = torch.rand(4, 18, 32, 32) * 0.3
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    for n in range(40):
        b, k, y, x, s = n % 4, n % 17, 3 + 0.7 * n % 26, 2 + 1.3 * n % 28, 0.4 + 0.05 * n
        maps[b, k] += (0.5 + n / 80) * torch.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * s * s))
    full = grid_peaks(maps, reach, threshold=0.0)
    for k in (1, 3, 8, 32):
        kept = grid_peaks(maps, reach, threshold=0.0, strongest=k)
        assert len(kept.value) < len(full.value)
        for i in range(4):
            for kind in range(17):
                want = (full.image == i) & (full.kind == kind)
                got = (kept.image == i) & (kept.kind == kind)
                for field in ("x", "y", "value"):
                    assert torch.equal(getattr(kept, field)[got][:k], getattr(full, field)[want][:k])


def test_paf_at_reads_the_bilinear_upsampling_at_the_rounded_pixel():
    pafs = np.random.default_rng(0).normal(size=(4, 8, 6)).astype(np.float32)
    up = F.interpolate(torch.from_numpy(pafs)[None], scale_factor=4, mode="bilinear", align_corners=False)[
        0
    ].numpy()
    points = np.random.default_rng(1).uniform(-3, 35, size=(4, 7, 2)).astype(np.float32)
    channel = np.array([0, 1, 2, 3])
    ix = np.clip(np.rint(points[..., 0]), 0, 23).astype(int)
    iy = np.clip(np.rint(points[..., 1]), 0, 31).astype(int)
    np.testing.assert_allclose(paf_at(pafs, channel, points, 4), up[channel[:, None], iy, ix], atol=1e-6)
