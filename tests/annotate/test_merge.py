"""merge: COCO exports (CVAT, Label Studio COCO) and Label Studio JSON exports into a labeled COCO set."""

import copy
import json
import re

import numpy as np
import pytest
from annotate_support import COCO_MINI

from al_bench.annotate import MergeError, merge_annotations
from al_bench.annotate.formats import from_percent, to_percent
from al_bench.cli.data import main
from al_bench.data.coco import CocoKeypoints
from al_bench.data.skeleton import KEYPOINT_NAMES, PERSON_CATEGORY


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


@pytest.fixture
def labeled(tmp_path):
    """An existing labeled set: image 5 with one person (annotation id 7)."""
    kps = [0] * 51
    kps[0:3] = [10, 20, 2]
    return _write(
        tmp_path / "labeled.json",
        {
            "images": [{"id": 5, "file_name": "old/5.jpg", "width": 100, "height": 100}],
            "annotations": [
                {
                    "id": 7,
                    "image_id": 5,
                    "category_id": 1,
                    "keypoints": kps,
                    "num_keypoints": 1,
                    "bbox": [5, 5, 10, 20],
                    "area": 50.0,
                    "iscrowd": 0,
                }
            ],
            "categories": [dict(PERSON_CATEGORY)],
        },
    )


def cvat_export(coco_images: dict) -> dict:
    """coco_images.json as CVAT re-exports it: renumbered images and annotations, extra attributes."""
    out = copy.deepcopy(coco_images)
    new_ids = {img["id"]: n for n, img in enumerate(out["images"], start=1)}
    for img in out["images"]:
        img["id"] = new_ids[img["id"]]
        img["file_name"] = img["file_name"].split("/")[-1]  # CVAT keeps the uploaded name
    for n, ann in enumerate(out["annotations"], start=1):
        ann["id"], ann["image_id"] = n, new_ids[ann["image_id"]]
        ann["attributes"] = {"occluded": False}
        ann.pop("score")
    # the annotator marks the first person's left eye occluded at (95, 45); CVAT recomputes nothing here,
    # so the tool leaves num_keypoints/bbox/area out and merge computes them
    first = out["annotations"][0]
    first["keypoints"][3:6] = [95.0, 45.0, 1]
    for key in ("num_keypoints", "bbox", "area"):
        first.pop(key)
    return out


def test_merge_cvat_coco_export(written, labeled, tmp_path, capsys):
    coco_images = json.loads(written["coco_images"].read_text())
    export = _write(tmp_path / "cvat.json", cvat_export(coco_images))
    report = merge_annotations(labeled, export, written["coco_images"])
    assert report.export_format == "coco"
    assert (report.images_added, report.persons_added, report.keypoints_added) == (3, 3, 4 + 17 + 2)
    assert report.images_without_persons == 1 and report.picked_not_in_export == []
    merged = json.loads(labeled.read_text())
    assert [img["id"] for img in merged["images"]] == [5, 17, 23, 31]  # the picks' ids, not CVAT's
    assert merged["images"][1] == {"id": 17, "file_name": "a/000017.jpg", "width": 640, "height": 480}
    anns = merged["annotations"]
    assert [a["id"] for a in anns] == [7, 8, 9, 10]  # new ids after the labeled set's max
    assert [a["image_id"] for a in anns] == [5, 17, 17, 23]
    first = anns[1]
    kps = np.asarray(first["keypoints"]).reshape(17, 3)
    assert kps[0].tolist() == [100.25, 50.5, 2] and kps[1].tolist() == [95, 45, 1]
    assert first["num_keypoints"] == 4  # computed
    assert first["bbox"] == [80.0, 45.0, 40.125, 76.0]  # computed: the labelled keypoints' box
    assert first["area"] == pytest.approx(40.125 * 76.0)
    assert anns[2]["bbox"] == coco_images["annotations"][1]["bbox"] and anns[2]["num_keypoints"] == 17
    assert all("score" not in a and "attributes" not in a for a in anns)
    source = CocoKeypoints(labeled, tmp_path, require_keypoints=False)
    assert source.image_ids.tolist() == [5, 17, 23, 31]
    assert source.keypoints(17).shape == (2, 17, 3) and source.keypoints(31).shape == (0, 17, 3)
    lines = report.lines()
    assert (
        lines[0].startswith("merged coco export into")
        and "added 3 images, 3 persons, 23 keypoints" in lines[0]
    )
    assert lines[1] == "labeled set now: 4 images, 4 persons"


