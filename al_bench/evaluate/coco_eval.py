"""OKS keypoint metrics exactly as the COCO benchmark computes them (pycocotools ``COCOeval``)."""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterable, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

# Order of COCOeval.stats for iouType="keypoints" (stats[5:10] are AR, AR50, AR75, ARm, ARl).
METRIC_NAMES: tuple[str, ...] = ("ap", "ap50", "ap75", "apm", "apl", "ar", "ar50", "ar75", "arm", "arl")


def _results_coco(gt: COCO, results: Sequence[dict]) -> COCO:
    """``gt.loadRes`` without its prints and without mutating the caller's dicts: it adds ``id``,
    ``area`` and ``bbox`` to each dict and only reads the keypoint lists, so a copy of each dict
    suffices (a deep copy of every keypoint list was a third of val's metric time)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return gt.loadRes([dict(r) for r in results])


def evaluate_keypoints(
    gt: COCO, results: Sequence[dict], image_ids: Iterable[int] | None = None
) -> dict[str, float]:
    """Evaluate COCO-format keypoint results against ground truth.

    Args:
        gt: ground truth loaded with pycocotools.
        results: ``{"image_id", "category_id": 1, "keypoints": [x, y, s] * 17, "score"}`` dicts.
        image_ids: restrict evaluation to these images (default: all images in ``gt``).

    Returns:
        ``{"ap", "ap50", "ap75", "apm", "apl", "ar", ...}``. COCO marks a metric it cannot compute
        (e.g. no medium persons) with -1; those are reported as 0.0. No results gives all zeros.
    """
    return KeypointEvaluation(gt, results, image_ids).metrics()


class KeypointEvaluation:
    """One COCOeval matching of ``results`` on ``image_ids``, summarised over any subset of those images.

    COCOeval matches detections to persons image by image (``evaluateImg``), and only its accumulation
    mixes images (one ranking of all detections by score). So the metrics of a subset are its images'
    per-image matches accumulated alone: exactly what a separate ``evaluate_keypoints`` on the subset
    computes (tests/evaluate/test_families.py), without matching every image once per subset (val's
    six pose families each evaluated apart took as long as the whole val).
    """

    def __init__(self, gt: COCO, results: Sequence[dict], image_ids: Iterable[int] | None = None) -> None:
        self.image_ids = sorted(gt.getImgIds() if image_ids is None else {int(i) for i in image_ids})
        wanted = set(self.image_ids)
        results = [r for r in results if r["image_id"] in wanted]
        self._with_results = {int(r["image_id"]) for r in results}
        self._evaluator: COCOeval | None = None
        if results and self.image_ids:
            self._evaluator = COCOeval(gt, _results_coco(gt, results), iouType="keypoints")
            self._evaluator.params.imgIds = self.image_ids
            with contextlib.redirect_stdout(io.StringIO()):
                self._evaluator.evaluate()

    def metrics(self, image_ids: Iterable[int] | None = None) -> dict[str, float]:
        """The COCO keypoint metrics on ``image_ids`` (default: all evaluated images); ids that were not
        evaluated are left out. No results on the subset gives all zeros, as ``evaluate_keypoints``."""
        subset = (
            self.image_ids if image_ids is None else sorted(set(self.image_ids) & {int(i) for i in image_ids})
        )
        if self._evaluator is None or not subset or not self._with_results & set(subset):
            return dict.fromkeys(METRIC_NAMES, 0.0)
        view = _restricted(self._evaluator, subset)
        with contextlib.redirect_stdout(io.StringIO()):
            view.accumulate()
            view.summarize()
        stats = np.maximum(np.asarray(view.stats, dtype=float), 0.0)
        return {name: float(v) for name, v in zip(METRIC_NAMES, stats, strict=True)}


def _restricted(evaluator: COCOeval, subset: Sequence[int]) -> COCOeval:
    """A shallow copy of an evaluated ``evaluator`` whose per-image matches are those of ``subset``
    (sorted ids), laid out as ``evaluate()`` lays them out: category, area range, image."""
    evaluated = evaluator._paramsEval
    row = {image_id: n for n, image_id in enumerate(evaluated.imgIds)}
    n_images, n_areas = len(evaluated.imgIds), len(evaluated.areaRng)
    n_cats = len(evaluated.catIds) if evaluated.useCats else 1
    view = copy.copy(evaluator)
    view.params, view._paramsEval = copy.deepcopy(evaluator.params), copy.deepcopy(evaluated)
    view.params.imgIds = view._paramsEval.imgIds = list(subset)
    view.evalImgs = [
        evaluator.evalImgs[(k * n_areas + a) * n_images + row[image_id]]
        for k in range(n_cats)
        for a in range(n_areas)
        for image_id in subset
    ]
    return view
