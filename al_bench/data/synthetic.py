"""The embedded synthetic COCO-keypoints data set: wooden-mannequin people on textured scenes.

Owns the generator (pose families, body drawing, scenes, occluders, truncation) and the COCO json it
writes. Each image holds 1-4 articulated 2D people drawn like an artist's mannequin: limbs are thick
segments, the 17 COCO keypoints are visible round markers (joints, eyes, nose, ears) and people face
the camera, so the person's left side appears on the image right of an upright person; left limbs are
a lighter shade than right limbs, so chirality is learnable.

Visibility follows COCO: ``v = 2`` when the keypoint's own marker is what the image shows at that pixel,
``v = 1`` when it lies in the image but is covered (occluder, another person, own body part), ``v = 0``
(stored as ``0, 0, 0``) when it falls outside the image. ``area`` is the person's visible pixel count and
``segmentation`` its visible mask (COCO RLE). Every image is drawn from its own seeded
``np.random.Generator`` (seed, split, index), so the data set is deterministic per seed.
"""

from __future__ import annotations

import colorsys
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as mask_utils
from tqdm import tqdm

from al_bench.data.skeleton import KEYPOINT_NAMES, NUM_KEYPOINTS, PERSON_CATEGORY

GENERATOR_VERSION = 1

POSE_FAMILIES: tuple[str, ...] = ("standing", "walking", "arms_raised", "crouching", "lying", "upside_down")
# Long-tailed on purpose: rare families are what an AL strategy should find.
POSE_FREQUENCIES: tuple[float, ...] = (0.40, 0.25, 0.15, 0.10, 0.06, 0.04)
SCENE_TYPES: tuple[str, ...] = ("noise", "stripes", "gradient", "blobs", "checker")
PERSON_COUNT_PROBS: tuple[float, ...] = (0.40, 0.30, 0.20, 0.10)  # 1, 2, 3, 4 people
OCCLUDER_PROB = 0.35  # images with at least one occluding rectangle
MAX_OCCLUDER_TRIES = 3
SMALL_PERSON_PROB = 0.10
TRUNCATION_PROB = 0.15  # persons placed so that they may extend past the image border

POOL_ANN = "person_keypoints_pool.json"
VAL_ANN = "person_keypoints_val.json"
IMAGES_SUBDIR = "images"
OCCLUDER_LABEL = 255
_LABELS_PER_PERSON = 32  # label map value = (person + 1) * 32 + part (0 = body, 1 + k = keypoint k marker)

# Body proportions in units of the standing height (ankles to top of head ~ 0.95 + head radius slack).
TORSO, NECK, HEAD_R = 0.29, 0.10, 0.08
SHOULDER_HALF, HIP_HALF = 0.11, 0.075
UPPER_ARM, FOREARM, THIGH, SHIN = 0.16, 0.15, 0.24, 0.24
ARM_W, LEG_W, TORSO_W = 0.055, 0.07, 0.16
STANDING_EXTENT = TORSO + NECK + HEAD_R + THIGH + SHIN  # pelvis-to-head-top + pelvis-to-ankle
# Face points in head radii, (toward the person's left, up), in the head's frame.
FACE_LAYOUT = {
    "nose": (0.0, -0.15),
    "left_eye": (0.40, 0.20),
    "right_eye": (-0.40, 0.20),
    "left_ear": (1.0, 0.05),
    "right_ear": (-1.0, 0.05),
}
# COCO keypoint index of each joint name used below.
KP: dict[str, int] = {name: i for i, name in enumerate(KEYPOINT_NAMES)}


@dataclass(frozen=True)
class SyntheticPaths:
    """Where a generated data set lives."""

    root: Path
    image_dir: Path
    pool_ann: Path
    val_ann: Path


