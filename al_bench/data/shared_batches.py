"""Training batches built by forked worker processes into shared-memory slots that are used again.

torch's DataLoader sends each batch from its worker as new shared-memory storages: per batch it makes
and maps a file for every tensor, pickles their handles (under the default strategy it also passes
their descriptors through a helper thread of the worker, which must win the worker's GIL from the item
code), and the training process then faults in pages it has never touched. For a small model on CPU
that took 5-7 ms of a ~115 ms step, and more CPU beside it (docs/BENCHMARKS.md, round profile). Here
each worker owns a few slots, mapped once before the fork, and only a slot number crosses a pipe.

Workers are forked, wherever the platform can: a Hydra joblib job runs in a loky process, whose default
start method cannot start them, and ``spawn`` would pickle the whole data source.
"""

from __future__ import annotations

import mmap
import multiprocessing
import pickle
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any, NoReturn, Self

import torch


class _Failure:
    """What a worker sends instead of a slot number when building a batch raised."""

    def __init__(self, error: BaseException, batch: int) -> None:
        self.batch, self.trace = batch, traceback.format_exc()
        try:  # the error itself when it pickles (most do), else its text
            pickle.dumps(error)
            self.error = error
        except Exception:  # noqa: BLE001 - any pickling failure: send the text
            self.error = RuntimeError(f"{type(error).__name__}: {error}")


