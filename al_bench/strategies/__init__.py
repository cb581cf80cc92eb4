"""Selection strategies: ``select(context, budget) -> Selection`` over a narrow :class:`SelectionContext`.

``build_strategy(cfg)`` instantiates ``cfg.strategy`` (its ``_target_``, ``hydra.utils.instantiate``).
A strategy class with ``uses_index = True`` also gets ``index``, a factory of unbuilt
:class:`~al_bench.search.KnnIndex` objects: the strategy config's own nested ``index`` (a
``_partial_: true`` config) when it names one, else the ``index`` group's. This package owns ranking,
tie-breaking, budget and id checks and timing (``base.py``); it never sees pool positions, files,
models or MLflow.
"""

from __future__ import annotations

from typing import Any

from al_bench.strategies.base import TIMING_KEYS, Selection, SelectionContext, Strategy, rank
from al_bench.strategies.coreset import CoresetStrategy
from al_bench.strategies.diversity import DiversityStrategy, HeatmapAnnoy, HeatmapExact, WalkStrategy
from al_bench.strategies.oracle import OracleLoss
from al_bench.strategies.ranking import MPEStrategy, RandomStrategy, UncertaintyRandom, UncertaintyStrategy


def build_strategy(cfg: Any) -> Strategy:
    """Create the strategy of a composed config (``cfg.strategy``, and ``cfg.index`` for a strategy
    that walks an index).

    Raises:
        ValueError: the strategy config has no ``_target_``, or an index that does not fit the
            strategy.
    """
    from hydra.utils import instantiate

    if "_target_" not in cfg["strategy"]:
        # Hydra's compose already refused an unknown strategy=<name>; this is a hand-made config.
        raise ValueError(f"strategy config {dict(cfg['strategy'])} has no _target_ (the class to build)")
    factory = instantiate(cfg["strategy"], _partial_=True, _convert_="all")
    if getattr(factory.func, "uses_index", False) and "index" not in factory.keywords:
        return factory(index=instantiate(cfg["index"], _partial_=True, _convert_="all"))
    return factory()


__all__ = [
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
