"""The labeled set of one AL run: global image ids and the round each was added in.

This module owns the only mapping between the pool and what is labeled. Ids are always global
COCO ``image_id`` ints; pool positions never leave it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class LabeledSet:
    """Which pool images are labeled, and in which round each was added.

    Args:
        pool_ids: global ids of every image that may ever be labeled.

    Raises:
        ValueError: the pool is empty or lists an id twice.
    """

    def __init__(self, pool_ids: Iterable[int]) -> None:
        pool = [int(i) for i in pool_ids]
        if not pool:
            raise ValueError("LabeledSet: the pool is empty")
        if len(set(pool)) != len(pool):
            raise ValueError("LabeledSet: the pool lists an image id more than once")
        self._pool = np.array(sorted(pool), dtype=np.int64)
        self._pool_set = set(pool)
        self._round_of: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._round_of)

    def __contains__(self, image_id: object) -> bool:
        return isinstance(image_id, (int, np.integer)) and int(image_id) in self._round_of

    @property
    def pool_ids(self) -> np.ndarray:
        """All pool ids, ascending (int64)."""
        return self._pool.copy()

    @property
    def ids(self) -> np.ndarray:
        """Labeled ids, ascending (int64)."""
        return np.array(sorted(self._round_of), dtype=np.int64)

    def unlabeled_ids(self) -> np.ndarray:
        """Pool ids not labeled yet, ascending (int64)."""
        return np.array([i for i in self._pool if int(i) not in self._round_of], dtype=np.int64)

    def added_in(self, round_idx: int) -> np.ndarray:
        """Ids added in round ``round_idx``, ascending (int64)."""
        return np.array(sorted(i for i, r in self._round_of.items() if r == round_idx), dtype=np.int64)

    def round_of(self, image_id: int) -> int:
        """The round ``image_id`` was labeled in.

        Raises:
            KeyError: the image is not labeled.
        """
        try:
            return self._round_of[int(image_id)]
        except KeyError:
            raise KeyError(f"image id {image_id} is not labeled") from None

    def add(self, image_ids: Iterable[int], round_idx: int) -> None:
        """Label ``image_ids`` in round ``round_idx``; all or nothing.

        Raises:
            ValueError: an id is outside the pool, already labeled, or repeated in ``image_ids``.
        """
        new = [int(i) for i in image_ids]
        outside = sorted({i for i in new if i not in self._pool_set})
        if outside:
            raise ValueError(f"round {round_idx}: image ids not in the pool: {outside[:10]}")
        again = sorted({i for i in new if i in self._round_of})
        if again:
            raise ValueError(
                f"round {round_idx}: image ids already labeled: "
                + ", ".join(f"{i} (round {self._round_of[i]})" for i in again[:10])
            )
        if len(set(new)) != len(new):
            repeated = sorted({i for i in new if new.count(i) > 1})
            raise ValueError(f"round {round_idx}: image ids selected twice: {repeated[:10]}")
        for i in new:
            self._round_of[i] = int(round_idx)

    def state_dict(self) -> dict:
        """Plain-JSON state: ``{"pool_ids": [...], "labeled": [[id, round], ...]}``."""
        return {
            "pool_ids": [int(i) for i in self._pool],
            "labeled": [[i, r] for i, r in sorted(self._round_of.items())],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore from :meth:`state_dict`.

        Raises:
            ValueError: the state was saved for another pool, or repeats/holds foreign ids.
        """
        if [int(i) for i in state["pool_ids"]] != [int(i) for i in self._pool]:
            raise ValueError("LabeledSet.load_state_dict: the saved state belongs to a different pool")
        self._round_of = {}
        by_round: dict[int, list[int]] = {}
        for image_id, round_idx in state["labeled"]:
            by_round.setdefault(int(round_idx), []).append(int(image_id))
        for round_idx in sorted(by_round):
            self.add(by_round[round_idx], round_idx)


