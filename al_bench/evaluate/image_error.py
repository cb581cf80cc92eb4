"""Per-image pose error of a model against ground truth: what the ``oracle_loss`` positive control ranks by.

Error of an image = ``1 - mean OKS`` of its annotated persons (the non-crowd annotations with
``num_keypoints > 0``, as :mod:`.person_count` counts them) against the model's predictions, in [0, 1]:

- OKS is COCO's (:func:`.person_count.object_keypoint_similarity`: COCO's sigmas, the annotation's
  ``area``, the mean over the person's labelled keypoints).
- Matching (ours; COCOeval matches by score order *above* an OKS threshold, which has no threshold to
  use here): of the image's top ``MAX_DETECTIONS`` predictions by score (COCOeval's ``maxDets``), pairs
  are matched one to one greedily by decreasing OKS (:func:`greedy_oks_match`), so every person gets
  its best remaining prediction whatever the scores say. A person left without a prediction counts
  OKS 0. False positives on an image with persons do not change its error (it measures what the model
  misses or misplaces).
- An image without annotated persons: error ``min(1, highest prediction score)``, 0 when the model
  predicts nobody. The decoder's person score is near 1 for a complete, confident person, so a
  confident hallucination costs as much as a missed person and a faint fragment little. An image whose
  only annotations are crowd regions has error 0: COCOeval ignores detections that match a crowd
  region (we do not test the overlap, so every prediction there is taken to be in the crowd).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from pycocotools.coco import COCO

from al_bench.evaluate.person_count import MAX_DETECTIONS, _annotated_persons, object_keypoint_similarity


def greedy_oks_match(oks: np.ndarray) -> np.ndarray:
    """Each person's OKS after one-to-one greedy matching by decreasing OKS (0 when unmatched).

    Args:
        oks: ``(persons, predictions)`` OKS matrix. Ties go to the lower person, then prediction index.
    """
    oks = np.asarray(oks, dtype=np.float64)
    if oks.ndim != 2:
        raise ValueError(f"greedy_oks_match needs a (persons, predictions) matrix; got shape {oks.shape}")
    matched = np.zeros(oks.shape[0])
    free_person = np.ones(oks.shape[0], dtype=bool)
    free_pred = np.ones(oks.shape[1], dtype=bool)
    flat = oks.ravel()
    for pair in np.lexsort((np.arange(flat.size), -flat)).tolist():  # by OKS desc, then row-major
        person, pred = divmod(pair, oks.shape[1])
        if free_person[person] and free_pred[pred] and flat[pair] > 0:
            matched[person] = flat[pair]
            free_person[person] = free_pred[pred] = False
    return matched


def _image_error(gt: COCO, image_id: int, predictions: list[dict]) -> float:
    persons = _annotated_persons(gt, image_id)
    if not persons:
        if not predictions or gt.getAnnIds(imgIds=[image_id], iscrowd=True):
            return 0.0
        return float(min(1.0, max(p["score"] for p in predictions)))
    return float(1.0 - matched_oks(persons, predictions).mean())


def matched_oks(persons: Sequence[dict], predictions: Sequence[dict]) -> np.ndarray:
    """``(len(persons),)`` OKS of each annotated person after one-to-one greedy matching with
    ``predictions`` (:func:`greedy_oks_match`; 0 when left unmatched)."""
    gts = [np.asarray(p["keypoints"], dtype=np.float64).reshape(17, 3) for p in persons]
    preds = [np.asarray(p["keypoints"], dtype=np.float64).reshape(17, 3)[:, :2] for p in predictions]
    oks = np.array([[object_keypoint_similarity(xy, g, p["area"]) for xy in preds] for g, p in
                    zip(gts, persons, strict=True)]).reshape(len(persons), len(preds))  # fmt: skip
    return greedy_oks_match(oks)


def image_oks_errors(gt: COCO, results: Sequence[dict], image_ids: Iterable[int]) -> np.ndarray:
    """``(N,)`` float64 error of each of ``image_ids`` (in that order); see the module docstring.

    Args:
        gt: the ground truth (pycocotools ``COCO``) holding ``image_ids``.
        results: COCO keypoint results (``image_id``, ``keypoints``, ``score``), any images.
        image_ids: global ids to score.
    """
    by_image: dict[int, list[dict]] = defaultdict(list)
    for r in results:
        by_image[int(r["image_id"])].append(r)
    errors = []
    for image_id in (int(i) for i in image_ids):
        preds = sorted(by_image.get(image_id, []), key=lambda r: -r["score"])[:MAX_DETECTIONS]
        errors.append(_image_error(gt, image_id, preds))
    return np.asarray(errors, dtype=np.float64)
