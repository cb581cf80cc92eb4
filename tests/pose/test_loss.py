"""The masked L2 loss over all stages."""

import torch

from al_bench.pose.loss import masked_l2, openpose_loss


def test_masked_cells_do_not_count():
    target = torch.zeros(1, 2, 3, 3)
    pred = torch.zeros(1, 2, 3, 3)
    pred[0, :, 0, 0] = 5.0  # wrong, but masked out
    pred[0, 1, 2, 2] = 3.0  # wrong and supervised
    mask = torch.ones(1, 1, 3, 3)
    mask[0, 0, 0, 0] = 0
    assert masked_l2(pred, target, mask).item() == 9.0 / 9


def test_sums_heatmap_and_paf_terms_over_stages():
    heatmaps, pafs, mask = torch.zeros(2, 18, 4, 4), torch.zeros(2, 38, 4, 4), torch.ones(2, 1, 4, 4)
    stage = (torch.ones(2, 18, 4, 4), torch.full((2, 38, 4, 4), 2.0))
    one_stage = openpose_loss([stage], heatmaps, pafs, mask)
    assert one_stage.item() == 18 + 38 * 4  # per cell: 18 * 1^2 + 38 * 2^2
    assert openpose_loss([stage, stage, stage], heatmaps, pafs, mask).item() == 3 * one_stage.item()
    assert openpose_loss([stage], heatmaps, pafs, mask, paf_weight=0.0).item() == 18
