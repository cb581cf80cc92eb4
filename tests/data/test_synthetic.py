"""The synthetic generator, checked with pycocotools against COCO's rules: person scale, facing and
visibility, self-occlusion, crowds, person-free images; determinism; keypoints vs drawn pixels."""

import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from al_bench.data import synthetic as syn
from al_bench.data.skeleton import COCO_SKELETON_1BASED, KEYPOINT_NAMES, PERSON_CATEGORY
from al_bench.data.synthetic.mannequin import KP, sample_style
from al_bench.data.synthetic.scene import CLUTTER_LABEL, COCO_MIN_KEYPOINT_AREA, LABELS_PER_PERSON
from al_bench.data.synthetic.writer import scene_annotations
from al_bench.evaluate import evaluate_keypoints


def _load(path) -> COCO:
    coco = COCO()
    coco.dataset = json.loads(path.read_text())
    coco.createIndex()
    return coco


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> COCO:
    """An 800-image pool (about 7 s): enough for the shares the rules are about (large persons are 0.6 %)."""
    paths = syn.generate_synthetic(tmp_path_factory.mktemp("pool800"), n_pool=800, n_val=1, seed=7)
    return _load(paths.pool_ann)


def _persons(coco: COCO) -> list[dict]:
    return [a for a in coco.anns.values() if not a["iscrowd"] and a["num_keypoints"] > 0]


def _kps(ann: dict) -> np.ndarray:
    return np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)


def test_loads_with_pycocotools_with_coco_category(synthetic_set):
    coco = COCO(str(synthetic_set.pool_ann))
    assert coco.loadCats(coco.getCatIds()) == [PERSON_CATEGORY]
    assert coco.cats[1]["skeleton"] == [list(limb) for limb in COCO_SKELETON_1BASED]
    assert coco.cats[1]["keypoints"] == list(KEYPOINT_NAMES)
    assert sorted(coco.getImgIds()) == list(range(1, 151))
    assert sorted(COCO(str(synthetic_set.val_ann)).getImgIds()) == list(range(151, 191))
    for ann in coco.anns.values():
        kps = _kps(ann)
        assert ann["category_id"] == 1
        assert ann["num_keypoints"] == int((kps[:, 2] > 0).sum())
        assert np.all(kps[kps[:, 2] == 0] == 0), "unlabelled keypoints are stored as 0, 0, 0"
        # area = visible pixel count = the segmentation mask, and the bbox encloses that mask
        mask = coco.annToMask(ann)
        assert ann["area"] == mask.sum() > 0
        ys, xs = np.nonzero(mask)
        assert ann["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
    img = Image.open(synthetic_set.image_dir / coco.imgs[1]["file_name"])
    assert img.size == (128, 128) and img.mode == "RGB"


def test_coco_person_scale_rule(pool):
    """Persons with keypoints are >= 32² (medium and large both occur); smaller ones carry none."""
    areas = np.array([a["area"] for a in _persons(pool)])
    assert len(areas) > 400
    assert areas.min() >= COCO_MIN_KEYPOINT_AREA
    assert ((areas >= 32**2) & (areas < 96**2)).any() and (areas >= 96**2).any()
    small = [a for a in pool.anns.values() if not a["iscrowd"] and a["area"] < COCO_MIN_KEYPOINT_AREA]
    assert len(small) > 20, "background people exist, annotated the COCO way"
    for ann in small:
        assert ann["num_keypoints"] == 0 and not any(ann["keypoints"])
        assert ann["segmentation"], "kept with their mask, so training masks them out"


def test_coco_eval_ignores_small_persons_and_crowds(pool):
    """Ground truth given back as results scores AP 1 even with extra detections on the small people
    and the crowds: COCOeval matches those to the ignored annotations, as on real COCO."""
    truth = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in _persons(pool)
    ]
    assert evaluate_keypoints(pool, truth)["ap"] == pytest.approx(1.0)
    extra = []
    for ann in pool.anns.values():
        if ann["iscrowd"] or ann["num_keypoints"] == 0:
            x, y, w, h = ann["bbox"]
            xy = np.column_stack([np.linspace(x, x + w, 17), np.linspace(y, y + h, 17), np.ones(17)])
            extra.append(
                {
                    "image_id": ann["image_id"],
                    "category_id": 1,
                    "keypoints": xy.ravel().tolist(),
                    "score": 0.9,
                }
            )
    assert any(a["iscrowd"] for a in pool.anns.values()) and len(extra) > 20
    assert evaluate_keypoints(pool, truth + extra)["ap"] == pytest.approx(1.0)


