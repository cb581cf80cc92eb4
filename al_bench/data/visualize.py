"""Pictures for looking at data: keypoints/skeletons drawn on images and contact sheets (PNG).

Owns drawing only; it reads sources through the :class:`~al_bench.data.coco.CocoKeypoints` interface
and encoded targets as arrays, and writes nothing but the PNG it is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from al_bench.data.skeleton import KEYPOINT_NAMES, LIMBS, NUM_KEYPOINTS

# Person's left in green-ish, right in orange-ish, centre (face, torso cross-links) in blue-ish.
_LEFT, _RIGHT, _CENTER = (60, 220, 90), (250, 140, 30), (80, 160, 255)
LABEL_HEIGHT = 12


def _side(k: int) -> tuple[int, int, int]:
    name = KEYPOINT_NAMES[k]
    return _LEFT if name.startswith("left") else _RIGHT if name.startswith("right") else _CENTER


def draw_keypoints(
    image: Image.Image, keypoints: np.ndarray, scale: float = 1.0, radius: float = 2.0
) -> Image.Image:
    """Draw skeletons on a copy of ``image``.

    Args:
        image: RGB image.
        keypoints: ``(P, 17, 3)`` ``x, y, v`` in the image's pixels before ``scale``.
        scale: multiply coordinates by this (when ``image`` was resized for display).
        radius: keypoint dot radius in display pixels.

    Visible keypoints (v=2) are filled dots, occluded ones (v=1) hollow; limbs join labelled endpoints.
    """
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    for person in np.asarray(keypoints, dtype=np.float32).reshape(-1, NUM_KEYPOINTS, 3):
        xy = person[:, :2] * scale
        for a, b in LIMBS:
            if person[a, 2] > 0 and person[b, 2] > 0:
                color = _side(a) if _side(a) == _side(b) else _CENTER
                draw.line([tuple(xy[a]), tuple(xy[b])], fill=color, width=1)
        for k in range(NUM_KEYPOINTS):
            if person[k, 2] <= 0:
                continue
            x, y = xy[k]
            box = [x - radius, y - radius, x + radius, y + radius]
            if person[k, 2] >= 2:
                draw.ellipse(box, fill=_side(k), outline=(0, 0, 0))
            else:
                draw.ellipse(box, outline=_side(k), width=1)
    return out


def contact_sheet(
    tiles: Sequence[Image.Image], ncols: int = 8, labels: Sequence[str] | None = None, background=(24, 24, 24)
) -> Image.Image:
    """Grid of equally sized tiles (the first tile's size), optional caption above each."""
    if not tiles:
        raise ValueError("contact_sheet needs at least one tile")
    tw, th = tiles[0].size
    label_h = LABEL_HEIGHT if labels is not None else 0
    ncols = max(1, min(ncols, len(tiles)))
    nrows = -(-len(tiles) // ncols)
    sheet = Image.new("RGB", (ncols * tw, nrows * (th + label_h)), background)
    draw = ImageDraw.Draw(sheet)
    for i, tile in enumerate(tiles):
        x, y = (i % ncols) * tw, (i // ncols) * (th + label_h)
        sheet.paste(tile.convert("RGB").resize((tw, th)), (x, y + label_h))
        if labels is not None:
            draw.text((x + 2, y), str(labels[i])[: max(1, tw // 6)], fill=(230, 230, 230))
    return sheet


def letterbox_tile(image_path: str | Path, tile: int) -> tuple[Image.Image, float]:
    """The image scaled to fit a ``tile`` x ``tile`` black square (top-left), and the scale used."""
    img = Image.open(image_path).convert("RGB")
    scale = tile / max(img.size)
    shown = Image.new("RGB", (tile, tile), (0, 0, 0))
    shown.paste(img.resize((max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale)))), (0, 0))
    return shown, scale


def keypoint_sheet(
    source, image_ids: Sequence[int], path: str | Path, tile: int = 192, ncols: int = 8
) -> Path:
    """Write a PNG contact sheet of ``image_ids`` with their annotated keypoints drawn; return its path."""
    tiles, labels = [], []
    for image_id in image_ids:
        shown, scale = letterbox_tile(source.image_path(image_id), tile)
        kps = source.keypoints(image_id)
        # Resizing maps pixel centre x to (x + 0.5) * scale - 0.5.
        kps[..., :2] = (kps[..., :2] + 0.5) * scale - 0.5
        tiles.append(draw_keypoints(shown, kps, radius=max(1.5, tile / 96)))
        labels.append(f"{image_id}")
    return _save(contact_sheet(tiles, ncols, labels), path)


def _colorize(
    values: np.ndarray, tile: int, color=(255, 60, 40), base: Image.Image | None = None
) -> Image.Image:
    """Upsampled ``(h, w)`` map in [0, 1] blended over a dimmed ``base`` (or black)."""
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    heat = np.asarray(
        Image.fromarray((v * 255).astype(np.uint8)).resize((tile, tile), Image.BILINEAR), np.float32
    )
    under = (
        np.asarray(base.convert("RGB").resize((tile, tile)), np.float32) * 0.35
        if base is not None
        else np.zeros((tile, tile, 3), np.float32)
    )
    alpha = heat[..., None] / 255.0
    out = under * (1 - alpha) + np.array(color, np.float32) * alpha
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def _paf_tile(fx: np.ndarray, fy: np.ndarray, tile: int, base: Image.Image | None) -> Image.Image:
    """PAF as colour: hue = direction, brightness = magnitude."""
    import colorsys

    mag = np.clip(np.hypot(fx, fy), 0, 1)
    hue = (np.arctan2(fy, fx) / (2 * np.pi)) % 1.0
    rgb = np.array([colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in hue.reshape(-1)], np.float32).reshape(
        *mag.shape, 3
    )
    small = Image.fromarray((rgb * mag[..., None] * 255).astype(np.uint8)).resize((tile, tile), Image.NEAREST)
    under = (
        np.asarray(base.convert("RGB").resize((tile, tile)), np.float32) * 0.35 if base is not None else 0.0
    )
    alpha = np.asarray(Image.fromarray((mag * 255).astype(np.uint8)).resize((tile, tile), Image.NEAREST))[
        ..., None
    ]
    out = under * (1 - alpha / 255.0) + np.asarray(small, np.float32)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def target_sheet(
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    path: str | Path,
    image: Image.Image | None = None,
    mask: np.ndarray | None = None,
    tile: int = 96,
    ncols: int = 8,
) -> Path:
    """Write a PNG of encoded targets: the input image, the loss mask, 18 heatmaps and 19 PAFs.

    Tiles are ``tile`` pixels square with a caption strip above; the sheet is ``ncols`` tiles wide, so
    its size is ``(ncols * tile, ceil(n_tiles / ncols) * (tile + 12))``.
    """
    from al_bench.data.skeleton import COCO_SKELETON_1BASED

    heatmaps, pafs = np.asarray(heatmaps, np.float32), np.asarray(pafs, np.float32)
    tiles, labels = [], []
    if image is not None:
        tiles.append(image.convert("RGB").resize((tile, tile)))
        labels.append("input")
    if mask is not None:
        tiles.append(
            _colorize(
                1.0 - np.asarray(mask, np.float32).reshape(heatmaps.shape[-2:]), tile, (90, 90, 255), image
            )
        )
        labels.append("ignored")
    names = [*KEYPOINT_NAMES, "background"]
    for k in range(heatmaps.shape[0]):
        tiles.append(_colorize(heatmaps[k], tile, base=image))
        labels.append(names[k] if k < len(names) else f"hm{k}")
    for limb in range(pafs.shape[0] // 2):
        tiles.append(_paf_tile(pafs[2 * limb], pafs[2 * limb + 1], tile, image))
        a, b = COCO_SKELETON_1BASED[limb] if limb < len(COCO_SKELETON_1BASED) else (0, 0)
        labels.append(f"paf {a}-{b}")
    return _save(contact_sheet(tiles, ncols, labels), path)


def _save(sheet: Image.Image, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
