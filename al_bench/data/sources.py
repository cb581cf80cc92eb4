"""Build the pool and val sources from ``cfg.data``; generate the synthetic set on demand.

Owns where data lives (``data.root``), the atomic on-demand generation of the synthetic set (a killed
generation never leaves a half data set behind) and the data fingerprint used to key caches.

A data set's YAML names its builder in ``_target_``: a function ``(data_cfg) -> DataFiles`` that
finds (or makes) the COCO-format files. :func:`build_sources` calls it and does the rest for every
data set alike (loading, unreadable-image check, empty-split check, fingerprint), so a user's data
set is a YAML file and one function on the Python path.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from al_bench.data.coco import COCO_LAYOUT_HINT, CocoKeypoints, DataNotFoundError
from al_bench.data.integrity import leave_out_unreadable
from al_bench.data.synthetic import GENERATOR_VERSION, POSE_FAMILIES, generate_synthetic

COMPLETE_MARKER = "COMPLETE.json"  # written last: its presence means the folder is a whole data set
# The built-in data sets' builders by ``data.kind``: what a config without ``_target_`` (one composed
# before data sets named their builder, or made by hand) gets; ``loop/state.py`` also leaves a
# ``data._target_`` equal to its kind's entry out of the run key, since the kind already says it.
BUILDERS = {
    "synthetic": "al_bench.data.sources.synthetic_files",
    "coco": "al_bench.data.sources.coco_files",
}
KINDS = tuple(BUILDERS)


@dataclass(frozen=True)
class DataSources:
    """The AL pool, the validation split, the data set's name and its fingerprint.

    ``pool_skipped`` / ``val_skipped`` map the ids of images left out because their files cannot be
    read (``data.image_check``) to the reason; they are not in ``pool.image_ids`` / ``val.image_ids``.
    """

    pool: CocoKeypoints
    val: CocoKeypoints
    name: str
    fingerprint: str
    pool_skipped: dict[int, str] = field(default_factory=dict)
    val_skipped: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DataFiles:
    """Where a data set's COCO-format files are: what a data builder (``data._target_``) returns."""

    pool_ann: Path
    pool_images: Path
    val_ann: Path
    val_images: Path


def _synthetic_params(data_cfg) -> dict:
    return {
        "generator_version": GENERATOR_VERSION,
        "n_pool": int(data_cfg.n_pool),
        "n_val": int(data_cfg.n_val),
        "image_size": int(data_cfg.image_size),
        "seed": int(data_cfg.seed),
        "val_distribution": str(data_cfg.val_distribution),
        "families": str(data_cfg.families),
        "burst_share": float(data_cfg.burst_share),
        "n_bursts": int(data_cfg.n_bursts),
    }


def ensure_synthetic(data_cfg) -> Path:
    """Return ``data.root``, generating the synthetic data set there first unless it is complete.

    Generation writes into a temporary sibling folder that is renamed into place at the end, so a
    killed run never leaves a partial data set; a file lock makes parallel jobs (Hydra multirun)
    wait for the one that generates instead of generating the same set again.
    """
    root = Path(data_cfg.root)
    params = _synthetic_params(data_cfg)
    if _is_complete(root, params):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(generation_lock(root))):
        if not _is_complete(root, params):
            _generate_into(root, params)
    return root


def generation_lock(root: Path) -> Path:
    """The lock file parallel jobs share while one of them generates ``root`` (kept: unlinking it races)."""
    return root.parent / f".{root.name}.lock"


def _is_complete(root: Path, params: dict) -> bool:
    """Whether ``root`` holds the finished data set for ``params`` (another set there is an error)."""
    marker = root / COMPLETE_MARKER
    if marker.exists():
        found = json.loads(marker.read_text())
        if found != params:
            raise ValueError(
                f"{root} holds a synthetic data set generated with {found}, not {params}; "
                "delete the folder or point data.root elsewhere."
            )
        return True
    if root.exists():
        raise ValueError(
            f"{root} exists but is not a complete synthetic data set (no {COMPLETE_MARKER}); "
            "delete it or point data.root elsewhere."
        )
    return False


