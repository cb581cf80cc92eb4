"""Geometry from original images to the square model input: letterbox resize/pad and augmentation.

Owns the affine maps (original pixels -> input pixels), their sampling per (seed, epoch, index), and
applying one map to an image, to keypoints and to masks so that all three stay aligned.

Coordinates are pixel-centred: pixel ``i`` is centred at ``i`` (as in COCO keypoints and in
``targets.cell_centers``). Pillow samples with pixel centres at ``i + 0.5``; :func:`warp_image`
converts between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from al_bench.data.integrity import decoded, open_rgb
from al_bench.data.skeleton import flip_permutation

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
PAD_RGB = tuple(round(255 * m) for m in IMAGENET_MEAN)  # padding normalises to ~0


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation (``data.augment``): random scale, rotation and optional flip."""

    enabled: bool = True
    scale: tuple[float, float] = (0.85, 1.15)
    rotation_deg: float = 15.0
    flip: bool = False

    @classmethod
    def from_cfg(cls, cfg) -> AugmentConfig | None:
        """From a mapping (e.g. ``cfg.data.augment``); None or ``enabled: false`` gives None."""
        if cfg is None or not cfg.get("enabled", True):
            return None
        return cls(
            True, tuple(float(s) for s in cfg.get("scale", (1.0, 1.0))), float(cfg.get("rotation_deg", 0.0)),
            bool(cfg.get("flip", False)),
        )  # fmt: skip


@dataclass(frozen=True)
class InputTransform:
    """An affine map original -> input pixels, plus whether left/right keypoints must be swapped."""

    matrix: np.ndarray  # (3, 3) float64, homogeneous, pixel-centred coordinates
    size: int  # side of the square input
    flipped: bool = False

    def apply_points(self, keypoints: np.ndarray) -> np.ndarray:
        """Map ``(P, 17, 3)`` keypoints; those landing outside the input become ``v = 0`` (0, 0, 0)."""
        kps = np.array(keypoints, dtype=np.float32).reshape(-1, keypoints.shape[-2], 3)
        xy = kps[..., :2] @ self.matrix[:2, :2].T.astype(np.float32) + self.matrix[:2, 2].astype(np.float32)
        kps[..., :2] = xy
        if self.flipped:
            kps = kps[:, flip_permutation()]
        outside = (kps[..., 0] < -0.5) | (kps[..., 1] < -0.5)
        outside |= (kps[..., 0] >= self.size - 0.5) | (kps[..., 1] >= self.size - 0.5)
        kps[(kps[..., 2] <= 0) | outside] = 0.0
        return kps


def letterbox(width: int, height: int, size: int) -> tuple[float, np.ndarray]:
    """Scale and offset that fit a ``width x height`` image, aspect kept, centred in a ``size`` square.

    ``input_xy = original_xy * scale + offset`` in pixel-centred coordinates (the half-pixel terms
    are folded into ``offset``), so ``original_xy = (input_xy - offset) / scale``.
    """
    scale = size / max(width, height)
    pad = (np.array([size - width * scale, size - height * scale]) / 2.0).round()
    return float(scale), (pad + 0.5 * scale - 0.5).astype(np.float32)


