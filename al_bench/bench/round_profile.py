"""Where one AL round's time goes, beside the bare model rates measured in the same process.

A round is: fit on the labelled set (data loading + forward/backward), evaluate on val (predict, decode,
COCOeval), select from the pool (pool inference, embedding, index, walk). Each part is timed through
the harness's own code (``pose.train.fit``, ``pose.infer.predict``, ``evaluate``, the configured
strategy) and set against the *bare* model rates measured right after it in the same process: forward
+ backward + optimizer step on a ready batch, and forward on a ready batch. The ratios say how close
the harness runs to the model's own speed; absolute times depend on the machine and its load.

Both sides are timed warm, as a job's rounds run: the bare rate after one warm-up step, the fit after a
short warm-up fit in the same process (autograd's first backward, the data worker's first fork, the
image cache's build on a fresh machine). That one-time cost is reported apart (``fit_first_extra_s``),
not hidden: it is paid once per job process, not once per round.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from al_bench.data.sources import build_sources
from al_bench.devices import memory_format
from al_bench.evaluate import val_metrics
from al_bench.loop.labeled import LabeledSet, RevealedSource
from al_bench.loop.pieces import real_pieces
from al_bench.pose.checkpoint import load_checkpoint
from al_bench.pose.infer import predict
from al_bench.pose.loss import openpose_loss
from al_bench.pose.models import build_model
from al_bench.pose.traced import traced_forward
from al_bench.pose.train import build_optimizer, fit, labeled_dataset, model_input


def _rate(n_images: int, fn: Callable[[], Any]) -> tuple[float, float]:
    """``(seconds, images per second)`` of one call of ``fn`` that processes ``n_images``."""
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    return seconds, n_images / seconds


def bare_train_rate(cfg: Mapping[str, Any], batch: dict, steps: int) -> float:
    """Images/s of forward + backward + optimizer step on one ready batch (no data loading)."""
    torch.manual_seed(0)
    # The bare rates run in the memory format the harness runs the model in.
    channels_last = bool(cfg["train"]["channels_last"])
    model = build_model(cfg["model"]).train().to(memory_format=memory_format(channels_last))
    optimizer = build_optimizer(model, cfg["train"])
    x = model_input(batch, torch.device("cpu"), channels_last)
    targets = [batch[k] for k in ("heatmaps", "pafs", "mask")]

    def step() -> None:
        loss = openpose_loss(model(x), *targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up (allocations, first-call costs)
    return _rate(steps * x.shape[0], lambda: [step() for _ in range(steps)])[1]


@torch.no_grad()
def bare_infer_rate(
    model, batch_size: int, repeats: int, layout=torch.contiguous_format, traced: bool = False
) -> float:
    """Images/s of the model's forward pass on a ready batch (``traced``: as ``infer.jit`` runs it)."""
    model.eval().to(memory_format=layout)
    x = torch.randn(batch_size, 3, model.input_size, model.input_size).contiguous(memory_format=layout)
    forward = traced_forward(model, x) if traced else model
    forward(x)
    forward(x)  # a trace optimises its graph on its first calls
    # The median of three: one short timing on a shared machine can be 30 % off either way.
    timings = [_rate(repeats * batch_size, lambda: [forward(x) for _ in range(repeats)])[1] for _ in range(3)]
    return sorted(timings)[1]


