"""``resnet50_imagenet`` embedding: torchvision ResNet50, global-average-pooled 2048-d, L2-normalised.

Weights come from torchvision's cache (``torch.hub.get_dir()/checkpoints/<file of the weights' URL>``)
or from ``embedding.weights_path`` (a ResNet50 state dict); both go through the same loader. Nothing
is ever downloaded: the file's existence is checked before torchvision is involved, and a missing file
raises an error naming the expected path and the option to set. Images are read with PIL and
preprocessed exactly as the chosen weights specify (``ResNet50_Weights.<name>.transforms()``).

The embeddings of *all* images of a source are computed once and cached (``embed/cache.py``), keyed by
data fingerprint + image ids + model + weights-file SHA-256 + preprocessing + dtype + PCA; later calls
(other rounds, strategies, seeds) are a memory-mapped read.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.models import ResNet50_Weights, resnet50
from tqdm.auto import tqdm

from al_bench.devices import resolve_device
from al_bench.embed.base import Embedder, EmbeddingResult, Features, ImageSource, check_ids, l2_normalise
from al_bench.embed.cache import EmbeddingCache, cache_key, file_sha256, ids_digest
from al_bench.embed.pca import pca_project

CACHE_FORMAT = 1  # bump when the computation changes in a way the key does not capture


def weights_enum(weights: str) -> ResNet50_Weights:
    """``IMAGENET1K_V1`` / ``IMAGENET1K_V2`` -> the torchvision enum (ValueError lists the valid names)."""
    try:
        return ResNet50_Weights[weights]
    except KeyError:
        valid = ", ".join(w.name for w in ResNet50_Weights)
        raise ValueError(f"unknown embedding.weights {weights!r}; valid: {valid}") from None


def resolve_weights_file(weights: str, weights_path: str | None) -> Path:
    """The state-dict file to load; never downloads.

    Raises:
        FileNotFoundError: the file is absent (the message names the expected path and the option).
    """
    if weights_path:
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"embedding.weights_path={weights_path!r} does not exist")
        return path
    enum = weights_enum(weights)
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(enum.url).name
    if not path.is_file():
        raise FileNotFoundError(
            f"ResNet50 {enum.name} weights not found at {path}. al_bench never downloads at run time: copy "
            f"{Path(enum.url).name} (from {enum.url}) there, or set embedding.weights_path=/path/to/resnet50.pth, "
            "or use embedding=pose_backbone"
        )
    return path


def load_resnet50(weights_file: Path) -> torch.nn.Module:
    """ResNet50 with the state dict of ``weights_file`` and ``fc`` replaced by identity (2048-d output)."""
    model = resnet50(weights=None)
    state = torch.load(weights_file, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{weights_file} is not a torchvision ResNet50 state dict: {err}") from err
    model.fc = torch.nn.Identity()
    return model.eval()


class _ImageFiles(Dataset):
    """PIL images -> preprocessed tensors, one per path."""

    def __init__(self, paths: list[Path], transform: Any) -> None:
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        try:
            with Image.open(self.paths[i]) as image:
                return self.transform(image.convert("RGB"))
        except OSError as err:
            raise OSError(f"cannot read image {self.paths[i]}: {err}") from err


class ResNet50Embedder(Embedder):
    """Frozen ImageNet ResNet50 embeddings with an on-disk cache.

    Args:
        weights: ``IMAGENET1K_V2`` or ``IMAGENET1K_V1`` (also selects the preprocessing).
        weights_path: a local ResNet50 state dict used instead of torchvision's cache file.
        batch_size: images per forward pass.
        num_workers: DataLoader worker processes (image decoding).
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``.
        cache: use the on-disk cache.
        cache_dir: cache directory (``paths.cache_dir/embeddings``).
        cache_dtype: ``float16`` (half the disk) or ``float32``.
        pca_dim: optional PCA output dimension (fit on all images of the source).
        progress: show a progress bar.
    """

    name = "resnet50_imagenet"

    def __init__(
        self,
        weights: str = "IMAGENET1K_V2",
        weights_path: str | None = None,
        batch_size: int = 32,
        num_workers: int = 0,
        device: str = "auto",
        cache: bool = True,
        cache_dir: str | None = None,
        cache_dtype: str = "float16",
        pca_dim: int | None = None,
        progress: bool = True,
        name: str | None = None,
    ) -> None:
        self.enum = weights_enum(weights)
        self.weights_path = weights_path
        self.batch_size, self.num_workers = int(batch_size), int(num_workers)
        self.device = resolve_device(device)
        if cache_dtype not in ("float16", "float32"):
            raise ValueError(f"embedding.cache_dtype must be float16 or float32; got {cache_dtype!r}")
        self.cache = EmbeddingCache(cache_dir) if cache and cache_dir else None
        self.cache_dtype = cache_dtype
        self.pca_dim = pca_dim
        self.progress = progress
        self.transform = self.enum.transforms()

    def key_parts(self, weights_file: Path, all_ids: np.ndarray, data_fingerprint: str) -> dict[str, Any]:
        """Everything that determines the cached vectors (hashed into the cache key)."""
        return {
            "format": CACHE_FORMAT,
            "data": data_fingerprint,
            "ids": ids_digest(all_ids),
            "model": "resnet50/avgpool/l2",
            "weights_sha256": file_sha256(weights_file),
            "preprocessing": repr(self.transform),
            "dtype": self.cache_dtype,
            "pca_dim": self.pca_dim,
        }

    def embed(
        self,
        image_ids: Any,
        source: ImageSource | None = None,
        data_fingerprint: str = "",
        features: Features | None = None,
    ) -> EmbeddingResult:
        """Embeddings of ``image_ids``; computes (and caches) every image of ``source`` on a miss."""
        if source is None:
            raise ValueError("embedding=resnet50_imagenet needs the image source (source=...)")
        start = time.perf_counter()
        ids = check_ids(image_ids)
        all_ids = np.sort(check_ids(source.image_ids))
        weights_file = resolve_weights_file(self.enum.name, self.weights_path)
        key = cache_key(self.key_parts(weights_file, all_ids, data_fingerprint))
        entry = self.cache.load(self.name, key) if self.cache else None
        hit = entry is not None
        if entry is None:
            vectors = self._compute(weights_file, source, all_ids)
            if self.cache:
                self.cache.save(self.name, key, vectors, all_ids, self.cache_dtype)
                entry = self.cache.load(self.name, key)
            else:
                entry = (vectors, all_ids)
        rows = self._rows(entry[1], ids)
        out = np.asarray(entry[0][rows], dtype=np.float32)
        info = {"embedding": self.name, "weights": str(weights_file), "cache_key": key, "dim": out.shape[1]}
        return EmbeddingResult(out, ids, time.perf_counter() - start, cache_hit=hit, info=info)

    @staticmethod
    def _rows(cached_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
        rows = np.searchsorted(cached_ids, ids)
        rows = np.clip(rows, 0, len(cached_ids) - 1)
        missing = ids[cached_ids[rows] != ids]
        if len(missing):
            raise KeyError(f"image ids {missing[:10].tolist()} are not images of the embedded source")
        return rows

    @torch.inference_mode()
    def _compute(self, weights_file: Path, source: ImageSource, all_ids: np.ndarray) -> np.ndarray:
        model = load_resnet50(weights_file).to(self.device)
        paths = [Path(source.image_path(int(i))) for i in all_ids]
        loader = DataLoader(
            _ImageFiles(paths, self.transform), batch_size=self.batch_size, num_workers=self.num_workers
        )
        chunks = []
        for batch in tqdm(loader, desc="resnet50 embeddings", disable=not self.progress, leave=False):
            chunks.append(model(batch.to(self.device)).float().cpu().numpy())
        vectors = l2_normalise(np.concatenate(chunks))
        return pca_project(vectors, self.pca_dim) if self.pca_dim else vectors
