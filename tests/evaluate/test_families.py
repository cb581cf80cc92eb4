"""Per-family AP: COCOeval restricted to the val images that show each pose family, and ap_rare."""

import numpy as np
import pytest

from al_bench.data.coco import CocoKeypoints
from al_bench.data.synthetic import generate_synthetic
from al_bench.evaluate import (
    KeypointEvaluation,
    evaluate_keypoints,
    family_metrics,
    person_count_accuracy,
    val_metrics,
)
from al_bench.evaluate.families import images_by_family


@pytest.fixture(scope="module")
def val(tmp_path_factory) -> CocoKeypoints:
    paths = generate_synthetic(
        tmp_path_factory.mktemp("fam"),
        n_pool=1,
        n_val=60,
        seed=2,
        val_distribution="balanced",
        families="all",
    )
    return CocoKeypoints(paths.val_ann, paths.image_dir)


def _truth(source, ids) -> list[dict]:
    return [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for i in ids
        for a in source.annotations(i)
        if not a["iscrowd"] and a["num_keypoints"] > 0
    ]


def test_family_ap_is_ap_on_the_images_of_that_family(val):
    ids = val.image_ids.tolist()
    by_family = images_by_family(val, ids)
    assert set(by_family) == {"standing", "walking", "arms_raised", "crouching", "lying", "upside_down"}
    # Perfect poses everywhere except on the images with a lying person: those get none.
    lying = set(by_family["lying"])
    results = [r for r in _truth(val, ids) if r["image_id"] not in lying]
    metrics = family_metrics(val, results, ids, rare_families=["lying", "upside_down"])
    assert metrics["ap_family_lying"] < 0.5
    assert metrics["ap_family_upside_down"] == pytest.approx(
        evaluate_keypoints(val.coco, results, by_family["upside_down"])["ap"]
    )
    assert metrics["ap_rare"] == pytest.approx(
        np.mean([metrics["ap_family_lying"], metrics["ap_family_upside_down"]])
    )
    clean = family_metrics(val, _truth(val, ids), ids, rare_families=["lying"])
    assert clean["ap_family_lying"] == pytest.approx(1.0) and clean["ap_rare"] == pytest.approx(1.0)


def test_no_families_no_metrics(val):
    """Images without family attributes (real COCO) give no family metrics and no ap_rare."""
    person_free = [i for i in val.image_ids if not images_by_family(val, [i])]
    assert family_metrics(val, [], person_free, rare_families=["lying"]) == {}


def _noisy(source, ids, seed: int = 0) -> list[dict]:
    """Ground truth moved by a few pixels, with random scores, some persons dropped, some doubled."""
    rng = np.random.default_rng(seed)
    results = []
    for r in _truth(source, ids):
        if rng.random() < 0.2:
            continue
        for _ in range(1 + int(rng.random() < 0.2)):
            kps = np.asarray(r["keypoints"], float).reshape(17, 3)
            kps[:, :2] += rng.normal(0.0, 2.0, (17, 2))
            results.append({**r, "keypoints": kps.ravel().tolist(), "score": float(rng.uniform(0.1, 1.0))})
    return results


def test_subset_metrics_equal_a_separate_evaluation(val):
    """One COCOeval matching summarised over a subset gives exactly what evaluating the subset alone does."""
    ids = val.image_ids.tolist()
    results = _noisy(val, ids)
    evaluation = KeypointEvaluation(val.coco, results, ids)
    assert evaluation.metrics() == evaluate_keypoints(val.coco, results, ids)
    subsets = list(images_by_family(val, ids).values()) + [ids[::3], ids[:1], [ids[0], 10**9]]
    for subset in subsets:
        assert evaluation.metrics(subset) == evaluate_keypoints(val.coco, results, subset), subset
    assert 0.0 < evaluation.metrics()["ap"] < 1.0


def test_val_metrics_is_every_round_metric_at_once(val):
    ids = val.image_ids.tolist()
    results = _noisy(val, ids, seed=1)
    rare = ["lying", "upside_down"]
    expected = {
        **evaluate_keypoints(val.coco, results, ids),
        **person_count_accuracy(val.coco, results, ids),
        **family_metrics(val, results, ids, rare),
    }
    by_family = images_by_family(val, ids)
    assert expected["ap_family_lying"] == evaluate_keypoints(val.coco, results, by_family["lying"])["ap"]
    assert val_metrics(val, results, ids, rare) == expected