def profile_round(
    cfg,
    n_labeled: int = 200,
    fit_steps: int = 80,
    checkpoint: str | Path | None = None,
    fit_repeats: int = 3,
) -> dict[str, float]:
    """Time each part of one AL round on ``cfg``'s data and model (see the module docstring).

    Args:
        cfg: the composed config (``data``, ``model``, ``train``, ``infer``, ``strategy``, ``seed``).
        n_labeled: size of the labelled set the round trains on (drawn with ``cfg.seed``).
        fit_steps: optimizer steps of the timed fit.
        fit_repeats: timed fits, each followed by a bare run: the ratio is the median of the pairs'
            (one ~10 s timing on a shared machine can be 10-20 % off).
        checkpoint: a trained model (e.g. a round-0 model of the cache) to evaluate and select with
            instead of the profile's own ``fit_steps`` model: decoding costs more on an untrained
            model's noisy maps than on the loop's models (400 steps and more).

    Returns:
        A flat dict of seconds, images/s and ratios to the bare rates (keys in :func:`format_profile`).
    """
    out: dict[str, float] = {}
    start = time.perf_counter()
    sources = build_sources(cfg.data)
    out["data_setup_s"] = time.perf_counter() - start
    pool_ids = np.asarray(sources.pool.image_ids)
    labeled = LabeledSet(pool_ids)
    labeled.add(np.random.default_rng(int(cfg.seed)).choice(pool_ids, n_labeled, replace=False), 0)
    revealed = RevealedSource(sources.pool, labeled)
    dataset = labeled_dataset(cfg, revealed, labeled.ids)
    items = min(len(dataset), 200)
    out["data_item_per_s"] = _rate(items, lambda: [dataset[i] for i in range(items)])[1]

    model = _profile_fit(cfg, revealed, labeled.ids, dataset, fit_steps, fit_repeats, out)

    if checkpoint is not None:
        model = load_checkpoint(Path(checkpoint))[0].eval()
    _profile_val(cfg, model, sources.val, out)
    _profile_selection(cfg, model, sources, labeled, out)
    layout = memory_format(bool(cfg.infer.channels_last))
    repeats = 25  # 800 images, as the pool
    out["bare_infer_img_per_s"] = bare_infer_rate(model, int(cfg.infer.batch_size), repeats, layout)
    # The traced graph (infer.jit) runs at its own rate (equal to the eager one or faster, measured):
    # both yardsticks are shown.
    traced = bare_infer_rate(model, int(cfg.infer.batch_size), repeats, layout, traced=True)
    out["bare_traced_infer_img_per_s"] = traced
    for part in ("pool_infer", "val_eval", "val_predict"):
        out[f"{part}_ratio"] = out[f"{part}_img_per_s"] / out["bare_infer_img_per_s"]
        out[f"{part}_traced_ratio"] = out[f"{part}_img_per_s"] / traced
    out["torch_threads"] = float(torch.get_num_threads())
    return out


def _profile_fit(cfg, source, ids, dataset, steps: int, repeats: int, out: dict):
    """``repeats`` timed fits, each beside a bare run right after it; returns the last fit's model."""
    batch_size = int(cfg.train.batch_size)
    warm_up_steps = 5
    start = time.perf_counter()
    fit(_with_steps(cfg, warm_up_steps), source, ids)
    warm_up_s = time.perf_counter() - start
    batch = torch.utils.data.default_collate([dataset[i] for i in range(batch_size)])
    fit_cfg = _with_steps(cfg, steps)
    fits, bares = [], []
    for _ in range(max(int(repeats), 1)):
        start = time.perf_counter()
        model, _ = fit(fit_cfg, source, ids)
        fits.append(time.perf_counter() - start)
        bares.append(bare_train_rate(cfg, batch, steps))
    ratios = sorted(steps * batch_size / f / b for f, b in zip(fits, bares, strict=True))
    out["fit_s"] = float(np.median(fits))
    out["fit_img_per_s"] = steps * batch_size / out["fit_s"]
    out["fit_first_extra_s"] = max(warm_up_s - warm_up_steps / steps * out["fit_s"], 0.0)
    out["bare_train_img_per_s"] = float(np.median(bares))
    out["fit_ratio"] = float(np.median(ratios))
    out["fit_ratio_min"], out["fit_ratio_max"] = ratios[0], ratios[-1]
    out["fit_repeats"] = float(len(ratios))
    return model


def _with_steps(cfg, steps: int):
    from omegaconf import OmegaConf

    fit_cfg = OmegaConf.to_container(cfg, resolve=True)
    fit_cfg["train"].update(steps=steps, warm_start_steps=steps, min_steps=1, progress=False)
    return OmegaConf.create(fit_cfg)


