"""The round-0 model cache: trained once per (data, model, train config, seed, L0), shared by strategies.

Every strategy under one seed starts from the same L0, so the round-0 model is the same for all of
them. It is cached under ``paths.cache_dir/round0/<key>/`` and a file lock makes parallel jobs
(joblib, SLURM array) train it once: the first takes the lock and trains, the others wait and load.
Its val metrics are the same for all of them too, and are cached beside it per inference config.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from filelock import FileLock

from al_bench.loop.state import atomic_write_bytes, atomic_write_json, stable_hash

MODEL_FILE = "model.pt"
META_FILE = "meta.json"


def round0_key(fingerprint: str, result_cfg: dict, seed: int, initial_ids: Sequence[int]) -> str:
    """Cache key from what determines the round-0 model.

    Args:
        fingerprint: the data sources' fingerprint.
        result_cfg: :func:`al_bench.loop.state.result_config` of the run (its data, model and
            train sections are used).
        seed: the run's seed.
        initial_ids: L0.
    """
    parts = {key: result_cfg.get(key) for key in ("data", "model", "train")}
    return stable_hash(
        {"fingerprint": fingerprint, **parts, "seed": int(seed), "l0": [int(i) for i in initial_ids]}
    )


def cached_round0(
    directory: Path,
    train: Callable[[], tuple[Any, dict]],
    save_model: Callable[[Path, Any], None],
    load_model: Callable[[Path], Any],
) -> tuple[Any, dict, bool]:
    """Load the round-0 model from ``directory``, or train and store it under a file lock.

    Args:
        directory: ``cache_dir/round0/<key>``.
        train: trains the model: ``() -> (model, stats)``; ``stats`` must be JSON-serialisable.
        save_model: ``(path, model)`` writes a checkpoint to ``path``.
        load_model: ``(path) -> model``.

    Returns:
        ``(model, stats, from_cache)``; a cached model comes with the stats of the training that
        made it (so its train time is the real cost of round 0).
    """
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(directory) + ".lock"):
        meta_path = directory / META_FILE
        if meta_path.exists():
            return load_model(directory / MODEL_FILE), json.loads(meta_path.read_text())["stats"], True
        model, stats = train()
        atomic_write_bytes(directory / MODEL_FILE, lambda tmp: save_model(tmp, model))
        # meta.json is written last: its presence means the model file is complete.
        atomic_write_json(meta_path, {"stats": stats})
        return model, stats, False


def cached_round0_metrics(directory: Path, key: dict, evaluate: Callable[[], dict]) -> dict:
    """The round-0 model's val metrics: read from ``directory`` (the model's cache folder), or computed
    by ``evaluate`` and stored there under a file lock. ``key``: what else decides them (the inference
    and decoder settings, the metrics asked for); the model and the data are the folder's own key."""
    path = Path(directory) / f"val_metrics_{stable_hash(key)}.json"
    with FileLock(str(path) + ".lock"):
        if not path.is_file():
            atomic_write_json(path, evaluate())
        return json.loads(path.read_text())