@dataclass(frozen=True)
class PersonStyle:
    """Colours of one mannequin (RGB uint8 triples)."""

    left: tuple[int, int, int]  # person's left limbs: lighter shade
    right: tuple[int, int, int]  # person's right limbs: darker shade
    torso: tuple[int, int, int]
    joint: tuple[int, int, int]
    skin: tuple[int, int, int]
    ear: tuple[int, int, int]
    eye: tuple[int, int, int] = (20, 20, 28)
    nose: tuple[int, int, int] = (190, 50, 40)

    def marker_colors(self) -> np.ndarray:
        """``(17, 3)`` uint8 colour of the marker drawn at each COCO keypoint."""
        colors = np.tile(np.array(self.joint, dtype=np.uint8), (NUM_KEYPOINTS, 1))
        colors[KP["nose"]] = self.nose
        colors[[KP["left_eye"], KP["right_eye"]]] = self.eye
        colors[[KP["left_ear"], KP["right_ear"]]] = self.ear
        return colors


@dataclass
class Pose:
    """A person's 2D skeleton in image pixels (before visibility is known)."""

    family: str
    keypoints: np.ndarray  # (17, 2) float, image pixels
    neck: np.ndarray  # (2,)
    head_center: np.ndarray  # (2,)
    height_px: float  # standing height the body was scaled to
    pelvis: np.ndarray = field(default_factory=lambda: np.zeros(2))


@dataclass
class Scene:
    """One rendered image with its people (keypoints with COCO visibility) and latent factors."""

    image: np.ndarray  # (S, S, 3) uint8
    labels: np.ndarray  # (S, S) uint8 label map (see _LABELS_PER_PERSON)
    keypoints: np.ndarray  # (P, 17, 3) float32 x, y, v; v = 0 entries are 0, 0, 0
    masks: np.ndarray  # (P, S, S) bool visible pixels of each person
    families: list[str]
    heights: list[float]
    scene_type: str
    n_occluders: int
    poses: list[Pose]  # keypoints before visibility, image pixels (may lie outside the image)
    styles: list[PersonStyle]


# --------------------------------------------------------------------------------------------- poses


def _direction(angle_deg: float, side: float) -> np.ndarray:
    """Unit vector ``angle_deg`` away from straight down, turned toward the person's ``side`` (+1 left)."""
    t = np.deg2rad(angle_deg)
    return np.array([side * np.sin(t), -np.cos(t)])


def _limb_angles(family: str, rng: np.random.Generator) -> dict[str, float]:
    """Outward limb angles (degrees from straight down) for one pose family, in the body frame."""
    u = rng.uniform
    a: dict[str, float] = {"lean": rng.normal(0.0, 3.0), "torso_scale": 1.0}
    if family in ("standing", "lying"):
        for s in "LR":
            a[f"ua{s}"] = u(5, 22)
            a[f"fa{s}"] = a[f"ua{s}"] + u(-25, 5)
            a[f"th{s}"] = u(2, 9)
            a[f"sh{s}"] = a[f"th{s}"] + u(-6, 1)
    elif family == "walking":
        lead, back = ("L", "R") if rng.random() < 0.5 else ("R", "L")
        a[f"th{lead}"], a[f"th{back}"] = u(14, 26), u(-3, 4)
        a[f"sh{lead}"], a[f"sh{back}"] = a[f"th{lead}"] - u(12, 28), a[f"th{back}"] + u(-4, 4)
        a[f"ua{back}"], a[f"ua{lead}"] = u(18, 38), u(4, 14)
        a[f"fa{back}"], a[f"fa{lead}"] = a[f"ua{back}"] - u(35, 75), a[f"ua{lead}"] + u(-10, 5)
    elif family in ("arms_raised", "upside_down"):
        one_arm = family == "arms_raised" and rng.random() < 0.25
        for s in "LR":
            a[f"ua{s}"] = u(115, 165)
            a[f"fa{s}"] = a[f"ua{s}"] + u(-15, 25)
            a[f"th{s}"] = u(3, 20 if family == "upside_down" else 12)
            a[f"sh{s}"] = a[f"th{s}"] + u(-6, 2)
        if one_arm:
            s = "L" if rng.random() < 0.5 else "R"
            a[f"ua{s}"] = u(5, 20)
            a[f"fa{s}"] = a[f"ua{s}"] + u(-20, 5)
    elif family == "crouching":
        a["torso_scale"] = u(0.82, 0.95)
        a["lean"] = rng.normal(0.0, 5.0)
        for s in "LR":
            a[f"th{s}"] = u(50, 80)
            a[f"sh{s}"] = a[f"th{s}"] - u(55, 85)
            a[f"ua{s}"] = u(15, 45)
            a[f"fa{s}"] = a[f"ua{s}"] - u(20, 60)
    else:
        raise ValueError(f"unknown pose family {family!r}; valid: {', '.join(POSE_FAMILIES)}")
    return a


