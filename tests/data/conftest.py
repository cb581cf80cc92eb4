"""Shared data fixtures: the real COCO sample (outside the repo) and one small synthetic set per session."""

from pathlib import Path

import pytest

from al_bench.data.synthetic import SyntheticPaths, generate_synthetic

# ../shared relative to the repo root (this file is tests/data/conftest.py).
COCO_SAMPLE = Path(__file__).resolve().parents[3] / "shared/fixtures/coco_val2017_sample"
SAMPLE_ANN = "person_keypoints_sample.json"


@pytest.fixture(scope="session")
def coco_sample() -> Path:
    """Folder with the 4-image COCO val2017 sample (images and person_keypoints_sample.json)."""
    if not (COCO_SAMPLE / SAMPLE_ANN).exists():
        pytest.skip(f"real COCO sample not found at {COCO_SAMPLE}")
    return COCO_SAMPLE


@pytest.fixture(scope="session")
def synthetic_set(tmp_path_factory) -> SyntheticPaths:
    """150 pool + 40 val synthetic images (about 2 s)."""
    return generate_synthetic(tmp_path_factory.mktemp("synthetic"), n_pool=150, n_val=40, seed=3)
