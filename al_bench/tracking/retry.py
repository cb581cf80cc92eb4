"""Retry of MLflow store calls that hit a busy SQLite database ("database is locked").

SQLite lets one writer in at a time; with many parallel jobs logging into one file, a writer can
wait past SQLite's busy timeout and MLflow raises (an ``MlflowException`` or SQLAlchemy
``OperationalError`` wrapping ``sqlite3.OperationalError: database is locked``). The transaction
was rolled back, so the call can simply be made again: :func:`retry_locked` does that with
exponential backoff and full jitter (so the waiting jobs do not retry in lockstep).
:class:`RetryingClient` applies it to every method of an ``MlflowClient``.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

LOCKED_MARKERS = ("database is locked", "database table is locked", "database is busy")
MAX_ATTEMPTS = 12
BASE_DELAY_S = 0.05
MAX_DELAY_S = 2.0


def is_locked_error(err: BaseException) -> bool:
    """Whether ``err`` (or an exception it was raised from) is SQLite's busy/locked error."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if any(marker in str(current).lower() for marker in LOCKED_MARKERS):
            return True
        current = current.__cause__ or current.__context__
    return False


def retry_locked(
    func: Callable[..., T],
    attempts: int = MAX_ATTEMPTS,
    base_delay_s: float = BASE_DELAY_S,
    max_delay_s: float = MAX_DELAY_S,
    sleep: Callable[[float], None] = time.sleep,
) -> Callable[..., T]:
    """``func`` retried on a locked database: wait ``uniform(0, min(max, base * 2**i))`` before
    attempt ``i + 1``; other errors, and the last locked one, propagate unchanged."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        for attempt in range(attempts):
            try:
                return func(*args, **kwargs)
            except Exception as err:
                if attempt == attempts - 1 or not is_locked_error(err):
                    raise
                sleep(random.uniform(0.0, min(max_delay_s, base_delay_s * 2**attempt)))
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


class RetryingClient:
    """An ``MlflowClient`` whose every method call goes through :func:`retry_locked`."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._client, name)
        return retry_locked(value) if callable(value) else value
