"""Resume state of one AL run: what is saved after every round, where, and under which key.

This module owns the run key (a hash of the resolved config without paths, Hydra and tracking
settings, so the same command finds its state wherever Hydra puts its output), the state file
format and the atomic write (temp file + ``os.replace``) that makes a SIGKILL at any moment leave
either the previous round's state or the new one, never a torn file.
"""

from __future__ import annotations

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

from al_bench.data.sources import BUILDERS

STATE_FILE = "state.json"
STATE_VERSION = 1
# THE list of settings that cannot change what a run computes (dotted keys; a key names its whole
# subtree). They are left out of the run key (so changing one resumes the same state and MLflow run)
# and of the condition (so runs differing only in them are one condition). Where things are written
# and logged, thread and worker counts, batch/chunk sizes of pure inference or search, progress bars,
# log intervals, and the annotation-cost model (used only to draw and table results).
NON_RESULT_KEYS = (
    "paths",
    "hydra",
    "tracking",
    "run_name",
    "num_threads",
    "cost",
    "train.progress",
    "train.num_workers",
    "train.log_every",
    "infer.batch_size",
    "infer.num_workers",
    "infer.overlap",
    "infer.jit",
    "embedding.batch_size",
    "embedding.num_workers",
    "embedding.progress",
    "index.chunk_size",
    "index.progress",
    "strategy.chunk_size",
    "strategy.exact.chunk_size",
)
# What a run is (strategy.kind): an AL run, or the full-pool upper reference, which trains once on
# the whole pool and so ignores the selection settings (its condition is shared by every sweep).
RUN_KINDS = ("al", "full_pool")
IGNORED_BY_KIND = {"al": (), "full_pool": ("al", "strategy", "embedding", "index")}


def stable_hash(obj: Any, n_chars: int = 16) -> str:
    """Hex SHA-256 prefix of ``obj`` as canonical JSON (sorted keys)."""
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:n_chars]


def run_kind(cfg: DictConfig) -> str:
    """``strategy.kind`` (default ``al``).

    Raises:
        ValueError: an unknown kind, naming the valid ones.
    """
    kind = OmegaConf.select(cfg, "strategy.kind", default=None) or "al"
    if kind not in RUN_KINDS:
        raise ValueError(f"strategy.kind={kind!r} is not a run kind; valid kinds: {', '.join(RUN_KINDS)}")
    return str(kind)


def is_non_result(key: str, kind: str = "al") -> bool:
    """Whether the dotted ``key`` (or a section above it) cannot change a run of ``kind``'s results."""
    parts = key.split(".")
    prefixes = {".".join(parts[: i + 1]) for i in range(len(parts))}
    return bool(prefixes & {*NON_RESULT_KEYS, *IGNORED_BY_KIND[kind]})


def result_config(cfg: DictConfig, seed_placeholder: bool = False) -> dict:
    """The resolved config minus :data:`NON_RESULT_KEYS` (and the sections its kind ignores), with
    paths shown as ``<paths.key>``.

    Paths are replaced *before* resolving, so a value built from a path (e.g. the synthetic data
    root under ``paths.cache_dir``) does not tie the result to where the output directory is.

    Args:
        seed_placeholder: resolve with ``seed`` = ``"<seed>"`` and leave ``seed`` out, so values
            interpolated from it (``index.seed: ${seed}``) drop out with it (:func:`condition`).
    """
    kind = run_kind(cfg)
    # An untyped copy: the schema would refuse the placeholders (``seed: int``), and the hash is of
    # the values alone.
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    if "paths" in cfg:
        cfg.paths = {key: f"<paths.{key}>" for key in cfg.paths}
    if seed_placeholder and "seed" in cfg:
        cfg.seed = "<seed>"
    tree = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    if seed_placeholder:
        tree.pop("seed", None)
    if kind != "al":
        tree["kind"] = kind
    _drop_builtin_data_builder(tree)
    return _drop_keys(tree, (*NON_RESULT_KEYS, *IGNORED_BY_KIND[kind]))


def _drop_builtin_data_builder(tree: dict) -> None:
    """Leave out ``data._target_`` where it is the built-in builder of ``data.kind``.

    The kind already says which builder that is, so the key adds nothing, and leaving it out keeps
    the run keys of runs made before data sets named their builder. A builder of the user's own
    (any other ``_target_``) stays in the key: it may make other data from the same settings.
    """
    data = tree.get("data")
    if isinstance(data, dict) and data.get("_target_") == BUILDERS.get(data.get("kind")):
        data.pop("_target_", None)


def _drop_keys(tree: dict, keys) -> dict:
    """``tree`` without the dotted ``keys`` (missing ones are ignored); a section left empty by
    the drop goes too, so a section holding only non-result keys equals no section."""
    for key in keys:
        *parents, leaf = key.split(".")
        path, node = [], tree
        for part in parents:
            path.append(node)
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf in node:
            node.pop(leaf)
            for parent, part in zip(reversed(path), reversed(parents)):
                if parent[part]:
                    break
                parent.pop(part)
    return tree


def run_key(cfg: DictConfig) -> str:
    """Key of one AL run: the same command (any output dir, any tracking store) gives the same key."""
    return stable_hash(result_config(cfg))


def condition(cfg: DictConfig) -> str:
    """The condition of a run: :func:`run_key` without the seed (runs of one condition differ in
    nothing but their seed, so their per-seed results may be paired and averaged)."""
    return stable_hash(result_config(cfg, seed_placeholder=True))


def condition_name(cfg: DictConfig, overrides: list[str], max_chars: int = 120) -> str:
    """Readable name of the condition: the strategy plus the task overrides that make it differ.

    ``["strategy=heatmap_annoy", "strategy.selection_ratio=0.2", "seed=1", "train.progress=false"]``
    gives ``heatmap_annoy selection_ratio=0.2``: the seed, the strategy choice, non-result settings,
    the sections the run's kind ignores and the ``pieces`` seam (still in the hash) are left out;
    each key is shown by its last dotted component (the full key where that is ambiguous), sorted
    by key. A name longer than ``max_chars`` is cut and ends in the condition hash instead.
    """
    kind = run_kind(cfg)
    pairs = {}
    for override in overrides:
        if "=" not in override or override.startswith("~"):
            continue
        key, value = override.lstrip("+").split("=", 1)
        key = key.replace("/", ".").lstrip("+")
        if key in ("seed", "strategy", "pieces") or key.startswith("pieces.") or is_non_result(key, kind):
            continue
        pairs[key] = value
    short = [key.rsplit(".", 1)[-1] for key in pairs]
    parts = [str(OmegaConf.select(cfg, "strategy.name", default=kind))]
    for key in sorted(pairs):
        name = key.rsplit(".", 1)[-1]
        parts.append(f"{name if short.count(name) == 1 and name != 'seed' else key}={pairs[key]}")
    text = " ".join(parts)
    if len(text) > max_chars:
        text = f"{text[: max_chars - 9]}~{condition(cfg)[:8]}"
    return text


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