def test_facing_decides_chirality_and_face_visibility(pool):
    seen = Counter()
    for ann in _persons(pool):
        if ann["pose_family"] not in ("standing", "walking"):
            continue  # upright: the in-plane roll is small
        kps = _kps(ann)
        shoulders = kps[[KP["left_shoulder"], KP["right_shoulder"]]]
        if ann["facing"] == "back":
            assert (kps[[KP["nose"], KP["left_eye"], KP["right_eye"]], 2] == 0).all(), ann["id"]
        if (shoulders[:, 2] == 0).any():
            continue
        left_is_right_on_image = shoulders[0, 0] > shoulders[1, 0]
        if ann["facing"] == "front":
            seen["front"] += 1
            assert left_is_right_on_image, ann["id"]
        elif ann["facing"] == "back":
            seen["back"] += 1
            assert not left_is_right_on_image, ann["id"]
        else:  # profile: mostly one eye (the head turns a little, so some are three-quarter views)
            seen["profile"] += 1
            seen["one_eye"] += (kps[[KP["left_eye"], KP["right_eye"]], 2] > 0).sum() <= 1
    assert min(seen.values()) > 10 and set(seen) == {"front", "back", "profile", "one_eye"}, seen
    assert seen["one_eye"] > 0.7 * seen["profile"], seen


def test_no_side_is_colour_coded():
    for seed in range(20):
        style = sample_style(np.random.default_rng(seed))
        assert style.marker_color(KP["left_wrist"]) == style.marker_color(KP["right_wrist"])
        assert style.marker_color(KP["left_eye"]) == style.marker_color(KP["right_eye"])
    # Drawn: the middle of the left and the right shin show the same colour wherever both are in view.
    compared = 0
    for seed in range(20):
        scene = syn.render_scene(
            np.random.default_rng(seed), 128, n_persons=1, occluders=False, clutter=False
        )
        kp = scene.people[0].pose.keypoints
        mids = [
            np.round((kp[KP[f"{s}_knee"]] + kp[KP[f"{s}_ankle"]]) / 2).astype(int) for s in ("left", "right")
        ]
        if all(0 <= x < 128 and 0 <= y < 128 and scene.labels[y, x] == LABELS_PER_PERSON for x, y in mids):
            compared += 1
            assert tuple(scene.image[mids[0][1], mids[0][0]]) == tuple(scene.image[mids[1][1], mids[1][0]])
    assert compared >= 5


def test_self_occlusion_labels_hidden_joints_v1():
    """Without occluders or other people, profile views hide far-side joints behind the body (v = 1)
    and every v = 1 keypoint sits on a pixel of the person itself."""
    hidden = 0
    for seed in range(30):
        scene = syn.render_scene(
            np.random.default_rng(seed), 128, n_persons=1, occluders=False, clutter=False
        )
        person = scene.people[0]
        base = LABELS_PER_PERSON
        for x, y, v in person.keypoints:
            if v == 1:
                hidden += 1
                assert base <= scene.labels[int(y), int(x)] < 2 * base, "covered by its own body"
    assert hidden > 20


def test_occluders_hide_keypoints_as_v1_and_truncation_gives_v0():
    counts = Counter()
    for seed in range(80):
        scene = syn.render_scene(np.random.default_rng(seed), 128)
        for person in scene.people:
            for x, y, v in person.keypoints:
                if v == 1 and scene.labels[int(y), int(x)] == CLUTTER_LABEL:
                    counts["occluder"] += 1
            outside = (person.pose.keypoints < 0).any(axis=1) | (person.pose.keypoints > 127).any(axis=1)
            assert (person.keypoints[outside] == 0).all()
            counts["outside"] += int(outside.sum())
    assert counts["occluder"] > 0 and counts["outside"] > 0, counts


def test_visible_keypoints_land_on_their_drawn_markers():
    n_visible = n_labelled = 0
    for seed in range(40):
        scene = syn.render_scene(np.random.default_rng(seed), 128)
        for person in scene.people:
            for k, (x, y, v) in enumerate(person.keypoints):
                n_labelled += v > 0
                if v == 2:
                    n_visible += 1
                    assert tuple(scene.image[int(y), int(x)]) == person.style.marker_color(k), (
                        seed,
                        KEYPOINT_NAMES[k],
                    )
    assert n_visible > 0.65 * n_labelled, "most labelled keypoints are visible"


def test_crowds_are_one_iscrowd_region(pool):
    crowds = [a for a in pool.anns.values() if a["iscrowd"]]
    assert len(crowds) >= 15, "about one image in ten has a crowd"
    for ann in crowds:
        assert ann["num_keypoints"] == 0 and not any(ann["keypoints"])
        assert isinstance(ann["segmentation"], dict) and "counts" in ann["segmentation"]  # RLE
        assert pool.annToMask(ann).sum() == ann["area"] > 0


