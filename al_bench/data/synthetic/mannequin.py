"""A jointed mannequin in 3D, seen from any side: pose families, view, projection and drawing.

Owns what one person looks like. The body is posed in its own 3D frame (``x`` toward the person's
left, ``y`` up, ``z`` the way it faces; units of the standing height), turned by a yaw about the
vertical axis (front, back or profile), projected orthographically onto the image and drawn part by
part, far parts first, so that a person hides its own far limbs. Nothing here is coloured by body side:
left and right can only be told apart by shape — the face or the back of the head, the feet, which
limbs pass behind the torso.

Keypoints are the COCO 17. A body joint hidden by the person's own body (or by anything else) is
``v = 1``; a face point on the far side of the head (nose and eyes of a person seen from the back, the
far eye and ear in profile) is not seen at all and is left unlabelled (``v = 0``), as COCO's
annotators leave face points they cannot see.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from al_bench.data.skeleton import KEYPOINT_NAMES, NUM_KEYPOINTS

POSE_FAMILIES: tuple[str, ...] = ("standing", "walking", "arms_raised", "crouching", "lying", "upside_down")
FACINGS: tuple[str, ...] = ("front", "back", "profile")
FACING_PROBS: tuple[float, ...] = (0.5, 0.25, 0.25)
KP: dict[str, int] = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
FACE_POINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")

# Body proportions in units of the standing height (ankle to top of head = STANDING_EXTENT).
TORSO, NECK, HEAD_R = 0.29, 0.09, 0.075
SHOULDER_HALF, HIP_HALF, TORSO_HALF_DEPTH = 0.12, 0.085, 0.07
UPPER_ARM, FOREARM, THIGH, SHIN, FOOT = 0.16, 0.15, 0.24, 0.24, 0.07
ARM_W, LEG_W, NECK_W, JOINT_R = 0.065, 0.09, 0.06, 0.04
STANDING_EXTENT = TORSO + NECK + HEAD_R + THIGH + SHIN
# Face points on the head (left, up, forward) in head radii, and the least depth component of their
# outward normal at which the viewer still sees them (ears sit on the silhouette when seen en face).
FACE_LAYOUT: dict[str, tuple[tuple[float, float, float], float]] = {
    "nose": ((0.0, -0.2, 1.1), -0.3),
    "left_eye": ((0.42, 0.22, 0.82), -0.05),
    "right_eye": ((-0.42, 0.22, 0.82), -0.05),
    "left_ear": ((1.0, 0.0, -0.12), -0.3),
    "right_ear": ((-1.0, 0.0, -0.12), -0.3),
}


@dataclass(frozen=True)
class PersonStyle:
    """Colours of one mannequin (RGB uint8 triples); nothing differs between its left and right."""

    shirt: tuple[int, int, int]
    trousers: tuple[int, int, int]
    joint: tuple[int, int, int]
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    eye: tuple[int, int, int] = (20, 20, 28)
    nose: tuple[int, int, int] = (190, 50, 40)

    def marker_color(self, k: int) -> tuple[int, int, int]:
        """Colour of the round marker drawn at COCO keypoint ``k``."""
        name = KEYPOINT_NAMES[k]
        if name == "nose":
            return self.nose
        if name.endswith("eye"):
            return self.eye
        if name.endswith("ear"):
            return tuple(round(0.72 * c) for c in self.skin)
        return self.joint


@dataclass
class Pose:
    """A posed and viewed person: 2D keypoints in image pixels and what the drawing needs."""

    family: str
    facing: str
    yaw_deg: float
    keypoints: np.ndarray  # (17, 2) float image pixels (integers once placed)
    depth: np.ndarray  # (17,) toward the viewer, in height units
    face_seen: np.ndarray  # (17,) bool: False for face points on the far side of the head
    points: dict[str, np.ndarray]  # extra 2D points: neck, head, hair, feet
    point_depth: dict[str, float]
    forward_depth: float  # depth component of the way the person faces (+1: toward the viewer)
    height_px: float

    def shift(self, offset: np.ndarray) -> None:
        """Move the person by ``offset`` pixels."""
        self.keypoints = self.keypoints + offset
        self.points = {name: p + offset for name, p in self.points.items()}

    def extent(self) -> np.ndarray:
        """``(4,)`` pixel box ``x0, y0, x1, y1`` around the whole drawn body."""
        pts = np.vstack([self.keypoints, *self.points.values()])
        pad = HEAD_R * self.height_px / STANDING_EXTENT
        return np.concatenate([pts.min(0) - pad, pts.max(0) + pad])


# --------------------------------------------------------------------------------------------- posing


def _limb(abduct_deg: float, flex_deg: float, side: float) -> np.ndarray:
    """Unit limb direction: ``abduct_deg`` out from straight down toward ``side`` (+1 left), then swung
    ``flex_deg`` forward."""
    a, f = np.deg2rad(abduct_deg), np.deg2rad(flex_deg)
    return np.array([side * np.sin(a), -np.cos(a) * np.cos(f), np.cos(a) * np.sin(f)])


def _angles(family: str, rng: np.random.Generator) -> dict[str, float]:
    """Limb angles (abduction ``a*``, flexion ``f*`` per limb and side) and torso lean for ``family``."""
    u = rng.uniform
    a: dict[str, float] = {"lean_side": rng.normal(0.0, 3.0), "lean_forward": rng.normal(0.0, 4.0)}

    def legs_straight(spread: float = 8.0) -> None:
        for s in "LR":
            a[f"a_th{s}"], a[f"f_th{s}"] = u(2, spread), u(-8, 8)
            a[f"a_sh{s}"], a[f"f_sh{s}"] = a[f"a_th{s}"] + u(-4, 2), a[f"f_th{s}"] - u(0, 10)

    def arms(lo: float, hi: float, side: str = "LR") -> None:
        for s in side:
            a[f"a_ua{s}"], a[f"f_ua{s}"] = u(lo, hi), u(-15, 20)
            a[f"a_fa{s}"], a[f"f_fa{s}"] = a[f"a_ua{s}"] + u(-10, 10), a[f"f_ua{s}"] + u(0, 35)

    if family in ("standing", "lying"):
        legs_straight()
        arms(5, 22)
    elif family == "walking":
        lead, back = ("L", "R") if rng.random() < 0.5 else ("R", "L")
        a[f"a_th{lead}"], a[f"f_th{lead}"] = u(2, 6), u(18, 35)
        a[f"a_sh{lead}"], a[f"f_sh{lead}"] = u(2, 6), a[f"f_th{lead}"] - u(5, 30)
        a[f"a_th{back}"], a[f"f_th{back}"] = u(2, 6), u(-28, -12)
        a[f"a_sh{back}"], a[f"f_sh{back}"] = u(2, 6), a[f"f_th{back}"] - u(10, 40)
        # Arms swing against the legs.
        a[f"a_ua{lead}"], a[f"f_ua{lead}"] = u(4, 12), u(-40, -15)
        a[f"a_ua{back}"], a[f"f_ua{back}"] = u(4, 12), u(15, 40)
        for s in "LR":
            a[f"a_fa{s}"], a[f"f_fa{s}"] = a[f"a_ua{s}"], a[f"f_ua{s}"] + u(10, 50)
    elif family in ("arms_raised", "upside_down"):
        legs_straight(20.0 if family == "upside_down" else 10.0)
        arms(115, 165)
        if family == "arms_raised" and rng.random() < 0.25:  # one arm up, one down
            arms(5, 20, side="L" if rng.random() < 0.5 else "R")
    elif family == "crouching":
        a["lean_forward"] = u(15, 40)
        for s in "LR":
            a[f"a_th{s}"], a[f"f_th{s}"] = u(8, 25), u(65, 100)
            a[f"a_sh{s}"], a[f"f_sh{s}"] = a[f"a_th{s}"], a[f"f_th{s}"] - u(110, 145)
        arms(5, 20)
        for s in "LR":
            a[f"f_ua{s}"] = u(25, 70)
            a[f"f_fa{s}"] = a[f"f_ua{s}"] + u(0, 40)
    else:
        raise ValueError(f"unknown pose family {family!r}; valid: {', '.join(POSE_FAMILIES)}")
    return a


def _roll(family: str, rng: np.random.Generator) -> float:
    """In-plane rotation (degrees, clockwise on screen) of the whole view."""
    if family == "lying":
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(75, 105))
    if family == "upside_down":
        return float(180.0 + rng.normal(0.0, 10.0))
    return float(rng.normal(0.0, 4.0))


def _yaw(facing: str, rng: np.random.Generator) -> float:
    """Yaw (degrees) that shows the person from ``facing``: 0 front, 180 back, +-90 profile."""
    base = {"front": 0.0, "back": 180.0, "profile": float(rng.choice([-90.0, 90.0]))}[facing]
    return base + float(rng.uniform(-20, 20))


def _rotation(axis: str, deg: float) -> np.ndarray:
    c, s = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    if axis == "x":  # y toward z: leans forward
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == "y":  # z toward x: yaw
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])  # z: x toward y, leans sideways


def _body(family: str, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """3D keypoints ``(17, 3)``, extra points (neck, head, feet) and the head's forward direction."""
    a = _angles(family, rng)
    torso_rot = _rotation("z", -a["lean_side"]) @ _rotation("x", a["lean_forward"])
    up, left = torso_rot @ np.array([0.0, 1.0, 0.0]), torso_rot @ np.array([1.0, 0.0, 0.0])
    kp = np.zeros((NUM_KEYPOINTS, 3))
    neck = up * TORSO
    forward = np.array([0.0, 0.0, 1.0])
    # pelvis and belly give the torso's facing direction on screen (its box depth, _torso_outline)
    extra: dict[str, np.ndarray] = {"neck": neck, "pelvis": np.zeros(3), "belly": TORSO_HALF_DEPTH * forward}
    for s, sign, name in (("L", 1.0, "left"), ("R", -1.0, "right")):
        shoulder = neck + sign * SHOULDER_HALF * left
        elbow = shoulder + UPPER_ARM * _limb(a[f"a_ua{s}"], a[f"f_ua{s}"], sign)
        hip = np.array([sign * HIP_HALF, 0.0, 0.0])
        knee = hip + THIGH * _limb(a[f"a_th{s}"], a[f"f_th{s}"], sign)
        ankle = knee + SHIN * _limb(a[f"a_sh{s}"], a[f"f_sh{s}"], sign)
        kp[KP[f"{name}_shoulder"]], kp[KP[f"{name}_elbow"]] = shoulder, elbow
        kp[KP[f"{name}_wrist"]] = elbow + FOREARM * _limb(a[f"a_fa{s}"], a[f"f_fa{s}"], sign)
        kp[KP[f"{name}_hip"]], kp[KP[f"{name}_knee"]], kp[KP[f"{name}_ankle"]] = hip, knee, ankle
        extra[f"{name}_foot"] = ankle + FOOT * (0.9 * forward - 0.3 * np.array([0.0, 1.0, 0.0]))
    # The head tilts and turns a little on the neck; the face points sit on its sphere.
    head_rot = _rotation("y", rng.normal(0.0, 12.0)) @ _rotation("z", rng.normal(0.0, 6.0)) @ torso_rot
    head_up, head_left, head_fwd = (head_rot @ e for e in np.eye(3)[[1, 0, 2]])
    head = neck + (NECK + HEAD_R) * head_up
    extra["head"] = head
    extra["hair"] = head + HEAD_R * (0.25 * head_up - 0.35 * head_fwd)
    for name, ((lx, uy, fz), _) in FACE_LAYOUT.items():
        kp[KP[name]] = head + HEAD_R * (lx * head_left + uy * head_up + fz * head_fwd)
    return kp, extra, head_fwd


