"""COCO keypoint evaluation (OKS) with pycocotools' COCOeval; returns flat ``dict[str, float]``."""

from al_bench.evaluate.coco_eval import METRIC_NAMES, evaluate_keypoints

__all__ = ["METRIC_NAMES", "evaluate_keypoints"]
