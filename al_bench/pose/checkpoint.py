"""Save and load a pose model together with the model config that rebuilds it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from al_bench.pose.models import PoseNet, build_model


def _plain(cfg: Mapping[str, Any]) -> dict:
    return OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)


def save_checkpoint(
    path: str | Path, model: PoseNet, model_cfg: Mapping[str, Any], extra: dict | None = None
) -> Path:
    """Write ``{"model_cfg", "state_dict", "extra"}`` to ``path`` (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"model_cfg": _plain(model_cfg), "state_dict": state, "extra": extra or {}}, path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[PoseNet, dict, dict]:
    """Rebuild the model from the stored config and load its weights.

    Returns:
        ``(model, model_cfg, extra)``; the model is in eval mode. The stored config is used with
        ``pretrained=false`` because the trained weights replace any ImageNet initialisation.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an al_bench pose checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pose checkpoint not found: {path}")
    blob = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(blob, dict) or {"model_cfg", "state_dict"} - blob.keys():
        raise ValueError(
            f"{path} is not an al_bench pose checkpoint (needs keys 'model_cfg' and 'state_dict')"
        )
    model_cfg = dict(blob["model_cfg"])
    model = build_model({**model_cfg, "pretrained": False})
    model.load_state_dict(blob["state_dict"])
    return model.eval(), model_cfg, dict(blob.get("extra", {}))