def test_merge_into_a_new_set_with_the_cli(written, tmp_path, capsys):
    coco_images = json.loads(written["coco_images"].read_text())
    export = _write(tmp_path / "cvat.json", cvat_export(coco_images))
    new = tmp_path / "new" / "labeled.json"
    assert not new.exists()
    picks = _write(
        tmp_path / "picks.json",
        {
            "picks": [
                {"rank": 1, "image_id": 23, "path": "b/000023.png"},
                {"rank": 2, "image_id": 17, "path": "a/000017.jpg"},
            ]
        },
    )
    # the export holds image 31, which these picks do not name
    with pytest.raises(
        SystemExit, match=re.escape("image id 3 ('000031.jpg') is not one of the 2 picked images")
    ):
        main(["merge", "--labeled", str(new), "--export", str(export), "--picks", str(picks)])
    assert not new.exists()
    data = cvat_export(coco_images)
    data["images"] = data["images"][:2]
    _write(export, data)
    assert main(["merge", "--labeled", str(new), "--export", str(export), "--picks", str(picks)]) == 0
    printed = capsys.readouterr().out
    assert "added 2 images, 3 persons, 23 keypoints (0 images without persons)" in printed
    merged = json.loads(new.read_text())
    assert [a["id"] for a in merged["annotations"]] == [1, 2, 3]
    assert merged["categories"] == [PERSON_CATEGORY]
    assert merged["images"][0] == {"id": 17, "file_name": "a/000017.jpg", "width": 640, "height": 480}


def test_merge_label_studio_coco_export(written, labeled, tmp_path):
    """Label Studio's COCO export: its own image ids, 'images/<upload prefix>-name' file names, the parent
    boxes as separate annotations without keypoints, a 'default' keypoint category, whole-pixel points."""
    ls = {
        "images": [
            {"id": 0, "file_name": "images/1a2b3c4d-000017.jpg", "width": 640, "height": 480},
            {"id": 1, "file_name": "images/000023.png", "width": 333, "height": 251},
        ],
        "categories": [
            {"id": 0, "name": "person"},
            {
                "id": 1,
                "name": "default",
                "supercategory": "default",
                "keypoints": list(KEYPOINT_NAMES),
                "skeleton": [],
            },
        ],
        "annotations": [],
    }
    kps = [0] * 51
    kps[0:3], kps[15:18] = [100, 51, 2], [80, 120, 2]
    ls["annotations"] = [
        {
            "id": 0,
            "image_id": 0,
            "category_id": 0,
            "segmentation": [],
            "bbox": [70, 40, 60, 90],
            "ignore": 0,
            "iscrowd": 0,
            "area": 5400,
        },
        {
            "id": 1,
            "image_id": 0,
            "category_id": 1,
            "keypoints": kps,
            "num_keypoints": 2,
            "bbox": [80, 51, 20, 69],
            "iscrowd": 0,
        },
    ]
    export = _write(tmp_path / "ls_coco.json", ls)
    report = merge_annotations(labeled, export, written["coco_images"], out=tmp_path / "merged.json")
    assert (report.images_added, report.persons_added, report.keypoints_added) == (2, 1, 2)
    assert report.skipped == {"annotations without keypoints (boxes)": 1}
    assert report.picked_not_in_export == [31]
    merged = json.loads((tmp_path / "merged.json").read_text())
    assert merged["annotations"][-1]["keypoints"][:3] == [100, 51, 2]
    assert merged["annotations"][-1]["area"] == 20 * 69 and merged["annotations"][-1]["image_id"] == 17
    assert json.loads(labeled.read_text())["annotations"][-1]["id"] == 7  # --out elsewhere: labeled untouched
    CocoKeypoints(tmp_path / "merged.json", tmp_path, require_keypoints=False)


