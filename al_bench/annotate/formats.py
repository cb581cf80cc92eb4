"""Files an annotation tool imports: the picked images with the model's predicted persons as pre-annotations.

From a list of :class:`Pick` (one picked image: id, file name, size, predicted persons as COCO keypoint
results), :func:`write_annotation_files` writes

- ``coco_images.json`` (:data:`COCO_IMAGES`): a COCO keypoints file of the picked images, the predicted
  persons as annotations of COCO's ``person`` category (17 keypoints in COCO order, the 19-limb skeleton).
  Predicted keypoints get ``v = 2``, missing ones ``0, 0, 0``; ``bbox`` is the box of the predicted
  keypoints, ``area`` its area, ``score`` the person's score. pycocotools loads it; CVAT imports it as
  pre-annotations (format "COCO Keypoints 1.0", a skeleton label ``person`` with these point names).
- ``label_studio_config.xml`` (:data:`LS_CONFIG`): ``<Image name="image">``, a ``<RectangleLabels
  name="person">`` box per person, ``<KeyPointLabels name="kp">`` with one ``<Label>`` per COCO keypoint
  (``model_index`` = COCO's index), and a per-region ``<Choices name="visibility">`` to mark a point
  ``occluded`` (COCO ``v = 1``; an unmarked point is ``v = 2``).
- ``label_studio_tasks.json`` (:data:`LS_TASKS`): one task per image, ``data = {image, image_id,
  file_name}``, ``predictions = [{model_version, score, result}]``.

**Grouping keypoints into persons in Label Studio.** Label Studio has no person object; its own grouping
(what its COCO and YOLO exports require) is a rectangle region per instance and ``parentID`` on each
keypoint region naming that rectangle's region ``id``. So each predicted person is one ``rectanglelabels``
result (id ``i<image_id>p<j>``, the keypoint box padded by :data:`BOX_PAD` of its size, at least
``BOX_PAD_MIN_PX``, clipped to the image) and each of its predicted keypoints a ``keypointlabels``
result (id ``i<image_id>p<j>k<k>``) with ``parentID`` = the person's id. ``parentID`` and the region ids
are kept in the JSON export (an annotation made from the prediction copies its regions), and the
annotator moves a new point under a person in the Regions panel. ``merge`` reads persons back from
``parentID``.

Coordinates: ``value.x = 100 * x / original_width``, ``value.y = 100 * y / original_height`` (percent of
the image, unrounded floats so pixels round-trip), ``value.width`` = :data:`POINT_WIDTH` (the point's
drawn size, in percent of the image width).

Nothing here knows about models: predictions are plain COCO keypoint results (``keypoints`` = 51 floats
``x, y, score``; a keypoint is predicted when its score is > ``min_keypoint_score``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np

from al_bench.annotate.atomic import atomic_write_json, atomic_write_text
from al_bench.data.skeleton import KEYPOINT_NAMES, NUM_KEYPOINTS, PERSON_CATEGORY

COCO_IMAGES = "coco_images.json"
LS_CONFIG = "label_studio_config.xml"
LS_TASKS = "label_studio_tasks.json"

# Names in the Label Studio config; the tasks' from_name / to_name use exactly these.
LS_IMAGE = "image"  # <Image name=...>, data key $image
LS_KEYPOINTS = "kp"  # <KeyPointLabels name=...>
LS_PERSON = "person"  # <RectangleLabels name=...>, its one label is also "person"
LS_VISIBILITY = "visibility"  # per-region <Choices name=...>
LS_OCCLUDED = "occluded"  # the choice that makes a keypoint COCO v = 1
POINT_WIDTH = 0.6  # drawn point size, percent of the image width
BOX_PAD = 0.1  # person boxes in the tasks: keypoint box padded by this fraction of its size per side
BOX_PAD_MIN_PX = 4.0


class PickError(ValueError):
    """A pick cannot be written: the message names the image id and what is wrong."""


@dataclass(frozen=True)
class Pick:
    """One picked image and the model's predicted persons on it.

    Attributes:
        image_id: the image's global id (COCO ``image_id``).
        file_name: its path relative to the image folder (COCO ``file_name``; also matched on merge).
        width, height: image size in pixels.
        persons: COCO keypoint results of the image (``keypoints``: 51 numbers ``x, y, score``, ``score``).
        score: the selection score of the pick (optional; the Label Studio prediction score).
    """

    image_id: int
    file_name: str
    width: int
    height: int
    persons: Sequence[Mapping] = field(default_factory=tuple)
    score: float | None = None


def keypoint_bbox(keypoints: np.ndarray) -> list[float]:
    """``[x, y, w, h]`` of the labelled (``v > 0``) keypoints of a ``(17, 3)`` array; zeros when none."""
    kps = np.asarray(keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
    labelled = kps[kps[:, 2] > 0, :2]
    if not len(labelled):
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0 = labelled.min(axis=0)
    x1, y1 = labelled.max(axis=0)
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def _predicted_keypoints(pick: Pick, j: int, person: Mapping, min_score: float) -> np.ndarray:
    """``(17, 3)`` float64 ``x, y, score`` with unpredicted points zeroed; raises PickError on bad input."""
    where = f"pick image {pick.image_id} ({pick.file_name}), person {j}"
    values = person.get("keypoints")
    if values is None or len(values) != 3 * NUM_KEYPOINTS:
        n = None if values is None else len(values)
        raise PickError(f"{where}: keypoints must be {3 * NUM_KEYPOINTS} numbers (x, y, score), got {n}")
    try:
        kps = np.asarray(values, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
    except (TypeError, ValueError):
        raise PickError(f"{where}: keypoints are not numbers") from None
    if not np.isfinite(kps).all():
        raise PickError(f"{where}: keypoints contain non-finite values")
    kps[kps[:, 2] <= min_score] = 0.0
    return kps


def _check_picks(picks: Sequence[Pick]) -> None:
    ids, names = set(), set()
    for pick in picks:
        where = f"pick image {pick.image_id!r} ({pick.file_name!r})"
        if isinstance(pick.image_id, bool) or not isinstance(pick.image_id, int | np.integer):
            raise PickError(f"{where}: image_id must be an integer")
        if int(pick.image_id) in ids:
            raise PickError(f"{where}: duplicate image id {pick.image_id}")
        if not pick.file_name or pick.file_name in names:
            raise PickError(f"{where}: file_name must be non-empty and unique")
        if not (int(pick.width) > 0 and int(pick.height) > 0):
            raise PickError(f"{where}: width and height must be > 0, got {pick.width} x {pick.height}")
        ids.add(int(pick.image_id))
        names.add(pick.file_name)


def coco_images(picks: Sequence[Pick], min_keypoint_score: float = 0.0, description: str = "") -> dict:
    """The ``coco_images.json`` content: picked images + predicted persons as COCO keypoint annotations.

    Persons without any predicted keypoint are left out. Annotation ids run 1, 2, ... in pick order.
    """
    _check_picks(picks)
    images, annotations = [], []
    for pick in picks:
        images.append(
            {
                "id": int(pick.image_id),
                "file_name": str(pick.file_name),
                "width": int(pick.width),
                "height": int(pick.height),
            }
        )
        for j, person in enumerate(pick.persons):
            kps = _predicted_keypoints(pick, j, person, min_keypoint_score)
            present = kps[:, 2] > 0
            if not present.any():
                continue
            coco = np.zeros((NUM_KEYPOINTS, 3))
            coco[present, :2] = kps[present, :2]
            coco[present, 2] = 2
            bbox = keypoint_bbox(coco)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": int(pick.image_id),
                    "category_id": PERSON_CATEGORY["id"],
                    "keypoints": [
                        v for x, y, vis in coco for v in (round(float(x), 3), round(float(y), 3), int(vis))
                    ],
                    "num_keypoints": int(present.sum()),
                    "bbox": [round(b, 3) for b in bbox],
                    "area": round(bbox[2] * bbox[3], 3),
                    "iscrowd": 0,
                    "segmentation": [],
                    "score": float(person.get("score", 0.0)),
                }
            )
    return {
        "info": {"description": description or "al_bench picks with the model's predicted persons"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [dict(PERSON_CATEGORY)],
    }


def label_studio_config() -> str:
    """The Label Studio labeling config (XML) the tasks' ``from_name`` / ``to_name`` refer to."""
    labels = "\n".join(
        f"    <Label value={quoteattr(name)} model_index={quoteattr(str(k))}/>"
        for k, name in enumerate(KEYPOINT_NAMES)
    )
    return (
        "<View>\n"
        f'  <Image name="{LS_IMAGE}" value="${LS_IMAGE}" zoom="true" zoomControl="true"/>\n'
        f'  <RectangleLabels name="{LS_PERSON}" toName="{LS_IMAGE}">\n'
        f'    <Label value="{LS_PERSON}"/>\n'
        "  </RectangleLabels>\n"
        f'  <KeyPointLabels name="{LS_KEYPOINTS}" toName="{LS_IMAGE}">\n'
        f"{labels}\n"
        "  </KeyPointLabels>\n"
        f'  <Choices name="{LS_VISIBILITY}" toName="{LS_IMAGE}" perRegion="true" choice="single">\n'
        f'    <Choice value="{LS_OCCLUDED}"/>\n'
        "  </Choices>\n"
        "</View>\n"
    )


