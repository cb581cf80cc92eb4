"""Annotation-tool files: coco_images.json (pycocotools, CVAT), Label Studio config + tasks, atomic writes."""

import contextlib
import io
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from annotate_support import COCO_MINI, person
from pycocotools.coco import COCO

from al_bench.annotate import Pick, PickError, atomic_output_dir, write_annotation_files
from al_bench.annotate.formats import from_percent
from al_bench.data.coco import CocoKeypoints
from al_bench.data.skeleton import COCO_SKELETON_1BASED, KEYPOINT_NAMES


def _coco(path) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
    return coco


def test_coco_images_loads_with_pycocotools(written, picks, tmp_path):
    coco = _coco(written["coco_images"])
    assert sorted(coco.imgs) == [17, 23, 31]
    assert coco.imgs[23] == {"id": 23, "file_name": "b/000023.png", "width": 333, "height": 251}
    (cat,) = coco.loadCats(coco.getCatIds())
    assert cat["name"] == "person" and cat["id"] == 1
    assert cat["keypoints"] == list(KEYPOINT_NAMES)
    assert [tuple(limb) for limb in cat["skeleton"]] == list(COCO_SKELETON_1BASED) and len(
        cat["skeleton"]
    ) == 19
    # the empty predicted person of image 17 is left out: 2 + 1 + 0 persons
    assert [len(coco.getAnnIds(imgIds=[i])) for i in (17, 23, 31)] == [2, 1, 0]
    first = coco.loadAnns(coco.getAnnIds(imgIds=[17]))[0]
    kps = np.asarray(first["keypoints"]).reshape(17, 3)
    assert kps[0].tolist() == [100.25, 50.5, 2] and kps[6].tolist() == [120.125, 121.0, 2]
    assert kps[1].tolist() == [0, 0, 0] and set(kps[:, 2]) == {0, 2}
    assert first["num_keypoints"] == 3 and first["iscrowd"] == 0 and first["score"] == 0.81
    assert first["bbox"] == [80.0, 50.5, 40.125, 70.5]
    assert first["area"] == pytest.approx(40.125 * 70.5, abs=1e-3)
    second = coco.loadAnns(coco.getAnnIds(imgIds=[23]))[0]
    assert second["num_keypoints"] == 2 and second["bbox"] == [10.0, 20.0, 190.5, 220.75]
    # the harness's own loader accepts it too
    source = CocoKeypoints(written["coco_images"], tmp_path, require_keypoints=False)
    assert source.keypoints(17).shape == (2, 17, 3) and source.image_size(23) == (333, 251)


def test_label_studio_config_names():
    from al_bench.annotate import label_studio_config

    root = ET.fromstring(label_studio_config())
    assert root.tag == "View"
    (image,) = root.findall("Image")
    assert image.get("name") == "image" and image.get("value") == "$image"
    (kp,) = root.findall("KeyPointLabels")
    assert kp.get("name") == "kp" and kp.get("toName") == "image"
    labels = kp.findall("Label")
    assert [lab.get("value") for lab in labels] == list(KEYPOINT_NAMES)
    assert [lab.get("model_index") for lab in labels] == [str(k) for k in range(17)]
    (box,) = root.findall("RectangleLabels")
    assert box.get("name") == "person" and [lab.get("value") for lab in box] == ["person"]
    (vis,) = root.findall("Choices")
    assert vis.get("perRegion") == "true" and [c.get("value") for c in vis] == ["occluded"]


def test_tasks_match_the_config(written):
    root = ET.fromstring(written["label_studio_config"].read_text())
    controls = {el.get("name"): el for el in root if el.get("toName")}
    images = {el.get("name") for el in root.findall("Image")}
    tasks = json.loads(written["label_studio_tasks"].read_text())
    assert [t["data"]["image_id"] for t in tasks] == [17, 23, 31]
    assert tasks[0]["data"]["image"] == "/data/local-files/?d=a/000017.jpg"
    assert tasks[0]["data"]["file_name"] == "a/000017.jpg"
    (pred,) = tasks[0]["predictions"]
    assert pred["model_version"] == "m1" and pred["score"] == 0.42  # the pick's score
    assert tasks[1]["predictions"][0]["score"] == pytest.approx(0.4)  # mean person score without one
    assert tasks[2]["predictions"][0]["result"] == []
    n_points = 0
    for task in tasks:
        result = task["predictions"][0]["result"]
        ids = [r["id"] for r in result]
        assert len(set(ids)) == len(ids)
        boxes = {r["id"] for r in result if r["type"] == "rectanglelabels"}
        for r in result:
            assert r["from_name"] in controls and r["to_name"] in images
            assert controls[r["from_name"]].get("toName") == r["to_name"]
            control_type = controls[r["from_name"]].tag.lower()
            assert r["type"] == control_type
            labels = [lab.get("value") for lab in controls[r["from_name"]].findall("Label")]
            assert set(r["value"][r["type"]]) <= set(labels)
            if r["type"] == "keypointlabels":
                assert r["parentID"] in boxes
                n_points += 1
    assert n_points == 3 + 17 + 2
    # the person boxes hold their points
    result = tasks[0]["predictions"][0]["result"]
    box = next(r for r in result if r["id"] == "i17p1")["value"]
    for r in result:
        if r.get("parentID") == "i17p1":
            assert box["x"] <= r["value"]["x"] <= box["x"] + box["width"]
            assert box["y"] <= r["value"]["y"] <= box["y"] + box["height"]


