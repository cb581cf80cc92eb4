"""Statistics shared by the end-of-sweep report (``loop.report``) and the figures (``figures``).

One place for the numbers a comparison rests on: the normalised area under a learning curve, curves
put on a common x range, annotation-cost axes, and paired per-seed differences against a reference
condition. Plain numpy / scipy only: this package imports neither the loop, the figures, MLflow nor
torch, so both readers compute exactly the same values.
"""

from al_bench.stats.aulc import aulc_between, common_range, interpolate, normalized_aulc, paired_aulc
from al_bench.stats.axes import AXES, COST_PARAMS, annotation_cost, axis_label
from al_bench.stats.paired import (
    PAIRED_COLUMNS,
    paired_differences,
    reference_candidates,
    reference_for,
    sign_flip_p,
    sign_flip_p_floor,
    t_interval,
    verdict,
)

__all__ = [
    "AXES",
    "COST_PARAMS",
    "PAIRED_COLUMNS",
    "annotation_cost",
    "aulc_between",
    "axis_label",
    "common_range",
    "interpolate",
    "normalized_aulc",
    "paired_aulc",
    "paired_differences",
    "reference_candidates",
    "reference_for",
    "sign_flip_p",
    "sign_flip_p_floor",
    "t_interval",
    "verdict",
]