def sample_pose(
    family: str, facing: str, rng: np.random.Generator, height_px: float, center_xy: Sequence[float]
) -> Pose:
    """Pose a mannequin of ``family``, view it from ``facing``, scale it to ``height_px`` (standing) and
    centre its box at ``center_xy`` (image pixels)."""
    if facing not in FACINGS:
        raise ValueError(f"unknown facing {facing!r}; valid: {', '.join(FACINGS)}")
    kp3, extra3, head_fwd = _body(family, rng)
    yaw = _yaw(facing, rng)
    view = _rotation("y", yaw)
    roll = np.deg2rad(_roll(family, rng))
    screen = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]])
    scale = height_px / STANDING_EXTENT

    def project(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v = np.atleast_2d(p) @ view.T
        return (v[:, :2] * [1.0, -1.0]) @ screen.T * scale, v[:, 2]

    keypoints, depth = project(kp3)
    face_seen = np.ones(NUM_KEYPOINTS, bool)
    head3 = extra3["head"]
    for name, (_, min_depth) in FACE_LAYOUT.items():
        normal = (kp3[KP[name]] - head3) @ view.T
        face_seen[KP[name]] = normal[2] / np.linalg.norm(normal) >= min_depth
    points, point_depth = {}, {}
    for name, p in extra3.items():
        xy, z = project(p)
        points[name], point_depth[name] = xy[0], float(z[0])
    pose = Pose(
        family, facing, yaw, keypoints, depth, face_seen, points, point_depth,
        float((view @ head_fwd)[2]), float(height_px),
    )  # fmt: skip
    box = pose.extent()
    pose.shift(np.asarray(center_xy, float) - (box[:2] + box[2:]) / 2)
    return pose


# --------------------------------------------------------------------------------------------- drawing


def hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    """RGB uint8 triple of an HSV colour (hue wraps, saturation and value are clipped)."""
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return round(r * 255), round(g * 255), round(b * 255)


def sample_style(rng: np.random.Generator) -> PersonStyle:
    """Saturated clothes (backgrounds are desaturated, so people stand out) and a skin tone."""
    hue = rng.random()
    skin_v = rng.uniform(0.55, 0.95)
    return PersonStyle(
        shirt=hsv(hue, rng.uniform(0.6, 0.95), rng.uniform(0.55, 0.85)),
        trousers=hsv(hue + rng.uniform(0.25, 0.75), rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.7)),
        joint=hsv(hue, 0.5, 0.22),
        skin=hsv(rng.uniform(0.05, 0.1), rng.uniform(0.3, 0.55), skin_v),
        hair=hsv(rng.uniform(0.05, 0.12), rng.uniform(0.3, 0.8), rng.uniform(0.08, 0.45)),
    )