def test_label_studio_coco_export_of_several_persons_is_refused(written, labeled, tmp_path):
    """Label Studio's COCO export (label-studio 1.23.2, seen in tests/annotate/test_label_studio_live.py)
    writes every keypoint of an image as one annotation beside one box per person: with two boxes the
    persons cannot be told apart, so the merge refuses and points to the JSON export."""
    kps = [0] * 51
    kps[0:3], kps[15:18] = [100, 51, 2], [300, 100, 2]  # person 0's nose, person 1's left shoulder
    box = {"category_id": 0, "segmentation": [], "ignore": 0, "iscrowd": 0}
    ls = {
        "images": [{"id": 0, "file_name": "../x/images/000017.jpg", "width": 640, "height": 480}],
        "categories": [
            {"id": 0, "name": "person"},
            {"id": 1, "name": "default", "keypoints": list(KEYPOINT_NAMES), "skeleton": []},
        ],
        "annotations": [
            {"id": 0, "image_id": 0, "bbox": [70, 40, 60, 90], "area": 5400, **box},
            {"id": 1, "image_id": 0, "bbox": [280, 80, 150, 200], "area": 30000, **box},
            {"id": 2, "image_id": 0, "category_id": 1, "keypoints": kps, "num_keypoints": 2,
             "bbox": [100, 51, 200, 49], "iscrowd": 0},
        ],
        "info": {"contributor": "Label Studio", "description": ""},
    }  # fmt: skip
    export = _write(tmp_path / "ls_coco.json", ls)
    before = labeled.read_bytes()
    with pytest.raises(
        MergeError,
        match=(
            r"ls_coco.json: image id 0 \('../x/images/000017.jpg'\) has 2 person boxes, but Label Studio's "
            r"COCO export writes all keypoints of an image as one annotation .* export the project as JSON"
        ),
    ):
        merge_annotations(labeled, export, written["coco_images"])
    assert labeled.read_bytes() == before
    ls["annotations"].pop(1)  # one person: nothing to tell apart, it merges
    ls["annotations"][1]["keypoints"][15:18] = [110, 100, 2]
    ls["annotations"][1]["bbox"] = [100, 51, 10, 49]
    report = merge_annotations(labeled, _write(export, ls), written["coco_images"], out=tmp_path / "m.json")
    assert (report.images_added, report.persons_added, report.keypoints_added) == (1, 1, 2)


def test_real_coco_annotations_pass_the_checks(tmp_path):
    """The fixture's real COCO file as an export (picks = its own images): every check passes on real
    annotations (boxes that leave keypoints out, segmentation areas, crowd regions, zero-keypoint persons)."""
    ann = COCO_MINI / "person_keypoints_train2017.json"
    if not ann.exists():
        pytest.skip(f"fixture not found at {COCO_MINI}")
    out = tmp_path / "labeled.json"
    report = merge_annotations(out, ann, ann)
    real = json.loads(ann.read_text())
    assert (report.images_added, report.persons_added) == (80, len(real["annotations"])) == (80, 172)
    assert report.keypoints_added == sum(a["num_keypoints"] for a in real["annotations"])
    merged = CocoKeypoints(out, COCO_MINI / "images", require_keypoints=False)
    original = CocoKeypoints(ann, COCO_MINI / "images", require_keypoints=False)
    assert merged.image_ids.tolist() == original.image_ids.tolist()
    for image_id in original.image_ids:
        np.testing.assert_allclose(merged.keypoints(image_id), original.keypoints(image_id), atol=1e-3)
        assert sum(a["iscrowd"] for a in merged.annotations(image_id)) == sum(
            a["iscrowd"] for a in original.annotations(image_id)
        )
        areas = sorted(a["area"] for a in merged.annotations(image_id))
        assert areas == pytest.approx(sorted(a["area"] for a in original.annotations(image_id)), abs=1e-3)


def label_studio_export(tasks: list[dict]) -> list[dict]:
    """The tasks as Label Studio's JSON export writes them after annotators accepted/edited predictions."""
    out = []
    for i, task in enumerate(tasks):
        result = copy.deepcopy(task["predictions"][0]["result"])
        for region in result:
            region.pop("score")
            region["origin"] = "prediction"
        out.append(
            {
                "id": 100 + i,
                "data": task["data"],
                "annotations": [
                    {
                        "id": 500 + i,
                        "result": result,
                        "was_cancelled": False,
                        "updated_at": "2025-06-01T10:00:00Z",
                    }
                ],
                "predictions": task["predictions"],
            }
        )
    return out


