"""Finding the pool data set a run used, from the run's logged params (``data.*`` keys)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from al_bench.figures.runs import PARAM_PREFIX, FiguresError


def pool_paths(params: dict[str, str]) -> tuple[Path, Path]:
    """Pool annotation file and image folder named by a run's flattened params.

    ``data.kind: synthetic`` keeps images in ``data.root/data.images_subdir``; ``coco`` in
    ``data.root/data.pool_images`` (conf/data/*.yaml). Relative roots are relative to the folder the
    loop ran in, as they were there.

    Args:
        params: ``{"data.root": ..., "data.pool_ann": ..., ...}``.

    Returns:
        ``(annotation file, image folder)``.

    Raises:
        FiguresError: a needed key is missing or a path does not exist (the message names it).
    """
    for key in ("data.root", "data.pool_ann"):
        if not params.get(key):
            raise FiguresError(f"the run did not log param {key!r}, so its pool annotation file is unknown")
    root = Path(params["data.root"])
    if params.get("data.kind") == "coco":
        images = root / params.get("data.pool_images", "train2017")
    else:
        images = root / params.get("data.images_subdir", "images")
    ann = root / params["data.pool_ann"]
    if not ann.is_file():
        raise FiguresError(f"pool annotation file {ann} (data.root + data.pool_ann) does not exist here")
    return ann, images


def run_params(runs: pd.DataFrame, run_id: str) -> dict[str, str]:
    """The logged params of one run as ``{key: value}`` (without the ``params.`` prefix)."""
    row = runs[runs["run_id"] == run_id].iloc[0]
    return {
        c[len(PARAM_PREFIX) :]: v for c, v in row.items() if c.startswith(PARAM_PREFIX) and isinstance(v, str)
    }


def load_pool(params: dict[str, str]):
    """The pool as the loop saw it: ``CocoKeypoints`` of every image of the pool file.

    Raises:
        FiguresError: the files are missing or unreadable.
    """
    from al_bench.data.coco import CocoKeypoints

    ann, images = pool_paths(params)
    try:
        return CocoKeypoints(
            ann,
            images,
            on_bad_annotation=params.get("data.on_bad_annotation", "fail"),
        )
    except (OSError, ValueError) as exc:
        raise FiguresError(f"cannot load the pool {ann}: {exc}") from exc