def _body_rotation(family: str, rng: np.random.Generator) -> float:
    """In-plane rotation (degrees, clockwise on screen) of the whole body."""
    if family == "lying":
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(75, 105))
    if family == "upside_down":
        return float(180.0 + rng.normal(0.0, 10.0))
    return float(rng.normal(0.0, 5.0))


def sample_pose(family: str, rng: np.random.Generator, height_px: float, center_xy: Sequence[float]) -> Pose:
    """Sample a mannequin pose of ``family`` scaled to ``height_px`` with its bounding box centred at
    ``center_xy`` (image pixels).
    """
    a = _limb_angles(family, rng)
    lean = np.deg2rad(a["lean"])
    up = np.array([np.sin(lean), np.cos(lean)])  # body frame: x toward the person's left, y up
    side_axis = np.array([up[1], -up[0]])
    local = np.zeros((NUM_KEYPOINTS, 2))
    neck = up * TORSO * a["torso_scale"]
    for s, sign in (("L", 1.0), ("R", -1.0)):
        name = "left" if s == "L" else "right"
        shoulder = neck + sign * SHOULDER_HALF * side_axis
        elbow = shoulder + UPPER_ARM * _direction(a[f"ua{s}"], sign)
        hip = np.array([sign * HIP_HALF, 0.0])
        knee = hip + THIGH * _direction(a[f"th{s}"], sign)
        local[KP[f"{name}_shoulder"]] = shoulder
        local[KP[f"{name}_elbow"]] = elbow
        local[KP[f"{name}_wrist"]] = elbow + FOREARM * _direction(a[f"fa{s}"], sign)
        local[KP[f"{name}_hip"]] = hip
        local[KP[f"{name}_knee"]] = knee
        local[KP[f"{name}_ankle"]] = knee + SHIN * _direction(a[f"sh{s}"], sign)
    tilt = lean + np.deg2rad(rng.normal(0.0, 6.0))
    head_up = np.array([np.sin(tilt), np.cos(tilt)])
    head_side = np.array([head_up[1], -head_up[0]])
    head = neck + NECK * head_up
    for name, (dx, dy) in FACE_LAYOUT.items():
        local[KP[name]] = head + HEAD_R * (dx * head_side + dy * head_up)

    # Body frame -> image: flip y (image y points down), rotate clockwise on screen, scale, centre.
    scale = height_px / STANDING_EXTENT
    theta = np.deg2rad(_body_rotation(family, rng))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])

    def to_image(p: np.ndarray) -> np.ndarray:
        return (np.asarray(p) * [1.0, -1.0]) @ rot.T * scale

    pts = to_image(local)
    head_img, neck_img = to_image(head), to_image(neck)
    extent = np.vstack([pts, head_img[None] + np.array([[-1.0, -1.0], [1.0, 1.0]]) * HEAD_R * scale])
    shift = np.asarray(center_xy, dtype=float) - (extent.min(0) + extent.max(0)) / 2
    return Pose(family, pts + shift, neck_img + shift, head_img + shift, float(height_px), shift.copy())


# --------------------------------------------------------------------------------------------- drawing


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def sample_style(rng: np.random.Generator) -> PersonStyle:
    """Saturated body colours (backgrounds are desaturated, so people stand out)."""
    hue, sat, val = rng.random(), rng.uniform(0.6, 0.95), rng.uniform(0.55, 0.8)
    skin_v = rng.uniform(0.75, 0.95)
    return PersonStyle(
        left=_hsv(hue, sat * 0.75, min(val + 0.2, 1.0)),
        right=_hsv(hue, sat, val * 0.8),
        torso=_hsv(hue, sat, val),
        joint=_hsv(hue, sat * 0.6, 0.22),
        skin=_hsv(rng.uniform(0.06, 0.1), rng.uniform(0.3, 0.5), skin_v),
        ear=_hsv(0.05, 0.55, skin_v * 0.72),
    )


