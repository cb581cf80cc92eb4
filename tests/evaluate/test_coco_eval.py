"""evaluate_keypoints: perfect results, analytically displaced keypoints, empty results."""

import contextlib
import copy
import io
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO

from al_bench.data.skeleton import OKS_SIGMAS, PERSON_CATEGORY
from al_bench.evaluate.coco_eval import METRIC_NAMES, evaluate_keypoints

THRESHOLDS = np.linspace(0.5, 0.95, 10)  # COCO's OKS thresholds
# ../shared relative to the repo root (this file is tests/evaluate/test_coco_eval.py).
COCO_SAMPLE = Path(__file__).resolve().parents[3] / "shared/fixtures/coco_val2017_sample"


@pytest.fixture
def coco_sample() -> Path:
    if not (COCO_SAMPLE / "person_keypoints_sample.json").exists():
        pytest.skip(f"real COCO sample not found at {COCO_SAMPLE}")
    return COCO_SAMPLE


def _coco(dataset: dict) -> COCO:
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _single_person(area: float = 20000.0) -> tuple[COCO, np.ndarray]:
    rng = np.random.default_rng(0)
    kps = np.column_stack([rng.uniform(100, 200, 17), rng.uniform(100, 300, 17), np.full(17, 2.0)])
    gt = _coco(
        {
            "images": [{"id": 1, "width": 400, "height": 400, "file_name": "x.jpg"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": area,
                             "bbox": [100, 100, 100, 200], "keypoints": kps.reshape(-1).tolist(), "num_keypoints": 17}],
            "categories": [PERSON_CATEGORY],
        }
    )  # fmt: skip
    return gt, kps


def _result(kps: np.ndarray, image_id: int = 1) -> dict:
    return {"image_id": image_id, "category_id": 1, "keypoints": kps.reshape(-1).tolist(), "score": 0.9}


def test_ground_truth_as_results_scores_one(coco_sample):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(coco_sample / "person_keypoints_sample.json"))
    results = [
        _result(np.asarray(a["keypoints"], float), a["image_id"])
        for a in gt.anns.values()
        if a["num_keypoints"]
    ]
    metrics = evaluate_keypoints(gt, results)
    assert set(metrics) == set(METRIC_NAMES)
    for name in ("ap", "ap50", "ap75", "apm", "apl", "ar"):
        assert metrics[name] == pytest.approx(1.0), name


def test_evaluation_leaves_the_callers_results_as_they_were(coco_sample):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(coco_sample / "person_keypoints_sample.json"))
    results = [_result(np.asarray(a["keypoints"], float), a["image_id"]) for a in gt.anns.values()]
    before = copy.deepcopy(results)
    first = evaluate_keypoints(gt, results)
    assert results == before  # loadRes adds id / area / bbox to the dicts it is given: to copies
    assert evaluate_keypoints(gt, results) == first


@pytest.mark.parametrize("target_oks", [0.62, 0.81, 0.93])
def test_displaced_keypoints_score_as_the_oks_formula_implies(target_oks):
    area = 20000.0
    gt, kps = _single_person(area)
    # COCO: OKS = mean_k exp(-d^2 / (2 * area * (2 sigma_k)^2)); displace every keypoint by the same d.
    variances = (2 * OKS_SIGMAS) ** 2
    grid = np.linspace(0.01, 60, 60000)
    oks_of = np.exp(-(grid[:, None] ** 2) / (2 * area * variances)).mean(axis=1)
    d = grid[np.argmin(np.abs(oks_of - target_oks))]
    oks = float(np.mean(np.exp(-(d**2) / (2 * area * variances))))
    moved = kps.copy()
    moved[:, 0] += d * 0.6
    moved[:, 1] += d * 0.8
    metrics = evaluate_keypoints(gt, [_result(moved)])
    # a single detection either matches at threshold t (OKS >= t: precision 1 everywhere) or not at all
    expected_ap = float(np.mean(oks >= THRESHOLDS))
    assert metrics["ap"] == pytest.approx(expected_ap, abs=1e-6)
    assert metrics["ap"] < 1.0
    assert metrics["ap50"] == pytest.approx(1.0)
    assert metrics["ap75"] == pytest.approx(1.0 if oks >= 0.75 else 0.0)
    assert metrics["apl"] == pytest.approx(expected_ap, abs=1e-6), "area 20000 > 96^2 is a large person"
    assert metrics["apm"] == 0.0, "no medium persons: COCO's -1 reported as 0"
    assert metrics["ar"] == pytest.approx(expected_ap, abs=1e-6)
    assert evaluate_keypoints(gt, [_result(kps)])["ap"] == pytest.approx(1.0)


def test_empty_results_give_zeros():
    gt, _ = _single_person()
    assert evaluate_keypoints(gt, []) == dict.fromkeys(METRIC_NAMES, 0.0)
    gt, kps = _single_person()
    assert evaluate_keypoints(gt, [_result(kps, image_id=99)]) == dict.fromkeys(METRIC_NAMES, 0.0)
