"""al_bench: active-learning benchmark harness for multi-person human pose estimation."""

from pathlib import Path

__version__ = "0.1.0"

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
"""The repository's Hydra config tree (an editable install); every console script composes from it."""