Canvases = Sequence[tuple[ImageDraw.ImageDraw, str]]
# One drawing step: (depth toward the viewer, draw(canvas, fill)); fill(color, part) is what to paint.
Fill = Callable[[tuple[int, int, int], int], object]
Primitive = tuple[float, Callable[[ImageDraw.ImageDraw, Fill], None]]


def _disc(center: np.ndarray, radius: float, color, part: int) -> Callable:
    x, y = float(center[0]), float(center[1])

    def draw(canvas: ImageDraw.ImageDraw, fill: Fill) -> None:
        canvas.ellipse([x - radius, y - radius, x + radius, y + radius], fill=fill(color, part))

    return draw


def _bar(a: np.ndarray, b: np.ndarray, width: int, color, inset: float) -> Callable:
    """A limb between two joints, stopping ``inset`` short of each end so it never covers its own joint
    markers (the discs at its ends fill the gap)."""
    d = b - a
    length = float(np.hypot(*d))
    if length > 2 * inset:
        a, b = a + d / length * inset, b - d / length * inset
    line = [tuple(a), tuple(b)]

    def draw(canvas: ImageDraw.ImageDraw, fill: Fill) -> None:
        canvas.line(line, fill=fill(color, 0), width=width)

    return draw


def _polygon(points: np.ndarray, color) -> Callable:
    outline = [tuple(p) for p in _convex_hull(points)]

    def draw(canvas: ImageDraw.ImageDraw, fill: Fill) -> None:
        canvas.polygon(outline, fill=fill(color, 0))

    return draw


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull of 2D points, counter-clockwise (Andrew's monotone chain)."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) < 3:
        return np.asarray(pts)

    def half(seq):
        out: list = []
        for p in seq:
            while len(out) >= 2 and np.cross(np.subtract(out[-1], out[-2]), np.subtract(p, out[-2])) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]

    return np.asarray(half(pts) + half(pts[::-1]))