def _generate_into(root: Path, params: dict) -> None:
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        generate_synthetic(
            tmp,
            params["n_pool"],
            params["n_val"],
            params["image_size"],
            params["seed"],
            params["val_distribution"],
            params["families"],
            params["burst_share"],
            params["n_bursts"],
        )
        (tmp / COMPLETE_MARKER).write_text(json.dumps(params))
        os.rename(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fingerprint(*parts: Path | str) -> str:
    """Short stable hash of annotation file contents and image folder paths (cache keys)."""
    digest = hashlib.sha256()
    for part in parts:
        path = Path(part)
        if path.is_file():
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
        else:
            digest.update(str(path.resolve()).encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def synthetic_files(data_cfg) -> DataFiles:
    """The synthetic set's files under ``data.root`` (generated first unless complete)."""
    root = ensure_synthetic(data_cfg)
    images = root / data_cfg.images_subdir
    return DataFiles(root / data_cfg.pool_ann, images, root / data_cfg.val_ann, images)


def coco_files(data_cfg) -> DataFiles:
    """Real COCO's files under ``data.root`` (``conf/data/coco.yaml`` shows the layout).

    Raises:
        DataNotFoundError: ``data.root`` is unset or missing, saying how to provide the files.
    """
    root = data_cfg.get("root")
    if root in (None, "", "???"):
        raise DataNotFoundError(f"data.root is not set. {COCO_LAYOUT_HINT}")
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"data.root {root} does not exist. {COCO_LAYOUT_HINT}")
    return DataFiles(
        root / data_cfg.pool_ann,
        root / data_cfg.pool_images,
        root / data_cfg.val_ann,
        root / data_cfg.val_images,
    )


def data_builder(data_cfg) -> Callable[[Any], DataFiles]:
    """The function ``data._target_`` names, or the built-in one of ``data.kind`` without it.

    Raises:
        ValueError: no ``_target_`` and a ``kind`` that is not built in.
    """
    from hydra.utils import get_method

    target = data_cfg.get("_target_")
    if target is None:
        kind = data_cfg.kind
        if kind not in BUILDERS:
            raise ValueError(f"data.kind must be one of {KINDS}, got {kind!r} (or set data._target_)")
        target = BUILDERS[kind]
    return get_method(str(target))


def check_rare_families(data_cfg) -> None:
    """``data.rare_families`` must name pose families of the synthetic set (real COCO has none)."""
    rare = list(data_cfg.get("rare_families") or ())
    if not rare:
        return
    if data_cfg.kind != "synthetic":
        raise ValueError(
            f"data.rare_families {rare}: only the synthetic set labels pose families; set it to [] for {data_cfg.kind!r}"
        )
    unknown = sorted(set(rare) - set(POSE_FAMILIES))
    if unknown:
        raise ValueError(
            f"data.rare_families names unknown families {unknown}; valid: {', '.join(POSE_FAMILIES)}"
        )


def build_sources(data_cfg) -> DataSources:
    """Pool and val :class:`CocoKeypoints` of the files ``data._target_`` returns (:class:`DataFiles`)."""
    check_rare_families(data_cfg)
    files = data_builder(data_cfg)(data_cfg)
    pool_ann, pool_images, val_ann, val_images = map(
        Path, (files.pool_ann, files.pool_images, files.val_ann, files.val_images)
    )
    on_bad = str(data_cfg.on_bad_annotation)
    # Never filtered with labels: a real pool cannot know which images have people before annotation.
    pool = CocoKeypoints(pool_ann, pool_images, require_keypoints=False, on_bad_annotation=on_bad)
    val = CocoKeypoints(
        val_ann,
        val_images,
        require_keypoints=bool(data_cfg.val_require_keypoints),
        on_bad_annotation=on_bad,
        max_images=data_cfg.max_val_images,
    )
    name = str(data_cfg.name)
    skipped = {
        split: _leave_out_unreadable(source, split, data_cfg)
        for split, source in (("pool", pool), ("val", val))
    }
    for split, source in (("pool", pool), ("val", val)):
        if not len(source):
            raise ValueError(_empty_split_message(split, source, skipped[split]))
    # Caches keyed by the fingerprint (embeddings, round 0) must not mix pools with and without them.
    left_out = [f"{split}:{i}" for split in skipped for i in sorted(skipped[split])]
    return DataSources(
        pool,
        val,
        name,
        fingerprint(pool_ann, pool_images, val_ann, val_images, *left_out),
        skipped["pool"],
        skipped["val"],
    )


def _leave_out_unreadable(source: CocoKeypoints, split: str, data_cfg) -> dict[int, str]:
    """Check the split's image files (``data.image_check``) and drop the unreadable ones."""
    return leave_out_unreadable(
        source,
        split,
        mode=str(data_cfg.image_check),
        cache_dir=data_cfg.image_check_cache,
        max_fraction=float(data_cfg.max_unreadable_fraction),
    )


def _empty_split_message(split: str, source: CocoKeypoints, skipped: dict[int, str]) -> str:
    why = f"all {len(skipped)} of its images are unreadable" if skipped else "the file lists no usable image"
    return f"the {split} split is empty: {why} ({source.ann_file}, images in {source.image_dir})"
