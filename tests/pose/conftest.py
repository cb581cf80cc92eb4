"""Shared fixtures of the pose tests: composed real configs and the real COCO sample."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from pycocotools.coco import COCO

REPO = Path(__file__).resolve().parents[2]
CONF_DIR = REPO / "conf"
COCO_SAMPLE = REPO.parent / "shared/fixtures/coco_val2017_sample"

torch.set_num_threads(2)


def _compose(*overrides: str):
    # The infer group is in conf/config.yaml's defaults; append it where an older config lacks it.
    defaults = OmegaConf.load(CONF_DIR / "config.yaml").get("defaults", [])
    has_infer = any(isinstance(d, Mapping) and "infer" in d for d in defaults)
    extra = [] if has_infer else ["+infer=default"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=extra + list(overrides))


@pytest.fixture(scope="session")
def compose_cfg():
    """``compose_cfg(*overrides)``: the repo's composed Hydra config."""
    return _compose


@pytest.fixture(scope="session")
def coco_sample() -> COCO:
    """Ground truth of the four real COCO val2017 images (skipped when the fixture is absent)."""
    ann = COCO_SAMPLE / "person_keypoints_sample.json"
    if not ann.is_file():
        pytest.skip(f"real COCO sample not found at {COCO_SAMPLE}")
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(ann))


@pytest.fixture(scope="session")
def coco_source():
    """The real COCO sample as a :class:`CocoKeypoints` source."""
    from al_bench.data.coco import CocoKeypoints

    ann = COCO_SAMPLE / "person_keypoints_sample.json"
    if not ann.is_file():
        pytest.skip(f"real COCO sample not found at {COCO_SAMPLE}")
    return CocoKeypoints(ann, COCO_SAMPLE)


@pytest.fixture(scope="session")
def synthetic_sources(tmp_path_factory):
    """A small synthetic data set: ``(pool, val)`` CocoKeypoints (12 pool, 12 val images, 128 px)."""
    from al_bench.data.coco import CocoKeypoints
    from al_bench.data.synthetic import generate_synthetic

    paths = generate_synthetic(tmp_path_factory.mktemp("synthetic"), n_pool=12, n_val=12, seed=1)
    return CocoKeypoints(paths.pool_ann, paths.image_dir), CocoKeypoints(paths.val_ann, paths.image_dir)


@pytest.fixture()
def tiny_cfg(compose_cfg):
    """Tiny model at 64 px (4x cheaper than its 128 px default), a few CPU steps, no progress bar."""
    return compose_cfg(
        "model=tiny",
        "model.input_size=64",
        "train.device=cpu",
        "train.batch_size=4",
        "train.steps=6",
        "train.warm_start_steps=3",
        "train.min_steps=1",
        "train.warmup_steps=1",
        "train.progress=false",
        "infer.device=cpu",
    )