def to_percent(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    """Pixel ``x, y`` as Label Studio's percent of the image size."""
    return 100.0 * float(x) / width, 100.0 * float(y) / height


def from_percent(x_pct: float, y_pct: float, width: int, height: int) -> tuple[float, float]:
    """Label Studio percent coordinates back to pixels (inverse of :func:`to_percent`)."""
    return float(x_pct) * width / 100.0, float(y_pct) * height / 100.0


def _person_box(kps: np.ndarray, width: int, height: int) -> list[float]:
    x, y, w, h = keypoint_bbox(kps)
    pad_x, pad_y = max(BOX_PAD * w, BOX_PAD_MIN_PX), max(BOX_PAD * h, BOX_PAD_MIN_PX)
    x0, y0 = max(0.0, x - pad_x), max(0.0, y - pad_y)
    x1, y1 = min(float(width), x + w + pad_x), min(float(height), y + h + pad_y)
    return [x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)]


def _region(region_id: str, kind: str, from_name: str, pick: Pick, value: dict, score: float) -> dict:
    return {
        "id": region_id,
        "type": kind,
        "from_name": from_name,
        "to_name": LS_IMAGE,
        "original_width": int(pick.width),
        "original_height": int(pick.height),
        "image_rotation": 0,
        "value": value,
        "score": float(score),
    }


