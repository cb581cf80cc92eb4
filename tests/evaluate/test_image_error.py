"""Per-image OKS error (the oracle_loss score) on hand-made ground truth whose answer is known."""

import numpy as np
import pytest
from pycocotools.coco import COCO

from al_bench.data.skeleton import OKS_SIGMAS, PERSON_CATEGORY
from al_bench.evaluate import greedy_oks_match, image_oks_errors

AREA = 2000.0


def _person(ann_id, image_id, x0, y0, num_keypoints=17, iscrowd=0):
    kps = np.zeros((17, 3))
    kps[:, 0] = x0 + np.arange(17) * 2.0
    kps[:, 1] = y0 + np.arange(17) * 3.0
    kps[:, 2] = 2 if num_keypoints else 0
    return {
        "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": iscrowd,
        "keypoints": kps.ravel().tolist(), "num_keypoints": num_keypoints,
        "area": AREA, "bbox": [x0, y0, 40.0, 60.0],
    }  # fmt: skip


@pytest.fixture()
def gt() -> COCO:
    coco = COCO()
    coco.dataset = {
        "images": [{"id": i, "width": 300, "height": 300, "file_name": f"{i}.png"} for i in range(1, 6)],
        "categories": [PERSON_CATEGORY],
        # 1: two persons + a zero-keypoint one; 2: one person + a crowd; 3: nobody; 4: a crowd only;
        # 5: one person.
        "annotations": [
            _person(10, 1, 10, 10), _person(11, 1, 150, 150), _person(12, 1, 50, 50, num_keypoints=0),
            _person(20, 2, 20, 20), _person(21, 2, 0, 0, iscrowd=1),
            _person(40, 4, 0, 0, iscrowd=1), _person(50, 5, 30, 30),
        ],
    }  # fmt: skip
    coco.createIndex()
    return coco


def _result(image_id, ann, score=0.9, shift=0.0):
    kps = np.asarray(ann["keypoints"], dtype=float).reshape(17, 3)
    kps[:, :2] += shift
    kps[:, 2] = 1.0
    return {"image_id": image_id, "category_id": 1, "keypoints": kps.ravel().tolist(), "score": score}


def _oks_of_shift(shift):
    """COCO's OKS of a prediction moved by (shift, shift) on every keypoint, by the formula."""
    e = 2 * shift**2 / (2 * np.asarray(OKS_SIGMAS)) ** 2 / (AREA + np.spacing(1)) / 2
    return float(np.exp(-e).mean())


def test_error_is_one_minus_mean_oks_of_the_persons(gt):
    anns = {a["id"]: a for a in gt.dataset["annotations"]}
    results = [
        _result(1, anns[10]),  # exact: OKS 1
        _result(1, anns[11], score=0.3, shift=3.0),  # near person 11
        _result(2, anns[20], shift=2.0),  # the crowd and zero-keypoint persons do not count
    ]
    errors = image_oks_errors(gt, results, [2, 1, 5])
    expected_1 = 1 - (1.0 + _oks_of_shift(3.0)) / 2
    np.testing.assert_allclose(errors, [1 - _oks_of_shift(2.0), expected_1, 1.0], rtol=1e-9)
    assert 0 < _oks_of_shift(3.0) < 1  # the shifted prediction is neither perfect nor worthless


def test_one_prediction_serves_one_person_the_other_counts_zero(gt):
    anns = {a["id"]: a for a in gt.dataset["annotations"]}
    # Two predictions on person 10, none near person 11 (140 px away: OKS ~ 0).
    results = [_result(1, anns[10]), _result(1, anns[10], score=0.5, shift=1.0)]
    assert image_oks_errors(gt, results, [1])[0] == pytest.approx(0.5, abs=1e-6)


def test_images_without_persons_score_the_most_confident_false_positive(gt):
    anns = {a["id"]: a for a in gt.dataset["annotations"]}
    fp = _result(3, anns[10], score=0.4)
    errors = image_oks_errors(gt, [fp, {**fp, "score": 0.25}], [3])
    assert errors.tolist() == [0.4]
    assert image_oks_errors(gt, [{**fp, "score": 1.7}], [3]).tolist() == [1.0]  # clipped to 1
    assert image_oks_errors(gt, [], [3, 4]).tolist() == [0.0, 0.0]  # predicts nobody
    assert image_oks_errors(gt, [{**fp, "image_id": 4}], [4]).tolist() == [0.0]  # crowd: ignored


def test_greedy_matching_goes_by_oks_not_by_score_order():
    # Prediction 0 (the higher score) fits person 0 at 0.6 and person 1 at 0.5; prediction 1 fits
    # person 0 at 0.9. By decreasing OKS: (p0, pred 1) = 0.9, then (p1, pred 0) = 0.5.
    oks = np.array([[0.6, 0.9], [0.5, 0.0]])
    np.testing.assert_allclose(greedy_oks_match(oks), [0.9, 0.5])
    np.testing.assert_allclose(greedy_oks_match(np.zeros((2, 0))), [0.0, 0.0])
    np.testing.assert_allclose(greedy_oks_match(np.array([[0.7], [0.8]])), [0.0, 0.8])
