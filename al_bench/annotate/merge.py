"""Merge an annotation tool's export of the picked images into a labeled COCO keypoints set.

:func:`merge_annotations(labeled, export, picks, out=None)` reads

- ``labeled``: the labeled set (COCO keypoints JSON); when the file does not exist a new set is started
  with COCO's ``person`` category;
- ``export``: what the tool wrote, detected from its content:
  ``coco`` — a COCO keypoints JSON (a dict with ``images`` / ``annotations`` / ``categories``), as CVAT
  ("COCO Keypoints 1.0") and Label Studio's COCO export write it, or ``coco_images.json`` itself;
  ``label_studio_json`` — Label Studio's JSON export (a list of tasks with ``annotations[].result``) of
  the tasks :mod:`al_bench.annotate.formats` wrote;
- ``picks``: which images were picked: ``coco_images.json`` (its ``images``), or a picks file (a list of
  objects, or ``{"picks": [...]}``, each with ``image_id`` (or ``id``), ``file_name`` (or ``path``) and
  optionally ``width`` / ``height``);

checks everything, then writes the merged set atomically to ``out`` (default: ``labeled`` itself). A
failed check raises :class:`MergeError` naming the file and the id or key at fault, before anything is
written.

Rules (decisions, all tested in ``tests/annotate/test_merge.py``):

- **Images** of a COCO export are matched to picks by ``file_name``: the same relative path, else the
  same base name (when unique among the picks), else the base name without Label Studio's upload prefix
  (``1a2b3c4d-``). Tools renumber images, so export image ids are never trusted. A Label Studio task is
  matched by ``data.image_id`` (written into the tasks). An export image that matches no pick is an
  error; picked images missing from the export are reported, not added. A size given by both the pick and
  the export must agree. The merged images keep the picks' ids and file names.
- **Keypoint schema**: the keypoint category must list COCO's 17 keypoint names in COCO order; each
  person has 51 finite numbers with visibilities in {0, 1, 2}; labelled points lie in the image (1 px
  slack). Label Studio labels must be COCO keypoint names, at most one of each per person.
- **Persons** in a Label Studio export: the ``person`` rectangles; keypoints belong to the rectangle
  their ``parentID`` names. Points without a parent are one person when the annotation has no rectangle
  and no name twice, an error otherwise. A point marked ``occluded`` (per-region ``visibility`` choice) is
  ``v = 1``, other points ``v = 2``. bbox = the rectangle grown to hold its keypoints. The annotation
  used per task is the latest (``updated_at``, then ``id``) not cancelled; tasks without one are skipped
  and counted. COCO annotations without ``keypoints`` (Label Studio's COCO export writes the parent
  boxes as separate annotations) are skipped and counted.
- **Label Studio's COCO export** (``info.contributor`` "Label Studio") puts all keypoints of an image into
  one annotation, ignoring ``parentID``; it also drops the ``occluded`` choice (every point ``v = 2``) and
  rounds points to whole pixels. An image of it with more than one person box and keypoints is an error
  that points to the JSON export; single-person images merge. The JSON export keeps everything.
- **Ids**: duplicate image or annotation ids inside the export or inside the labeled set, and a picked
  image already in the labeled set (by id or file name), are errors. Tool annotation ids are only checked
  for duplicates: merged persons get new ids after the labeled set's largest (``max + 1, ...``).
- **Consistency** (COCO exports): ``num_keypoints`` must equal the count of ``v > 0``; ``bbox`` must be
  4 finite numbers with ``w, h >= 0``, inside the image, overlapping the labelled keypoints' box (1 px
  slack; not "holding every keypoint": real COCO boxes often leave points out); ``area`` must be finite,
  ``>= 0`` and at most the bbox area (a segment lies in its box). Each is computed when
  missing: ``num_keypoints`` from ``v``, ``bbox`` the labelled keypoints' box, ``area`` the bbox area.
- An export image with no persons is added as a labeled image without persons (the tool says so).
- Keypoints with ``v = 0`` are stored as ``0, 0, 0``; tool extras (``attributes``, ``score``) are dropped;
  ``iscrowd`` and a non-empty ``segmentation`` are kept.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import numpy as np

from al_bench.annotate.atomic import atomic_write_json
from al_bench.annotate.formats import (
    LS_KEYPOINTS,
    LS_OCCLUDED,
    LS_PERSON,
    LS_VISIBILITY,
    from_percent,
    keypoint_bbox,
)
from al_bench.data.skeleton import KEYPOINT_NAMES, NUM_KEYPOINTS, PERSON_CATEGORY

EXPORT_FORMATS = ("coco", "label_studio_json")
PIXEL_SLACK = 1.0
_LS_UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}-(.+)$")


class MergeError(ValueError):
    """An input of the merge is wrong; the message names the file and the id or key at fault."""


@dataclass(frozen=True)
class PickedImage:
    """An image named by the picks file."""

    image_id: int
    file_name: str
    width: int | None = None
    height: int | None = None


@dataclass
class MergeReport:
    """What a merge added (and left out)."""

    export_format: str
    out_path: Path
    images_added: int = 0
    persons_added: int = 0
    keypoints_added: int = 0
    images_without_persons: int = 0
    picked_not_in_export: list[int] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    labeled_images: int = 0
    labeled_persons: int = 0

    def lines(self) -> list[str]:
        """Human-readable summary, one line each."""
        added = (
            f"merged {self.export_format} export into {self.out_path}: added {self.images_added} images, "
            f"{self.persons_added} persons, {self.keypoints_added} keypoints "
            f"({self.images_without_persons} images without persons)"
        )
        lines = [
            added,
            f"labeled set now: {self.labeled_images} images, {self.labeled_persons} persons",
        ]
        if self.picked_not_in_export:
            shown = ", ".join(map(str, self.picked_not_in_export[:20]))
            more = " ..." if len(self.picked_not_in_export) > 20 else ""
            n = len(self.picked_not_in_export)
            lines.append(f"picked but not merged (not in the export or not annotated) ({n}): {shown}{more}")
        for what, n in sorted(self.skipped.items()):
            lines.append(f"skipped {n} {what}")
        return lines


def _read_json(path: Path, what: str):
    if not path.exists():
        raise MergeError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise MergeError(f"{path}: {what} is not valid JSON: {err}") from err


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def detect_format(export) -> str:
    """``coco`` or ``label_studio_json`` from the export's parsed JSON; MergeError when neither."""
    if isinstance(export, dict) and {"images", "annotations"} <= set(export):
        return "coco"
    if isinstance(export, list) and export and all(isinstance(t, dict) and "data" in t for t in export):
        return "label_studio_json"
    return ""


