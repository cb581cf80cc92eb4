"""Decoded-image cache: every image of a source, letterboxed to one input size, as one uint8 memmap.

Decoding a PNG/JPEG and resizing it is most of what a data worker does per item, and it is the same
for every epoch, round, strategy and seed. The cache does it once per (image files, input size): an
``(N, S, S, 3)`` uint8 array on disk, memory-mapped by every job that reads it. It is built in a
temporary folder renamed into place (a killed build leaves nothing half-written) under a file lock
(parallel jobs build it once). The key hashes each file's path, size and modification time, so a
changed image gives a new cache rather than stale pixels.

Cached pixels are exactly the plain letterbox :class:`~al_bench.data.dataset.PoseDataset` computes
from the file, so inference items are bit-identical with and without the cache; augmented items are
warped from the letterboxed image instead of the original (identical when the image already is the
input size, as for the synthetic set).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from filelock import FileLock
from tqdm.auto import tqdm

from al_bench.data.transforms import letterbox_image

CACHE_VERSION = 1
PIXELS_FILE, IDS_FILE, META_FILE = "pixels.u8", "image_ids.npy", "meta.json"


class ImageCache:
    """Read side of a built cache: ``letterboxed(image_id)`` gives the ``(S, S, 3)`` uint8 input image."""

    def __init__(self, directory: Path) -> None:
        meta = json.loads((directory / META_FILE).read_text())
        self.directory, self.size = directory, int(meta["size"])
        ids = np.load(directory / IDS_FILE)
        self._row = {int(i): row for row, i in enumerate(ids)}
        self._pixels = np.memmap(
            directory / PIXELS_FILE, dtype=np.uint8, mode="r", shape=(len(ids), self.size, self.size, 3)
        )

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._row

    def letterboxed(self, image_id: int) -> np.ndarray:
        """The cached letterboxed image (read-only view into the memmap)."""
        return self._pixels[self._row[int(image_id)]]

    def letterboxed_batch(self, image_ids: Sequence[int]) -> np.ndarray:
        """``(B, S, S, 3)`` uint8 copy of the cached images of ``image_ids``, in that order."""
        return self._pixels[[self._row[int(i)] for i in image_ids]]


def cache_key(source, image_ids: Sequence[int], size: int) -> str:
    """Hash of every file's path, size and mtime plus the input size (a changed file changes it)."""
    import hashlib

    digest = hashlib.sha256(f"v{CACHE_VERSION} size={int(size)}".encode())
    for image_id in image_ids:
        path = str(source.image_path(int(image_id)))
        stat = os.stat(path)
        digest.update(f"{int(image_id)}|{path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def image_cache(source, size: int, root: str | Path | None, progress: bool = True) -> ImageCache | None:
    """The cache of ``source.image_ids`` at input ``size`` under ``root`` (built on first use), or None
    when ``root`` is None (caching disabled: items then decode their files)."""
    if root is None:
        return None
    ids = [int(i) for i in source.image_ids]
    directory = Path(root) / cache_key(source, ids, size)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory) + ".lock"):
        if not (directory / META_FILE).is_file():
            _build(directory, source, ids, size, progress)
    return ImageCache(directory)


def _build(directory: Path, source, ids: list[int], size: int, progress: bool) -> None:
    """Decode and letterbox every image into a temporary sibling folder, then rename it into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        pixels = np.memmap(tmp / PIXELS_FILE, dtype=np.uint8, mode="w+", shape=(len(ids), size, size, 3))
        for row, image_id in enumerate(tqdm(ids, desc="image cache", leave=False, disable=not progress)):
            width, height = source.image_size(image_id)
            pixels[row] = letterbox_image(source.image_path(image_id), width, height, size)
        pixels.flush()
        del pixels
        np.save(tmp / IDS_FILE, np.asarray(ids, dtype=np.int64))
        # meta.json last: its presence means the folder is complete.
        (tmp / META_FILE).write_text(
            json.dumps({"size": size, "n_images": len(ids), "version": CACHE_VERSION})
        )
        os.replace(tmp, directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
