"""One synthetic image: textured background, clutter, people in depth order, crowds and occluders.

Owns the composition of an image and the COCO facts read from it: each person's visible mask and the
visibility of its keypoints, taken from a label map drawn alongside the picture (``v = 2`` when the
keypoint's own marker is what the image shows at that pixel, ``v = 1`` when something — the person's
own body, another person, an occluder — covers it, ``v = 0`` (stored ``0, 0, 0``) outside the image or
for a face point turned away). People are placed at sizes COCO annotates (see ``PERSON_SCALE`` in
docs/ARCHITECTURE.md); some images hold smaller background people or a crowd, and some nobody at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from al_bench.data.skeleton import NUM_KEYPOINTS
from al_bench.data.synthetic.mannequin import (
    FACING_PROBS,
    FACINGS,
    POSE_FAMILIES,
    PersonStyle,
    Pose,
    draw_primitives,
    hsv,
    person_primitives,
    sample_pose,
    sample_style,
)

# Long-tailed on purpose: rare families are what an AL strategy should find. Two mixes (``data.families``):
# ``upright`` (the default) keeps every person upright, with arms_raised and crouching as the rare tail;
# ``all`` adds people lying and upside down (generator version 2's mix). A 72k-parameter CNN does not
# learn rotated people from tens of examples: with ``all``, loss-based selection spent most of its picks
# on them and AP fell (docs/BENCHMARKS.md, "Synthetic benchmark v3").
FAMILY_MIXES: dict[str, tuple[float, ...]] = {
    "upright": (0.56, 0.34, 0.05, 0.05, 0.0, 0.0),
    "all": (0.44, 0.25, 0.15, 0.09, 0.045, 0.025),
}
POSE_FREQUENCIES: tuple[float, ...] = FAMILY_MIXES["upright"]
SCENE_TYPES: tuple[str, ...] = ("noise", "stripes", "gradient", "blobs", "checker")
PERSON_FREE_PROB = 0.12  # images with nobody in them (the pool is never filtered with labels)
PERSON_COUNT_PROBS: tuple[float, ...] = (0.45, 0.35, 0.20)  # 1, 2, 3 annotatable people
# Standing heights (fractions of the image side) by number of people: COCO-sized (area >= 32^2) people.
HEIGHT_RANGES: tuple[tuple[float, float], ...] = ((0.7, 1.05), (0.6, 0.9), (0.55, 0.8))
# Images that show one upright person seen close (2.3-2.9x the side, head at the top edge, legs cut
# off): COCO's "large" range. Kept rare on purpose: at 1.3-2.8x and 8-15 % of images the tiny model
# (receptive field ~50 px) failed on nearly all of them after round 0, loss-based selection spent most
# of its first budget there and the scale it then learned cost AP everywhere else; at 3 % it still
# spent half of it there (docs/BENCHMARKS.md). At 0.5 % large persons are present, not a trap.
CLOSEUP_PROB, CLOSEUP_HEIGHT = 0.005, (2.3, 2.9)
# Clutter and hard placements, at rates the tiny model can learn from: at 30 % occluders / sticks /
# background people and 15 % truncation, the images loss-based selection picked were mostly people cut
# by the border or hidden, and labelling them did not lift AP (docs/BENCHMARKS.md).
BACKGROUND_PEOPLE_PROB, BACKGROUND_HEIGHT = 0.1, (0.16, 0.3)  # too small for COCO's keypoints
CROWD_PROB, CROWD_SIZE, CROWD_HEIGHT = 0.1, (6, 12), (0.1, 0.2)
TRUNCATION_PROB = 0.05  # a person placed so that it may extend past the image border
OCCLUDER_PROB, STICKS_PROB = 0.1, 0.1
# A frame of a burst (a static camera filming one scene, ``writer.burst_plan``): each person of the
# scene steps by up to FRAME_STEP_PX pixels per axis and the sensor adds Gaussian noise, so frames are
# near-duplicates that no hash finds and that teach the model next to nothing the first frame did not.
FRAME_STEP_PX, FRAME_NOISE_STD = 3, 4.0
MAX_OCCLUDER_TRIES = 3
COCO_MIN_KEYPOINT_AREA = 32**2  # COCO gives smaller persons num_keypoints 0

LABELS_PER_PERSON = 32  # label map value = (person + 1) * 32 + part (0 body, 1 + k keypoint k's marker)
CROWD_LABEL, CLUTTER_LABEL = 250, 255
UPRIGHT = ("standing", "walking", "arms_raised")


@dataclass
class Person:
    """A drawn person: its pose and style, then what the image shows of it."""

    pose: Pose
    style: PersonStyle
    keypoints: np.ndarray | None = None  # (17, 3) x, y, v
    mask: np.ndarray | None = None  # (S, S) bool visible pixels

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass
class Scene:
    """One rendered image with its people and latent factors."""

    image: np.ndarray  # (S, S, 3) uint8
    labels: np.ndarray  # (S, S) uint8 label map
    people: list[Person]  # back to front
    crowd_mask: np.ndarray | None  # (S, S) bool union of the crowd's pixels, or None
    scene_type: str
    n_occluders: int
    n_sticks: int


def background(rng: np.random.Generator, size: int, scene_type: str) -> np.ndarray:
    """Desaturated textured background ``(size, size, 3)`` float32 in [0, 255]."""
    hue = rng.random()
    c1 = np.array(hsv(hue, rng.uniform(0.0, 0.3), rng.uniform(0.35, 0.85)), dtype=np.float32)
    c2 = np.array(hsv(hue + rng.uniform(-0.2, 0.2), rng.uniform(0.0, 0.3), rng.uniform(0.3, 0.9)), np.float32)
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


# --------------------------------------------------------------------------------------------- people


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _place(rng: np.random.Generator, size: int, pose: Pose, taken: list[np.ndarray], truncate: bool) -> None:
    """Move ``pose`` to a centre where its box overlaps earlier boxes little (maybe across the border)."""
    box = pose.extent()
    wh = box[2:] - box[:2]
    best, best_iou = None, np.inf
    for _ in range(12):
        if truncate:
            lo, hi = np.zeros(2), np.full(2, float(size))  # centre anywhere: up to half the box outside
        else:
            lo, hi = np.minimum(wh / 2, size / 2), np.maximum(size - wh / 2, size / 2)
        center = rng.uniform(lo, hi)
        candidate = np.concatenate([center - wh / 2, center + wh / 2])
        iou = max((_iou(candidate, t) for t in taken), default=0.0)
        if iou < best_iou:
            best, best_iou = center, iou
        if iou < 0.2:
            break
    pose.shift(best - (box[:2] + box[2:]) / 2)
    taken.append(pose.extent())


def _closeup(rng: np.random.Generator, size: int, pose: Pose) -> None:
    """Frame ``pose`` from the head down: the head at the top edge (maybe cut), the legs cut by the bottom."""
    box = pose.extent()
    top = rng.uniform(-0.3, 0.0) * size
    target = np.array([rng.uniform(0.3, 0.7) * size - (box[0] + box[2]) / 2, top - box[1]])
    pose.shift(target)


def _sample_facing(rng: np.random.Generator) -> str:
    return FACINGS[int(rng.choice(len(FACINGS), p=FACING_PROBS))]


def _sample_people(
    rng: np.random.Generator,
    size: int,
    family_probs: Sequence[float],
    n_main: int,
    background_people: bool,
    closeups: bool,
) -> tuple[list[Person], int]:
    """Background people (small, behind) then the annotatable ones, back (smaller) to front, and how
    many of those there are: ``n_main``, or 1 when (with ``closeups``) the image shows one person close."""
    specs: list[tuple[str, float, bool]] = []  # family, height, is_closeup
    if background_people and rng.random() < BACKGROUND_PEOPLE_PROB:
        for _ in range(int(rng.integers(1, 3))):
            specs.append((POSE_FAMILIES[0], rng.uniform(*BACKGROUND_HEIGHT) * size, False))
    closeup = closeups and n_main > 0 and rng.random() < CLOSEUP_PROB
    if closeup:  # one upright person, its family drawn as the upright families' shares say
        n_main, upright = 1, np.array([f in UPRIGHT for f in POSE_FAMILIES])
        probs = np.where(upright, family_probs, 0.0)
        families = [POSE_FAMILIES[int(rng.choice(len(POSE_FAMILIES), p=probs / probs.sum()))]]
    else:
        families = [POSE_FAMILIES[i] for i in rng.choice(len(POSE_FAMILIES), size=n_main, p=family_probs)]
    lo, hi = CLOSEUP_HEIGHT if closeup else HEIGHT_RANGES[max(n_main, 1) - 1]
    heights = sorted(rng.uniform(lo, hi) * size for _ in families)
    specs += [(f, h, closeup) for f, h in zip(families, heights, strict=True)]
    people, taken = [], []
    for family, height, is_closeup in specs:
        pose = sample_pose(family, _sample_facing(rng), rng, height, (0.0, 0.0))
        if is_closeup:
            _closeup(rng, size, pose)
        else:
            _place(rng, size, pose, taken, truncate=rng.random() < TRUNCATION_PROB)
        pose.keypoints = np.round(pose.keypoints)  # markers sit exactly on pixel centres
        people.append(Person(pose, sample_style(rng)))
    return people, n_main


def _crowd(rng: np.random.Generator, size: int) -> list[Person]:
    """A tight group of small people in one band of the image: COCO annotates it as one crowd region."""
    n = int(rng.integers(CROWD_SIZE[0], CROWD_SIZE[1] + 1))
    x0, y0 = rng.uniform(0.0, 0.5) * size, rng.uniform(0.1, 0.6) * size
    width = rng.uniform(0.3, 0.5) * size
    people = []
    for _ in range(n):
        height = rng.uniform(*CROWD_HEIGHT) * size
        center = (x0 + rng.uniform(0, width), y0 + rng.uniform(0, 0.15 * size) + height / 2)
        family = POSE_FAMILIES[int(rng.integers(3))]
        pose = sample_pose(family, _sample_facing(rng), rng, height, center)
        people.append(Person(pose, sample_style(rng)))
    return people


# --------------------------------------------------------------------------------------------- clutter


def _occluders(rng: np.random.Generator, canvases, size: int, people: list[Person]) -> int:
    """Rectangles dropped on random keypoints of the annotatable people, so that they really hide some."""
    if not people or rng.random() >= OCCLUDER_PROB:
        return 0
    n = 1 if rng.random() < 0.8 else 2
    for _ in range(n):
        target = people[int(rng.integers(len(people)))].pose.keypoints[int(rng.integers(NUM_KEYPOINTS))]
        wh = rng.uniform(0.1, 0.3, size=2) * size
        center = target + rng.uniform(-0.5, 0.5, size=2) * wh
        box = [float(v) for v in np.concatenate([center - wh / 2, center + wh / 2])]
        color = hsv(rng.random(), rng.uniform(0.0, 0.25), rng.uniform(0.25, 0.75))
        for draw, mode in canvases:
            draw.rectangle(box, fill=color if mode == "rgb" else CLUTTER_LABEL)
    return n


def _sticks(rng: np.random.Generator, canvases, size: int) -> int:
    """Limb-like bars and balls in person colours: things that are not people (hard negatives)."""
    if rng.random() >= STICKS_PROB:
        return 0
    n = int(rng.integers(1, 4))
    for _ in range(n):
        a = rng.uniform(0, size, 2)
        b = a + rng.uniform(0.1, 0.35) * size * np.array([np.cos(t := rng.uniform(0, 2 * np.pi)), np.sin(t)])
        width = max(2, round(rng.uniform(0.03, 0.08) * size))
        color = hsv(rng.random(), rng.uniform(0.5, 0.95), rng.uniform(0.4, 0.85))
        r = width * 0.7
        for draw, mode in canvases:
            fill = color if mode == "rgb" else CLUTTER_LABEL
            draw.line([tuple(a), tuple(b)], fill=fill, width=width)
            draw.ellipse([b[0] - r, b[1] - r, b[0] + r, b[1] + r], fill=fill)
    return n


# --------------------------------------------------------------------------------------------- scene


def render_scene(
    rng: np.random.Generator,
    image_size: int = 128,
    family_probs: Sequence[float] = POSE_FREQUENCIES,
    n_persons: int | None = None,
    occluders: bool = True,
    flat_background: tuple[int, int, int] | None = None,
    clutter: bool = True,
    frame_rng: np.random.Generator | None = None,
) -> Scene:
    """Render one image.

    Args:
        rng: the image's own generator (the image is a pure function of its state).
        image_size: square side in pixels.
        family_probs: probability of each of :data:`POSE_FAMILIES` for the annotatable people.
        n_persons: force the number of annotatable people, 0 for a person-free image (default: none
            with :data:`PERSON_FREE_PROB`, else drawn from :data:`PERSON_COUNT_PROBS`); forcing it also
            leaves out background people and crowds.
        occluders: allow occluding rectangles.
        flat_background: paint the background this one colour instead of a texture (tests).
        clutter: allow limb-like sticks, background people and crowds.
        frame_rng: render one frame of a burst: the scene ``rng`` describes, its people each moved by a
            small step and sensor noise added, both drawn from this generator (``rng`` draws the same
            scene for every frame).
    """
    size = int(image_size)
    scene_type = SCENE_TYPES[int(rng.integers(len(SCENE_TYPES)))]
    back = background(rng, size, scene_type)
    if flat_background is not None:
        back[:] = np.asarray(flat_background, dtype=np.float32)
        scene_type = "flat"
    forced = n_persons is not None
    if not forced:
        n_persons = 0 if rng.random() < PERSON_FREE_PROB else 1 + int(rng.choice(3, p=PERSON_COUNT_PROBS))
    extras = clutter and not forced and n_persons > 0
    crowd = _crowd(rng, size) if extras and rng.random() < CROWD_PROB else []
    people, n_persons = _sample_people(rng, size, family_probs, n_persons, extras, closeups=not forced)
    main = people[-n_persons:] if n_persons else []
    if frame_rng is not None:
        for person in people:
            person.pose.shift(frame_rng.integers(-FRAME_STEP_PX, FRAME_STEP_PX + 1, size=2).astype(float))
    for attempt in range(MAX_OCCLUDER_TRIES + 1):
        # Occlusion stays moderate: occluders that hide most of a person are drawn elsewhere, and after
        # a few tries the image goes without them.
        with_occluders = occluders and attempt < MAX_OCCLUDER_TRIES
        draw_rng = np.random.default_rng(rng.integers(2**63))
        image, labels, n_occ, n_sticks = _draw(draw_rng, back, crowd, people, main, with_occluders, clutter)
        for p, person in enumerate(people):
            person.keypoints = visibility(person.pose, labels, (p + 1) * LABELS_PER_PERSON)
        if n_occ == 0 or all(_moderately_occluded(p.keypoints) for p in main):
            break
    owner = np.where(labels >= CROWD_LABEL, 0, labels // LABELS_PER_PERSON)
    for p, person in enumerate(people):
        person.mask = owner == p + 1
    crowd_mask = (labels == CROWD_LABEL) if crowd else None
    if frame_rng is not None:
        noise = frame_rng.normal(0.0, FRAME_NOISE_STD, image.shape)
        image = np.clip(image + noise, 0, 255).astype(np.uint8)
    return Scene(image, labels, people, crowd_mask, scene_type, n_occ, n_sticks)


def _draw(rng, back, crowd, people, main, occluders: bool, clutter: bool):
    """Paint clutter, the crowd, the people (back to front) and the occluders; image and label map."""
    size = back.shape[0]
    image = Image.fromarray(back.astype(np.uint8))
    labels = Image.new("L", (size, size), 0)
    canvases = [(ImageDraw.Draw(image), "rgb"), (ImageDraw.Draw(labels), "label")]
    n_sticks = _sticks(rng, canvases, size) if clutter else 0
    for member in crowd:  # one region: every part of every member paints the crowd label
        draw_primitives(canvases, person_primitives(member.pose, member.style), CROWD_LABEL, parts=False)
    for p, person in enumerate(people):
        draw_primitives(canvases, person_primitives(person.pose, person.style), (p + 1) * LABELS_PER_PERSON)
    n_occ = _occluders(rng, canvases, size, main) if occluders else 0
    return np.asarray(image), np.asarray(labels), n_occ, n_sticks


def _moderately_occluded(keypoints: np.ndarray) -> bool:
    """The person shows at least a third of its labelled keypoints."""
    return bool((keypoints[:, 2] == 2).sum() * 3 >= (keypoints[:, 2] > 0).sum())


def visibility(pose: Pose, label_map: np.ndarray, label_base: int) -> np.ndarray:
    """COCO ``x, y, v`` of ``pose``'s (integer) keypoints given the label map they were drawn into."""
    size_y, size_x = label_map.shape
    out = np.zeros((NUM_KEYPOINTS, 3), np.float32)
    for k, (x, y) in enumerate(np.asarray(pose.keypoints)):
        xi, yi = round(x), round(y)
        if not (0 <= xi < size_x and 0 <= yi < size_y) or not pose.face_seen[k]:
            continue  # outside the image, or a face point turned away: unlabelled, stored as 0, 0, 0
        own_marker = label_map[yi, xi] == label_base + 1 + k
        out[k] = (xi, yi, 2.0 if own_marker else 1.0)
    return out
