"""The pose engine's learning benchmark: train on synthetic data from scratch, evaluate OKS AP on val.

Answers "does the model + training + decoding chain learn, and how fast?": one fit on every pool
image, one prediction pass on val, COCOeval; wall times and training throughput are reported.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from al_bench.data.sources import build_sources
from al_bench.evaluate.coco_eval import evaluate_keypoints
from al_bench.pose.checkpoint import save_checkpoint
from al_bench.pose.infer import predict
from al_bench.pose.train import fit


def learning_benchmark(cfg: Mapping[str, Any], checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Fit ``cfg.model`` on the whole pool of ``cfg.data`` and evaluate it on val.

    Args:
        cfg: the composed config (``data``, ``model``, ``train``, ``infer``, ``seed``).
        checkpoint: where to save the trained model (optional).

    Returns:
        A flat dict: COCO metrics (``ap``, ``ap50``, ...), ``n_train``, ``n_val``, ``steps``,
        ``train_time_s``, ``images_per_s``, ``final_loss``, ``data_time_s``, ``predict_time_s``,
        ``wall_time_s`` (data + training + prediction + evaluation), ``n_results``, ``machine``.
    """
    start = time.perf_counter()
    sources = build_sources(cfg["data"])
    data_time = time.perf_counter() - start
    pool_ids = sources.pool.image_ids.tolist()
    model, stats = fit(cfg, sources.pool, pool_ids)
    if checkpoint is not None:
        save_checkpoint(
            checkpoint, model, cfg["model"], extra={"benchmark": "learning", "seed": int(cfg["seed"])}
        )
    val_ids = sources.val.image_ids.tolist()
    t = time.perf_counter()
    preds = predict(model, sources.val, val_ids, cfg, want=("results",))
    predict_time = time.perf_counter() - t
    metrics = evaluate_keypoints(sources.val.coco, preds.results, val_ids)
    return {
        **metrics,
        "n_train": len(pool_ids),
        "n_val": len(val_ids),
        "n_results": len(preds.results),
        **{k: float(v) for k, v in stats.items()},
        "data_time_s": data_time,
        "predict_time_s": predict_time,
        "wall_time_s": time.perf_counter() - start,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"{'CUDA ' + torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU'}",
    }
