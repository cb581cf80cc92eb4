"""On-disk embedding cache: memory-mapped ``.npy`` files keyed by everything that determines the vectors.

A cache entry is ``<dir>/<name>-<key>.npy`` (``(n, d)`` float16/float32) with ``<name>-<key>.ids.npy``
(the global image ids of its rows). Both are written to temporary files and renamed into place, ids
first, so a reader never sees a half-written entry and a killed writer leaves no valid-looking entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, memoised per (path, size, mtime) so repeated cache lookups stay ~free."""
    stat = os.stat(path)
    memo = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _FILE_HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        _FILE_HASHES[memo] = digest.hexdigest()
    return _FILE_HASHES[memo]


def ids_digest(image_ids: np.ndarray) -> str:
    """SHA-256 of an int64 id array (part of the cache key: which images the rows are)."""
    return hashlib.sha256(np.ascontiguousarray(image_ids, dtype=np.int64).tobytes()).hexdigest()


def cache_key(parts: dict[str, Any]) -> str:
    """A short, stable key from a JSON-serialisable description of the vectors."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class EmbeddingCache:
    """A directory of cached embedding matrices.

    Args:
        directory: where entries live (created on first write), e.g. ``paths.cache_dir/embeddings``.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def paths(self, name: str, key: str) -> tuple[Path, Path]:
        """``(vectors.npy, ids.npy)`` paths of an entry."""
        return self.directory / f"{name}-{key}.npy", self.directory / f"{name}-{key}.ids.npy"

    def load(self, name: str, key: str) -> tuple[np.ndarray, np.ndarray] | None:
        """``(memory-mapped vectors, ids)`` of an entry, or None when absent."""
        vectors_path, ids_path = self.paths(name, key)
        if not (vectors_path.exists() and ids_path.exists()):
            return None
        return np.load(vectors_path, mmap_mode="r"), np.load(ids_path)

    def save(self, name: str, key: str, vectors: np.ndarray, image_ids: np.ndarray, dtype: str) -> None:
        """Write an entry atomically (vectors stored as ``dtype``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        vectors_path, ids_path = self.paths(name, key)
        _atomic_save(ids_path, np.asarray(image_ids, dtype=np.int64))
        _atomic_save(vectors_path, np.asarray(vectors, dtype=dtype))


def _atomic_save(path: Path, array: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