def label_studio_tasks(
    picks: Sequence[Pick],
    image_url: str | Callable[[Pick], str] | None = None,
    model_version: str = "al_bench",
    min_keypoint_score: float = 0.0,
) -> list[dict]:
    """The ``label_studio_tasks.json`` content: one task per pick with the predicted persons.

    Args:
        image_url: what ``data.image`` holds: a callable of the pick, a prefix joined to ``file_name``
            (e.g. ``"/data/local-files/?d=images/"`` for Label Studio's local file serving), or None for
            ``file_name`` itself.
        model_version: the predictions' ``model_version``.
        min_keypoint_score: keypoints with a score at or below this are not predicted.
    """
    _check_picks(picks)
    tasks = []
    for pick in picks:
        if callable(image_url):
            url = str(image_url(pick))
        else:
            url = f"{image_url or ''}{pick.file_name}"
        result, scores = [], []
        for j, person in enumerate(pick.persons):
            kps = _predicted_keypoints(pick, j, person, min_keypoint_score)
            present = kps[:, 2] > 0
            if not present.any():
                continue
            score = float(person.get("score", 0.0))
            scores.append(score)
            person_id = f"i{int(pick.image_id)}p{j}"
            bx, by, bw, bh = _person_box(kps, pick.width, pick.height)
            x, y = to_percent(bx, by, pick.width, pick.height)
            w, h = to_percent(bw, bh, pick.width, pick.height)
            box = {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [LS_PERSON]}
            result.append(_region(person_id, "rectanglelabels", LS_PERSON, pick, box, score))
            for k in np.flatnonzero(present):
                x, y = to_percent(kps[k, 0], kps[k, 1], pick.width, pick.height)
                value = {"x": x, "y": y, "width": POINT_WIDTH, "keypointlabels": [KEYPOINT_NAMES[k]]}
                region = _region(f"{person_id}k{k}", "keypointlabels", LS_KEYPOINTS, pick, value, kps[k, 2])
                region["parentID"] = person_id
                result.append(region)
        if pick.score is not None and math.isfinite(pick.score):
            task_score = float(pick.score)
        else:
            task_score = float(np.mean(scores)) if scores else 0.0
        tasks.append(
            {
                "data": {LS_IMAGE: url, "image_id": int(pick.image_id), "file_name": str(pick.file_name)},
                "predictions": [{"model_version": model_version, "score": task_score, "result": result}],
            }
        )
    return tasks


def write_annotation_files(
    picks: Sequence[Pick],
    out_dir: str | Path,
    image_url: str | Callable[[Pick], str] | None = None,
    model_version: str = "al_bench",
    min_keypoint_score: float = 0.0,
) -> dict[str, Path]:
    """Write ``coco_images.json``, ``label_studio_config.xml`` and ``label_studio_tasks.json`` to ``out_dir``.

    Every file is built (and every pick checked) before anything is written; each file is then written
    atomically (temp file + ``os.replace``). To make a whole output folder appear at once, call this on
    the folder yielded by :func:`al_bench.annotate.atomic.atomic_output_dir`.

    Returns:
        ``{"coco_images": path, "label_studio_config": path, "label_studio_tasks": path}``.

    Raises:
        PickError: a pick with a bad id, size or prediction, naming the image.
    """
    out_dir = Path(out_dir)
    coco = coco_images(picks, min_keypoint_score, description=f"al_bench picks, model {model_version}")
    tasks = label_studio_tasks(picks, image_url, model_version, min_keypoint_score)
    config = label_studio_config()
    return {
        "coco_images": atomic_write_json(out_dir / COCO_IMAGES, coco),
        "label_studio_config": atomic_write_text(out_dir / LS_CONFIG, config),
        "label_studio_tasks": atomic_write_json(out_dir / LS_TASKS, tasks),
    }
