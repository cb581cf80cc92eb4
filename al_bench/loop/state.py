"""Resume state of one AL run: what is saved after every round, where, and under which key.

This module owns the run key (a hash of the resolved config without paths, Hydra and tracking
settings, so the same command finds its state wherever Hydra puts its output), the state file
format and the atomic write (temp file + ``os.replace``) that makes a SIGKILL at any moment leave
either the previous round's state or the new one, never a torn file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import random
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

STATE_FILE = "state.json"
STATE_VERSION = 1
# Top-level config keys that do not change what a run computes (threads: so a run started with
# several jobs in parallel resumes with any thread count).
NON_RESULT_KEYS = ("paths", "hydra", "tracking", "run_name", "num_threads")


def stable_hash(obj: Any, n_chars: int = 16) -> str:
    """Hex SHA-256 prefix of ``obj`` as canonical JSON (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:n_chars]


def result_config(cfg: DictConfig) -> dict:
    """The resolved config minus :data:`NON_RESULT_KEYS`, with paths shown as ``<paths.key>``.

    Paths are replaced *before* resolving, so a value built from a path (e.g. the synthetic data
    root under ``paths.cache_dir``) does not tie the result to where the output directory is.
    """
    cfg = copy.deepcopy(cfg)
    if "paths" in cfg:
        OmegaConf.set_struct(cfg, False)
        cfg.paths = {key: f"<paths.{key}>" for key in cfg.paths}
    tree = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    return {k: v for k, v in tree.items() if k not in NON_RESULT_KEYS}


def run_key(cfg: DictConfig) -> str:
    """Key of one AL run: the same command (any output dir, any tracking store) gives the same key."""
    return stable_hash(result_config(cfg))


def atomic_write_bytes(path: Path, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` then move the file to ``path`` atomically (same directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        writer(Path(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    atomic_write_bytes(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=1, sort_keys=True)))


def capture_rng() -> dict:
    """Python, NumPy (global) and torch RNG states as plain JSON."""
    version, internal, gauss = random.getstate()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": _jsonable_numpy_state(np.random.get_state()),
        "torch": torch.get_rng_state().tolist(),
    }
    if torch.cuda.is_available():
        state["torch_cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng(state: dict) -> None:
    """Inverse of :func:`capture_rng`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["torch_cuda"]])


def _jsonable_numpy_state(state: tuple) -> list:
    name, keys, pos, has_gauss, cached = state
    return [name, [int(k) for k in keys], int(pos), int(has_gauss), float(cached)]


@dataclass
class RunState:
    """Everything needed to continue an AL run after the last finished round.

    Attributes:
        run_key: :func:`run_key` of the config that produced it.
        completed_round: last round whose train/evaluate/select finished (-1: none).
        finished: all rounds are done.
        labeled: :meth:`LabeledSet.state_dict`.
        checkpoint: file name (in the state dir) of the model trained in ``completed_round``.
        metrics: one dict per finished round (what was logged at ``step = round``).
        selections: one dict per selection made (``round``, ``ids``, ``timings``, ``quality``).
        rng: :func:`capture_rng` at the end of ``completed_round``.
        mlflow_run_id: the run this AL run logs to.
    """

    run_key: str
    completed_round: int = -1
    finished: bool = False
    labeled: dict = field(default_factory=dict)
    checkpoint: str | None = None
    metrics: list[dict] = field(default_factory=list)
    selections: list[dict] = field(default_factory=list)
    rng: dict = field(default_factory=dict)
    mlflow_run_id: str | None = None
    version: int = STATE_VERSION


def state_dir(root: Path, key: str) -> Path:
    """Directory of one run's state under ``paths.state_dir``."""
    return Path(root) / key


def save_state(directory: Path, state: RunState) -> None:
    """Atomically replace ``directory/state.json``; then drop checkpoints it no longer names.

    The checkpoint named by ``state.checkpoint`` must already be written (atomically): the state
    file is the commit point, so a kill between the two writes resumes from the previous round.
    """
    atomic_write_json(Path(directory) / STATE_FILE, asdict(state))
    for old in Path(directory).glob("model_round*.pt"):
        if old.name != state.checkpoint:
            old.unlink(missing_ok=True)


def load_state(directory: Path, key: str) -> RunState | None:
    """The saved state in ``directory``, or None when there is none.

    Raises:
        ValueError: the state file is unreadable, of another version, or of another run key.
    """
    path = Path(directory) / STATE_FILE
    if not path.exists():
        return None
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: corrupt AL state file ({err}); delete it to restart the run") from err
    if raw.get("version") != STATE_VERSION or raw.get("run_key") != key:
        raise ValueError(
            f"{path}: state of version {raw.get('version')} / run_key {raw.get('run_key')}, "
            f"expected version {STATE_VERSION} / run_key {key}; delete it to restart the run"
        )
    return RunState(**raw)
