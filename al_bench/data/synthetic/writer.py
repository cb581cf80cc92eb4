"""Write a synthetic data set: images and COCO person-keypoint json files, one per split.

Owns the COCO annotation of a rendered scene (COCO's rules: a person below 32² pixels gets
``num_keypoints: 0`` and zero keypoints, a crowd is one ``iscrowd: 1`` region, ``area`` is the visible
mask area) and the deterministic generation of a whole data set: image ``i`` of a split is drawn from
its own ``np.random.Generator`` (seed, split, i), or, for a frame of a pool burst, from its burst's scene
generator and a frame generator of its own.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from tqdm import tqdm

from al_bench.data.skeleton import NUM_KEYPOINTS, PERSON_CATEGORY
from al_bench.data.synthetic.scene import (
    COCO_MIN_KEYPOINT_AREA,
    FAMILY_MIXES,
    PERSON_FREE_PROB,
    Scene,
    render_scene,
)

GENERATOR_VERSION = 4
POOL_ANN = "person_keypoints_pool.json"
VAL_ANN = "person_keypoints_val.json"
IMAGES_SUBDIR = "images"
VAL_DISTRIBUTIONS = ("pool", "balanced")
# Generator streams: image i of a split, burst b's scene, frame i's own steps and noise, the plan.
SPLIT_CODES = {"pool": 0, "val": 1, "burst_scene": 2, "burst_frame": 3, "burst_plan": 4}
MIN_BURST_FRAMES = 2


@dataclass(frozen=True)
class SyntheticPaths:
    """Where a generated data set lives."""

    root: Path
    image_dir: Path
    pool_ann: Path
    val_ann: Path


def _region(mask: np.ndarray) -> dict:
    """COCO ``segmentation`` (RLE), ``area`` and ``bbox`` of a boolean mask."""
    ys, xs = np.nonzero(mask)
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    return {"segmentation": rle, "area": float(mask.sum()), "bbox": box}


def scene_annotations(scene: Scene, image_id: int) -> list[dict]:
    """COCO annotations (ids ``image_id * 100 + n``) of the people visible at all and of the crowd."""
    anns = []
    for p, person in enumerate(scene.people):
        if person.area == 0:
            continue  # fully hidden: not annotated, as in COCO
        kps = person.keypoints
        if person.area < COCO_MIN_KEYPOINT_AREA:  # COCO's rule: too small for keypoints
            kps = np.zeros_like(kps)
        anns.append(
            {
                "id": image_id * 100 + p,
                "image_id": image_id,
                "category_id": PERSON_CATEGORY["id"],
                "iscrowd": 0,
                "keypoints": [int(v) for v in kps.reshape(-1)],
                "num_keypoints": int((kps[:, 2] > 0).sum()),
                **_region(person.mask),
                "pose_family": person.pose.family,
                "facing": person.pose.facing,
                "yaw_deg": round(person.pose.yaw_deg, 1),
                "height_px": round(person.pose.height_px, 2),
            }
        )
    if scene.crowd_mask is not None and scene.crowd_mask.any():
        anns.append(
            {
                "id": image_id * 100 + 99,
                "image_id": image_id,
                "category_id": PERSON_CATEGORY["id"],
                "iscrowd": 1,
                "keypoints": [0] * (3 * NUM_KEYPOINTS),
                "num_keypoints": 0,
                **_region(scene.crowd_mask),
            }
        )
    return anns


def image_attributes(scene: Scene, anns: list[dict]) -> dict:
    """Latent factors of an image, read by ``al-bench-data inspect`` and the per-family metrics."""
    persons = [a for a in anns if not a["iscrowd"] and a["num_keypoints"] > 0]
    return {
        "scene_type": scene.scene_type,
        "n_persons": len(persons),
        "pose_families": [a["pose_family"] for a in persons],
        "facings": [a["facing"] for a in persons],
        "n_small_persons": sum(not a["iscrowd"] and a["num_keypoints"] == 0 for a in anns),
        "n_crowd_regions": sum(a["iscrowd"] for a in anns),
        "n_occluders": scene.n_occluders,
        "n_sticks": scene.n_sticks,
    }


def family_probs(val_distribution: str, families: str = "upright") -> tuple[float, ...]:
    """Pose-family probabilities of a split: the pool's long tail of the ``families`` mix, or every
    family of that mix equally likely."""
    if families not in FAMILY_MIXES:
        raise ValueError(f"families must be one of {list(FAMILY_MIXES)}, got {families!r}")
    pool = FAMILY_MIXES[families]
    if val_distribution == "pool":
        return pool
    if val_distribution == "balanced":
        present = [p > 0 for p in pool]
        return tuple(1.0 / sum(present) if shown else 0.0 for shown in present)
    raise ValueError(f"val_distribution must be one of {VAL_DISTRIBUTIONS}, got {val_distribution!r}")


def burst_plan(n_images: int, burst_share: float, n_bursts: int, seed: int) -> np.ndarray:
    """The burst each pool image is a frame of (``-1``: an image of its own), as a static camera makes.

    ``round(burst_share * n_images)`` images are frames of ``n_bursts`` bursts of (nearly) equal length,
    at positions drawn from ``seed``; the rest are independent images, as generator version 3 made all.
    A pool too small for ``n_bursts`` bursts of :data:`MIN_BURST_FRAMES` frames (a smoke test's) gets
    fewer bursts.
    """
    if not 0.0 <= burst_share < 1.0:
        raise ValueError(f"burst_share must be in [0, 1), got {burst_share}")
    if n_bursts < 1:
        raise ValueError(f"n_bursts must be >= 1, got {n_bursts}")
    n_frames = round(burst_share * n_images)
    n_bursts = min(n_bursts, n_frames // MIN_BURST_FRAMES)
    plan = np.full(n_images, -1)
    if n_bursts == 0:
        return plan
    positions = np.random.default_rng([seed, SPLIT_CODES["burst_plan"]]).permutation(n_images)[:n_frames]
    plan[np.sort(positions)] = np.arange(n_frames) % n_bursts
    return plan


def burst_scenes(n_bursts: int, image_size: int, seed: int, probs) -> list[list[int]]:
    """The generator seed of each burst's scene. ``ceil(PERSON_FREE_PROB * n_bursts)`` of them film
    nobody (a camera on an empty workplace) and the others somebody, so the pool's person-free share
    does not hang on a few draws: scene seeds are tried in turn until one is of the wanted kind."""
    n_empty = math.ceil(PERSON_FREE_PROB * n_bursts)
    keys = []
    for burst in range(n_bursts):
        for attempt in itertools.count():
            key = [seed, SPLIT_CODES["burst_scene"], burst, attempt]
            scene = render_scene(np.random.default_rng(key), image_size, probs)
            if _person_free(scene) == (burst < n_empty):
                break
        keys.append(key)
    return keys


def _person_free(scene: Scene) -> bool:
    return not any(not a["iscrowd"] for a in scene_annotations(scene, 0))


def _write_split(
    out_dir: Path, split: str, ids: range, image_size: int, seed: int, probs, bursts: np.ndarray
) -> dict:
    images, annotations = [], []
    scene_keys = burst_scenes(int(bursts.max()) + 1, image_size, seed, probs) if bursts.max() >= 0 else []
    for index, image_id in enumerate(tqdm(ids, desc=f"synthetic {split}", unit="img", leave=False)):
        burst = int(bursts[index])
        if burst < 0:
            scene = render_scene(np.random.default_rng([seed, SPLIT_CODES[split], index]), image_size, probs)
        else:  # the burst's scene, with this frame's own steps and noise
            frame_rng = np.random.default_rng([seed, SPLIT_CODES["burst_frame"], index])
            scene = render_scene(
                np.random.default_rng(scene_keys[burst]), image_size, probs, frame_rng=frame_rng
            )
        file_name = f"{image_id:012d}.png"
        Image.fromarray(scene.image).save(out_dir / IMAGES_SUBDIR / file_name, compress_level=1)
        anns = scene_annotations(scene, image_id)
        annotations.extend(anns)
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": image_size,
                "height": image_size,
                "attributes": {**image_attributes(scene, anns), "burst": burst if burst >= 0 else None},
            }
        )
    return {
        "info": {
            "description": f"al_bench synthetic mannequin keypoints ({split})",
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
        },
        "licenses": [],
        "categories": [dict(PERSON_CATEGORY)],
        "images": images,
        "annotations": annotations,
    }


def generate_synthetic(
    out_dir: str | Path,
    n_pool: int,
    n_val: int,
    image_size: int = 128,
    seed: int = 0,
    val_distribution: str = "pool",
    families: str = "upright",
    burst_share: float = 0.0,
    n_bursts: int = 10,
) -> SyntheticPaths:
    """Generate the synthetic data set into ``out_dir`` (created; existing files are overwritten).

    Pool image ids are ``1..n_pool`` and val ids ``n_pool+1..n_pool+n_val`` (global ids never collide).

    Args:
        out_dir: target folder; gets ``images/``, ``person_keypoints_pool.json``, ``person_keypoints_val.json``.
        n_pool: number of pool (trainable, unlabeled) images.
        n_val: number of validation images.
        image_size: square image side in pixels.
        seed: the data set is a pure function of (seed, n_pool, n_val, image_size, val_distribution,
            families, burst_share, n_bursts).
        val_distribution: ``pool`` (same long tail as the pool) or ``balanced`` (families equally likely).
        families: the pose-family mix (``scene.FAMILY_MIXES``): ``upright`` or ``all`` (adds lying and
            upside-down people).
        burst_share: share of the pool that is frames of a few bursts, as a static camera films one
            scene while little moves (:func:`burst_plan`); val images are all independent.
        n_bursts: how many bursts those frames come from.

    Returns:
        The paths of the generated files.
    """
    if n_pool < 1 or n_val < 1:
        raise ValueError(f"n_pool and n_val must be >= 1, got n_pool={n_pool}, n_val={n_val}")
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32 pixels, got {image_size}")
    pool_probs, val_probs = family_probs("pool", families), family_probs(val_distribution, families)
    out = Path(out_dir)
    (out / IMAGES_SUBDIR).mkdir(parents=True, exist_ok=True)
    plan = burst_plan(n_pool, burst_share, n_bursts, seed)
    pool = _write_split(out, "pool", range(1, n_pool + 1), image_size, seed, pool_probs, plan)
    val_ids = range(n_pool + 1, n_pool + n_val + 1)
    val = _write_split(out, "val", val_ids, image_size, seed, val_probs, np.full(n_val, -1))
    for name, content in ((POOL_ANN, pool), (VAL_ANN, val)):
        (out / name).write_text(json.dumps(content))
    return SyntheticPaths(out, out / IMAGES_SUBDIR, out / POOL_ANN, out / VAL_ANN)
