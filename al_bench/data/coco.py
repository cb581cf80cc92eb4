"""COCO-format keypoint annotations: loading with pycocotools, validation, per-image access.

Owns :class:`CocoKeypoints`, the one object every other piece reads data through (real COCO and the
synthetic set alike): global image ids, image paths and sizes, validated person annotations and the
synthetic latent factors (``attributes``). Bad annotations are reported by annotation id.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import warnings
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

from al_bench.data.skeleton import NUM_KEYPOINTS

COCO_LAYOUT_HINT = (
    "Real COCO is expected under data.root as annotations/person_keypoints_train2017.json, "
    "annotations/person_keypoints_val2017.json, train2017/*.jpg and val2017/*.jpg "
    "(nothing is downloaded: point data.root=/path/to/coco at your copy, e.g. `al-bench data=coco "
    "data.root=/datasets/coco`)."
)
BAD_ANNOTATION_MODES = ("fail", "skip")


class DataNotFoundError(FileNotFoundError):
    """A data file or folder the configuration points at does not exist."""


class BadAnnotationError(ValueError):
    """An annotation file is malformed; the message names the file and annotation id at fault."""


def _problem(ann: dict, image_ids: set[int]) -> str | None:
    """Why ``ann`` is unusable, or None when it is valid."""
    kps = ann.get("keypoints")
    if kps is None or len(kps) != 3 * NUM_KEYPOINTS:
        return f"keypoints must have {3 * NUM_KEYPOINTS} numbers, got {None if kps is None else len(kps)}"
    try:
        values = np.asarray(kps, dtype=np.float64)
    except (TypeError, ValueError):
        return "keypoints are not numbers"
    if not np.isfinite(values).all():
        return "keypoints contain non-finite values"
    if not np.isin(values[2::3], (0, 1, 2)).all():
        return "keypoint visibilities must be 0, 1 or 2"
    n_kps = ann.get("num_keypoints", 0)
    if isinstance(n_kps, bool) or not isinstance(n_kps, int) or not 0 <= n_kps <= NUM_KEYPOINTS:
        return f"num_keypoints must be an integer in 0..{NUM_KEYPOINTS}, got {n_kps!r}"
    area = ann.get("area")
    if not isinstance(area, int | float) or not math.isfinite(area) or area < 0:
        return f"area must be a finite number >= 0, got {area!r}"
    bbox = ann.get("bbox")
    if (
        bbox is None
        or len(bbox) != 4
        or not all(isinstance(b, int | float) and math.isfinite(b) for b in bbox)
    ):
        return f"bbox must be 4 finite numbers, got {bbox!r}"
    if ann.get("image_id") not in image_ids:
        return f"image_id {ann.get('image_id')!r} is not in the file's images"
    return None


def _require_path(path: Path, what: str) -> None:
    if not path.exists():
        raise DataNotFoundError(f"{what} not found: expected it at {path}. {COCO_LAYOUT_HINT}")


class CocoKeypoints:
    """Person keypoint annotations of one split, loaded with pycocotools.

    Args:
        ann_file: COCO ``person_keypoints_*.json``.
        image_dir: folder holding the images named by ``file_name``.
        require_keypoints: keep only images with at least one person with ``num_keypoints > 0``
            (a val set that skips person-free images); False keeps every image of the file, as the
            AL pool always does (it cannot know before annotation which images show people).
        on_bad_annotation: ``fail`` raises :class:`BadAnnotationError` naming the annotation id; ``skip``
            drops bad annotations with one warning that lists their ids.
        max_images: keep only the first ``max_images`` image ids (ascending), e.g. a val subset.

    Attributes:
        coco: the pycocotools ``COCO`` object (only valid annotations).
        image_ids: sorted ``int64`` global ids of the kept images.
        bad_annotation_ids: ids of the annotations dropped with ``on_bad_annotation="skip"``.
    """

    def __init__(
        self,
        ann_file: str | Path,
        image_dir: str | Path,
        require_keypoints: bool = False,
        on_bad_annotation: str = "fail",
        max_images: int | None = None,
    ) -> None:
        if on_bad_annotation not in BAD_ANNOTATION_MODES:
            raise ValueError(
                f"on_bad_annotation must be one of {BAD_ANNOTATION_MODES}, got {on_bad_annotation!r}"
            )
        self.ann_file, self.image_dir = Path(ann_file), Path(image_dir)
        _require_path(self.ann_file, "annotation file")
        _require_path(self.image_dir, "image folder")
        if not self.image_dir.is_dir():
            raise DataNotFoundError(f"image folder {self.image_dir} is not a directory. {COCO_LAYOUT_HINT}")
        dataset = self._read(self.ann_file)
        dataset["annotations"] = self._validated(dataset, on_bad_annotation)
        self.coco = COCO()
        self.coco.dataset = dataset
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco.createIndex()
        ids = sorted(self.coco.imgs)
        if require_keypoints:
            ids = [
                i for i in ids if any(a.get("num_keypoints", 0) > 0 for a in self.coco.imgToAnns.get(i, ()))
            ]
        if max_images is not None:
            ids = ids[: int(max_images)]
        self.image_ids = np.asarray(ids, dtype=np.int64)
        self._id_set = set(ids)

    @staticmethod
    def _read(ann_file: Path) -> dict:
        try:
            dataset = json.loads(ann_file.read_text())
        except json.JSONDecodeError as err:
            raise BadAnnotationError(f"{ann_file} is not valid JSON: {err}") from err
        missing = [key for key in ("images", "annotations", "categories") if key not in dataset]
        if missing:
            raise BadAnnotationError(f"{ann_file} is not a COCO annotation file: missing keys {missing}")
        return dataset

    def _validated(self, dataset: dict, on_bad_annotation: str) -> list[dict]:
        image_ids = {img["id"] for img in dataset["images"]}
        kept, bad = [], []
        for ann in dataset["annotations"]:
            problem = _problem(ann, image_ids)
            if problem is None:
                kept.append(ann)
            elif on_bad_annotation == "fail":
                raise BadAnnotationError(
                    f"{self.ann_file}: annotation id {ann.get('id')!r} (image {ann.get('image_id')!r}): {problem}. "
                    "Fix the file or set data.on_bad_annotation=skip."
                )
            else:
                bad.append(ann.get("id"))
        self.bad_annotation_ids = bad
        if bad:
            shown = ", ".join(map(str, bad[:20])) + (" ..." if len(bad) > 20 else "")
            warnings.warn(f"{self.ann_file}: skipped {len(bad)} bad annotations (ids {shown})", stacklevel=3)
        return kept

    def __len__(self) -> int:
        return len(self.image_ids)

    def __contains__(self, image_id: int) -> bool:
        return int(image_id) in self._id_set

    def drop_images(self, image_ids) -> None:
        """Leave ``image_ids`` out of :attr:`image_ids` (e.g. unreadable files, see ``data/integrity.py``).

        Their annotations stay in :attr:`coco`, so nothing else about the split changes.
        """
        dropped = {int(i) for i in image_ids}
        self.image_ids = np.asarray([i for i in self.image_ids if int(i) not in dropped], dtype=np.int64)
        self._id_set -= dropped

    def _image(self, image_id: int) -> dict:
        try:
            return self.coco.imgs[int(image_id)]
        except KeyError:
            raise KeyError(f"image id {image_id} is not in {self.ann_file}") from None

    def image_path(self, image_id: int) -> Path:
        """Path of the image file of ``image_id``."""
        return self.image_dir / self._image(image_id)["file_name"]

    def image_size(self, image_id: int) -> tuple[int, int]:
        """``(width, height)`` of ``image_id`` in pixels, as the annotation file states."""
        img = self._image(image_id)
        return int(img["width"]), int(img["height"])

    def annotations(self, image_id: int) -> list[dict]:
        """All valid person annotations of ``image_id`` (crowd and zero-keypoint ones included)."""
        self._image(image_id)
        return list(self.coco.imgToAnns.get(int(image_id), ()))

    def persons(self, image_id: int) -> list[dict]:
        """The annotations of ``image_id`` that COCOeval scores: non-crowd, ``num_keypoints > 0``."""
        return [
            a for a in self.annotations(image_id) if not a.get("iscrowd", 0) and a.get("num_keypoints", 0) > 0
        ]

    def keypoints(self, image_id: int) -> np.ndarray:
        """``(P, 17, 3)`` float32 keypoints of :meth:`persons`."""
        people = [a["keypoints"] for a in self.persons(image_id)]
        return np.asarray(people, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3)

    def attributes(self, image_id: int) -> dict:
        """Latent factors of a synthetic image (scene type, pose families, ...); ``{}`` for real COCO."""
        return dict(self._image(image_id).get("attributes", {}))
