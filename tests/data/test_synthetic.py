"""The synthetic generator: COCO validity, latent factors, determinism, and keypoints vs drawn pixels."""

import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageDraw
from pycocotools.coco import COCO

from al_bench.data import synthetic as syn
from al_bench.data.skeleton import COCO_SKELETON_1BASED, KEYPOINT_NAMES, PERSON_CATEGORY


def _load(path) -> COCO:
    coco = COCO()
    coco.dataset = json.loads(path.read_text())
    coco.createIndex()
    return coco


def _families(coco: COCO) -> Counter:
    return Counter(a["pose_family"] for a in coco.anns.values())


def test_loads_with_pycocotools_with_coco_category(synthetic_set):
    coco = COCO(str(synthetic_set.pool_ann))
    assert coco.loadCats(coco.getCatIds()) == [PERSON_CATEGORY]
    assert coco.cats[1]["skeleton"] == [list(limb) for limb in COCO_SKELETON_1BASED]
    assert coco.cats[1]["keypoints"] == list(KEYPOINT_NAMES)
    assert sorted(coco.getImgIds()) == list(range(1, 151))
    val = COCO(str(synthetic_set.val_ann))
    assert sorted(val.getImgIds()) == list(range(151, 191))
    for ann in coco.anns.values():
        kps = np.asarray(ann["keypoints"]).reshape(17, 3)
        assert ann["iscrowd"] == 0 and ann["category_id"] == 1
        assert ann["num_keypoints"] == int((kps[:, 2] > 0).sum())
        assert np.all(kps[kps[:, 2] == 0] == 0), "unlabelled keypoints are stored as 0, 0, 0"
        # area = visible pixel count = the segmentation mask, and the bbox encloses that mask
        mask = coco.annToMask(ann)
        assert ann["area"] == mask.sum() > 0
        ys, xs = np.nonzero(mask)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    img = Image.open(synthetic_set.image_dir / coco.imgs[1]["file_name"])
    assert img.size == (128, 128) and img.mode == "RGB"


def test_attributes_describe_each_image(synthetic_set):
    coco = _load(synthetic_set.pool_ann)
    scenes = Counter()
    for image_id, img in coco.imgs.items():
        attrs = img["attributes"]
        anns = coco.imgToAnns.get(image_id, [])
        assert attrs["n_persons"] == len(anns) >= 1
        assert attrs["pose_families"] == [a["pose_family"] for a in anns]
        assert attrs["scene_type"] in syn.SCENE_TYPES
        scenes[attrs["scene_type"]] += 1
    assert set(scenes) == set(syn.SCENE_TYPES)
    counts = Counter(img["attributes"]["n_persons"] for img in coco.imgs.values())
    assert counts[1] > counts[4] and set(counts) <= {1, 2, 3, 4}


def test_pose_families_are_long_tailed(synthetic_set):
    families = _families(_load(synthetic_set.pool_ann))
    total = sum(families.values())
    share = {f: families[f] / total for f in syn.POSE_FAMILIES}
    assert 0.3 < share["standing"] < 0.5
    assert share["standing"] > share["walking"] > share["crouching"]
    assert share["lying"] + share["upside_down"] < 0.17
    assert share["upside_down"] > 0, "rare families still occur"


def test_balanced_val_balances_families(tmp_path):
    paths = syn.generate_synthetic(tmp_path, n_pool=1, n_val=120, seed=5, val_distribution="balanced")
    families = _families(_load(paths.val_ann))
    shares = np.array([families[f] for f in syn.POSE_FAMILIES]) / sum(families.values())
    assert shares.min() > 0.10 and shares.max() < 0.24
    with pytest.raises(ValueError, match="val_distribution"):
        syn.generate_synthetic(tmp_path, 1, 1, val_distribution="uniform")


def test_deterministic_per_seed(tmp_path):
    a = syn.generate_synthetic(tmp_path / "a", n_pool=6, n_val=2, seed=11)
    b = syn.generate_synthetic(tmp_path / "b", n_pool=6, n_val=2, seed=11)
    c = syn.generate_synthetic(tmp_path / "c", n_pool=6, n_val=2, seed=12)
    assert a.pool_ann.read_bytes() == b.pool_ann.read_bytes()
    assert a.val_ann.read_bytes() == b.val_ann.read_bytes()
    for name in sorted(p.name for p in a.image_dir.iterdir()):
        assert np.array_equal(
            np.asarray(Image.open(a.image_dir / name)), np.asarray(Image.open(b.image_dir / name))
        )
    assert a.pool_ann.read_bytes() != c.pool_ann.read_bytes()


def test_written_image_is_the_rendered_scene(synthetic_set):
    """The files are exactly render_scene(default_rng([seed, split, index])), so scene-level checks hold for them."""
    coco = _load(synthetic_set.pool_ann)
    for index in (0, 7):
        scene = syn.render_scene(np.random.default_rng([3, 0, index]), 128)
        written = np.asarray(Image.open(synthetic_set.image_dir / coco.imgs[index + 1]["file_name"]))
        assert np.array_equal(written, scene.image)
        anns, _ = syn.scene_annotations(scene, index + 1)
        assert [a["keypoints"] for a in anns] == [a["keypoints"] for a in coco.imgToAnns[index + 1]]