def load_picked(path: str | Path) -> dict[int, PickedImage]:
    """The picked images of a picks file or ``coco_images.json``, by image id."""
    path = Path(path)
    raw = _read_json(path, "picks file")
    if isinstance(raw, dict) and "images" in raw:
        rows, key = raw["images"], "images"
    elif isinstance(raw, dict) and "picks" in raw:
        rows, key = raw["picks"], "picks"
    elif isinstance(raw, list):
        rows, key = raw, "picks"
    else:
        raise MergeError(f"{path}: not a picks file (a list of picks, {{'picks': [...]}} or a COCO file)")
    picked: dict[int, PickedImage] = {}
    for i, row in enumerate(rows):
        image_id = row.get("image_id", row.get("id")) if isinstance(row, dict) else None
        name = (row.get("file_name") or row.get("path")) if isinstance(row, dict) else None
        if not _is_int(image_id) or not name:
            raise MergeError(f"{path}: {key}[{i}] needs an integer image_id and a file_name, got {row!r}")
        if image_id in picked:
            raise MergeError(f"{path}: duplicate picked image id {image_id}")
        w, h = row.get("width"), row.get("height")
        picked[image_id] = PickedImage(
            image_id, str(name), int(w) if _is_int(w) else None, int(h) if _is_int(h) else None
        )
    if not picked:
        raise MergeError(f"{path}: no picked images")
    return picked


def _base(name: str) -> str:
    return PurePosixPath(unquote(str(name)).replace("\\", "/").split("?d=")[-1]).name


