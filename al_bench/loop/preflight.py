"""Start-up checks of where a run writes: fail with a clear message before any training, not midway.

Owns :func:`check_writable` (the output, cache and state folders can be created, written and have
room) and :class:`PreflightCallback`, the Hydra callback that runs it before Hydra creates its own
run or sweep folder under ``paths.output_dir`` (otherwise the first sign of a read-only path is a
traceback from deep inside Hydra). The runner calls :func:`check_paths` again in every job, since a
SLURM job may run on a node that sees other filesystems than the submitting one.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

DEFAULT_MIN_FREE_MB = 50  # room for checkpoints, the state file and a SQLite store of a small run
PATH_KEYS = ("output_dir", "cache_dir", "state_dir")


class OutputDirError(OSError):
    """A folder the run must write to cannot be created or written, or its disk is full."""


PROBE_ATTEMPTS = 5


def _probe(path: Path) -> float:
    """Create ``path``, write a probe file in it and return the MiB free on its filesystem.

    Parallel jobs of one sweep check the same folders at once, and each removes the folders it created
    (below): a folder can vanish between one job's mkdir and its probe, or right after the probe. That
    job then tries again, and the free space is read from the open probe file, not from the path.
    """
    for attempt in range(PROBE_ATTEMPTS):
        path.mkdir(parents=True, exist_ok=True)
        try:
            with tempfile.NamedTemporaryFile(dir=path, prefix=".al_bench_write_probe.") as probe:
                probe.write(b"ok")
                probe.flush()
                os.fsync(probe.fileno())
                stats = os.fstatvfs(probe.fileno())
            return stats.f_bavail * stats.f_frsize / 2**20
        except FileNotFoundError:
            if attempt == PROBE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def check_writable(path: str | Path, key: str, min_free_mb: float = DEFAULT_MIN_FREE_MB) -> None:
    """Check that ``path`` can be created and written (a probe file) and has free space; folders
    created for the check are removed again.

    Args:
        key: the config key that set ``path`` (named in the message).
        min_free_mb: fewer free MiB on its filesystem is an error (a full disk).

    Raises:
        OutputDirError: naming the path, the key and the cause.
    """
    path = Path(path)
    hint = f"set {key}=... (or AL_BENCH_OUTPUT) to a writable folder with free space"
    created = [p for p in (path, *path.parents) if not p.exists()]
    try:
        free_mb = _probe(path)
    except OSError as err:
        raise OutputDirError(f"{key}={path} is not writable ({type(err).__name__}: {err}); {hint}") from err
    finally:
        # Leave no trace: a run that stops later (e.g. tracking unreachable) must not leave empty folders.
        for folder in created:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()
    if free_mb < min_free_mb:
        raise OutputDirError(
            f"{key}={path} has only {free_mb:.0f} MiB free (paths.min_free_mb={min_free_mb:g}): "
            f"the disk is full or nearly so; {hint}"
        )


def check_paths(paths_cfg: Mapping[str, Any]) -> None:
    """:func:`check_writable` for every folder of the ``paths`` config group that is set."""
    min_free_mb = float(paths_cfg.get("min_free_mb", DEFAULT_MIN_FREE_MB))
    for key in PATH_KEYS:
        if paths_cfg.get(key):
            check_writable(paths_cfg[key], f"paths.{key}", min_free_mb)


class PreflightCallback(Callback):
    """Hydra callback: check ``paths`` before Hydra writes anything (``hydra.callbacks.preflight``).

    Exits with the message (status 1) instead of raising: Hydra turns exceptions raised in
    callbacks into warnings and would carry on.
    """

    def on_run_start(self, config, **kwargs) -> None:
        self._check(config)

    def on_multirun_start(self, config, **kwargs) -> None:
        self._check(config)

    @staticmethod
    def _check(config) -> None:
        try:
            check_paths(config.paths)
        except OutputDirError as err:
            sys.exit(f"al-bench: {err}")
