"""Person-count accuracy, the metric of Kaplan, Juvonen & Lensu (S+SSPR 2020), next to OKS AP.

Matching rule (ours; the paper does not spell one out): per image, the annotated persons are the
non-crowd annotations with ``num_keypoints > 0``. Predictions are ranked by score (COCO's top 20
kept, as COCOeval does) and matched greedily, one to one, to the unmatched annotated person with the
highest OKS; a match counts when OKS >= ``oks_threshold`` (default 0.5, COCO's loosest threshold).

- ``person_count_accuracy`` = matched persons / annotated persons, over the whole val set
  (the "detected persons / annotated persons" of the paper, with false detections not rewarded);
- ``person_count_exact`` = fraction of images whose number of predictions with
  ``score >= min_score`` equals the number of annotated persons.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from pycocotools.coco import COCO

from al_bench.data.skeleton import OKS_SIGMAS

MAX_DETECTIONS = 20


def object_keypoint_similarity(pred_xy: np.ndarray, gt_keypoints: np.ndarray, gt_area: float) -> float:
    """COCO's OKS between one predicted pose ``(17, 2)`` and one annotation ``(17, 3)`` (pycocotools formula)."""
    visible = gt_keypoints[:, 2] > 0
    if not visible.any():
        return 0.0
    variances = (2 * OKS_SIGMAS) ** 2
    sq_dist = ((pred_xy - gt_keypoints[:, :2]) ** 2).sum(axis=1)
    e = sq_dist / variances / (gt_area + np.spacing(1)) / 2
    return float(np.exp(-e)[visible].mean())


def _annotated_persons(gt: COCO, image_id: int) -> list[dict]:
    anns = gt.loadAnns(gt.getAnnIds(imgIds=[image_id], iscrowd=False))
    return [a for a in anns if a.get("num_keypoints", 0) > 0]


def _matched_count(predictions: list[dict], persons: list[dict], oks_threshold: float) -> int:
    gts = [np.asarray(p["keypoints"], dtype=np.float64).reshape(17, 3) for p in persons]
    unmatched = set(range(len(persons)))
    matched = 0
    for pred in predictions:
        if not unmatched:
            break
        xy = np.asarray(pred["keypoints"], dtype=np.float64).reshape(17, 3)[:, :2]
        oks = {j: object_keypoint_similarity(xy, gts[j], persons[j]["area"]) for j in unmatched}
        best = max(oks, key=oks.get)
        if oks[best] >= oks_threshold:
            unmatched.discard(best)
            matched += 1
    return matched


def person_count_accuracy(
    gt: COCO,
    results: Sequence[dict],
    image_ids: Iterable[int] | None = None,
    oks_threshold: float = 0.5,
    min_score: float = 0.0,
) -> dict[str, float]:
    """Person-count metrics over ``image_ids`` (default: every image of ``gt``); see the module docstring."""
    ids = sorted(gt.getImgIds() if image_ids is None else {int(i) for i in image_ids})
    by_image: dict[int, list[dict]] = defaultdict(list)
    for r in results:
        by_image[int(r["image_id"])].append(r)
    annotated = matched = exact = 0
    for image_id in ids:
        persons = _annotated_persons(gt, image_id)
        preds = sorted(by_image.get(image_id, []), key=lambda r: -r["score"])[:MAX_DETECTIONS]
        annotated += len(persons)
        matched += _matched_count(preds, persons, oks_threshold)
        exact += sum(p["score"] >= min_score for p in preds) == len(persons)
    return {
        "person_count_accuracy": matched / annotated if annotated else 0.0,
        "person_count_exact": exact / len(ids) if ids else 0.0,
    }