def test_person_free_images_are_at_least_ten_percent(pool):
    free = [i for i in pool.getImgIds() if not any(not a["iscrowd"] for a in pool.imgToAnns.get(i, []))]
    assert 0.10 <= len(free) / len(pool.imgs) <= 0.2
    assert all(pool.imgs[i]["attributes"]["n_persons"] == 0 for i in free)


def test_attributes_describe_each_image(pool):
    for image_id, img in pool.imgs.items():
        attrs = img["attributes"]
        persons = [a for a in pool.imgToAnns.get(image_id, []) if not a["iscrowd"] and a["num_keypoints"] > 0]
        assert attrs["n_persons"] == len(persons)
        assert attrs["pose_families"] == [a["pose_family"] for a in persons]
        assert attrs["facings"] == [a["facing"] for a in persons]
        assert attrs["n_crowd_regions"] == sum(a["iscrowd"] for a in pool.imgToAnns.get(image_id, []))
        assert attrs["scene_type"] in syn.SCENE_TYPES
    counts = Counter(img["attributes"]["n_persons"] for img in pool.imgs.values())
    assert set(counts) <= {0, 1, 2, 3} and counts[1] > counts[3]


def test_pose_families_are_long_tailed(pool):
    """The default mix is upright people with a rare tail (arms raised, crouching): nobody lies or stands
    on their head (the ``all`` mix has them, tested below)."""
    families = Counter(a["pose_family"] for a in _persons(pool))
    share = {f: families[f] / sum(families.values()) for f in syn.POSE_FAMILIES}
    assert 0.45 < share["standing"] < 0.67
    assert share["standing"] > share["walking"] > share["arms_raised"] > 0 and share["crouching"] > 0
    assert share["arms_raised"] + share["crouching"] < 0.2
    assert share["lying"] == share["upside_down"] == 0


def test_the_all_mix_adds_people_lying_and_upside_down(tmp_path):
    paths = syn.generate_synthetic(tmp_path, n_pool=300, n_val=1, seed=4, families="all")
    families = Counter(a["pose_family"] for a in _persons(_load(paths.pool_ann)))
    share = {f: families[f] / sum(families.values()) for f in syn.POSE_FAMILIES}
    assert share["standing"] > share["walking"] > share["crouching"] > share["upside_down"] > 0
    assert 0 < share["lying"] + share["upside_down"] < 0.12
    with pytest.raises(ValueError, match="families must be one of"):
        syn.generate_synthetic(tmp_path / "x", 1, 1, families="rotated")


def test_balanced_val_balances_the_families_of_the_mix(tmp_path):
    paths = syn.generate_synthetic(tmp_path, n_pool=1, n_val=150, seed=5, val_distribution="balanced")
    families = Counter(a["pose_family"] for a in _persons(_load(paths.val_ann)))
    upright = [f for f, p in zip(syn.POSE_FAMILIES, syn.FAMILY_MIXES["upright"], strict=True) if p > 0]
    assert set(families) == set(upright)  # no family the pool cannot show
    shares = np.array([families[f] for f in upright]) / sum(families.values())
    assert shares.min() > 0.15 and shares.max() < 0.35
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
        anns = scene_annotations(scene, index + 1)
        assert [a["keypoints"] for a in anns] == [a["keypoints"] for a in coco.imgToAnns.get(index + 1, [])]


def test_area_is_the_drawn_pixel_area():
    for seed in range(5):
        scene = syn.render_scene(
            np.random.default_rng(seed),
            128,
            n_persons=1,
            occluders=False,
            flat_background=(0, 0, 0),
            clutter=False,
        )
        anns = scene_annotations(scene, 1)
        drawn = (scene.image != 0).any(axis=-1).sum()
        assert anns[0]["area"] == drawn


# --------------------------------------------------------------------------- bursts (video-like pool)


@pytest.fixture(scope="module")
def burst_set(tmp_path_factory):
    """300 pool images, 60 % of them frames of 10 bursts (the benchmark's shares), and 20 val images."""
    return syn.generate_synthetic(
        tmp_path_factory.mktemp("bursts"), n_pool=300, n_val=20, seed=7, burst_share=0.6, n_bursts=10
    )


def _frames_by_burst(coco: COCO) -> dict[int, list[int]]:
    bursts: dict[int, list[int]] = {}
    for image_id, img in sorted(coco.imgs.items()):
        if img["attributes"]["burst"] is not None:
            bursts.setdefault(img["attributes"]["burst"], []).append(image_id)
    return bursts


