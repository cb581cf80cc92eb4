"""COCO keypoint evaluation (OKS) with pycocotools' COCOeval, and the person-count accuracy of
Kaplan et al. 2020; both return flat ``dict[str, float]`` that tracking logs as is. Also the per-image
error (``1 - mean OKS`` of the image's persons) that the ``oracle_loss`` positive control ranks by, and
the rare-mode metrics (AP on the val images of each pose family)."""

from al_bench.evaluate.coco_eval import METRIC_NAMES, KeypointEvaluation, evaluate_keypoints
from al_bench.evaluate.families import family_metrics
from al_bench.evaluate.image_error import greedy_oks_match, image_oks_errors
from al_bench.evaluate.person_count import object_keypoint_similarity, person_count_accuracy
from al_bench.evaluate.round_metrics import val_metrics

__all__ = [
    "METRIC_NAMES",
    "KeypointEvaluation",
    "evaluate_keypoints",
    "family_metrics",
    "greedy_oks_match",
    "image_oks_errors",
    "object_keypoint_similarity",
    "person_count_accuracy",
    "val_metrics",
]