def test_percent_coordinates_round_trip_to_pixels(written, picks):
    tasks = json.loads(written["label_studio_tasks"].read_text())
    by_id = {p.image_id: p for p in picks}
    checked = 0
    for task in tasks:
        pick = by_id[task["data"]["image_id"]]
        for r in task["predictions"][0]["result"]:
            assert (r["original_width"], r["original_height"]) == (pick.width, pick.height)
            if r["type"] != "keypointlabels":
                continue
            j, k = (int(s) for s in r["id"].split("p")[1].split("k"))
            expected = np.asarray(pick.persons[j]["keypoints"]).reshape(17, 3)[k]
            assert KEYPOINT_NAMES[k] == r["value"]["keypointlabels"][0]
            x, y = from_percent(r["value"]["x"], r["value"]["y"], r["original_width"], r["original_height"])
            assert abs(x - expected[0]) < 0.01 and abs(y - expected[1]) < 0.01
            assert r["score"] == pytest.approx(expected[2])
            assert 0 <= r["value"]["x"] <= 100 and 0 <= r["value"]["y"] <= 100
            checked += 1
    assert checked == 22


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_bad_pick_writes_nothing(written, picks):
    out = written["coco_images"].parent
    before = _snapshot(out)
    short = Pick(40, "d/40.jpg", 10, 10, [{"keypoints": [1.0] * 50, "score": 0.3}])
    with pytest.raises(
        PickError, match=r"pick image 40 \(d/40.jpg\), person 0: keypoints must be 51 numbers"
    ):
        write_annotation_files([*picks, short], out)
    with pytest.raises(PickError, match="duplicate image id 17"):
        write_annotation_files([*picks, Pick(17, "e.jpg", 5, 5)], out)
    with pytest.raises(PickError, match="width and height must be > 0"):
        write_annotation_files([Pick(5, "e.jpg", 0, 5)], out)
    assert _snapshot(out) == before  # same files, same bytes, no temp files


def test_atomic_output_dir_replaces_only_on_success(tmp_path, picks):
    final = tmp_path / "picks_out"
    with atomic_output_dir(final) as tmp:
        write_annotation_files(picks, tmp)
        assert not final.exists()
    assert sorted(p.name for p in final.iterdir()) == [
        "coco_images.json",
        "label_studio_config.xml",
        "label_studio_tasks.json",
    ]
    before = _snapshot(final)
    with pytest.raises(PickError), atomic_output_dir(final) as tmp:
        (tmp / "picks.json").write_text("[]")
        write_annotation_files([Pick(1, "x.jpg", 4, 4, [{"keypoints": [0.0] * 3}])], tmp)
    assert _snapshot(final) == before
    assert [p.name for p in tmp_path.iterdir()] == ["picks_out"]  # no temp folder left
    with atomic_output_dir(final) as tmp:
        write_annotation_files(picks[:1], tmp)
    assert len(json.loads((final / "label_studio_tasks.json").read_text())) == 1


def test_real_coco_persons_as_predictions(tmp_path):
    """The 80-image fixture's annotated persons as 'predictions': coco_images.json holds their keypoints."""
    ann = COCO_MINI / "person_keypoints_train2017.json"
    if not ann.exists():
        pytest.skip(f"fixture not found at {COCO_MINI}")
    source = CocoKeypoints(ann, COCO_MINI / "images")
    picks = []
    for image_id in source.image_ids[:10]:
        w, h = source.image_size(image_id)
        persons = [
            {"keypoints": [float(v) for v in kps.reshape(-1)], "score": 1.0}
            for kps in source.keypoints(image_id)
        ]
        picks.append(Pick(int(image_id), source.image_path(image_id).name, w, h, persons))
    paths = write_annotation_files(picks, tmp_path)
    written = CocoKeypoints(paths["coco_images"], COCO_MINI / "images")
    assert written.image_ids.tolist() == source.image_ids[:10].tolist()
    for image_id in written.image_ids:
        got, want = written.keypoints(image_id), source.keypoints(image_id)
        assert got.shape == want.shape
        labelled = want[..., 2] > 0
        np.testing.assert_allclose(got[..., :2][labelled], want[..., :2][labelled], atol=1e-3)
        assert (got[..., 2][labelled] == 2).all() and (got[..., 2][~labelled] == 0).all()
        assert written.image_path(image_id).exists()
    tasks = json.loads(paths["label_studio_tasks"].read_text())
    n_points = sum(r["type"] == "keypointlabels" for t in tasks for r in t["predictions"][0]["result"])
    assert n_points == sum(int((source.keypoints(i)[..., 2] > 0).sum()) for i in source.image_ids[:10])


def test_unpredicted_keypoints_below_threshold(tmp_path):
    pick = Pick(3, "x.jpg", 100, 100, [person({0: (10.0, 10.0, 0.2), 1: (20.0, 30.0, 0.6)}, 0.5)])
    paths = write_annotation_files([pick], tmp_path, min_keypoint_score=0.3)
    ann = json.loads(paths["coco_images"].read_text())["annotations"][0]
    assert ann["num_keypoints"] == 1 and ann["keypoints"][:6] == [0, 0, 0, 20.0, 30.0, 2]
    result = json.loads(paths["label_studio_tasks"].read_text())[0]["predictions"][0]["result"]
    assert [r["value"].get("keypointlabels") for r in result] == [None, ["left_eye"]]