def _profile_val(cfg, model, val, out: dict) -> None:
    """Val evaluation as a round runs it, split into prediction (forward + decode) and the metrics (one
    COCOeval matching, person-count accuracy, per-family AP: `evaluate.val_metrics`)."""
    ids = list(val.image_ids)
    predict(model, val, ids[: int(cfg.infer.batch_size)], cfg, want=("peaks",))  # warm-up, image cache
    out["val_forward_s"] = _rate(len(ids), lambda: predict(model, val, ids, cfg, want=("peaks",)))[0]
    start = time.perf_counter()
    results = predict(model, val, ids, cfg, want=("results",)).results
    out["val_predict_s"] = time.perf_counter() - start
    out["val_predict_img_per_s"] = len(ids) / out["val_predict_s"]
    out["val_decode_s"] = max(out["val_predict_s"] - out["val_forward_s"], 0.0)
    rare = list(cfg.data.get("rare_families") or ())
    out["val_metrics_s"] = _rate(len(ids), lambda: val_metrics(val, results, ids, rare))[0]
    out["val_eval_s"] = out["val_predict_s"] + out["val_metrics_s"]
    out["val_eval_img_per_s"] = len(ids) / out["val_eval_s"]
    out["n_val"] = float(len(ids))


def _profile_selection(cfg, model, sources, labeled: LabeledSet, out: dict) -> None:
    """One selection by the configured strategy, with its timing parts."""
    pieces = real_pieces()
    unlabeled = labeled.unlabeled_ids()
    pool = RevealedSource(sources.pool, labeled)
    rng = np.random.default_rng(int(cfg.seed))
    context = pieces.make_context(cfg, model, pool, unlabeled, labeled.ids, rng, sources.fingerprint)
    strategy = pieces.build_strategy(cfg)
    budget = min(int(cfg.al.budget), len(unlabeled))
    start = time.perf_counter()
    selection = strategy.select(context, budget)
    out["selection_s"] = time.perf_counter() - start
    for key, value in selection.timings.items():
        out[f"select_{key}"] = float(value)
    out["n_pool_unlabeled"] = float(len(unlabeled))
    pool_s = float(selection.timings.get("uncertainty_s", 0.0))
    out["pool_infer_img_per_s"] = len(unlabeled) / pool_s if pool_s > 0 else float("nan")


ROWS = (
    ("data: PoseDataset items (aug + targets)", "data_item_per_s", None),
    ("train: fit (loader + fwd/bwd + step)", "fit_img_per_s", "fit"),
    ("train: bare fwd/bwd + step, ready batch", "bare_train_img_per_s", None),
    ("val: predict (forward + decode)", "val_predict_img_per_s", "val_predict"),
    ("val: predict + decode + metrics (COCOeval, families)", "val_eval_img_per_s", "val_eval"),
    ("select: pool inference (uncertainty_s)", "pool_infer_img_per_s", "pool_infer"),
    ("bare forward, ready batch", "bare_infer_img_per_s", None),
    ("bare forward, traced (infer.jit)", "bare_traced_infer_img_per_s", None),
)


def format_profile(out: Mapping[str, float]) -> str:
    """A Markdown table: rates, ratios to the bare rates, and the val / selection time split."""
    lines = ["| part | img/s | ratio to bare | ratio to traced bare |", "| --- | --- | --- | --- |"]
    for label, rate, part in ROWS:
        shown = f"{out[part + '_ratio']:.2f}" if part else ""
        traced = f"{out[part + '_traced_ratio']:.2f}" if part and part + "_traced_ratio" in out else ""
        lines.append(f"| {label} | {out[rate]:.1f} | {shown} | {traced} |")
    split = ", ".join(
        f"{k.removeprefix('val_')} {out[k]:.2f} s" for k in ("val_forward_s", "val_decode_s", "val_metrics_s")
    )
    select = ", ".join(
        f"{k.removeprefix('select_')} {v:.2f} s" for k, v in out.items() if k.startswith("select_")
    )
    lines += [
        "",
        f"val ({int(out['n_val'])} images): {split}",
        f"selection over {int(out['n_pool_unlabeled'])} unlabeled: {select}",
        (
            f"fit {out['fit_s']:.1f} s (the process's first fit: +{out['fit_first_extra_s']:.1f} s once); "
            f"fit ratio median of {int(out['fit_repeats'])} fit/bare pairs, range "
            f"{out['fit_ratio_min']:.2f}-{out['fit_ratio_max']:.2f}; "
            f"{platform.machine()}, {int(out['torch_threads'])} torch thread(s)"
        ),
    ]
    return "\n".join(lines)
