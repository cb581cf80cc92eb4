"""Training loop for the pose networks: ``fit`` trains on the labelled images of one AL round.

The run is seeded and deterministic on CPU (same config + seed -> bit-identical weights): model init,
shuffling and augmentation draw from generators seeded with ``cfg.seed``. It uses channels_last (NHWC)
tensors when ``train.channels_last`` asks (faster convolutions on CPU and CUDA; other float results
than NCHW, as deterministic) and, on CUDA, bf16 autocast when ``train.amp`` does.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Sampler
from tqdm.auto import tqdm

from al_bench.data.dataset import PoseDataset
from al_bench.data.image_cache import image_cache
from al_bench.data.shared_batches import SharedBatches
from al_bench.data.transforms import normalize_batch
from al_bench.devices import memory_format, resolve_device
from al_bench.pose.loss import openpose_loss
from al_bench.pose.models import PoseNet, build_model
from al_bench.threads import set_cpu_threads

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "constant", "step")


def num_steps(train_cfg: Mapping[str, Any], n_labeled: int, warm: bool) -> int:
    """Optimizer steps for one fit.

    ``train.epochs`` set: ``ceil(epochs * n_labeled / batch_size)``; otherwise ``train.steps``, or
    ``train.warm_start_steps`` for a warm-started round when that is set. Then clipped to
    ``[train.min_steps, train.max_steps]`` so that small labelled sets still train enough.
    """
    if train_cfg["epochs"] is not None:
        steps = math.ceil(float(train_cfg["epochs"]) * n_labeled / int(train_cfg["batch_size"]))
    elif warm and train_cfg["warm_start_steps"] is not None:
        steps = int(train_cfg["warm_start_steps"])
    else:
        steps = int(train_cfg["steps"])
    steps = max(steps, int(train_cfg["min_steps"] or 1))
    if train_cfg["max_steps"] is not None:
        steps = min(steps, int(train_cfg["max_steps"]))
    return steps


def build_optimizer(
    model: nn.Module, train_cfg: Mapping[str, Any], warm: bool = False
) -> torch.optim.Optimizer:
    """AdamW or SGD (momentum, nesterov) with ``train.lr`` (``train.warm_start_lr`` for a warm-started fit,
    when set) and ``train.weight_decay``; no decay on norms/biases."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() <= 1]
    groups = [
        {"params": decay, "weight_decay": float(train_cfg["weight_decay"])},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    name = str(train_cfg["optimizer"]).lower()
    lr = float(
        train_cfg["warm_start_lr"] if warm and train_cfg["warm_start_lr"] is not None else train_cfg["lr"]
    )
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(train_cfg.get("betas", (0.9, 0.999))))
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=float(train_cfg["momentum"]), nesterov=True)
    raise ValueError(f"train.optimizer={name!r}; valid: {list(OPTIMIZERS)}")