def _ellipse(draw: ImageDraw.ImageDraw, center: np.ndarray, radius: float, fill) -> None:
    x, y = float(center[0]), float(center[1])
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill)


def draw_person(
    canvases: Sequence[tuple[ImageDraw.ImageDraw, object]],
    pose: Pose,
    style: PersonStyle,
    label_base: int,
) -> None:
    """Draw one mannequin on every ``(draw, mode)`` canvas: ``mode == "rgb"`` paints colours, any other
    mode paints label values (``label_base`` for the body, ``label_base + 1 + k`` for keypoint k's marker).

    Keypoint markers are centred exactly on ``pose.keypoints`` (integer pixels), and drawn last so that a
    keypoint shows its own marker unless something in front covers it.
    """
    kp, s = pose.keypoints, pose.height_px / STANDING_EXTENT
    arm_w, leg_w = max(2, round(ARM_W * s)), max(2, round(LEG_W * s))
    joint_r = max(1.0, 0.45 * ARM_W * s)
    head_r = max(2.0, HEAD_R * s)
    face_r = max(1.0, 0.16 * head_r)
    ear_r = max(1.0, 0.3 * head_r)

    def seg(i: str, j: str) -> list[tuple[float, float]]:
        return [tuple(kp[KP[i]]), tuple(kp[KP[j]])]

    for draw, mode in canvases:
        rgb = mode == "rgb"

        def fill(color, part: int = 0):
            return color if rgb else label_base + part  # noqa: B023 - evaluated in this iteration only

        for name, color in (("right", style.right), ("left", style.left)):
            draw.line(seg(f"{name}_hip", f"{name}_knee"), fill=fill(color), width=leg_w)
            draw.line(seg(f"{name}_knee", f"{name}_ankle"), fill=fill(color), width=leg_w)
        torso = [kp[KP["left_shoulder"]], kp[KP["right_shoulder"]], kp[KP["right_hip"]], kp[KP["left_hip"]]]
        draw.polygon([tuple(p) for p in torso], fill=fill(style.torso))
        draw.line([tuple(pose.neck), tuple(pose.head_center)], fill=fill(style.skin), width=arm_w)
        for name, color in (("right", style.right), ("left", style.left)):
            draw.line(seg(f"{name}_shoulder", f"{name}_elbow"), fill=fill(color), width=arm_w)
            draw.line(seg(f"{name}_elbow", f"{name}_wrist"), fill=fill(color), width=arm_w)
        _ellipse(draw, pose.head_center, head_r, fill(style.skin))
        colors = style.marker_colors()
        for k in range(NUM_KEYPOINTS):
            radius = face_r if k in (KP["nose"], KP["left_eye"], KP["right_eye"]) else joint_r
            radius = ear_r if k in (KP["left_ear"], KP["right_ear"]) else radius
            _ellipse(draw, kp[k], radius, fill(tuple(int(c) for c in colors[k]), 1 + k))


# --------------------------------------------------------------------------------------------- scenes


def _background(rng: np.random.Generator, size: int, scene_type: str) -> np.ndarray:
    """Desaturated textured background ``(size, size, 3)`` float32 in [0, 255]."""
    hue = rng.random()
    c1 = np.array(_hsv(hue, rng.uniform(0.0, 0.3), rng.uniform(0.35, 0.85)), dtype=np.float32)
    c2 = np.array(
        _hsv(hue + rng.uniform(-0.2, 0.2), rng.uniform(0.0, 0.3), rng.uniform(0.3, 0.9)), np.float32
    )
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if scene_type == "noise":
        coarse = rng.random((size // 16 + 2, size // 16 + 2)).astype(np.float32)
        img = Image.fromarray((coarse * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR)
        t = np.asarray(img, dtype=np.float32) / 255.0
    elif scene_type == "stripes":
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 22)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    elif scene_type == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        proj = xx * np.cos(angle) + yy * np.sin(angle)
        t = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
    elif scene_type == "blobs":
        t = np.zeros((size, size), np.float32)
        for _ in range(int(rng.integers(3, 8))):
            cx, cy, r = rng.uniform(0, size), rng.uniform(0, size), rng.uniform(0.08, 0.3) * size
            t += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)).astype(np.float32)
        t = np.clip(t, 0, 1)
    elif scene_type == "checker":
        cell = rng.uniform(8, 24)
        t = ((np.floor(xx / cell) + np.floor(yy / cell)) % 2).astype(np.float32)
    else:
        raise ValueError(f"unknown scene type {scene_type!r}; valid: {', '.join(SCENE_TYPES)}")
    img = c1 + (c2 - c1) * t[..., None]
    img += rng.normal(0.0, 5.0, size=img.shape).astype(np.float32)  # sensor-like grain
    return np.clip(img, 0, 255)


