"""CPU threads: torch's *and* numpy's BLAS counts set together, and helper threads that overlap work.

torch.set_num_threads does not reach numpy's OpenBLAS, whose idle threads busy-wait after each call:
in a data worker or a one-thread job they take cycles from the training step on the same cores
(measured in docs/BENCHMARKS.md, "Round profile"). Every place that fixes torch's threads uses this.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from queue import Full, Queue
from threading import Event, Thread
from typing import Any, Self

import torch
from threadpoolctl import threadpool_limits


def set_cpu_threads(n: int) -> None:
    """Use ``n`` threads for torch's CPU ops and for numpy's BLAS in this process."""
    torch.set_num_threads(int(n))
    threadpool_limits(limits=int(n), user_api="blas")


class InOrder:
    """Runs calls on one helper thread while the caller goes on, and returns their results in the order
    they were submitted; at most ``ahead`` calls wait, so their inputs do not pile up in memory.

    ``enabled=False`` runs each call at once on the caller's thread (the same results). Torch and numpy
    release the GIL inside their kernels, so the helper's work (decoding, peak finding) runs on another
    core while the caller's model runs its next batch. Call :meth:`results` inside the ``with`` block:
    leaving it cancels the calls that have not started.
    """

    def __init__(self, enabled: bool = True, ahead: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="in-order") if enabled else None
        self._ahead = max(int(ahead), 1)
        self._pending: deque[Future] = deque()
        self._done: list[Any] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        if self._pool is None:
            self._done.append(fn(*args))
            return
        self._pending.append(self._pool.submit(fn, *args))
        while len(self._pending) > self._ahead:
            self._done.append(self._pending.popleft().result())

    def results(self) -> list[Any]:
        """Every call's result, in submission order (waits for the pending ones)."""
        while self._pending:
            self._done.append(self._pending.popleft().result())
        return self._done

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def read_ahead(items: Iterable[Any], enabled: bool = True, depth: int = 2) -> Iterator[Any]:
    """``items`` as they come, produced ``depth`` ahead on a helper thread (``enabled=False``: as is).

    An exception of the producer reaches the consumer at the item where it happened; a consumer that
    stops early stops the producer at its next item.
    """
    if not enabled:
        yield from items
        return
    queue: Queue = Queue(maxsize=max(int(depth), 1))
    stop = Event()
    done = object()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                queue.put(entry, timeout=0.1)
                return True
            except Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except Exception as error:  # noqa: BLE001 (handed to the consumer, raised there)
            put((done, error))

    thread = Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = queue.get()
            if item is done:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()
