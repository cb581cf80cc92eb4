"""Picks with hand-made predicted persons (no model) and the files written from them."""

from pathlib import Path

import pytest
from annotate_support import person

from al_bench.annotate import Pick, write_annotation_files


@pytest.fixture
def picks() -> list[Pick]:
    """Three picks: two persons, one partial person, none."""
    return [
        Pick(
            17,
            "a/000017.jpg",
            640,
            480,
            [
                person({0: (100.25, 50.5, 0.9), 5: (80.0, 120.0, 0.8), 6: (120.125, 121.0, 0.7)}, 0.81),
                person({k: (300.0 + 7.3 * k, 100.0 + 11.1 * k, 0.5) for k in range(17)}, 0.55),
                person({}, 0.1),  # nothing predicted: left out
            ],
            score=0.42,
        ),
        Pick(23, "b/000023.png", 333, 251, [person({9: (10.0, 20.0, 0.6), 15: (200.5, 240.75, 0.3)}, 0.4)]),
        Pick(31, "c/000031.jpg", 200, 100, []),
    ]


@pytest.fixture
def written(tmp_path, picks) -> dict[str, Path]:
    return write_annotation_files(
        picks, tmp_path / "out", image_url="/data/local-files/?d=", model_version="m1"
    )