class _Matcher:
    """Export file names -> picked image ids (path, base name, base name without the upload prefix)."""

    def __init__(self, picked: dict[int, PickedImage]) -> None:
        self.by_path = {p.file_name: i for i, p in picked.items()}
        bases = Counter(_base(p.file_name) for p in picked.values())
        self.by_base = {_base(p.file_name): i for i, p in picked.items() if bases[_base(p.file_name)] == 1}

    def __call__(self, file_name: str) -> int | None:
        if file_name in self.by_path:
            return self.by_path[file_name]
        base = _base(file_name)
        if base in self.by_base:
            return self.by_base[base]
        stripped = _LS_UPLOAD_PREFIX.match(base)
        return self.by_base.get(stripped.group(1)) if stripped else None


def _check_schema_names(names, where: str) -> None:
    names = list(names) if isinstance(names, list | tuple) else names
    if names == list(KEYPOINT_NAMES):
        return
    if not isinstance(names, list):
        raise MergeError(f"{where}: keypoints must be a list of COCO's 17 keypoint names, got {names!r}")
    if len(names) != NUM_KEYPOINTS:
        raise MergeError(
            f"{where}: wrong keypoint schema: {len(names)} keypoints, expected COCO's {NUM_KEYPOINTS} "
            f"({', '.join(KEYPOINT_NAMES)})"
        )
    k = next(k for k, (a, b) in enumerate(zip(names, KEYPOINT_NAMES, strict=True)) if a != b)
    raise MergeError(
        f"{where}: wrong keypoint schema: keypoint {k} is {names[k]!r}, COCO order has {KEYPOINT_NAMES[k]!r} "
        f"there (expected {', '.join(KEYPOINT_NAMES)})"
    )


def _keypoints(values, where: str, width: int, height: int) -> np.ndarray:
    """``(17, 3)`` float64 from 51 numbers; visibilities in {0, 1, 2}; labelled points in the image."""
    if not isinstance(values, list) or len(values) != 3 * NUM_KEYPOINTS:
        n = len(values) if isinstance(values, list) else None
        raise MergeError(
            f"{where}: wrong keypoint schema: keypoints must be {3 * NUM_KEYPOINTS} numbers, got {n}"
        )
    if not all(_finite_number(v) for v in values):
        raise MergeError(f"{where}: keypoints must be finite numbers")
    kps = np.asarray(values, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
    bad = [k for k in range(NUM_KEYPOINTS) if kps[k, 2] not in (0, 1, 2)]
    if bad:
        k = bad[0]
        raise MergeError(
            f"{where}: keypoint {k} ({KEYPOINT_NAMES[k]}) has visibility {values[3 * k + 2]!r}; "
            "COCO visibility must be 0, 1 or 2"
        )
    for k in np.flatnonzero(kps[:, 2] > 0):
        x, y = kps[k, :2]
        if not (-PIXEL_SLACK <= x <= width + PIXEL_SLACK and -PIXEL_SLACK <= y <= height + PIXEL_SLACK):
            raise MergeError(
                f"{where}: keypoint {k} ({KEYPOINT_NAMES[k]}) at ({x:g}, {y:g}) is outside the "
                f"{width} x {height} image"
            )
    return kps


def _person(kps: np.ndarray, bbox, area, num_keypoints, where: str, width: int, height: int) -> dict:
    """The merged annotation fields, checked against (or computed from) the keypoints."""
    labelled = int((kps[:, 2] > 0).sum())
    if num_keypoints is None:
        num_keypoints = labelled
    elif not _is_int(num_keypoints) or num_keypoints != labelled:
        raise MergeError(
            f"{where}: num_keypoints is {num_keypoints!r} but {labelled} keypoints are labelled (v > 0)"
        )
    tight = keypoint_bbox(kps)
    if bbox is None:
        bbox = tight
    else:
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_finite_number(b) for b in bbox)):
            raise MergeError(f"{where}: bbox must be 4 finite numbers [x, y, w, h], got {bbox!r}")
        x, y, w, h = (float(b) for b in bbox)
        if w < 0 or h < 0:
            raise MergeError(f"{where}: bbox {bbox} has a negative width or height")
        if (
            x < -PIXEL_SLACK
            or y < -PIXEL_SLACK
            or x + w > width + PIXEL_SLACK
            or y + h > height + PIXEL_SLACK
        ):
            raise MergeError(f"{where}: bbox {bbox} is outside the {width} x {height} image")
        # Real COCO boxes do not always hold every keypoint (20 of the 86 persons of the fixture have
        # points outside their box), so the box must only overlap the keypoints' box: a box of another
        # person or in other units does not.
        if labelled and (
            tight[0] > x + w + PIXEL_SLACK
            or tight[1] > y + h + PIXEL_SLACK
            or tight[0] + tight[2] < x - PIXEL_SLACK
            or tight[1] + tight[3] < y - PIXEL_SLACK
        ):
            raise MergeError(
                f"{where}: bbox {bbox} does not overlap its labelled keypoints (their box is "
                f"{[round(t, 2) for t in tight]})"
            )
        bbox = [x, y, w, h]
    box_area = bbox[2] * bbox[3]
    if area is None:
        area = box_area
    elif not _finite_number(area) or area < 0 or area > box_area * (1 + 1e-6) + PIXEL_SLACK:
        raise MergeError(f"{where}: area {area!r} must be a number in 0..{box_area:g} (the bbox area)")
    keypoints = []
    for x, y, v in kps:
        keypoints += [x, y, int(v)] if v > 0 else [0, 0, 0]
    keypoints = [int(v) if float(v).is_integer() else round(float(v), 3) for v in keypoints]
    return {
        "keypoints": keypoints,
        "num_keypoints": int(num_keypoints),
        "bbox": [round(float(b), 3) for b in bbox],
        "area": round(float(area), 3),
    }


