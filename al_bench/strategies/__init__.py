"""Selection strategies: ``select(context, budget) -> Selection`` over a narrow :class:`SelectionContext`.

``build_strategy(cfg)`` creates the configured strategy from ``cfg.strategy`` (``_target_`` or
``name``), handing the walk strategies their index config: ``heatmap_annoy`` and ``diversity`` get
``cfg.index``; ``heatmap_exact`` always gets the exact backend with ``cfg.index``'s metric.
"""

from __future__ import annotations

from typing import Any

from al_bench.strategies.base import TIMING_KEYS, Selection, SelectionContext, Strategy, rank
from al_bench.strategies.coreset import CoresetStrategy
from al_bench.strategies.diversity import DiversityStrategy, HeatmapAnnoy, HeatmapExact, WalkStrategy
from al_bench.strategies.oracle import OracleLoss
from al_bench.strategies.ranking import MPEStrategy, RandomStrategy, UncertaintyRandom, UncertaintyStrategy

STRATEGIES: dict[str, type[Strategy]] = {
    "random": RandomStrategy,
    "uncertainty": UncertaintyStrategy,
    "mpe": MPEStrategy,
    "diversity": DiversityStrategy,
    "heatmap_annoy": HeatmapAnnoy,
    "heatmap_exact": HeatmapExact,
    "coreset": CoresetStrategy,
    "uncertainty_random": UncertaintyRandom,
    "oracle_loss": OracleLoss,  # positive control: reads ground truth (uses_labels)
}


def _container(cfg: Any) -> dict[str, Any]:
    if cfg is None:
        return {}
    if isinstance(cfg, dict):
        return dict(cfg)
    from omegaconf import OmegaConf

    return dict(OmegaConf.to_container(cfg, resolve=True))


def build_strategy(cfg: Any) -> Strategy:
    """Create the strategy of a composed config (uses ``cfg.strategy``, ``cfg.index``, ``cfg.embedding``).

    Raises:
        ValueError: unknown strategy name (the message lists the valid ones) or an index that does not
            fit the strategy.
    """
    params = _container(cfg["strategy"])
    index = _container(cfg.get("index"))
    embedding = _container(cfg.get("embedding"))
    target = params.pop("_target_", None)
    if target:
        from hydra.utils import get_class

        cls = get_class(target)
    elif params.get("name") in STRATEGIES:
        cls = STRATEGIES[params["name"]]
    else:
        raise ValueError(
            f"unknown strategy {params.get('name')!r}; valid strategies: {', '.join(STRATEGIES)}"
        )
    return cls.from_config(params, index, embedding)


__all__ = [
    "STRATEGIES",
    "TIMING_KEYS",
    "CoresetStrategy",
    "DiversityStrategy",
    "HeatmapAnnoy",
    "HeatmapExact",
    "MPEStrategy",
    "OracleLoss",
    "RandomStrategy",
    "Selection",
    "SelectionContext",
    "Strategy",
    "UncertaintyRandom",
    "UncertaintyStrategy",
    "WalkStrategy",
    "build_strategy",
    "rank",
]