def _place(
    rng: np.random.Generator, size: int, box_wh: np.ndarray, taken: list[np.ndarray], truncate: bool
) -> np.ndarray:
    """Centre for a box of ``box_wh`` that overlaps earlier boxes little; may cross the border if
    ``truncate``."""
    best, best_iou = None, np.inf
    for _ in range(12):
        if truncate:
            lo, hi = np.zeros(2), np.full(2, float(size))  # centre anywhere: up to half the box outside
        else:
            lo = np.minimum(box_wh / 2, size / 2)
            hi = np.maximum(size - box_wh / 2, size / 2)
        center = rng.uniform(lo, hi)
        box = np.concatenate([center - box_wh / 2, center + box_wh / 2])
        iou = max((_iou(box, t) for t in taken), default=0.0)
        if iou < best_iou:
            best, best_iou = center, iou
        if iou < 0.2:
            break
    taken.append(np.concatenate([best - box_wh / 2, best + box_wh / 2]))
    return best


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _person_height(rng: np.random.Generator, size: int, n_persons: int) -> float:
    """Standing height in pixels: mostly 0.3-0.85 of the image, fewer and larger people when alone."""
    if rng.random() < SMALL_PERSON_PROB:
        return float(rng.uniform(0.18, 0.3) * size)
    lo, hi = ((0.45, 0.85), (0.35, 0.75), (0.3, 0.6), (0.28, 0.55))[n_persons - 1]
    return float(rng.uniform(lo, hi) * size)


def _draw_occluders(rng: np.random.Generator, canvases, size: int, poses: list[Pose]) -> int:
    """Rectangles dropped on random keypoints so that they really hide some (moderately sized)."""
    if rng.random() >= OCCLUDER_PROB:
        return 0
    n = 1 if rng.random() < 0.8 else 2
    for _ in range(n):
        target = poses[int(rng.integers(len(poses)))].keypoints[int(rng.integers(NUM_KEYPOINTS))]
        wh = rng.uniform(0.1, 0.3, size=2) * size
        center = target + rng.uniform(-0.5, 0.5, size=2) * wh
        box = [float(v) for v in np.concatenate([center - wh / 2, center + wh / 2])]
        color = _hsv(rng.random(), rng.uniform(0.0, 0.25), rng.uniform(0.25, 0.75))
        for draw, mode in canvases:
            draw.rectangle(box, fill=color if mode == "rgb" else OCCLUDER_LABEL)
    return n


