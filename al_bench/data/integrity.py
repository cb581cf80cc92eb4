"""Image integrity: find the missing, corrupt or truncated image files of a split before any training.

Owns the start-up image check (``data.image_check``) and its on-disk cache, and the error every
image read raises when a file cannot be decoded (:class:`UnreadableImageError`, naming the file).
A bad image found at start-up is left out of its split with a warning naming the file, so the AL
loop never trains on it, evaluates on it or selects it; the loop logs how many were left out.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image
from tqdm import tqdm

CHECK_MODES = ("decode", "open", "none")
_DRAFT_SIDE = 64  # decode JPEGs at about this size: every byte is still read, at a fraction of the cost
_PROGRESS_MIN_IMAGES = 2000  # show a progress bar only for checks long enough to notice


class UnreadableImageError(OSError):
    """An image file is missing, truncated or not an image; the message names the file."""


class UnreadableImageWarning(UserWarning):
    """Images were left out of a split because they cannot be read (the message names them)."""


def open_rgb(path: str | Path) -> Image.Image:
    """Open ``path`` lazily (pixels decode on first use); errors name the file.

    Raises:
        UnreadableImageError: the file is missing or is not an image Pillow can identify.
    """
    try:
        return Image.open(path)
    except (OSError, SyntaxError, ValueError) as err:
        raise UnreadableImageError(_reason(path, err)) from err


def decoded(img: Image.Image, path: str | Path) -> Image.Image:
    """``img`` converted to RGB (decoding it); a truncated or corrupt file raises naming ``path``."""
    try:
        return img.convert("RGB")
    except (OSError, SyntaxError, ValueError) as err:
        raise UnreadableImageError(_reason(path, err)) from err


def _reason(path: str | Path, err: BaseException) -> str:
    if isinstance(err, FileNotFoundError):
        return f"{path}: image file not found"
    return f"{path}: cannot read image ({type(err).__name__}: {err})"


def image_problem(path: str | Path, mode: str = "decode") -> str | None:
    """Why the image at ``path`` cannot be used, or None when it reads.

    Args:
        mode: ``decode`` reads every byte (finds truncated files; JPEGs decode at reduced size),
            ``open`` only parses the header, ``none`` checks nothing.
    """
    if mode == "none":
        return None
    try:
        with Image.open(path) as img:
            if mode == "decode":
                if img.format == "JPEG":
                    img.draft("RGB", (_DRAFT_SIDE, _DRAFT_SIDE))
                img.load()
    except (OSError, SyntaxError, ValueError) as err:
        return _reason(path, err)
    return None


def find_unreadable(
    paths: dict[int, Path],
    mode: str = "decode",
    cache_dir: str | Path | None = None,
    workers: int | None = None,
) -> dict[int, str]:
    """Check every image of ``paths`` (image id -> file) and return ``{image_id: reason}`` for the bad ones.

    The verdict is cached under ``cache_dir`` keyed by mode, ids, paths, sizes and modification
    times, so an unchanged data set is decoded once, not once per job of a sweep.

    Raises:
        ValueError: an unknown ``mode``.
    """
    if mode not in CHECK_MODES:
        raise ValueError(f"data.image_check must be one of {CHECK_MODES}, got {mode!r}")
    if mode == "none" or not paths:
        return {}
    cache_file = Path(cache_dir) / f"{_signature(paths, mode)}.json" if cache_dir else None
    if cache_file is not None and cache_file.exists():
        return {int(k): v for k, v in json.loads(cache_file.read_text()).items()}
    ids = sorted(paths)
    workers = workers or min(8, os.cpu_count() or 1)
    # Pillow releases the GIL while decoding, so threads check images in parallel.
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = tqdm(
            pool.map(lambda i: image_problem(paths[i], mode), ids),
            total=len(ids),
            desc=f"image check ({mode})",
            unit="img",
            leave=False,
            disable=len(ids) < _PROGRESS_MIN_IMAGES,
        )
        bad = {i: reason for i, reason in zip(ids, verdicts) if reason is not None}
    if cache_file is not None:
        _write_cache(cache_file, bad)
    return bad


def _signature(paths: dict[int, Path], mode: str) -> str:
    """Hash of what decides the verdict: mode, ids, paths, sizes and modification times."""
    digest = hashlib.sha256(mode.encode())
    for image_id in sorted(paths):
        path = Path(paths[image_id])
        try:
            stat = path.stat()
            mark = f"{stat.st_size}:{stat.st_mtime_ns}"
        except OSError:
            mark = "missing"
        digest.update(f"{image_id}\0{path.resolve()}\0{mark}\n".encode())
    return digest.hexdigest()[:24]


def _write_cache(cache_file: Path, bad: dict[int, str]) -> None:
    """Write the verdict atomically (parallel jobs may write the same file); a failure only costs time."""
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({str(k): v for k, v in bad.items()}, indent=1))
        os.replace(tmp, cache_file)
    except OSError:
        pass


def leave_out_unreadable(
    source, split: str, mode: str, cache_dir: str | Path | None, max_fraction: float
) -> dict[int, str]:
    """Drop the unreadable images of ``source`` (a :class:`CocoKeypoints`) from its ``image_ids``.

    Args:
        split: ``pool`` or ``val``, for the messages.
        max_fraction: more bad images than this fraction of the split (and more than one) is an
            error: that is a wrong path or a broken copy, not a few damaged files.

    Returns:
        ``{image_id: reason}`` of the images left out (also announced with an
        :class:`UnreadableImageWarning` naming the files).

    Raises:
        UnreadableImageError: more than ``max_fraction`` of the split cannot be read.
    """
    ids: Sequence[int] = [int(i) for i in source.image_ids]
    bad = find_unreadable({i: source.image_path(i) for i in ids}, mode, cache_dir)
    if not bad:
        return bad
    shown = "; ".join(bad[i] for i in sorted(bad)[:10]) + (" ..." if len(bad) > 10 else "")
    if len(bad) > max(1.0, max_fraction * len(ids)):  # one bad file is never taken for a wrong path
        raise UnreadableImageError(
            f"{split}: {len(bad)} of {len(ids)} images cannot be read (more than "
            f"data.max_unreadable_fraction={max_fraction}): {shown}. Check data.root and the image folder."
        )
    source.drop_images(sorted(bad))
    warnings.warn(
        f"{split}: left out {len(bad)} unreadable image(s), never trained on, evaluated or selected: {shown}",
        UnreadableImageWarning,
        stacklevel=2,
    )
    return bad
