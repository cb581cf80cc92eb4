"""CocoKeypoints: loading the real COCO sample, pool filtering, validation errors naming the culprit."""

import json
import warnings

import numpy as np
import pytest

from al_bench.data.coco import BadAnnotationError, CocoKeypoints, DataNotFoundError

SAMPLE_IDS = [785, 40083, 196141, 197388]


def _sample(coco_sample, **kwargs) -> CocoKeypoints:
    return CocoKeypoints(coco_sample / "person_keypoints_sample.json", coco_sample, **kwargs)


def _write_variant(coco_sample, tmp_path, edit) -> "tuple":
    data = json.loads((coco_sample / "person_keypoints_sample.json").read_text())
    edit(data)
    path = tmp_path / "person_keypoints_edited.json"
    path.write_text(json.dumps(data))
    return path


def test_real_sample_loads(coco_sample):
    source = _sample(coco_sample)
    assert source.image_ids.tolist() == SAMPLE_IDS and source.image_ids.dtype == np.int64
    assert source.image_size(785) == (640, 425)
    assert source.image_path(785) == coco_sample / "000000000785.jpg" and source.image_path(785).exists()
    assert len(source.annotations(40083)) == 3  # including the zero-keypoint person
    # keypoints() keeps only people with keypoints: 40083 has 2 of its 3 persons
    assert source.keypoints(40083).shape == (2, 17, 3)
    assert source.keypoints(785)[0, 0].tolist() == source.annotations(785)[0]["keypoints"][:3]
    assert source.attributes(785) == {}
    assert 785 in source and 1 not in source
    with pytest.raises(KeyError, match="image id 1 is not in"):
        source.image_path(1)


def test_every_image_is_kept_unless_keypoints_are_required(coco_sample, tmp_path):
    def zero_out_785(data):
        for ann in data["annotations"]:
            if ann["image_id"] == 785:
                ann["keypoints"] = [0] * 51
                ann["num_keypoints"] = 0

    path = _write_variant(coco_sample, tmp_path, zero_out_785)
    assert 785 in CocoKeypoints(path, coco_sample).image_ids, "by default nothing is filtered with labels"
    assert 785 not in CocoKeypoints(path, coco_sample, require_keypoints=True).image_ids
    assert CocoKeypoints(path, coco_sample, require_keypoints=False, max_images=2).image_ids.tolist() == [
        785,
        40083,
    ]


def test_missing_annotation_file_says_what_where_and_how(tmp_path, coco_sample):
    missing = tmp_path / "annotations/person_keypoints_train2017.json"
    with pytest.raises(DataNotFoundError) as err:
        CocoKeypoints(missing, coco_sample)
    message = str(err.value)
    assert "annotation file not found" in message and str(missing) in message
    assert "annotations/person_keypoints_val2017.json" in message and "train2017/" in message
    assert "val2017/" in message and "data.root=" in message


def test_missing_image_dir_is_named(tmp_path, coco_sample):
    with pytest.raises(DataNotFoundError, match="image folder not found: expected it at .*train2017"):
        CocoKeypoints(coco_sample / "person_keypoints_sample.json", tmp_path / "train2017")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("keypoints", [1.0] * 50, "keypoints must have 51 numbers"),
        ("keypoints", [float("nan")] * 51, "non-finite"),
        ("area", -3.0, "area must be a finite number >= 0"),
        ("area", float("inf"), "area must be a finite number >= 0"),
        ("bbox", [1, 2, 3], "bbox must be 4 finite numbers"),
    ],
)
def test_bad_annotation_names_its_id(coco_sample, tmp_path, field, value, problem):
    def corrupt(data):
        data["annotations"][2][field] = value  # annotation id 230195

    path = _write_variant(coco_sample, tmp_path, corrupt)
    with pytest.raises(BadAnnotationError, match=f"annotation id 230195 .*{problem}"):
        CocoKeypoints(path, coco_sample)
    with pytest.warns(UserWarning, match=r"skipped 1 bad annotations \(ids 230195\)"):
        source = CocoKeypoints(path, coco_sample, on_bad_annotation="skip")
    assert 230195 not in source.coco.anns and len(source.coco.anns) == 13
    assert source.keypoints(40083).shape == (1, 17, 3)


def test_invalid_json_and_bad_mode(coco_sample, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(BadAnnotationError, match="broken.json is not valid JSON"):
        CocoKeypoints(broken, coco_sample)
    with pytest.raises(ValueError, match="on_bad_annotation must be one of"):
        _sample(coco_sample, on_bad_annotation="ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _sample(coco_sample, on_bad_annotation="skip")  # a valid file raises no warning