@dataclass
class _Exported:
    """One picked image found in the export, with its persons (merged fields, no ids yet)."""

    image_id: int
    width: int | None
    height: int | None
    persons: list[dict]


def _size(picked: PickedImage, width, height, where: str) -> tuple[int, int]:
    w = picked.width if picked.width is not None else width
    h = picked.height if picked.height is not None else height
    if (picked.width is not None and _is_int(width) and width != picked.width) or (
        picked.height is not None and _is_int(height) and height != picked.height
    ):
        raise MergeError(
            f"{where}: image size {width} x {height} differs from the picked image's "
            f"{picked.width} x {picked.height} ({picked.file_name})"
        )
    if not (_is_int(w) and _is_int(h) and w > 0 and h > 0):
        raise MergeError(f"{where}: image width and height are missing or not positive integers")
    return int(w), int(h)


def _from_coco(path: Path, export: dict, picked: dict[int, PickedImage], skipped: Counter) -> list[_Exported]:
    categories = export.get("categories", [])
    kp_categories = {}
    for cat in categories if isinstance(categories, list) else []:
        if isinstance(cat, dict) and "keypoints" in cat:
            _check_schema_names(
                cat["keypoints"], f"{path}: category id {cat.get('id')!r} ({cat.get('name')!r})"
            )
            kp_categories[cat.get("id")] = cat
    match = _Matcher(picked)
    found: dict[int, _Exported] = {}
    by_export_id: dict = {}
    for img in export["images"]:
        export_id, name = img.get("id"), img.get("file_name", "")
        where = f"{path}: image id {export_id!r} ({name!r})"
        if export_id in by_export_id:
            raise MergeError(f"{where}: duplicate image id {export_id!r} in the export")
        image_id = match(name)
        if image_id is None:
            raise MergeError(f"{where} is not one of the {len(picked)} picked images (unknown image)")
        if image_id in found:
            raise MergeError(
                f"{where}: duplicate image: it and another export image are picked image {image_id}"
            )
        w, h = _size(picked[image_id], img.get("width"), img.get("height"), where)
        found[image_id] = _Exported(image_id, w, h, [])
        by_export_id[export_id] = found[image_id]
    if _is_label_studio_coco(export):
        _refuse_grouped_persons(path, export)
    seen_ann = set()
    for ann in export["annotations"]:
        ann_id = ann.get("id")
        where = f"{path}: annotation id {ann_id!r} (image {ann.get('image_id')!r})"
        if ann_id in seen_ann:
            raise MergeError(f"{where}: duplicate annotation id {ann_id!r} in the export")
        seen_ann.add(ann_id)
        if ann.get("image_id") not in by_export_id:
            raise MergeError(f"{where}: image_id {ann.get('image_id')!r} is not in the export's images")
        if "keypoints" not in ann:
            skipped["annotations without keypoints (boxes)"] += 1
            continue
        if ann.get("category_id") not in kp_categories:
            raise MergeError(
                f"{where}: category_id {ann.get('category_id')!r} is not a keypoint category of the export"
            )
        target = by_export_id[ann.get("image_id")]
        kps = _keypoints(ann["keypoints"], where, target.width, target.height)
        person = _person(
            kps,
            ann.get("bbox"),
            ann.get("area"),
            ann.get("num_keypoints"),
            where,
            target.width,
            target.height,
        )
        person["iscrowd"] = 1 if ann.get("iscrowd") else 0
        if ann.get("segmentation"):
            person["segmentation"] = ann["segmentation"]
        target.persons.append(person)
    return list(found.values())


