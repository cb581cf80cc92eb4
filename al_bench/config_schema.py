"""Schemas of ``conf/``: the type and the set of allowed keys of every setting al-bench reads.

The YAML files keep every value; each names its schema first in its defaults list
(``- /schema/train@_here_: train``), so Hydra merges the file into the dataclass below and a
wrong type (``al.rounds=four``) or an unknown key (``train.stepz=3``) fails at compose time,
naming the key, before any output directory or training exists. The schemas are stored in the
ConfigStore under ``schema/<group>/<option>`` (``conf/config.yaml`` itself extends
``base_config``) by :func:`register_configs`, which every entry point calls before composing
(``al_bench.cli.main`` on import; ``tests/conftest.py``; the ``experiments/`` scripts).

Rules that keep existing run keys (a hash of the resolved config, ``loop/state.py``) unchanged:

- Fields carry no defaults (``MISSING``): the YAML file is the one owner of each value, and a
  schema can add no key that a file does not set. A nested section is an empty schema
  (``default_factory``), not ``MISSING``: Hydra's merge of a YAML section into a ``MISSING``
  dataclass field fails (an ``AssertionError`` inside OmegaConf).
- Real-valued settings are :data:`Number` (``int | float``): a float field would turn a YAML
  ``rotation_deg: 15`` into ``15.0`` and so change the hash; the union keeps the value as written
  and still refuses a string. List items are ``float`` (every list in ``conf/`` is of floats):
  iterating a list of ``int | float`` items yields OmegaConf's ``UnionNode`` objects, not numbers.
- Groups whose options differ in keys (``data``, ``index``, ``strategy``) get one schema per
  option, derived from a shared base; groups left open (``model``, ``embedding``, ``pieces``)
  are typed ``Any`` in :class:`Config`, so a user's own option (``hydra.searchpath``) needs none.
- ``strategy``: a small base (:class:`StrategyConfig`: ``name``) and one schema per strategy
  file, each adding that strategy's keys; a user's strategy file without a schema stays open.
- ``tracking`` is typed only through :class:`Config` (al-bench's primary config), not in its
  files: ``conf/search_bench.yaml`` adds its own ``tracking.enabled`` switch to the same group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

# Real-valued settings: an int stays an int (a float field would make YAML `15` into `15.0`).
Number = int | float


# --- al-bench's primary config (conf/config.yaml) -------------------------------------------------


@dataclass
class AlConfig:
    initial: Number = MISSING  # images labeled at round 0: an int, or a fraction of the pool
    budget: Number = MISSING  # images per round: an int, or a fraction of the pool
    rounds: int = MISSING


@dataclass
class CostConfig:
    per_image_s: Number = MISSING
    per_person_s: Number = MISSING
    per_keypoint_s: Number = MISSING


@dataclass
class PathsConfig:
    output_dir: str = MISSING
    cache_dir: str = MISSING
    state_dir: str = MISSING
    min_free_mb: Number = MISSING


@dataclass
class TrackingConfig:
    uri: str = MISSING
    experiment_name: str = MISSING
    artifact_location: str | None = MISSING
    check_timeout_s: Number = MISSING


@dataclass
class Config:
    """``conf/config.yaml``; each group's own schema (or ``Any``) types its section."""

    seed: int = MISSING
    run_name: str | None = MISSING
    num_threads: int = MISSING
    al: AlConfig = field(default_factory=AlConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    pieces: Any = MISSING
    paths: PathsConfig = field(default_factory=PathsConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    data: Any = MISSING
    model: Any = MISSING
    train: Any = MISSING
    infer: Any = MISSING
    strategy: Any = MISSING
    embedding: Any = MISSING
    index: Any = MISSING


# --- train, infer ----------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    name: str = MISSING
    device: str = MISSING
    optimizer: str = MISSING  # adamw | sgd
    lr: Number = MISSING
    weight_decay: Number = MISSING
    momentum: Number = MISSING
    batch_size: int = MISSING
    steps: int = MISSING
    warm_start_steps: int | None = MISSING
    warm_start_lr: Number | None = MISSING
    epochs: Number | None = MISSING
    min_steps: int = MISSING
    max_steps: int | None = MISSING
    warm_start: bool = MISSING
    lr_schedule: str = MISSING  # cosine | constant | step
    warmup_steps: int = MISSING
    min_lr_ratio: Number = MISSING
    milestones: list[float] = MISSING
    gamma: Number = MISSING
    paf_weight: Number = MISSING
    grad_clip: Number | None = MISSING
    ema_decay: Number | None = None  # the fit returns an average of its weights (null: the last weights)
    amp: str = MISSING  # none | bf16
    channels_last: bool = MISSING
    num_workers: int = MISSING
    log_every: int = MISSING
    progress: bool = MISSING


@dataclass
class DecodeConfig:
    """``infer.decode``: the fields of ``pose.decode.DecodeParams`` (kept apart: no torch import here)."""

    peak_threshold: Number = MISSING
    nms_kernel: int = MISSING
    max_candidates: int = MISSING
    subpixel: bool = MISSING
    paf_samples: int = MISSING
    paf_threshold: Number = MISSING
    min_paf_fraction: Number = MISSING
    distance_prior: Number = MISSING
    min_keypoints: int = MISSING
    min_mean_score: Number = MISSING
    max_persons: int = MISSING
    join_reach: Number = MISSING
    join_shared: bool = MISSING
    keep_parts: Number = MISSING


@dataclass
class InferConfig:
    device: str = MISSING
    batch_size: int = MISSING
    num_workers: int = MISSING
    max_peaks: int = MISSING
    flip: bool = MISSING
    scales: list[float] = MISSING
    resize: str = MISSING  # long_side (letterbox square) | height (OpenPose's test protocol)
    channels_last: bool = MISSING
    overlap: bool = True  # helper threads read and decode while the model runs (the same results)
    jit: bool = True  # CPU: the forward pass as one TorchScript graph, without the GIL (the same results)
    decode: DecodeConfig = field(default_factory=DecodeConfig)


# --- data: a shared base and one schema per data set ----------------------------------------------


@dataclass
class AugmentConfig:
    enabled: bool = MISSING
    scale: list[float] = MISSING
    rotation_deg: Number = MISSING
    flip: bool = MISSING


@dataclass
class DataConfig:
    """The keys every data set has (``data/sources.py: build_sources`` and the data path read them)."""

    _target_: str = MISSING  # the builder: (data_cfg) -> data.sources.DataFiles
    name: str = MISSING
    kind: str = MISSING  # synthetic | coco
    root: str = MISSING
    pool_ann: str = MISSING
    val_ann: str = MISSING
    max_val_images: int | None = MISSING
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    on_bad_annotation: str = MISSING  # fail | skip
    val_require_keypoints: bool = MISSING
    image_check: str = MISSING  # decode | open | none
    image_check_cache: str | None = MISSING
    image_cache: str | None = MISSING
    max_unreadable_fraction: Number = MISSING


@dataclass
class SyntheticDataConfig(DataConfig):
    n_pool: int = MISSING
    n_val: int = MISSING
    image_size: int = MISSING
    seed: int = MISSING
    val_distribution: str = MISSING  # pool | balanced
    families: str = MISSING  # upright | all (data/synthetic/scene.py FAMILY_MIXES)
    burst_share: Number = MISSING  # share of the pool that is frames of a few bursts (writer.burst_plan)
    n_bursts: int = MISSING
    images_subdir: str = MISSING
    rare_families: list[str] = MISSING


@dataclass
class CocoDataConfig(DataConfig):
    pool_images: str = MISSING
    val_images: str = MISSING


# --- index: a shared base and one schema per backend ----------------------------------------------


@dataclass
class IndexConfig:
    name: str = MISSING
    _target_: str = MISSING
    metric: str = MISSING  # angular | euclidean | dot
    progress: bool = MISSING


@dataclass
class AnnoyIndexConfig(IndexConfig):
    n_trees: int = MISSING
    search_k: int = MISSING
    seed: int = MISSING
    n_jobs: int = MISSING
    on_disk_path: str | None = MISSING


@dataclass
class ExactIndexConfig(IndexConfig):
    chunk_size: int = MISSING
    device: str = MISSING


# --- strategy: a base with the one key every strategy has, one schema per strategy file -----------


@dataclass
class StrategyConfig:
    name: str = MISSING


@dataclass
class TargetStrategyConfig(StrategyConfig):
    """A strategy built by ``hydra.utils.instantiate`` (every one but ``full_pool``)."""

    _target_: str = MISSING


@dataclass
class UncertaintySettings:
    mode: str = MISSING  # mean_max | min | mean_topk | peak_count
    topk: int = MISSING
    th_hm: Number = MISSING
    th_kp: int = MISSING


@dataclass
class ExactSettings:
    chunk_size: int = MISSING
    device: str = MISSING


@dataclass
class WalkStrategyConfig(TargetStrategyConfig):
    """The neighbourhood-suppression walks (``strategies/walk.py``) and their quality measures."""

    selection_ratio: Number | None = MISSING
    exact: ExactSettings = field(default_factory=ExactSettings)
    quality: bool = MISSING
    quality_sample: int = MISSING
    quality_k: int = MISSING
    quality_seed: int = MISSING


@dataclass
class FullPoolConfig(StrategyConfig):
    kind: str = MISSING


@dataclass
class UncertaintyConfig(TargetStrategyConfig):
    uncertainty: UncertaintySettings = field(default_factory=UncertaintySettings)


@dataclass
class DiversityConfig(WalkStrategyConfig):
    order: str = MISSING  # random | id


@dataclass
class HeatmapAnnoyConfig(WalkStrategyConfig):
    uncertainty: UncertaintySettings = field(default_factory=UncertaintySettings)


@dataclass
class UncertaintyRandomConfig(TargetStrategyConfig):
    selection_ratio: Number = MISSING
    uncertainty: UncertaintySettings = field(default_factory=UncertaintySettings)


@dataclass
class MPEConfig(TargetStrategyConfig):
    peak_threshold: Number = MISSING
    relative_threshold: Number = MISSING


@dataclass
class CoresetConfig(TargetStrategyConfig):
    metric: str = MISSING  # euclidean | angular
    chunk_size: int = MISSING
    device: str = MISSING


# (group, option) -> schema; a YAML file names its entry as ``- /schema/<group>@_here_: <option>``.
SCHEMAS: dict[tuple[str, str], type] = {
    ("train", "train"): TrainConfig,
    ("infer", "infer"): InferConfig,
    ("data", "synthetic"): SyntheticDataConfig,
    ("data", "coco"): CocoDataConfig,
    ("index", "annoy"): AnnoyIndexConfig,
    ("index", "exact"): ExactIndexConfig,
    ("strategy", "random"): TargetStrategyConfig,
    ("strategy", "oracle_loss"): TargetStrategyConfig,
    ("strategy", "full_pool"): FullPoolConfig,
    ("strategy", "uncertainty"): UncertaintyConfig,
    ("strategy", "diversity"): DiversityConfig,
    ("strategy", "heatmap_annoy"): HeatmapAnnoyConfig,
    ("strategy", "uncertainty_random"): UncertaintyRandomConfig,
    ("strategy", "mpe"): MPEConfig,
    ("strategy", "coreset"): CoresetConfig,
}


def register_configs() -> None:
    """Store every schema in Hydra's ConfigStore (idempotent: storing again replaces the entry)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="base_config", node=Config)
    for (group, option), schema in SCHEMAS.items():
        store.store(group=f"schema/{group}", name=option, node=schema)
