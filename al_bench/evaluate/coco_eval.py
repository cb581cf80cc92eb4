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
    """``gt.loadRes`` without its prints and without mutating the caller's dicts."""
    with contextlib.redirect_stdout(io.StringIO()):
        return gt.loadRes(copy.deepcopy(list(results)))


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
    ids = sorted(gt.getImgIds() if image_ids is None else {int(i) for i in image_ids})
    wanted = set(ids)
    results = [r for r in results if r["image_id"] in wanted]
    if not results or not ids:
        return dict.fromkeys(METRIC_NAMES, 0.0)
    evaluator = COCOeval(gt, _results_coco(gt, results), iouType="keypoints")
    evaluator.params.imgIds = ids
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    stats = np.maximum(np.asarray(evaluator.stats, dtype=float), 0.0)
    return {name: float(v) for name, v in zip(METRIC_NAMES, stats, strict=True)}