def _is_label_studio_coco(export: dict) -> bool:
    """A COCO file written by Label Studio's COCO export (its ``info.contributor``)."""
    info = export.get("info")
    return isinstance(info, dict) and info.get("contributor") == "Label Studio"


def _refuse_grouped_persons(path: Path, export: dict) -> None:
    """Label Studio's COCO export writes all keypoints of a task as one annotation (it ignores ``parentID``;
    seen with label-studio 1.23.2): an image with more than one person box and keypoints would merge as
    one person with points of several. Refused, pointing to the JSON export."""
    boxes, points = Counter(), Counter()
    for ann in export["annotations"]:
        if isinstance(ann, dict) and isinstance(ann.get("image_id"), int | str):
            (points if "keypoints" in ann else boxes)[ann["image_id"]] += 1
    names = {
        img.get("id"): img.get("file_name")
        for img in export["images"]
        if isinstance(img, dict) and isinstance(img.get("id"), int | str)
    }
    for image_id, n_boxes in sorted(boxes.items(), key=lambda kv: str(kv[0])):
        if n_boxes > 1 and points[image_id]:
            raise MergeError(
                f"{path}: image id {image_id!r} ({names.get(image_id)!r}) has {n_boxes} person boxes, but "
                "Label Studio's COCO export writes all keypoints of an image as one annotation (it ignores "
                "parentID), so its persons cannot be told apart: export the project as JSON instead "
                "(merge reads each person from parentID)"
            )


def _latest_annotation(task: dict):
    done = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
    if not done:
        return None
    return max(enumerate(done), key=lambda ia: (str(ia[1].get("updated_at") or ""), ia[0]))[1]


def _ls_person(regions: list[dict], box: dict | None, occluded: set, where: str, w: int, h: int) -> dict:
    kps = np.zeros((NUM_KEYPOINTS, 3))
    for region in regions:
        value = region.get("value") or {}
        labels = value.get("keypointlabels") or []
        rwhere = f"{where}, region {region.get('id')!r}"
        if len(labels) != 1 or labels[0] not in KEYPOINT_NAMES:
            raise MergeError(
                f"{rwhere}: wrong keypoint schema: label {labels!r} is not one COCO keypoint name "
                f"({', '.join(KEYPOINT_NAMES)})"
            )
        k = KEYPOINT_NAMES.index(labels[0])
        if kps[k, 2] > 0:
            raise MergeError(f"{rwhere}: keypoint {labels[0]!r} appears twice in one person")
        if not (_finite_number(value.get("x")) and _finite_number(value.get("y"))):
            raise MergeError(f"{rwhere}: value.x / value.y must be numbers")
        x, y = from_percent(value["x"], value["y"], w, h)
        kps[k] = (x, y, 1 if region.get("id") in occluded else 2)
    _keypoints([float(v) for v in kps.reshape(-1)], where, w, h)  # bounds
    bbox = None
    if box is not None:
        value = box.get("value") or {}
        if not all(_finite_number(value.get(key)) for key in ("x", "y", "width", "height")):
            raise MergeError(f"{where}: person box value needs numbers x, y, width, height")
        x0, y0 = from_percent(value["x"], value["y"], w, h)
        bw, bh = from_percent(value["width"], value["height"], w, h)
        x1, y1 = x0 + bw, y0 + bh
        tx, ty, tw, th = keypoint_bbox(kps)
        if kps[:, 2].any():
            x0, y0, x1, y1 = min(x0, tx), min(y0, ty), max(x1, tx + tw), max(y1, ty + th)
        bbox = [x0, y0, x1 - x0, y1 - y0]
    person = _person(kps, bbox, None, None, where, w, h)
    person["iscrowd"] = 0
    return person