def _same_people(coco: COCO, first: int, other: int) -> list[tuple[dict, dict]]:
    """The annotations of the same drawn person (``id % 100``) in two frames."""
    by_person = {a["id"] % 100: a for a in coco.imgToAnns.get(other, [])}
    return [
        (a, by_person[a["id"] % 100]) for a in coco.imgToAnns.get(first, []) if a["id"] % 100 in by_person
    ]


def test_burst_plan_spreads_equal_bursts_over_the_pool():
    plan = syn.burst_plan(100, 0.6, 7, seed=0)
    assert (plan >= 0).sum() == 60 and set(plan[plan >= 0]) == set(range(7))
    assert sorted(Counter(plan[plan >= 0].tolist()).values()) == [8, 8, 8, 9, 9, 9, 9]
    assert not np.array_equal(np.sort(np.nonzero(plan >= 0)[0]), np.arange(60)), "frames are not one block"
    assert np.array_equal(plan, syn.burst_plan(100, 0.6, 7, seed=0))
    assert (syn.burst_plan(100, 0.0, 7, seed=0) == -1).all()
    assert set(syn.burst_plan(5, 0.6, 10, seed=0)) == {-1, 0}, "a tiny pool gets fewer bursts of >= 2 frames"
    with pytest.raises(ValueError, match="burst_share must be in"):
        syn.burst_plan(100, 1.0, 7, seed=0)
    with pytest.raises(ValueError, match="n_bursts must be >= 1"):
        syn.burst_plan(100, 0.5, 0, seed=0)


def test_burst_frames_are_near_duplicates_of_one_scene(burst_set):
    pool = _load(burst_set.pool_ann)
    bursts = _frames_by_burst(pool)
    assert len(bursts) == 10 and sum(map(len, bursts.values())) == 180
    for frames in bursts.values():
        first, *others = frames
        families = pool.imgs[first]["attributes"]["pose_families"]
        base = np.asarray(Image.open(burst_set.image_dir / pool.imgs[first]["file_name"]), dtype=float)
        for other in others:
            assert pool.imgs[other]["attributes"]["pose_families"] == families  # the same people
            image = np.asarray(Image.open(burst_set.image_dir / pool.imgs[other]["file_name"]), dtype=float)
            assert 0 < np.abs(image - base).mean() < 25, "another frame, not another scene"
            for a, b in _same_people(pool, first, other):
                ka, kb = _kps(a), _kps(b)
                both = (ka[:, 2] > 0) & (kb[:, 2] > 0)
                if not a["iscrowd"] and both.any():  # each person stepped by at most FRAME_STEP_PX
                    step = np.abs(ka[both, :2] - kb[both, :2]).max(axis=0)
                    assert (step <= 2 * syn.FRAME_STEP_PX).all()
    moved = [
        _kps(a)[:, :2].tolist() != _kps(b)[:, :2].tolist()
        for frames in bursts.values()
        for a, b in _same_people(pool, frames[0], frames[1])
        if not a["iscrowd"] and a["num_keypoints"]
    ]
    assert sum(moved) >= 0.8 * len(moved) > 0, "people move between frames"


def test_burst_pool_keeps_the_person_free_share_and_val_has_no_bursts(burst_set):
    pool, val = _load(burst_set.pool_ann), _load(burst_set.val_ann)
    bursts = _frames_by_burst(pool)
    empty = [b for b, frames in bursts.items() if all(not pool.imgToAnns.get(i) for i in frames)]
    assert len(empty) == 2, "ceil(12 % of 10) bursts film nobody, the others always somebody"
    assert all(pool.imgToAnns.get(frames[0]) for b, frames in bursts.items() if b not in empty)
    free = [i for i in pool.getImgIds() if not any(not a["iscrowd"] for a in pool.imgToAnns.get(i, []))]
    assert 0.10 <= len(free) / len(pool.imgs) <= 0.3
    assert all(img["attributes"]["burst"] is None for img in val.imgs.values())


def test_independent_images_of_a_burst_pool_are_those_of_a_plain_pool(tmp_path, burst_set):
    plain = syn.generate_synthetic(tmp_path, n_pool=300, n_val=20, seed=7)
    pool = _load(burst_set.pool_ann)
    singles = [i for i, img in pool.imgs.items() if img["attributes"]["burst"] is None][:5]
    for image_id in singles:
        name = pool.imgs[image_id]["file_name"]
        assert (plain.image_dir / name).read_bytes() == (burst_set.image_dir / name).read_bytes()
    assert plain.val_ann.read_bytes() == burst_set.val_ann.read_bytes()