def build_scheduler(
    optimizer: torch.optim.Optimizer, train_cfg: Mapping[str, Any], steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``train.warmup_steps``, then ``cosine`` (to ``lr * min_lr_ratio``), ``constant``
    or ``step`` (multiply by ``gamma`` at each fraction of the run in ``milestones``)."""
    kind = str(train_cfg["lr_schedule"])
    if kind not in SCHEDULES:
        raise ValueError(f"train.lr_schedule={kind!r}; valid: {list(SCHEDULES)}")
    warmup = min(int(train_cfg["warmup_steps"]), max(steps - 1, 0))
    min_ratio = float(train_cfg["min_lr_ratio"])
    milestones = [float(m) * steps for m in train_cfg["milestones"]]
    gamma = float(train_cfg["gamma"])

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if kind == "constant":
            return 1.0
        if kind == "step":
            return gamma ** sum(step >= m for m in milestones)
        progress = (step - warmup) / max(steps - warmup, 1)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class EpochBatches(Sampler[list[tuple[int, int]]]):
    """Exactly ``steps`` batches of ``(epoch, index)`` items: each pass over the ``n`` labelled images is
    a new permutation drawn from a generator seeded with ``seed``; the last partial batch of a pass is
    dropped when there is at least one full batch (BatchNorm dislikes a batch of one).

    Carrying the epoch in the index lets one set of data workers (started once per fit) serve every
    pass, while augmentation stays seeded per (seed, epoch, index): the number of workers
    never changes the run.
    """

    def __init__(self, n: int, batch_size: int, steps: int, seed: int) -> None:
        self.n, self.batch_size, self.steps, self.seed = int(n), int(batch_size), int(steps), int(seed)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        generator = torch.Generator().manual_seed(self.seed)
        per_pass = max(self.n // self.batch_size, 1)
        emitted, epoch = 0, 0
        while True:
            order = torch.randperm(self.n, generator=generator).tolist()
            for b in range(per_pass):
                yield [(epoch, i) for i in order[b * self.batch_size : (b + 1) * self.batch_size]]
                emitted += 1
                if emitted == self.steps:
                    return
            epoch += 1


def target_encoding(cfg: Mapping[str, Any]) -> tuple[float, float]:
    """``(sigma, paf_width)`` in input pixels: the model's ``model.sigma`` / ``model.paf_width``, their
    one home (they scale with the model's input size, whatever the data set)."""
    model_cfg = cfg["model"]
    sigma, width = model_cfg.get("sigma"), model_cfg.get("paf_width")
    if sigma is None or width is None:
        raise ValueError(
            f"model {model_cfg.get('name')!r}: no target encoding; set model.sigma and model.paf_width"
        )
    return float(sigma), float(width)


# What train_steps reads of an item; the workers build nothing else into their slots.
TRAINING_FIELDS = ("pixels", "heatmaps", "pafs", "mask")


def training_batches(dataset: Dataset, train_cfg: Mapping[str, Any], seed: int, steps: int) -> SharedBatches:
    """The batches of one fit: ``steps`` seeded batches (:class:`EpochBatches`) built by
    ``train.num_workers`` processes, started once per fit (0: built in this process)."""
    return SharedBatches(
        dataset,
        EpochBatches(len(dataset), int(train_cfg["batch_size"]), steps, seed),
        TRAINING_FIELDS,
        workers=int(train_cfg["num_workers"]),
        worker_init=_single_thread_worker,
    )


def _single_thread_worker(_: int) -> None:
    """Data workers decode and encode in numpy: one thread each (torch and BLAS) leaves the cores to
    training."""
    set_cpu_threads(1)


def model_input(batch: Mapping[str, torch.Tensor], device: torch.device, channels_last: bool) -> torch.Tensor:
    """A batch's normalised ``(B, 3, S, S)`` input on ``device``, from its ``image`` or its uint8
    ``pixels`` (normalised here, on the device: :func:`~al_bench.data.transforms.normalize_batch`)."""
    if "pixels" in batch:
        x = normalize_batch(batch["pixels"].to(device, non_blocking=True))
    else:
        x = batch["image"].to(device, non_blocking=True)
    return x.contiguous(memory_format=memory_format(channels_last))


class WeightAverage:
    """Exponential moving average of a model's float parameters and buffers (BatchNorm statistics) over
    one fit, with TensorFlow's warm-up: step ``n`` uses ``min(decay, (1 + n) / (10 + n))``, so the weights
    the fit started from fade within its first steps."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"train.ema_decay must be in (0, 1) or null, got {decay}")
        self.decay, self.updates = float(decay), 0
        tensors = [*model.parameters(), *model.buffers()]
        self.tensors = [t for t in tensors if t.is_floating_point()]
        self.average = [t.detach().clone() for t in self.tensors]

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        weight = 1.0 - min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, tensor in zip(self.average, self.tensors, strict=True):
            average.lerp_(tensor, weight)

    @torch.no_grad()
    def copy_to_model(self) -> None:
        for average, tensor in zip(self.average, self.tensors, strict=True):
            tensor.copy_(average)


def train_steps(
    model: PoseNet,
    batches: Iterator[dict],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    steps: int,
    train_cfg: Mapping[str, Any],
    device: torch.device,
) -> dict[str, Any]:
    """Run ``steps`` optimizer steps; returns ``steps``, ``images``, ``losses`` (one per step), ``train_time_s``."""
    amp = device.type == "cuda" and str(train_cfg["amp"]) == "bf16"
    channels_last = bool(train_cfg["channels_last"])
    paf_weight = float(train_cfg["paf_weight"])
    clip = train_cfg["grad_clip"]
    log_every = max(int(train_cfg["log_every"]), 1)
    model.train()
    average = WeightAverage(model, float(train_cfg["ema_decay"])) if train_cfg.get("ema_decay") else None
    losses, images = [], 0
    start = time.perf_counter()
    bar = tqdm(range(steps), desc="train", leave=False, disable=not train_cfg["progress"])
    for step in bar:
        batch = next(batches)
        x = model_input(batch, device, channels_last)
        targets = [batch[k].to(device, non_blocking=True) for k in ("heatmaps", "pafs", "mask")]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            outputs = model(x)
        loss = openpose_loss(outputs, *targets, paf_weight=paf_weight)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()} at step {step} (lower train.lr?)")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            nn.utils.clip_grad_norm_(model.parameters(), float(clip))
        optimizer.step()
        scheduler.step()
        if average is not None:
            average.update()
        losses.append(float(loss.detach()))
        images += x.shape[0]
        if step % log_every == 0 or step == steps - 1:
            bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
    if average is not None:
        average.copy_to_model()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return {"steps": steps, "images": images, "losses": losses, "train_time_s": time.perf_counter() - start}


def initial_model(cfg: Mapping[str, Any], init_model: PoseNet | None) -> tuple[PoseNet, bool]:
    """A copy of ``init_model`` when warm-starting (``train.warm_start``), else a fresh seeded model."""
    if init_model is not None and bool(cfg["train"]["warm_start"]):
        return copy.deepcopy(init_model), True
    torch.manual_seed(int(cfg["seed"]))
    return build_model(cfg["model"]), False


def labeled_dataset(cfg: Mapping[str, Any], source: Any, labeled_ids: Sequence[int]) -> Dataset:
    """The augmented training :class:`~al_bench.data.dataset.PoseDataset` of the labelled images."""
    sigma, paf_width = target_encoding(cfg)
    return PoseDataset(
        source,
        [int(i) for i in labeled_ids],
        input_size=int(cfg["model"]["input_size"]),
        stride=int(cfg["model"]["stride"]),
        sigma=sigma,
        paf_width=paf_width,
        augment=cfg["data"]["augment"],  # enabled: false -> plain letterbox
        seed=int(cfg["seed"]),
        image_cache=source_image_cache(cfg, source, int(cfg["model"]["input_size"])),
        normalized=False,  # uint8 pixels to the training step (model_input normalises them)
    )


def source_image_cache(cfg: Mapping[str, Any], source: Any, input_size: int):
    """The decoded-image cache of ``source`` at ``input_size`` under ``data.image_cache`` (None: off)."""
    root = (cfg.get("data") or {}).get("image_cache")
    progress = bool((cfg.get("train") or {}).get("progress", True))
    return image_cache(source, input_size, root, progress) if root else None


def fit(
    cfg: Mapping[str, Any], source: Any, labeled_ids: Sequence[int], init_model: PoseNet | None = None
) -> tuple[PoseNet, dict[str, float]]:
    """Train a pose model on ``labeled_ids`` of ``source``.

    Args:
        cfg: the composed config (uses ``cfg.model``, ``cfg.train``, ``cfg.data.augment``, ``cfg.seed``).
        source: a :class:`~al_bench.data.coco.CocoKeypoints` holding the labelled images.
        labeled_ids: global image ids to train on.
        init_model: previous round's model; copied (never modified) and trained further when
            ``train.warm_start`` is true, otherwise ignored and a fresh model is trained.

    Returns:
        ``(model in eval mode, stats)`` with stats ``train_time_s``, ``steps``, ``images_per_s``,
        ``final_loss`` (mean loss of the last 10 % of steps), ``warm_start`` (0/1).
    """
    if len(labeled_ids) == 0:
        raise ValueError("fit() needs at least one labelled image id")
    train_cfg = cfg["train"]
    device = resolve_device(str(train_cfg["device"]))
    model, warm = initial_model(cfg, init_model)
    model.to(device)
    if bool(train_cfg["channels_last"]):
        model.to(memory_format=torch.channels_last)
    steps = num_steps(train_cfg, len(labeled_ids), warm)
    optimizer = build_optimizer(model, train_cfg, warm)
    scheduler = build_scheduler(optimizer, train_cfg, steps)
    dataset = labeled_dataset(cfg, source, labeled_ids)
    with training_batches(dataset, train_cfg, int(cfg["seed"]), steps) as batches:
        run = train_steps(model, batches, optimizer, scheduler, steps, train_cfg, device)
    tail = run["losses"][-max(1, steps // 10) :]
    stats = {
        "train_time_s": run["train_time_s"],
        "steps": float(steps),
        "images_per_s": run["images"] / max(run["train_time_s"], 1e-9),
        "final_loss": sum(tail) / len(tail),
        "warm_start": float(warm),
    }
    return model.eval(), stats