def annotation_counts(source, image_ids: Iterable[int]) -> tuple[int, int]:
    """``(n_persons, n_keypoints)`` annotated on ``image_ids``: what annotating them cost.

    A person counts when it is not a crowd region and has at least one labelled keypoint (v > 0);
    ``n_keypoints`` counts its labelled keypoints. Reads ``source.annotations(id)``, so through a
    :class:`RevealedSource` only labeled images can be counted.
    """
    n_persons = n_keypoints = 0
    for image_id in image_ids:
        for ann in source.annotations(int(image_id)):
            if ann.get("iscrowd", 0):
                continue
            labelled = sum(1 for v in list(ann.get("keypoints") or [])[2::3] if v > 0)
            n_persons += labelled > 0
            n_keypoints += labelled
    return int(n_persons), int(n_keypoints)


class RevealedSource:
    """A pool source whose annotations are readable only for labeled images.

    Simulated annotation: the pool's ground truth exists on disk, but the training side of the loop
    may only see it for images that are labeled (L0 or picked by a strategy). Label reads
    (``annotations``, ``keypoints``, ``attributes``, and the COCO object's annotation tables) are
    checked; everything else (images, sizes, ids, ``annToMask``) passes through.

    Args:
        source: the pool source (``CocoKeypoints``-like).
        labeled: the run's labeled set; reads follow it as it grows.
    """

    def __init__(self, source, labeled: LabeledSet) -> None:
        self._source = source
        self._labeled = labeled
        self.coco = _RevealedCoco(source.coco, self._check) if hasattr(source, "coco") else None

    def __getattr__(self, name: str):
        return getattr(self._source, name)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._source

    def __len__(self) -> int:
        return len(self._source)

    def annotations(self, image_id: int) -> list[dict]:
        """Annotations of a labeled image (PermissionError for an unlabeled one)."""
        self._check(image_id)
        return self._source.annotations(image_id)

    def keypoints(self, image_id: int):
        """Keypoints of a labeled image (PermissionError for an unlabeled one)."""
        self._check(image_id)
        return self._source.keypoints(image_id)

    def attributes(self, image_id: int) -> dict:
        """Latent attributes (synthetic data) of a labeled image, like its annotations."""
        self._check(image_id)
        return self._source.attributes(image_id)

    def _check(self, image_id: int) -> None:
        if image_id not in self._labeled:
            raise PermissionError(f"annotations of pool image {image_id} read before it was labeled")


class _RevealedCoco:
    """pycocotools ``COCO`` view whose annotation lookups are limited to labeled images."""

    def __init__(self, coco, check) -> None:
        self._coco = coco
        self._check = check

    def __getattr__(self, name: str):
        if name == "dataset":
            raise AttributeError(
                "the pool's raw COCO dataset is hidden: read labels through annotations(image_id)"
            )
        return getattr(self._coco, name)

    @property
    def imgToAnns(self) -> _CheckedMapping:
        return _CheckedMapping(self._coco.imgToAnns, self._check)

    @property
    def anns(self) -> _CheckedMapping:
        return _CheckedMapping(
            self._coco.anns, lambda ann_id: self._check(self._coco.anns[ann_id]["image_id"])
        )

    def getAnnIds(self, imgIds=(), **kwargs) -> list[int]:
        ids = [imgIds] if isinstance(imgIds, (int, np.integer)) else list(imgIds)
        if not ids:
            raise PermissionError(
                "getAnnIds() over the whole pool would reveal unlabeled images; pass imgIds"
            )
        for image_id in ids:
            self._check(int(image_id))
        return self._coco.getAnnIds(imgIds=ids, **kwargs)

    def loadAnns(self, ids=()) -> list[dict]:
        anns = self._coco.loadAnns(ids)
        for ann in anns:
            self._check(ann["image_id"])
        return anns


class _CheckedMapping:
    """Read-only mapping that runs ``check(key)`` before every lookup."""

    def __init__(self, mapping, check) -> None:
        self._mapping = mapping
        self._check = check

    def __getitem__(self, key):
        self._check(key)
        return self._mapping[key]

    def get(self, key, default=None):
        self._check(key)
        return self._mapping.get(key, default)

    def __contains__(self, key) -> bool:
        return key in self._mapping
