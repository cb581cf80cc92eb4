"""COCO keypoint evaluation (OKS) with pycocotools' COCOeval, and the person-count accuracy of
Kaplan et al. 2020; both return flat ``dict[str, float]`` that tracking logs as is."""

from al_bench.evaluate.coco_eval import METRIC_NAMES, evaluate_keypoints
from al_bench.evaluate.person_count import object_keypoint_similarity, person_count_accuracy

__all__ = ["METRIC_NAMES", "evaluate_keypoints", "object_keypoint_similarity", "person_count_accuracy"]
