"""Embedders: ResNet50 through the real weights code path, the on-disk cache, pose features, PCA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image
from torchvision.models import resnet50

from al_bench.embed import (
    PoseBackboneEmbedder,
    ResNet50Embedder,
    cache_key,
    load_resnet50,
    pca_project,
    resolve_weights_file,
)

torch.set_num_threads(2)
COCO_SAMPLE = Path(__file__).resolve().parents[3] / "shared/fixtures/coco_val2017_sample"
CONF = Path(__file__).resolve().parents[2] / "conf"


class ImageFolder:
    """The minimal image source an embedder needs: ``image_ids`` and ``image_path(id)``."""

    def __init__(self, directory: Path) -> None:
        self.paths = {int(p.stem): p for p in sorted(directory.glob("*.jpg"))}
        self.image_ids = sorted(self.paths)

    def image_path(self, image_id: int) -> Path:
        return self.paths[image_id]


@pytest.fixture(scope="module")
def source():
    if not COCO_SAMPLE.is_dir():
        pytest.skip(f"real COCO sample not found at {COCO_SAMPLE}")
    return ImageFolder(COCO_SAMPLE)


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory):
    """A randomly initialised ResNet50 state dict in a file (stands in for the ImageNet weights)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet50_random.pth"
    torch.save(resnet50(weights=None).state_dict(), path)
    return path


@pytest.mark.slow  # a ResNet50 forward pass on 4 images: 3 s alone, ~20 s on a busy 2-core CPU
def test_weights_path_embeds_caches_and_hits(source, random_weights, tmp_path):
    embedder = ResNet50Embedder(
        weights_path=str(random_weights), cache_dir=str(tmp_path), batch_size=3, progress=False
    )
    ids = source.image_ids[::-1][:3]
    first = embedder.embed(ids, source=source, data_fingerprint="sample")
    assert first.vectors.shape == (3, 2048) and first.vectors.dtype == np.float32 and not first.cache_hit
    np.testing.assert_allclose(np.linalg.norm(first.vectors, axis=1), 1.0, atol=2e-3)  # float16 cache
    # Same vectors as a direct forward pass with the weights' own preprocessing.
    model = load_resnet50(random_weights)
    with Image.open(source.image_path(ids[0])) as image:
        direct = model(embedder.transform(image.convert("RGB"))[None]).detach().numpy()[0]
    np.testing.assert_allclose(first.vectors[0], direct / np.linalg.norm(direct), atol=2e-3)
    cached = sorted(p.name for p in tmp_path.iterdir())
    assert len(cached) == 2 and all(name.startswith("resnet50_imagenet-") for name in cached)
    second = embedder.embed(ids, source=source, data_fingerprint="sample")
    assert second.cache_hit and second.seconds < first.seconds / 5
    np.testing.assert_array_equal(second.vectors, first.vectors)
    other_data = embedder.embed(ids, source=source, data_fingerprint="other")
    assert not other_data.cache_hit and len(list(tmp_path.iterdir())) == 4
    with pytest.raises(KeyError, match=r"\[123\]"):
        embedder.embed([123], source=source, data_fingerprint="sample")


def test_different_weights_or_preprocessing_change_the_cache_key(random_weights, tmp_path):
    state = torch.load(random_weights, weights_only=True)
    state["fc.bias"] += 1.0
    other = tmp_path / "other.pth"
    torch.save(state, other)
    ids = np.arange(4)
    v2 = ResNet50Embedder(weights_path=str(random_weights), cache=False)
    keys = {
        cache_key(v2.key_parts(random_weights, ids, "d")),
        cache_key(v2.key_parts(other, ids, "d")),
        cache_key(ResNet50Embedder(weights="IMAGENET1K_V1", cache=False).key_parts(random_weights, ids, "d")),
        cache_key(v2.key_parts(random_weights, ids[:3], "d")),
    }
    assert len(keys) == 4
    assert cache_key(v2.key_parts(random_weights, ids, "d")) in keys  # stable


def test_missing_weights_name_the_file_and_the_option(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    expected = tmp_path / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    with pytest.raises(FileNotFoundError, match="embedding.weights_path") as err:
        resolve_weights_file("IMAGENET1K_V2", None)
    assert str(expected) in str(err.value)
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        resolve_weights_file("IMAGENET1K_V2", str(tmp_path / "nope.pth"))
    with pytest.raises(ValueError, match="IMAGENET1K_V1, IMAGENET1K_V2"):
        ResNet50Embedder(weights="IMAGENET22K")
    bad = tmp_path / "bad.pth"
    torch.save({"weight": torch.zeros(2)}, bad)
    with pytest.raises(ValueError, match="not a torchvision ResNet50 state dict"):
        load_resnet50(bad)


def test_pose_backbone_normalises_and_reduces():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(30, 16)).astype(np.float32)
    out = PoseBackboneEmbedder().embed(np.arange(30), features=lambda ids: feats[ids])
    np.testing.assert_allclose(out.vectors, feats / np.linalg.norm(feats, axis=1, keepdims=True), rtol=1e-5)
    assert not out.cache_hit
    reduced = PoseBackboneEmbedder(pca_dim=4).embed(np.arange(30), features=feats)
    assert reduced.vectors.shape == (30, 4)
    with pytest.raises(ValueError, match="features="):
        PoseBackboneEmbedder().embed(np.arange(3))
    with pytest.raises(ValueError, match=r"shape \(3, D\)"):
        PoseBackboneEmbedder().embed(np.arange(3), features=feats)


def test_pca_keeps_distances_of_data_on_a_plane_and_is_deterministic():
    rng = np.random.default_rng(1)
    plane = rng.normal(size=(50, 2)) @ rng.normal(size=(2, 6)) + 3.0
    projected = pca_project(plane, 2, normalize=False)
    d_in = np.linalg.norm(plane[:, None] - plane[None], axis=2)
    d_out = np.linalg.norm(projected[:, None] - projected[None], axis=2)
    np.testing.assert_allclose(d_out, d_in, atol=1e-4)
    np.testing.assert_array_equal(projected, pca_project(plane.copy(), 2, normalize=False))
    with pytest.raises(ValueError, match=r"pca_dim must be in \[1, 6\]"):
        pca_project(plane, 7)


def test_embedding_config_files_instantiate_their_class(tmp_path):
    cfg = OmegaConf.create({"paths": {"cache_dir": str(tmp_path)}})
    cfg.embedding = OmegaConf.load(CONF / "embedding/resnet50_imagenet.yaml")
    resnet = instantiate(cfg.embedding, progress=False)
    assert isinstance(resnet, ResNet50Embedder) and resnet.cache.directory == tmp_path / "embeddings"
    assert resnet.progress is False and resnet.cache_dtype == "float16"
    pose = instantiate(OmegaConf.load(CONF / "embedding/pose_backbone.yaml"))
    assert isinstance(pose, PoseBackboneEmbedder) and pose.pca_dim is None and pose.normalize is True
