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


def _current_model_cfg(name: Any) -> str:
    """The repository's ``conf/model/<name>.yaml`` as one line (what this code builds under that name)."""
    path = Path(__file__).resolve().parents[2] / "conf" / "model" / f"{name}.yaml"
    if not path.is_file():
        return f"no {path}"
    return f"{path}: {OmegaConf.to_container(OmegaConf.load(path), resolve=False)}"


def _state_dict_mismatch(expected: Mapping[str, torch.Tensor], stored: Mapping[str, Any]) -> str:
    """'' when ``stored`` fits ``expected`` key for key and shape for shape, else a one-line summary."""
    missing = [k for k in expected if k not in stored]
    unexpected = [k for k in stored if k not in expected]
    shapes = [
        f"{k} {tuple(stored[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in stored and tuple(getattr(stored[k], "shape", ())) != tuple(v.shape)
    ]
    parts = [
        f"{len(items)} {what} (e.g. {', '.join(items[:3])})"
        for what, items in (("missing", missing), ("unexpected", unexpected), ("shape mismatches", shapes))
        if items
    ]
    return "; ".join(parts)


def _mismatch(path: Path, model_cfg: dict, problem: str) -> ValueError:
    name = model_cfg.get("name")
    return ValueError(
        f"{path}: its weights do not fit the network that its model config builds now: {problem}. "
        f"Stored model config: {model_cfg}. Current config of model.name={name!r}: {_current_model_cfg(name)}. "
        "The checkpoint was saved by an older version of that network (e.g. lightweight_openpose before it "
        "became Osokin's published model): retrain it with the current config."
    )


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
        ValueError: the file is not an al_bench pose checkpoint, or its weights do not fit the network its
            stored config builds now (e.g. a checkpoint of the pre-Osokin ``lightweight_openpose``); the
            message names the file, the stored config and the current ``conf/model`` config of that name.
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
    try:
        model = build_model({**model_cfg, "pretrained": False})
    except (ValueError, KeyError, TypeError) as err:
        raise _mismatch(
            path, model_cfg, f"the stored config does not build ({type(err).__name__}: {err})"
        ) from err
    problem = _state_dict_mismatch(model.state_dict(), blob["state_dict"])
    if problem:
        raise _mismatch(path, model_cfg, problem)
    model.load_state_dict(blob["state_dict"])
    return model.eval(), model_cfg, dict(blob.get("extra", {}))