def render_scene(
    rng: np.random.Generator,
    image_size: int = 128,
    family_probs: Sequence[float] = POSE_FREQUENCIES,
    n_persons: int | None = None,
    occluders: bool = True,
    flat_background: tuple[int, int, int] | None = None,
) -> Scene:
    """Render one image: background, 1-4 people (small ones first, i.e. behind), occluders.

    Args:
        rng: the image's own generator (the image is a pure function of its state).
        image_size: square side in pixels.
        family_probs: probability of each of :data:`POSE_FAMILIES`.
        n_persons: force the person count (default: drawn from :data:`PERSON_COUNT_PROBS`).
        occluders: allow occluding rectangles.
        flat_background: paint the background this one colour instead of a texture (tests).

    Returns:
        The scene; keypoint visibility comes from the label map: ``v = 2`` when the pixel under the
        keypoint shows its own marker, ``v = 1`` when covered, ``v = 0`` (0, 0, 0) outside the image.
    """
    size = int(image_size)
    scene_type = SCENE_TYPES[int(rng.integers(len(SCENE_TYPES)))]
    background = _background(rng, size, scene_type)
    if flat_background is not None:
        background[:] = np.asarray(flat_background, dtype=np.float32)
        scene_type = "flat"
    if n_persons is None:
        n_persons = int(rng.choice(len(PERSON_COUNT_PROBS), p=PERSON_COUNT_PROBS)) + 1
    families = [POSE_FAMILIES[i] for i in rng.choice(len(POSE_FAMILIES), size=n_persons, p=family_probs)]
    heights = sorted(_person_height(rng, size, n_persons) for _ in range(n_persons))
    poses, taken = [], []
    for family, height in zip(families, heights, strict=True):
        probe = sample_pose(family, rng, height, (0.0, 0.0))
        extent = np.ptp(np.vstack([probe.keypoints, probe.head_center[None]]), axis=0) + 2 * HEAD_R * height
        center = _place(rng, size, extent, taken, truncate=rng.random() < TRUNCATION_PROB)
        probe.keypoints += center
        probe.neck += center
        probe.head_center += center
        probe.keypoints = np.round(probe.keypoints)  # markers sit exactly on pixel centres
        poses.append(probe)

    styles = [sample_style(rng) for _ in poses]
    # Occlusion stays moderate: occluders that hide most of a person are re-drawn elsewhere, and after
    # a few tries the image goes without them.
    for attempt in range(MAX_OCCLUDER_TRIES + 1):
        with_occluders = occluders and attempt < MAX_OCCLUDER_TRIES
        image, label_map, n_occluders = _draw_scene(rng, background, poses, styles, with_occluders)
        keypoints = np.stack(
            [
                visibility(pose.keypoints, label_map, (p + 1) * _LABELS_PER_PERSON)
                for p, pose in enumerate(poses)
            ]
        )
        if n_occluders == 0 or _moderately_occluded(keypoints):
            break
    owner = np.where(label_map == OCCLUDER_LABEL, 0, label_map // _LABELS_PER_PERSON)
    masks = owner[None] == (np.arange(n_persons) + 1)[:, None, None]
    return Scene(
        image,
        label_map,
        keypoints,
        masks,
        families,
        heights,
        scene_type,
        n_occluders,
        poses,
        styles,
    )


def _draw_scene(
    rng: np.random.Generator,
    background: np.ndarray,
    poses: list[Pose],
    styles: list[PersonStyle],
    occluders: bool,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Draw people (list order = back to front) and maybe occluders; return image, label map, #occluders."""
    size = background.shape[0]
    image = Image.fromarray(background.astype(np.uint8))
    labels = Image.new("L", (size, size), 0)
    canvases = [(ImageDraw.Draw(image), "rgb"), (ImageDraw.Draw(labels), "label")]
    for p, (pose, style) in enumerate(zip(poses, styles, strict=True)):
        draw_person(canvases, pose, style, (p + 1) * _LABELS_PER_PERSON)
    n_occluders = _draw_occluders(rng, canvases, size, poses) if occluders else 0
    return np.asarray(image), np.asarray(labels), n_occluders


def _moderately_occluded(keypoints: np.ndarray) -> bool:
    """Every person shows at least a third of its in-image keypoints."""
    labelled = (keypoints[..., 2] > 0).sum(axis=1)
    visible = (keypoints[..., 2] == 2).sum(axis=1)
    return bool(np.all(visible * 3 >= labelled))


def visibility(points: np.ndarray, label_map: np.ndarray, label_base: int) -> np.ndarray:
    """COCO ``x, y, v`` for integer keypoint positions given the label map they were drawn into."""
    size_y, size_x = label_map.shape
    out = np.zeros((len(points), 3), np.float32)
    for k, (x, y) in enumerate(np.asarray(points)):
        xi, yi = round(x), round(y)
        if not (0 <= xi < size_x and 0 <= yi < size_y):
            continue  # truncated: unlabelled, stored as 0, 0, 0
        own_marker = label_map[yi, xi] == label_base + 1 + k
        out[k] = (xi, yi, 2.0 if own_marker else 1.0)
    return out


# --------------------------------------------------------------------------------------------- writing


def scene_annotations(scene: Scene, image_id: int) -> tuple[list[dict], list[str]]:
    """COCO annotations (ids ``image_id * 10 + person``) of the people visible at all, and their families."""
    anns, families = [], []
    for p in range(len(scene.families)):
        mask = scene.masks[p]
        area = int(mask.sum())
        if area == 0:
            continue  # fully hidden: not annotated, as in COCO
        ys, xs = np.nonzero(mask)
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle["counts"] = rle["counts"].decode("ascii")
        kps = scene.keypoints[p]
        anns.append(
            {
                "id": image_id * 10 + p,
                "image_id": image_id,
                "category_id": PERSON_CATEGORY["id"],
                "iscrowd": 0,
                "keypoints": [int(v) for v in kps.reshape(-1)],
                "num_keypoints": int((kps[:, 2] > 0).sum()),
                "area": float(area),
                "bbox": [
                    float(xs.min()),
                    float(ys.min()),
                    float(xs.max() - xs.min() + 1),
                    float(ys.max() - ys.min() + 1),
                ],
                "segmentation": rle,
                "pose_family": scene.families[p],
                "height_px": round(scene.heights[p], 2),
            }
        )
        families.append(scene.families[p])
    return anns, families


def _family_probs(val_distribution: str) -> tuple[float, ...]:
    if val_distribution == "pool":
        return POSE_FREQUENCIES
    if val_distribution == "balanced":
        return tuple([1.0 / len(POSE_FAMILIES)] * len(POSE_FAMILIES))
    raise ValueError(f"val_distribution must be 'pool' or 'balanced', got {val_distribution!r}")


def _write_split(
    out_dir: Path, split: str, ids: range, image_size: int, seed: int, family_probs, split_code: int
) -> dict:
    images, annotations = [], []
    for index, image_id in enumerate(tqdm(ids, desc=f"synthetic {split}", unit="img", leave=False)):
        rng = np.random.default_rng([seed, split_code, index])
        scene = render_scene(rng, image_size, family_probs)
        file_name = f"{image_id:012d}.png"
        Image.fromarray(scene.image).save(out_dir / IMAGES_SUBDIR / file_name, compress_level=1)
        anns, families = scene_annotations(scene, image_id)
        annotations.extend(anns)
        attributes = {
            "scene_type": scene.scene_type,
            "n_persons": len(anns),
            "pose_families": families,
            "n_occluders": scene.n_occluders,
        }
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": image_size,
                "height": image_size,
                "attributes": attributes,
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
) -> SyntheticPaths:
    """Generate the synthetic data set into ``out_dir`` (created; existing files are overwritten).

    Pool image ids are ``1..n_pool`` and val ids ``n_pool+1..n_pool+n_val`` (global ids never collide).

    Args:
        out_dir: target folder; gets ``images/``, ``person_keypoints_pool.json``, ``person_keypoints_val.json``.
        n_pool: number of pool (trainable, unlabeled) images.
        n_val: number of validation images.
        image_size: square image side in pixels.
        seed: the data set is a pure function of (seed, n_pool, n_val, image_size, val_distribution).
        val_distribution: ``pool`` (same long tail as the pool) or ``balanced`` (families equally likely).

    Returns:
        The paths of the generated files.
    """
    if n_pool < 1 or n_val < 1:
        raise ValueError(f"n_pool and n_val must be >= 1, got n_pool={n_pool}, n_val={n_val}")
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32 pixels, got {image_size}")
    val_probs = _family_probs(val_distribution)
    out = Path(out_dir)
    (out / IMAGES_SUBDIR).mkdir(parents=True, exist_ok=True)
    pool = _write_split(out, "pool", range(1, n_pool + 1), image_size, seed, POSE_FREQUENCIES, split_code=0)
    val = _write_split(out, "val", range(n_pool + 1, n_pool + n_val + 1), image_size, seed, val_probs, 1)
    for name, content in ((POOL_ANN, pool), (VAL_ANN, val)):
        (out / name).write_text(json.dumps(content))
    return SyntheticPaths(out, out / IMAGES_SUBDIR, out / POOL_ANN, out / VAL_ANN)
