"""Rare-mode metrics: COCO AP restricted to the val images that show each pose family.

A strategy that finds rare poses should lift AP where those poses are, which the overall AP (dominated
by the common families) hides. Families come from the images' ``attributes["pose_families"]`` (the
synthetic set writes them; real COCO has none, and gets no family metrics).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from al_bench.evaluate.coco_eval import KeypointEvaluation


def images_by_family(source, image_ids: Iterable[int]) -> dict[str, list[int]]:
    """Ids of the images of ``source`` (a ``CocoKeypoints``) that show each pose family."""
    by_family: dict[str, list[int]] = defaultdict(list)
    for image_id in image_ids:
        for family in sorted(set(source.attributes(image_id).get("pose_families", ()))):
            by_family[family].append(int(image_id))
    return dict(by_family)


def family_metrics(
    source,
    results: Sequence[dict],
    image_ids: Iterable[int],
    rare_families: Sequence[str] = (),
    evaluation: KeypointEvaluation | None = None,
) -> dict[str, float]:
    """``ap_family_<name>`` for every family in the val images, and ``ap_rare``: their mean over the
    ``rare_families`` that val shows (names are checked against the data set's families where the
    data is built, ``data/sources.py``). ``evaluation``: the COCOeval matching of ``results`` on
    ``image_ids`` when the caller has it already (each family is then a subset of it)."""
    image_ids = [int(i) for i in image_ids]
    by_family = images_by_family(source, image_ids)
    if by_family and evaluation is None:
        evaluation = KeypointEvaluation(source.coco, results, image_ids)
    metrics = {
        f"ap_family_{family}": evaluation.metrics(ids)["ap"] for family, ids in sorted(by_family.items())
    }
    rare = [metrics[f"ap_family_{f}"] for f in rare_families if f"ap_family_{f}" in metrics]
    if rare:
        metrics["ap_rare"] = sum(rare) / len(rare)
    return metrics
