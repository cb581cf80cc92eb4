"""OpenPose training loss: masked L2 on heatmaps and PAFs, summed over all stages (intermediate supervision)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def masked_l2(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Squared error summed over channels, averaged over batch and cells, where ``mask`` is 1.

    Args:
        pred: ``(B, C, h, w)``.
        target: ``(B, C, h, w)``.
        mask: ``(B, 1, h, w)``, broadcast over the channels; 0 marks crowd / unlabelled-person cells,
            which are neither taught as a person nor as background.
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} != target shape {tuple(target.shape)}")
    b, _, h, w = pred.shape
    return ((pred.float() - target) ** 2 * mask).sum() / (b * h * w)


def openpose_loss(
    outputs: Sequence[tuple[torch.Tensor, torch.Tensor]],
    heatmaps: torch.Tensor,
    pafs: torch.Tensor,
    mask: torch.Tensor,
    paf_weight: float = 1.0,
) -> torch.Tensor:
    """Sum over stages of ``masked_l2(heatmaps) + paf_weight * masked_l2(pafs)``."""
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be (B, 1, h, w), got {tuple(mask.shape)}")
    total = heatmaps.new_zeros(())
    for stage_heatmaps, stage_pafs in outputs:
        total = (
            total + masked_l2(stage_heatmaps, heatmaps, mask) + paf_weight * masked_l2(stage_pafs, pafs, mask)
        )
    return total
