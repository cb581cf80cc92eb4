"""``oracle_loss``: the positive control. It reads the pool's ground truth, which no real strategy can.

It picks the ``budget`` unlabeled images on which the current model's error is largest
(``evaluate.image_oks_errors``: ``1 - mean OKS`` of the image's persons against the model's
predictions; ties by global id). If labelling those does not beat random selection, nothing a
label-free strategy does can be shown to at this scale. Labels reach it only through the context's
``image_errors`` provider, which the loop wires only for strategies with ``uses_labels = True``.
"""

from __future__ import annotations

from al_bench.strategies.base import Picked, SelectionContext, Strategy, rank


class OracleLoss(Strategy):
    """The ``budget`` pool images with the largest current-model error against ground truth."""

    name = "oracle_loss"
    uses_labels = True

    def _select(self, context: SelectionContext, budget: int) -> Picked:
        errors = context.image_errors()
        order = rank(errors, context.pool_ids)[:budget]
        info = {"scores": errors[order].tolist(), "pool_mean_error": float(errors.mean())}
        return Picked(context.pool_ids[order], info=info)