def test_merge_label_studio_json_export(written, picks, labeled, tmp_path):
    tasks = json.loads(written["label_studio_tasks"].read_text())
    export = label_studio_export(tasks)
    first = export[0]["annotations"][0]["result"]
    nose = next(r for r in first if r["id"] == "i17p0k0")
    nose["value"]["x"], nose["value"]["y"] = to_percent(101.5, 49.25, 640, 480)  # the annotator moved it
    first[:] = [r for r in first if r["id"] != "i17p1k16"]  # and deleted a right ankle
    first.append(
        {
            "id": "i17p1k3",
            "type": "choices",
            "from_name": "visibility",
            "to_name": "image",
            "value": {"choices": ["occluded"]},
        }
    )
    # image 23: an older edit and a cancelled newer one; the latest finished annotation counts
    older = copy.deepcopy(export[1]["annotations"][0])
    older["id"], older["updated_at"] = 400, "2025-05-01T10:00:00Z"
    older["result"] = []
    cancelled = {"id": 600, "result": [], "was_cancelled": True, "updated_at": "2025-07-01T10:00:00Z"}
    export[1]["annotations"] = [export[1]["annotations"][0], older, cancelled]
    export[2]["annotations"] = []  # image 31 not annotated yet
    path = _write(tmp_path / "ls.json", export)

    report = merge_annotations(labeled, path, written["coco_images"])
    assert report.export_format == "label_studio_json"
    assert (report.images_added, report.persons_added, report.keypoints_added) == (2, 3, 3 + 16 + 2)
    assert report.skipped == {"tasks without a finished annotation": 1} and report.picked_not_in_export == [
        31
    ]
    merged = json.loads(labeled.read_text())
    anns = {a["id"]: a for a in merged["annotations"]}
    assert sorted(anns) == [7, 8, 9, 10]
    p0 = np.asarray(anns[8]["keypoints"], dtype=float).reshape(17, 3)
    assert abs(p0[0, 0] - 101.5) < 0.01 and abs(p0[0, 1] - 49.25) < 0.01 and p0[0, 2] == 2
    assert anns[8]["num_keypoints"] == 3
    p1 = np.asarray(anns[9]["keypoints"], dtype=float).reshape(17, 3)
    want = np.asarray(picks[0].persons[1]["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(p1[:16, :2], want[:16, :2], atol=0.01)
    assert p1[3, 2] == 1 and p1[16].tolist() == [0, 0, 0] and (p1[:16, 2] > 0).all()
    # bbox = the person box (as Label Studio holds it) grown to hold the points
    box = next(r for r in export[0]["annotations"][0]["result"] if r["id"] == "i17p1")["value"]
    x0, y0 = from_percent(box["x"], box["y"], 640, 480)
    bw, bh = from_percent(box["width"], box["height"], 640, 480)
    np.testing.assert_allclose(anns[9]["bbox"], [x0, y0, bw, bh], atol=1e-3)
    assert anns[9]["area"] == pytest.approx(bw * bh, abs=1e-2)
    source = CocoKeypoints(labeled, tmp_path, require_keypoints=False)
    assert source.keypoints(17).shape == (2, 17, 3) and source.keypoints(23).shape == (1, 17, 3)


def test_label_studio_points_without_a_box(written, labeled, tmp_path):
    """Points an annotator added without a parent: one person when no box and no name twice."""
    tasks = json.loads(written["label_studio_tasks"].read_text())
    export = label_studio_export(tasks)[1:2]
    result = export[0]["annotations"][0]["result"]
    result[:] = [r for r in result if r["type"] == "keypointlabels"]
    for r in result:
        r.pop("parentID")
    report = merge_annotations(labeled, _write(tmp_path / "ls.json", export), written["coco_images"])
    assert (report.persons_added, report.keypoints_added) == (1, 2)
    ann = json.loads(labeled.read_text())["annotations"][-1]
    assert ann["bbox"] == pytest.approx([10.0, 20.0, 190.5, 220.75], abs=1e-3)


# --- bad inputs: each a clear error naming the file and id, the labeled set untouched ---------------------


def _coco_case(edit):
    def make(written, tmp_path):
        data = cvat_export(json.loads(written["coco_images"].read_text()))
        edit(data)
        return _write(tmp_path / "export.json", data)

    return make


def _ls_case(edit):
    def make(written, tmp_path):
        data = label_studio_export(json.loads(written["label_studio_tasks"].read_text()))
        edit(data)
        return _write(tmp_path / "export.json", data)

    return make


def _set(obj, key, value):
    obj[key] = value


def _swap_order(data):
    names = data["categories"][0]["keypoints"]
    names[1], names[2] = names[2], names[1]


BAD = {
    "16 keypoint names": (
        _coco_case(lambda d: d["categories"][0]["keypoints"].pop()),
        r"category id 1 \('person'\): wrong keypoint schema: 16 keypoints, expected COCO's 17",
    ),
    "keypoint order": (
        _coco_case(_swap_order),
        r"category id 1 \('person'\): wrong keypoint schema: keypoint 1 is 'right_eye', COCO order has 'left_eye'",
    ),
    "48 numbers": (
        _coco_case(
            lambda d: d["annotations"][1].__setitem__("keypoints", d["annotations"][1]["keypoints"][:48])
        ),
        r"annotation id 2 \(image 1\): wrong keypoint schema: keypoints must be 51 numbers, got 48",
    ),
    "visibility 3": (
        _coco_case(lambda d: d["annotations"][2]["keypoints"].__setitem__(3 * 9 + 2, 3)),
        r"annotation id 3 \(image 2\): keypoint 9 \(left_wrist\) has visibility 3; COCO visibility must be 0, 1 or 2",
    ),
    "point outside the image": (
        _coco_case(lambda d: d["annotations"][2]["keypoints"].__setitem__(3 * 9, 400.0)),
        r"annotation id 3 \(image 2\): keypoint 9 \(left_wrist\) at \(400, 20\) is outside the 333 x 251 image",
    ),
    "unknown image": (
        _coco_case(lambda d: d["images"][2].__setitem__("file_name", "other.jpg")),
        r"image id 3 \('other.jpg'\) is not one of the 3 picked images \(unknown image\)",
    ),
    "duplicate image id": (
        _coco_case(lambda d: d["images"][2].__setitem__("id", 2)),
        r"image id 2 \('000031.jpg'\): duplicate image id 2 in the export",
    ),
    "same picked image twice": (
        _coco_case(lambda d: d["images"][2].__setitem__("file_name", "000023.png")),
        r"image id 3 \('000023.png'\): duplicate image: it and another export image are picked image 23",
    ),
    "duplicate annotation id": (
        _coco_case(lambda d: d["annotations"][2].__setitem__("id", 2)),
        r"annotation id 2 \(image 2\): duplicate annotation id 2 in the export",
    ),
    "num_keypoints inconsistent": (
        _coco_case(lambda d: d["annotations"][2].__setitem__("num_keypoints", 3)),
        r"annotation id 3 \(image 2\): num_keypoints is 3 but 2 keypoints are labelled \(v > 0\)",
    ),
    "bbox away from the points": (
        _coco_case(lambda d: d["annotations"][2].__setitem__("bbox", [250.0, 10.0, 50.0, 50.0])),
        (
            r"annotation id 3 \(image 2\): bbox \[250.0, 10.0, 50.0, 50.0\] does not overlap its labelled "
            r"keypoints \(their box is \[10.0, 20.0, 190.5, 220.75\]\)"
        ),
    ),
    "bbox in other units": (
        _coco_case(lambda d: d["annotations"][2].__setitem__("bbox", [0.03, 0.08, 0.57, 0.88])),
        r"annotation id 3 \(image 2\): bbox \[0.03, 0.08, 0.57, 0.88\] does not overlap its labelled keypoints",
    ),
    "bbox outside the image": (
        _coco_case(lambda d: d["annotations"][2].__setitem__("bbox", [10.0, 20.0, 400.0, 230.0])),
        r"annotation id 3 \(image 2\): bbox \[10.0, 20.0, 400.0, 230.0\] is outside the 333 x 251 image",
    ),
    "area above the bbox area": (
        _coco_case(lambda d: d["annotations"][2].__setitem__("area", 1e6)),
        r"annotation id 3 \(image 2\): area 1000000.0 must be a number in 0..42052.9 \(the bbox area\)",
    ),
    "image size differs": (
        _coco_case(lambda d: d["images"][1].__setitem__("width", 334)),
        r"image id 2 \('000023.png'\): image size 334 x 251 differs from the picked image's 333 x 251",
    ),
    "LS unknown image": (
        _ls_case(lambda d: d[1]["data"].__setitem__("image_id", 99)),
        r"task 101 \(image_id 99\): data.image_id is not one of the 3 picked images \(unknown image\)",
    ),
    "LS duplicate image": (
        _ls_case(lambda d: d[2]["data"].__setitem__("image_id", 23)),
        r"task 102 \(image_id 23\): duplicate image: another task also holds image 23",
    ),
    "LS label not a COCO keypoint": (
        _ls_case(
            lambda d: d[1]["annotations"][0]["result"][1]["value"].__setitem__("keypointlabels", ["neck"])
        ),
        (
            r"task 101 \(image_id 23\), annotation 501, person 'i23p0', region 'i23p0k9': wrong keypoint schema: "
            r"label \['neck'\] is not one COCO keypoint name"
        ),
    ),
    "LS point without its person": (
        _ls_case(lambda d: d[0]["annotations"][0]["result"][1].pop("parentID")),
        r"task 100 \(image_id 17\), annotation 500: keypoints 'i17p0k0' have no parentID",
    ),
    "LS other keypoint control": (
        _ls_case(lambda d: d[1]["annotations"][0]["result"][1].__setitem__("from_name", "keypoints")),
        r"region 'i23p0k9': from_name 'keypoints' is not the config's 'kp' \(wrong keypoint schema\)",
    ),
    "LS image size differs": (
        _ls_case(lambda d: [r.__setitem__("original_width", 332) for r in d[1]["annotations"][0]["result"]]),
        r"task 101 \(image_id 23\), annotation 501: image size 332 x 251 differs from the picked image's 333 x 251",
    ),
    "not an export": (
        lambda written, tmp_path: _write(tmp_path / "export.json", {"tasks": []}),
        r"export.json: not a COCO keypoints file .* nor a Label Studio JSON export",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_export_is_an_error_and_writes_nothing(case, written, labeled, tmp_path):
    make, message = BAD[case]
    export = make(written, tmp_path)
    before = labeled.read_bytes()
    with pytest.raises(MergeError, match=message) as err:
        merge_annotations(labeled, export, written["coco_images"])
    assert str(export) in str(err.value)
    assert labeled.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "export.json",
        "labeled.json",
        "out",
    ]  # no temp file


def test_bad_labeled_set_or_picks(written, labeled, tmp_path):
    export = _write(tmp_path / "export.json", cvat_export(json.loads(written["coco_images"].read_text())))
    data = json.loads(labeled.read_text())
    data["images"][0]["id"] = 17  # a picked image is already labeled
    data["annotations"][0]["image_id"] = 17
    _write(labeled, data)
    before = labeled.read_bytes()
    with pytest.raises(
        MergeError, match=r"labeled.json: picked image id 17 \(a/000017.jpg\) is already labeled"
    ):
        merge_annotations(labeled, export, written["coco_images"])
    data["annotations"].append(dict(data["annotations"][0]))
    _write(labeled, data)
    before = labeled.read_bytes()
    with pytest.raises(MergeError, match=r"labeled.json: duplicate annotation ids in the labeled set: \[7\]"):
        merge_annotations(labeled, export, written["coco_images"])
    assert labeled.read_bytes() == before
    picks = _write(
        tmp_path / "picks.json",
        [{"image_id": 17, "file_name": "a.jpg"}, {"image_id": 17, "file_name": "b.jpg"}],
    )
    with pytest.raises(MergeError, match=r"picks.json: duplicate picked image id 17"):
        merge_annotations(labeled, export, picks)
    with pytest.raises(MergeError, match=r"picks file not found: .*missing.json"):
        merge_annotations(labeled, export, tmp_path / "missing.json")
    assert labeled.read_bytes() == before