def _from_label_studio(
    path: Path, tasks: list[dict], picked: dict[int, PickedImage], skipped: Counter
) -> list[_Exported]:
    found: dict[int, _Exported] = {}
    for t, task in enumerate(tasks):
        task_id = task.get("id", f"#{t}")
        image_id = (task.get("data") or {}).get("image_id")
        where = f"{path}: task {task_id!r} (image_id {image_id!r})"
        if not _is_int(image_id) or image_id not in picked:
            raise MergeError(
                f"{where}: data.image_id is not one of the {len(picked)} picked images (unknown image)"
            )
        if image_id in found:
            raise MergeError(f"{where}: duplicate image: another task also holds image {image_id}")
        annotation = _latest_annotation(task)
        if annotation is None:
            skipped["tasks without a finished annotation"] += 1
            continue
        where = f"{where}, annotation {annotation.get('id')!r}"
        result = annotation.get("result") or []
        boxes, points, occluded, sizes = {}, [], set(), set()
        for region in result:
            kind, name = region.get("type"), region.get("from_name")
            if kind == "rectanglelabels" and name == LS_PERSON:
                boxes[region.get("id")] = region
            elif kind == "keypointlabels":
                if name != LS_KEYPOINTS:
                    raise MergeError(
                        f"{where}, region {region.get('id')!r}: from_name {name!r} is not the config's "
                        f"{LS_KEYPOINTS!r} (wrong keypoint schema)"
                    )
                points.append(region)
            elif kind == "choices" and name == LS_VISIBILITY:
                if LS_OCCLUDED in ((region.get("value") or {}).get("choices") or []):
                    occluded.add(region.get("id"))
                continue
            else:
                skipped[f"results of type {kind!r} ({name!r})"] += 1
                continue
            sizes.add((region.get("original_width"), region.get("original_height")))
        if len(sizes) > 1:
            raise MergeError(f"{where}: regions disagree on the image size: {sorted(sizes, key=str)}")
        ow, oh = next(iter(sizes)) if sizes else (None, None)
        w, h = _size(picked[image_id], ow, oh, where)
        groups: dict = {bid: [] for bid in boxes}
        orphans = []
        for region in points:
            parent = region.get("parentID")
            if parent is None:
                orphans.append(region)
            elif parent in groups:
                groups[parent].append(region)
            else:
                raise MergeError(
                    f"{where}, region {region.get('id')!r}: parentID {parent!r} is not a person box of the "
                    "annotation"
                )
        persons = [
            _ls_person(regions, boxes[bid], occluded, f"{where}, person {bid!r}", w, h)
            for bid, regions in groups.items()
        ]
        if orphans:
            labels = [tuple((r.get("value") or {}).get("keypointlabels") or ()) for r in orphans]
            if boxes or len(set(labels)) < len(labels):
                ids = ", ".join(repr(r.get("id")) for r in orphans[:10])
                raise MergeError(
                    f"{where}: keypoints {ids} have no parentID: put each point under its person's box "
                    "(Regions panel) so persons can be told apart"
                )
            persons.append(_ls_person(orphans, None, occluded, f"{where}, person without box", w, h))
        found[image_id] = _Exported(image_id, w, h, persons)
    return list(found.values())


