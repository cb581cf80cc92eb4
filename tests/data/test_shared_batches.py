"""SharedBatches: the sampler's batches in order, the same values whatever the workers, errors named."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from al_bench.data.shared_batches import SharedBatches, collate_fields

BATCHES = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11], [12, 13]]  # the last one shorter


class Items:
    """Item ``i``: a (2, 3) float tensor and a numpy int, beside a field no batch asks for."""

    def __init__(self, fail_at: int | None = None, die_at: int | None = None) -> None:
        self.fail_at, self.die_at, self.parent = fail_at, die_at, os.getpid()

    def __getitem__(self, i: int) -> dict:
        if i == self.fail_at:
            raise FileNotFoundError(f"image {i}: no such file broken_{i}.png")
        if i == self.die_at and os.getpid() != self.parent:
            os._exit(3)  # a worker killed mid-batch
        return {"x": torch.arange(6.0).view(2, 3) + i, "n": np.int64(i), "name": f"item {i}"}


def _expected() -> list[dict[str, torch.Tensor]]:
    return [collate_fields([Items()[i] for i in b], ("x", "n")) for b in BATCHES]


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_batches_are_the_samplers_in_order_whatever_the_workers(workers):
    expected = _expected()
    with SharedBatches(Items(), BATCHES, ("x", "n"), workers=workers, slots=2) as batches:
        got = [{k: v.clone() for k, v in batch.items()} for batch in batches]  # a batch lives one step
    assert len(got) == len(BATCHES)
    for g, e, b in zip(got, expected, BATCHES, strict=True):
        assert set(g) == {"x", "n"}, "only the asked fields"
        assert g["x"].shape == (len(b), 2, 3) and g["n"].tolist() == b
        assert torch.equal(g["x"], e["x"])


def test_the_workers_stop_when_the_batches_run_out_or_on_close():
    batches = SharedBatches(Items(), BATCHES, ("x",), workers=2)
    procs = list(batches._procs)
    assert len(procs) == 2 and all(p.is_alive() for p in procs)
    next(batches)
    batches.close()
    assert not any(p.is_alive() for p in procs)
    finished = SharedBatches(Items(), BATCHES, ("x",), workers=1)
    procs = list(finished._procs)
    assert len(list(finished)) == len(BATCHES) and not any(p.is_alive() for p in procs)


def test_an_item_error_in_a_worker_is_raised_with_its_type_message_and_the_workers_traceback():
    batches = SharedBatches(Items(fail_at=7), BATCHES, ("x",), workers=1)
    with pytest.raises(FileNotFoundError, match="broken_7.png") as caught:
        list(batches)
    note = "\n".join(caught.value.__notes__)
    assert "in data worker 0, building batch 2" in note and "__getitem__" in note
    assert not batches._procs, "the workers are stopped"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_that_dies_is_named(workers):
    died = r"data worker 0 \(pid \d+\) exited with code 3 before sending batch 1"  # item 4: worker 0's first
    with pytest.raises(RuntimeError, match=died):
        list(SharedBatches(Items(die_at=4), BATCHES, ("x",), workers=workers))


def test_it_needs_a_re_iterable_sampler():
    with pytest.raises(TypeError, match="re-iterable batch sampler"):
        SharedBatches(Items(), iter(BATCHES), ("x",), workers=1)


def test_an_empty_sampler_gives_no_batches_and_starts_no_worker():
    batches = SharedBatches(Items(), [], ("x",), workers=1)
    assert not batches._procs and list(batches) == [] and list(batches) == []