def _torso_outline(pose: Pose) -> np.ndarray:
    """2D outline of the torso as a box with depth: shoulders and hips, widened front and back."""
    kp = pose.keypoints
    corners = kp[[KP["left_shoulder"], KP["right_shoulder"], KP["left_hip"], KP["right_hip"]]]
    # The box's depth shows when the person is turned: its front and back faces, offset on screen.
    offset = pose.points["belly"] - pose.points["pelvis"]
    return np.vstack([corners + offset, corners - offset])


def person_primitives(pose: Pose, style: PersonStyle) -> list[Primitive]:
    """The drawing steps of one person with their depths; paint them far to near (painter's order).

    Label parts: ``0`` for the body, ``1 + k`` for keypoint ``k``'s marker.
    """
    s = pose.height_px / STANDING_EXTENT
    kp, z, pts, pz = pose.keypoints, pose.depth, pose.points, pose.point_depth
    arm_w, leg_w, neck_w = (max(2, round(w * s)) for w in (ARM_W, LEG_W, NECK_W))
    joint_r, head_r = max(1.0, JOINT_R * s), max(2.0, HEAD_R * s)
    prims: list[Primitive] = []
    for side in ("left", "right"):
        for (i, j), width, color in (
            (("shoulder", "elbow"), arm_w, style.shirt),
            (("elbow", "wrist"), arm_w, style.skin),
            (("hip", "knee"), leg_w, style.trousers),
            (("knee", "ankle"), leg_w, style.trousers),
        ):
            a, b = KP[f"{side}_{i}"], KP[f"{side}_{j}"]
            prims.append(((z[a] + z[b]) / 2, _bar(kp[a], kp[b], width, color, joint_r)))
        ankle = KP[f"{side}_ankle"]
        foot = f"{side}_foot"
        prims.append(((z[ankle] + pz[foot]) / 2, _bar(kp[ankle], pts[foot], leg_w, style.joint, joint_r)))
    # Ties go to the limbs: an arm hanging at the side is drawn over the torso's edge.
    prims.append((float(z[[KP["left_hip"], KP["right_hip"]]].mean()) - 0.03,
                  _polygon(_torso_outline(pose), style.shirt)))  # fmt: skip
    prims.append((pz["neck"] - 0.02, _bar(pts["neck"], pts["head"], neck_w, style.skin, 0.0)))
    head_z = pz["head"]
    prims.append((head_z, _disc(pts["head"], head_r, style.skin, 0)))
    # Hair covers the back of the head: over the head when the face is turned away, under it otherwise.
    hair_z = head_z + (0.01 if pose.forward_depth < 0.3 else -0.01)
    prims.append((hair_z, _disc(pts["hair"], 0.92 * head_r, style.hair, 0)))
    for k in range(NUM_KEYPOINTS):
        name = KEYPOINT_NAMES[k]
        if name in FACE_POINTS:
            if not pose.face_seen[k]:
                continue
            radius = 0.3 * head_r if name.endswith("ear") else max(1.0, 0.17 * head_r)
            prims.append((head_z + 0.02, _disc(kp[k], radius, style.marker_color(k), 1 + k)))
        else:
            prims.append((z[k] + 0.02, _disc(kp[k], joint_r, style.marker_color(k), 1 + k)))
    return prims


def draw_primitives(canvases: Canvases, prims: list[Primitive], label_base: int, parts: bool = True) -> None:
    """Paint ``prims`` far to near on every ``(draw, mode)`` canvas: ``mode == "rgb"`` paints colours, any
    other mode label values, ``label_base + part`` (or ``label_base`` alone when not ``parts``)."""
    fills = {
        mode: (lambda color, part: color)
        if mode == "rgb"
        else (lambda color, part: label_base + part * parts)
        for _, mode in canvases
    }
    for _, draw in sorted(prims, key=lambda p: p[0]):
        for canvas, mode in canvases:
            draw(canvas, fills[mode])