def _labeled_set(path: Path) -> dict:
    if not path.exists():
        return {
            "info": {"description": "al_bench labeled set"},
            "licenses": [],
            "images": [],
            "annotations": [],
            "categories": [dict(PERSON_CATEGORY)],
        }
    data = _read_json(path, "labeled set")
    if not isinstance(data, dict) or not {"images", "annotations", "categories"} <= set(data):
        raise MergeError(
            f"{path}: the labeled set is not a COCO file (needs images, annotations, categories)"
        )
    ids = Counter(img.get("id") for img in data["images"])
    dup = [i for i, n in ids.items() if n > 1]
    if dup:
        raise MergeError(f"{path}: duplicate image ids in the labeled set: {dup[:10]}")
    ann_ids = Counter(a.get("id") for a in data["annotations"])
    dup = [i for i, n in ann_ids.items() if n > 1]
    if dup:
        raise MergeError(f"{path}: duplicate annotation ids in the labeled set: {dup[:10]}")
    if any(not _is_int(i) for i in ann_ids):
        raise MergeError(f"{path}: annotation ids in the labeled set must be integers")
    return data


def _person_category_id(path: Path, labeled: dict) -> int:
    for cat in labeled["categories"]:
        if cat.get("name") == "person":
            _check_schema_names(cat.get("keypoints"), f"{path}: category id {cat.get('id')!r} ('person')")
            return cat["id"]
    raise MergeError(f"{path}: the labeled set has no 'person' category")


def merge_annotations(
    labeled: str | Path, export: str | Path, picks: str | Path, out: str | Path | None = None
) -> MergeReport:
    """Merge ``export`` (the picked images' annotations) into ``labeled``; write the result to ``out``.

    Args:
        labeled: labeled COCO keypoints JSON (may not exist: a new set is started).
        export: COCO keypoints export (CVAT, Label Studio COCO) or Label Studio JSON export.
        picks: ``coco_images.json`` or a picks file naming the picked images.
        out: where the merged set goes (default ``labeled``), written atomically.

    Returns:
        A :class:`MergeReport` of what was added.

    Raises:
        MergeError: a failed check, naming the file and the id or key at fault; nothing is written.
    """
    labeled, export, picks = Path(labeled), Path(export), Path(picks)
    out = Path(out) if out is not None else labeled
    picked = load_picked(picks)
    raw = _read_json(export, "export")
    kind = detect_format(raw)
    if not kind:
        raise MergeError(
            f"{export}: not a COCO keypoints file (images, annotations, categories) nor a Label Studio JSON "
            "export (a list of tasks with data)"
        )
    skipped: Counter = Counter()
    if kind == "coco":
        exported = _from_coco(export, raw, picked, skipped)
    else:
        exported = _from_label_studio(export, raw, picked, skipped)
    merged = _labeled_set(labeled)
    category_id = _person_category_id(labeled, merged)
    have_ids = {img.get("id") for img in merged["images"]}
    have_names = {img.get("file_name"): img.get("id") for img in merged["images"]}
    for item in exported:
        pick = picked[item.image_id]
        if item.image_id in have_ids:
            raise MergeError(
                f"{labeled}: picked image id {item.image_id} ({pick.file_name}) is already labeled"
            )
        if pick.file_name in have_names:
            raise MergeError(
                f"{labeled}: picked image {pick.file_name} (id {item.image_id}) is already labeled as image id "
                f"{have_names[pick.file_name]}"
            )
    next_id = max((a["id"] for a in merged["annotations"]), default=0) + 1
    report = MergeReport(kind, out, skipped=dict(skipped))
    for item in sorted(exported, key=lambda e: e.image_id):
        pick = picked[item.image_id]
        merged["images"].append(
            {"id": item.image_id, "file_name": pick.file_name, "width": item.width, "height": item.height}
        )
        report.images_added += 1
        report.images_without_persons += not item.persons
        for person in item.persons:
            merged["annotations"].append(
                {"id": next_id, "image_id": item.image_id, "category_id": category_id, **person}
            )
            next_id += 1
            report.persons_added += 1
            report.keypoints_added += person["num_keypoints"]
    in_export = {e.image_id for e in exported}
    report.picked_not_in_export = sorted(i for i in picked if i not in in_export)
    report.labeled_images, report.labeled_persons = len(merged["images"]), len(merged["annotations"])
    atomic_write_json(out, merged)
    return report