def test_visible_keypoints_land_on_their_drawn_markers():
    n_visible = n_labelled = 0
    for seed in range(40):
        scene = syn.render_scene(np.random.default_rng(seed), 128)
        for kps, style in zip(scene.keypoints, scene.styles, strict=True):
            colors = style.marker_colors()
            for k, (x, y, v) in enumerate(kps):
                n_labelled += v > 0
                if v == 2:
                    n_visible += 1
                    assert tuple(scene.image[int(y), int(x)]) == tuple(colors[k]), (seed, KEYPOINT_NAMES[k])
    assert n_visible > 0.75 * n_labelled, "most labelled keypoints are visible"


def test_joint_markers_differ_from_limbs_and_left_is_lighter_than_right():
    rng = np.random.default_rng(0)
    for _ in range(20):
        style = syn.sample_style(rng)
        assert sum(style.left) > sum(style.right)
        assert style.joint not in (style.left, style.right, style.torso)


def test_upright_people_face_the_camera():
    """The person's left appears on the image right for an upright (standing) person."""
    rng = np.random.default_rng(1)
    k = syn.KP
    for _ in range(20):
        pose = syn.sample_pose("standing", rng, 100.0, (64, 64))
        kp = pose.keypoints
        for side in ("shoulder", "hip", "eye", "ear", "ankle"):
            assert kp[k[f"left_{side}"], 0] > kp[k[f"right_{side}"], 0]
        assert kp[k["nose"], 1] < kp[k["left_shoulder"], 1] < kp[k["left_hip"], 1] < kp[k["left_ankle"], 1]
        assert kp[k["left_eye"], 1] < kp[k["nose"], 1], "eyes above the nose"


def _one_person(pose, size=128):
    image = Image.new("RGB", (size, size), (0, 0, 0))
    labels = Image.new("L", (size, size), 0)
    canvases = [(ImageDraw.Draw(image), "rgb"), (ImageDraw.Draw(labels), "label")]
    pose.keypoints = np.round(pose.keypoints)
    syn.draw_person(canvases, pose, syn.sample_style(np.random.default_rng(0)), 32)
    return image, labels, canvases


def test_occluded_keypoint_is_v1_and_others_stay_visible():
    pose = syn.sample_pose("standing", np.random.default_rng(2), 100.0, (64, 64))
    image, labels, canvases = _one_person(pose)
    before = syn.visibility(pose.keypoints, np.asarray(labels), 32)
    assert (before[:, 2] == 2).all(), "an isolated large standing person shows every marker"
    x, y = pose.keypoints[syn.KP["left_wrist"]]
    for draw, mode in canvases:
        draw.rectangle(
            [x - 4, y - 4, x + 4, y + 4], fill=(90, 90, 90) if mode == "rgb" else syn.OCCLUDER_LABEL
        )
    after = syn.visibility(pose.keypoints, np.asarray(labels), 32)
    covered = (np.abs(pose.keypoints - [x, y]) <= 4).all(axis=1)
    assert covered[syn.KP["left_wrist"]]
    assert (after[covered, 2] == 1).all() and (after[~covered, 2] == 2).all()
    assert np.array_equal(after[covered, :2], pose.keypoints[covered]), (
        "occluded keypoints keep their position"
    )
    assert image.getpixel((int(x), int(y))) == (90, 90, 90)


def test_truncated_keypoints_are_v0():
    pose = syn.sample_pose("standing", np.random.default_rng(3), 110.0, (2, 64))  # straddles the left border
    _, labels, _ = _one_person(pose)
    kps = syn.visibility(pose.keypoints, np.asarray(labels), 32)
    outside = pose.keypoints[:, 0] < 0
    assert 0 < outside.sum() < 17
    assert (kps[outside] == 0).all()
    assert (kps[~outside, 2] > 0).all()


def test_area_is_the_drawn_pixel_area_and_scene_counts_visibility():
    for seed in range(5):
        scene = syn.render_scene(
            np.random.default_rng(seed), 128, n_persons=1, occluders=False, flat_background=(0, 0, 0)
        )
        anns, _ = syn.scene_annotations(scene, 1)
        drawn = (scene.image != 0).any(axis=-1).sum()
        assert anns[0]["area"] == drawn
    scenes = [syn.render_scene(np.random.default_rng(s), 128) for s in range(60)]
    v = Counter(int(x) for s in scenes for x in s.keypoints[..., 2].reshape(-1))
    assert v[0] > 0 and v[1] > 0 and v[2] > v[1] + v[0], v


def test_people_are_mostly_40_to_110_px_tall(synthetic_set):
    heights = np.array([a["height_px"] for a in _load(synthetic_set.pool_ann).anns.values()])
    assert 0.7 < np.mean((heights >= 40) & (heights <= 110)) and 50 < np.median(heights) < 90