def fit_height(width: int, height: int, size: int, stride: int) -> tuple[float, np.ndarray, tuple[int, int]]:
    """OpenPose's test-time resize: the height to ``size``, aspect kept, the width padded on the right to a
    multiple of ``stride``. Returns ``scale``, ``offset`` (as :func:`letterbox`: ``input_xy = original_xy *
    scale + offset``, pixel-centred) and the input's ``(width, height)``."""
    scale = size / height
    out_width = max(stride, -(-round(width * scale) // stride) * stride)
    return float(scale), np.full(2, 0.5 * scale - 0.5, dtype=np.float32), (out_width, size)


def letterbox_matrix(width: int, height: int, size: int) -> np.ndarray:
    """``(3, 3)`` pixel-centred map original -> input of :func:`letterbox`."""
    return scale_matrix(*letterbox(width, height, size))


def scale_matrix(scale: float, offset: np.ndarray) -> np.ndarray:
    """``(3, 3)`` map ``xy -> xy * scale + offset`` (what :func:`letterbox` and :func:`fit_height` return)."""
    return np.array([[scale, 0, offset[0]], [0, scale, offset[1]], [0, 0, 1]], dtype=np.float64)


def sample_transform(
    width: int, height: int, size: int, augment: AugmentConfig | None, rng: np.random.Generator | None
) -> InputTransform:
    """Letterbox, then (when ``augment``) scale and rotate about the input centre and maybe flip."""
    scale, offset = letterbox(width, height, size)
    matrix = scale_matrix(scale, offset)
    if augment is None:
        return InputTransform(matrix, size)
    if rng is None:
        raise ValueError("augmentation needs an rng")
    s = rng.uniform(*augment.scale)
    angle = np.deg2rad(rng.uniform(-augment.rotation_deg, augment.rotation_deg))
    flip = bool(augment.flip and rng.random() < 0.5)
    c = (size - 1) / 2.0
    to_center = np.array([[1, 0, -c], [0, 1, -c], [0, 0, 1]], dtype=np.float64)
    cos, sin = np.cos(angle) * s, np.sin(angle) * s
    rot_scale = np.array([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], dtype=np.float64)
    mirror = np.diag([-1.0 if flip else 1.0, 1.0, 1.0])
    from_center = np.array([[1, 0, c], [0, 1, c], [0, 0, 1]], dtype=np.float64)
    return InputTransform(from_center @ mirror @ rot_scale @ to_center @ matrix, size, flip)


def load_image(path, target_scale: float) -> tuple[Image.Image, np.ndarray]:
    """Open an RGB image, decoding JPEGs at reduced size when the input is much smaller (``draft``).

    Returns:
        The image and the ``(3, 3)`` map from original to loaded pixel coordinates.
    """
    img = open_rgb(path)  # errors name the file (a pool image that broke after the start-up check)
    width, height = img.size
    if img.format == "JPEG" and target_scale < 0.5:
        img.draft("RGB", (max(1, int(width * target_scale)), max(1, int(height * target_scale))))
    img = decoded(img, path)
    sx, sy = img.size[0] / width, img.size[1] / height
    to_loaded = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float64)
    return img, to_loaded


def warp_image(
    img: Image.Image,
    loaded_to_input: np.ndarray,
    size: int | tuple[int, int],
    fill=PAD_RGB,
    resample=Image.BILINEAR,
) -> Image.Image:
    """Warp ``img`` into a ``size x size`` (or ``(width, height)``) input with the pixel-centred map
    ``loaded_to_input``.

    Large downscales are first done by an antialiased resize (bilinear warping alone would alias).
    """
    matrix = loaded_to_input
    zoom = float(np.sqrt(abs(np.linalg.det(matrix[:2, :2]))))
    if zoom < 0.75 and resample != Image.NEAREST:
        new_size = (max(1, round(img.size[0] * zoom)), max(1, round(img.size[1] * zoom)))
        sx, sy = new_size[0] / img.size[0], new_size[1] / img.size[1]
        img = img.resize(new_size, Image.BILINEAR, reducing_gap=2.0)
        pre = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5], [0, 0, 1]], dtype=np.float64)
        matrix = matrix @ np.linalg.inv(pre)
    # Pillow wants the inverse map (output -> source) in its own convention (pixel centres at i + 0.5).
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], dtype=np.float64)
    inverse = shift @ np.linalg.inv(matrix) @ np.linalg.inv(shift)
    out_size = (size, size) if isinstance(size, int) else tuple(size)
    return img.transform(out_size, Image.AFFINE, tuple(inverse[:2].reshape(-1)), resample, fillcolor=fill)


def letterbox_image(path, width: int, height: int, size: int) -> np.ndarray:
    """The plain (un-augmented) ``(size, size, 3)`` uint8 model input of the image file at ``path``."""
    img, to_loaded = load_image(path, letterbox(width, height, size)[0])
    return np.asarray(warp_image(img, letterbox_matrix(width, height, size) @ np.linalg.inv(to_loaded), size))


# normalize() as a lookup table: one gather per pixel instead of float arithmetic on every value.
_NORMALIZE_LUT = ((np.arange(256, dtype=np.float32)[None, :] / 255.0 - IMAGENET_MEAN[:, None])
                  / IMAGENET_STD[:, None]).astype(np.float32)  # (3, 256)  # fmt: skip


def normalize(img: Image.Image | np.ndarray) -> np.ndarray:
    """``(3, H, W)`` float32, ImageNet mean/std normalised, from an RGB image or ``(H, W, 3)`` uint8."""
    arr = np.asarray(img, dtype=np.uint8)
    return np.stack([_NORMALIZE_LUT[c][arr[..., c]] for c in range(3)])


def normalize_batch(pixels: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` float32 (channels_last strides) from ``(B, H, W, 3)`` uint8: :func:`normalize`'s
    values exactly (the same float32 operations as its table), computed on a whole batch in place."""
    out = pixels.float()
    out.div_(255.0).sub_(_TORCH_MEAN.to(out.device)).div_(_TORCH_STD.to(out.device))
    return out.permute(0, 3, 1, 2)


_TORCH_MEAN, _TORCH_STD = torch.from_numpy(IMAGENET_MEAN), torch.from_numpy(IMAGENET_STD)


def normalized_pad() -> np.ndarray:
    """``(3, 1, 1)`` float32 the letterbox padding colour after :func:`normalize` (~0): what inputs are
    padded with (stride alignment, a batch padded to its widest)."""
    return normalize(np.asarray([[PAD_RGB]], dtype=np.uint8))


def denormalize(image: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normalize`: ``(3, H, W)`` float -> ``(H, W, 3)`` uint8."""
    arr = np.asarray(image, dtype=np.float32).transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN
    return np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
