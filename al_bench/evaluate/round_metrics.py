"""Every metric one AL round logs on val, from one set of predictions: COCO's keypoint metrics, the
person-count accuracy and the rare-mode (per pose family) AP, with one COCOeval matching for all."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from al_bench.evaluate.coco_eval import KeypointEvaluation
from al_bench.evaluate.families import family_metrics
from al_bench.evaluate.person_count import person_count_accuracy


def val_metrics(
    source, results: Sequence[dict], image_ids: Iterable[int], rare_families: Sequence[str] = ()
) -> dict[str, float]:
    """``ap``, ``ap50``, ... (:func:`~al_bench.evaluate.coco_eval.evaluate_keypoints`), the person-count
    metrics and ``ap_family_<name>`` / ``ap_rare`` of ``results`` on ``image_ids`` of ``source``."""
    ids = [int(i) for i in image_ids]
    evaluation = KeypointEvaluation(source.coco, results, ids)
    return {
        **evaluation.metrics(),
        **person_count_accuracy(source.coco, results, ids),
        **family_metrics(source, results, ids, rare_families, evaluation),
    }