def collate_fields(
    items: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    out: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """``{field: (B, ...) tensor}``: the items' ``fields`` stacked (what ``default_collate`` gives them),
    into the first ``B`` rows of ``out``'s tensors when given (a slot)."""
    return {
        k: torch.stack(
            [torch.as_tensor(item[k]) for item in items], out=None if out is None else out[k][: len(items)]
        )
        for k in fields
    }


def _shared_like(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Zeroed tensors shaped as ``batch``'s, in one anonymous shared mapping that forked processes see."""
    offsets, total = [], 0
    for tensor in batch.values():
        offsets.append(total)
        total += -(-tensor.numel() * tensor.element_size() // 64) * 64  # 64-byte aligned fields
    buffer = mmap.mmap(-1, max(total, 1))  # MAP_SHARED: written by the worker, read here
    return {
        key: torch.frombuffer(buffer, dtype=t.dtype, count=t.numel(), offset=off).view(t.shape)
        for (key, t), off in zip(batch.items(), offsets, strict=True)
    }


class SharedBatches(Iterator[dict[str, torch.Tensor]]):
    """The batches of ``batch_sampler`` over ``dataset``, as ``{field: (B, ...) tensor}`` of ``fields``.

    The first batch is built in this process: it fixes the slots' shapes and dtypes, and the first
    training step need not wait for a fork. ``workers`` forked processes build the others (worker ``w``
    batches ``1 + w``, ``1 + w + workers``, ...), each into ``slots`` slots of its own in turn;
    ``workers=0`` (or a platform without ``fork``) builds every batch here. The order and values are the sampler's and the items'
    whatever the number of workers.

    A returned batch is a view of its slot: valid until the next ``next()``, which hands the slot back
    to its worker (copy what must outlive the step). A worker's exception is raised here with its
    traceback as a note; a worker that dies (killed, out of memory) raises RuntimeError naming it.
    Finishing, :meth:`close` or leaving the ``with`` block stops the workers.
    """

    def __init__(
        self,
        dataset: Any,
        batch_sampler: Iterable[Sequence[Any]],
        fields: Sequence[str],
        workers: int = 1,
        slots: int = 2,
        worker_init: Callable[[int], None] | None = None,
    ) -> None:
        self._procs: list[Any] = []
        self._free: list[Connection] = []
        self._ready: list[Connection] = []
        if workers < 0 or slots < 1:
            raise ValueError(f"SharedBatches needs workers >= 0 and slots >= 1, got {workers}, {slots}")
        if iter(batch_sampler) is batch_sampler:
            raise TypeError(
                "SharedBatches needs a re-iterable batch sampler (each worker walks it), not an iterator"
            )
        self.dataset, self.fields = dataset, tuple(fields)
        self._order = iter(batch_sampler)  # this process follows the sampler to know each batch's size
        self._served, self._held = 0, None
        first = next(self._order, None)
        self._first = None if first is None else self._build(first)
        if first is not None and workers and "fork" in multiprocessing.get_all_start_methods():
            self._slots = [[_shared_like(self._first) for _ in range(slots)] for _ in range(workers)]
            self._start(batch_sampler, workers, slots, worker_init)

    def _build(self, indices: Sequence[Any], out: Mapping[str, torch.Tensor] | None = None) -> dict:
        return collate_fields([self.dataset[i] for i in indices], self.fields, out)

    def _start(self, batch_sampler: Any, workers: int, slots: int, worker_init: Any) -> None:
        context = multiprocessing.get_context("fork")
        for w in range(workers):
            # Each worker's pipes are made just before its fork, so no other worker holds their ends:
            # either side then sees the other go.
            free_r, free_w = context.Pipe(duplex=False)
            ready_r, ready_w = context.Pipe(duplex=False)
            ours = [*self._free, *self._ready, free_w, ready_r]
            args = (self, batch_sampler, w, workers, free_r, ready_w, ours, worker_init)
            proc = context.Process(target=_work, args=args, name=f"al_bench-batches-{w}", daemon=True)
            proc.start()
            free_r.close()
            ready_w.close()
            self._procs.append(proc)
            self._free.append(free_w)
            self._ready.append(ready_r)
            for slot in range(slots):
                free_w.send(slot)

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        self._release()
        batch, self._served = self._served, self._served + 1
        if batch == 0:  # built in __init__ (None: an empty sampler)
            first, self._first = self._first, None
            return first if first is not None else self._stop()
        indices = next(self._order, None)
        if indices is None:
            self._stop()
        if not self._procs:
            return self._build(indices)
        worker = (batch - 1) % len(self._procs)
        slot = self._receive(worker, batch)
        self._held = (worker, slot)
        return {k: t[: len(indices)] for k, t in self._slots[worker][slot].items()}

    def _stop(self) -> NoReturn:
        self.close()
        raise StopIteration

    def _release(self) -> None:
        if self._held is not None:
            worker, slot = self._held
            self._held = None
            try:
                self._free[worker].send(slot)
            except BrokenPipeError:
                pass  # the worker has built its last batch and left (a death shows at the next receive)

    def _receive(self, worker: int, batch: int) -> int:
        conn, proc = self._ready[worker], self._procs[worker]
        wait([conn, proc.sentinel])
        try:
            message = conn.recv()  # what it sent before it left, if it left
        except EOFError:
            proc.join()
            self.close()
            raise RuntimeError(
                f"data worker {worker} (pid {proc.pid}) exited with code {proc.exitcode} "
                f"before sending batch {batch} (killed, or out of memory?)"
            ) from None
        if isinstance(message, _Failure):
            self.close()
            message.error.add_note(
                f"in data worker {worker}, building batch {message.batch}:\n{message.trace}"
            )
            raise message.error
        return message

    def close(self) -> None:
        """Stop the workers (they hold nothing but their slots; a batch half built is dropped)."""
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            proc.join()
        for conn in self._free + self._ready:
            conn.close()
        self._procs, self._free, self._ready, self._held = [], [], [], None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _work(
    batches: SharedBatches,
    batch_sampler: Iterable[Sequence[Any]],
    worker: int,
    workers: int,
    free: Connection,
    ready: Connection,
    parent_ends: list[Connection],
    worker_init: Callable[[int], None] | None,
) -> None:
    """A worker's loop: take a free slot, build the next of its batches into it, send the slot back."""
    for end in parent_ends:  # the training process's ends, copied by the fork
        end.close()
    batches._procs, batches._free, batches._ready = [], [], []  # the fork's copy must not stop anything
    batch = 0
    try:
        if worker_init is not None:
            worker_init(worker)
        for batch, indices in enumerate(batch_sampler):
            if batch == 0 or (batch - 1) % workers != worker:
                continue
            slot = free.recv()
            batches._build(indices, out=batches._slots[worker][slot])
            ready.send(slot)
    except (EOFError, BrokenPipeError, KeyboardInterrupt):
        return  # the training process has gone, or is going (Ctrl-C reaches the whole process group)
    except Exception as error:  # noqa: BLE001 - every item error goes to the training process
        try:
            ready.send(_Failure(error, batch))
        except (BrokenPipeError, OSError):
            pass
