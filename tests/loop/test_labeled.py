"""LabeledSet bookkeeping and the revealed-labels guard."""

import re

import numpy as np
import pytest

from al_bench.loop.labeled import LabeledSet, RevealedSource


def test_add_tracks_rounds_and_unlabeled():
    labeled = LabeledSet([5, 1, 9, 3])
    labeled.add([9, 1], 0)
    labeled.add(np.array([3]), 1)
    assert labeled.ids.tolist() == [1, 3, 9]
    assert labeled.unlabeled_ids().tolist() == [5]
    assert labeled.added_in(0).tolist() == [1, 9]
    assert labeled.round_of(3) == 1
    assert 9 in labeled and 5 not in labeled and len(labeled) == 3


@pytest.mark.parametrize(
    ("ids", "message"),
    [([7], "not in the pool: [7]"), ([1], "already labeled: 1 (round 0)"), ([3, 3], "selected twice: [3]")],
)
def test_add_rejects_bad_ids_all_or_nothing(ids, message):
    labeled = LabeledSet([1, 2, 3])
    labeled.add([1], 0)
    with pytest.raises(ValueError, match=re.escape(message)):
        labeled.add(ids + [2], 1)
    assert labeled.ids.tolist() == [1]


def test_state_dict_round_trip_and_pool_mismatch():
    labeled = LabeledSet(range(10))
    labeled.add([4, 2], 0)
    labeled.add([7], 1)
    restored = LabeledSet(range(10))
    restored.load_state_dict(labeled.state_dict())
    assert restored.state_dict() == labeled.state_dict()
    assert restored.round_of(7) == 1
    with pytest.raises(ValueError, match="different pool"):
        LabeledSet(range(11)).load_state_dict(labeled.state_dict())


def test_load_state_dict_rejects_duplicates():
    state = {"pool_ids": [1, 2], "labeled": [[1, 0], [1, 1]]}
    with pytest.raises(ValueError, match="already labeled"):
        LabeledSet([1, 2]).load_state_dict(state)


def test_pool_must_be_unique_and_nonempty():
    with pytest.raises(ValueError, match="more than once"):
        LabeledSet([1, 1])
    with pytest.raises(ValueError, match="empty"):
        LabeledSet([])


class _Source:
    def __init__(self):
        from pycocotools.coco import COCO

        self.coco = COCO()
        self.coco.dataset = {
            "images": [{"id": i, "width": 8, "height": 8} for i in (1, 2)],
            "annotations": [{"id": 10 + i, "image_id": i, "category_id": 1} for i in (1, 2)],
            "categories": [{"id": 1, "name": "person"}],
        }
        self.coco.createIndex()
        self.image_ids = [1, 2]

    def annotations(self, image_id):
        return self.coco.imgToAnns[image_id]

    def image_path(self, image_id):
        return f"img{image_id}.jpg"


def test_revealed_source_hides_unlabeled_annotations():
    source = _Source()
    labeled = LabeledSet(source.image_ids)
    labeled.add([1], 0)
    revealed = RevealedSource(source, labeled)
    assert revealed.annotations(1)[0]["id"] == 11
    assert revealed.image_path(2) == "img2.jpg"  # images are not labels
    assert 2 in revealed.coco.imgs
    assert revealed.coco.imgToAnns[1][0]["id"] == 11
    with pytest.raises(PermissionError, match="pool image 2"):
        revealed.annotations(2)
    with pytest.raises(PermissionError, match="pool image 2"):
        _ = revealed.coco.imgToAnns[2]
    with pytest.raises(PermissionError, match="pool image 2"):
        revealed.coco.loadAnns([12])
    with pytest.raises(PermissionError, match="pass imgIds"):
        revealed.coco.getAnnIds()
    with pytest.raises(AttributeError, match="hidden"):
        _ = revealed.coco.dataset
    labeled.add([2], 1)  # labels follow the set as it grows
    assert revealed.coco.getAnnIds(imgIds=[2]) == [12]
