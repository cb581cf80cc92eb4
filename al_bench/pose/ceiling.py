"""The decoder ceiling: ground truth encoded as training targets, decoded, and scored with COCOeval.

Every AP the harness reports lives under this number: it is what a model that predicted its own
training targets perfectly would score with the configured encoding (input size, stride, sigma, PAF
width) and decoder. The breakdowns say where the ceiling is lost: per area range (COCOeval's own) and
per number of labelled keypoints (the persons outside a bin are turned into crowd regions, so their
detections are neither matched nor counted as false positives — COCO's own mechanism for ignoring a
ground-truth person).
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from pycocotools.coco import COCO

from al_bench.data.coco import CocoKeypoints
from al_bench.data.targets import encode_targets
from al_bench.data.transforms import fit_height, letterbox
from al_bench.evaluate import evaluate_keypoints
from al_bench.evaluate.image_error import matched_oks
from al_bench.pose.decode import DecodeParams, decode_maps, to_coco_results

# Bins of the number of labelled keypoints (inclusive bounds) in the per-count breakdown.
KEYPOINT_COUNT_BINS: tuple[tuple[int, int], ...] = ((1, 4), (5, 9), (10, 14), (15, 17))


@dataclass(frozen=True)
class Encoding:
    """How ground truth becomes targets: the model's input side, output stride, sigma and PAF width (px)."""

    input_size: int
    stride: int
    sigma: float
    paf_width: float
    resize: str = "long_side"  # or "height": OpenPose's test protocol (height to input_size, width padded to the stride)


@dataclass
class CeilingReport:
    """Outcome of :func:`decoder_ceiling`.

    Attributes:
        metrics: COCOeval keypoint metrics over all images (``ap``, ``ar``, ``apm``, ...).
        by_keypoint_count: ``{"1-4": {"ap", "ar", "n_persons"}, ...}``.
        persons: per ground-truth person with keypoints: ``image_id``, ``annotation_id``,
            ``num_keypoints``, ``area`` and ``oks`` (its OKS after one-to-one matching, 0 when unmatched).
        results: the decoded persons as COCO results (original-image pixels).
    """

    metrics: dict[str, float]
    by_keypoint_count: dict[str, dict[str, float]] = field(default_factory=dict)
    persons: list[dict] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)

    def worst(self, n: int) -> list[dict]:
        """The ``n`` persons with the lowest OKS (ties: fewer keypoints first)."""
        return sorted(self.persons, key=lambda p: (p["oks"], p["num_keypoints"]))[:n]


def configured_ceiling_ap(cfg, source: CocoKeypoints) -> float:
    """The ceiling AP of a run's configured encoding (``model``), test resize (``infer.resize``) and decoder
    (``infer.decode``) on ``source``."""
    from al_bench.pose.train import target_encoding

    sigma, paf_width = target_encoding(cfg)
    resize = str(cfg.infer.get("resize", "long_side"))
    encoding = Encoding(int(cfg.model.input_size), int(cfg.model.stride), sigma, paf_width, resize)
    params = DecodeParams.from_cfg(cfg.infer.decode)
    return decoder_ceiling(source, encoding, params, breakdowns=False).metrics["ap"]


def encoded_results(
    source: CocoKeypoints, encoding: Encoding, params: DecodeParams, image_ids: Sequence[int] | None = None
) -> list[dict]:
    """Decode each image's ground truth, encoded as targets at ``encoding``, into COCO results."""
    size, stride = encoding.input_size, encoding.stride
    results: list[dict] = []
    for image_id in source.image_ids if image_ids is None else image_ids:
        width, height = source.image_size(image_id)
        if encoding.resize == "height":
            scale, offset, (in_width, _) = fit_height(width, height, size, stride)
            out_hw = (size // stride, in_width // stride)
        else:
            scale, offset = letterbox(width, height, size)
            out_hw = (size // stride, size // stride)
        keypoints = source.keypoints(image_id).copy()
        labelled = keypoints[..., 2] > 0
        keypoints[..., :2] = np.where(labelled[..., None], keypoints[..., :2] * scale + offset, 0.0)
        heatmaps, pafs = encode_targets(keypoints, out_hw, stride, encoding.sigma, encoding.paf_width)
        poses = decode_maps(torch.from_numpy(heatmaps), torch.from_numpy(pafs), stride, params)
        results += to_coco_results(poses, int(image_id), scale, offset)
    return results


def decoder_ceiling(
    source: CocoKeypoints, encoding: Encoding, params: DecodeParams | None = None, breakdowns: bool = True
) -> CeilingReport:
    """AP/AR of the encode → decode round trip of ``source``'s ground truth, with its breakdowns
    (unless ``breakdowns`` is False: then only ``metrics`` and ``results``).

    A keypoint-count bin without persons reports NaN.
    """
    params = params or DecodeParams()
    results = encoded_results(source, encoding, params)
    ids = [int(i) for i in source.image_ids]
    report = CeilingReport(metrics=evaluate_keypoints(source.coco, results, ids), results=results)
    if not breakdowns:
        return report
    for low, high in KEYPOINT_COUNT_BINS:
        gt, n_persons = _only_keypoint_count(source, low, high)
        scores = (
            evaluate_keypoints(gt, results, ids) if n_persons else {"ap": float("nan"), "ar": float("nan")}
        )
        report.by_keypoint_count[f"{low}-{high}"] = {
            "ap": scores["ap"],
            "ar": scores["ar"],
            "n_persons": n_persons,
        }
    report.persons = _person_oks(source, results)
    return report


def _only_keypoint_count(source: CocoKeypoints, low: int, high: int) -> tuple[COCO, int]:
    """A copy of the ground truth where persons outside ``[low, high]`` labelled keypoints are crowds."""
    dataset = copy.deepcopy(source.coco.dataset)
    n_persons = 0
    for ann in dataset["annotations"]:
        inside = low <= ann.get("num_keypoints", 0) <= high and not ann.get("iscrowd", 0)
        n_persons += inside
        if not inside:
            ann["iscrowd"] = 1
    gt = COCO()
    gt.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt, n_persons


def _person_oks(source: CocoKeypoints, results: list[dict]) -> list[dict]:
    """OKS of every ground-truth person with keypoints after one-to-one greedy matching with the decoded
    persons of its image (:func:`~al_bench.evaluate.image_error.matched_oks`; 0 when left unmatched)."""
    by_image: dict[int, list[dict]] = {}
    for r in results:
        by_image.setdefault(r["image_id"], []).append(r)
    persons = []
    for image_id in (int(i) for i in source.image_ids):
        anns = source.persons(image_id)
        for ann, oks in zip(anns, matched_oks(anns, by_image.get(image_id, [])), strict=True):
            persons.append({"image_id": image_id, "annotation_id": int(ann["id"]),
                            "num_keypoints": int(ann["num_keypoints"]), "area": float(ann["area"]),
                            "oks": float(oks)})  # fmt: skip
    return persons
