"""Person-count accuracy on a hand-made val set whose answer is known."""

import numpy as np
import pytest
from pycocotools.coco import COCO

from al_bench.data.skeleton import PERSON_CATEGORY
from al_bench.evaluate import object_keypoint_similarity, person_count_accuracy


def _person(ann_id, image_id, x0, y0, num_keypoints=17, iscrowd=0):
    kps = np.zeros((17, 3))
    kps[:, 0] = x0 + np.arange(17) * 2.0
    kps[:, 1] = y0 + np.arange(17) * 3.0
    kps[:, 2] = 2 if num_keypoints else 0
    return {
        "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": iscrowd,
        "keypoints": kps.ravel().tolist(), "num_keypoints": num_keypoints,
        "area": 2000.0, "bbox": [x0, y0, 40.0, 60.0],
    }  # fmt: skip


@pytest.fixture()
def gt() -> COCO:
    coco = COCO()
    coco.dataset = {
        "images": [{"id": i, "width": 200, "height": 200, "file_name": f"{i}.png"} for i in (1, 2)],
        "categories": [PERSON_CATEGORY],
        # image 1: two people + one zero-keypoint person (not counted); image 2: one person + a crowd.
        "annotations": [
            _person(10, 1, 10, 10), _person(11, 1, 100, 100), _person(12, 1, 50, 50, num_keypoints=0),
            _person(20, 2, 20, 20), _person(21, 2, 0, 0, iscrowd=1),
        ],
    }  # fmt: skip
    coco.createIndex()
    return coco


def _result(image_id, ann, score=0.9, shift=0.0):
    kps = np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)
    kps[:, :2] += shift
    kps[:, 2] = 1.0
    return {"image_id": image_id, "category_id": 1, "keypoints": kps.ravel().tolist(), "score": score}


def test_counts_matched_persons_over_annotated(gt):
    anns = {a["id"]: a for a in gt.dataset["annotations"]}
    # Person 10 found, person 11 missed (prediction far away), person 20 found.
    results = [_result(1, anns[10]), _result(1, anns[11], shift=60.0), _result(2, anns[20])]
    metrics = person_count_accuracy(gt, results)
    assert metrics["person_count_accuracy"] == pytest.approx(2 / 3)
    # Both images have as many predictions as annotated persons (2 and 1).
    assert metrics["person_count_exact"] == pytest.approx(1.0)


def test_one_prediction_matches_one_person_only(gt):
    anns = {a["id"]: a for a in gt.dataset["annotations"]}
    duplicates = [_result(1, anns[10], score=0.9), _result(1, anns[10], score=0.8)]
    metrics = person_count_accuracy(gt, duplicates, image_ids=[1])
    assert metrics["person_count_accuracy"] == pytest.approx(1 / 2)


def test_no_results_gives_zero(gt):
    metrics = person_count_accuracy(gt, [])
    assert metrics == {"person_count_accuracy": 0.0, "person_count_exact": 0.0}


def test_oks_matches_coco_formula():
    gt_kps = np.zeros((17, 3))
    gt_kps[:, 2] = 2
    pred = np.full((17, 2), 1.0)  # every keypoint off by (1, 1): squared distance 2
    area = 100.0
    from al_bench.data.skeleton import OKS_SIGMAS

    expected = np.mean(np.exp(-2.0 / (2 * OKS_SIGMAS) ** 2 / area / 2))
    assert object_keypoint_similarity(pred, gt_kps, area) == pytest.approx(expected)
    assert object_keypoint_similarity(gt_kps[:, :2], gt_kps, area) == pytest.approx(1.0)
