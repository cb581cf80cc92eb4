"""Checkpoints that no longer fit their network fail with a message naming the file and both configs."""

import pytest
import torch
from torch import nn

from al_bench.pose.checkpoint import load_checkpoint, save_checkpoint
from al_bench.pose.models import (
    PoseNet,
    PredictionStage,
    build_model,
    conv_bn_relu,
    depthwise_separable,
)

# conf/model/lightweight_openpose.yaml before it became Osokin's network (6.89 M parameters).
OLD_LIGHTWEIGHT_CFG = {
    "name": "lightweight_openpose",
    "backbone": "mobilenet",
    "input_size": 368,
    "stride": 8,
    "width_mult": 1.0,
    "cpm_width": 128,
    "sigma": 7.0,
    "paf_width": 8.0,
    "batch_norm": True,
    "initial_stage": {"width": 128, "depth": 3, "kernel": 3, "head_width": 512, "separate_branches": False},
    "refinement_stage": {
        "width": 128,
        "depth": 5,
        "kernel": 7,
        "head_width": 128,
        "separate_branches": False,
    },
    "num_refinement_stages": 1,
}


def _old_lightweight_openpose() -> PoseNet:
    """The old network's layout: all five conv5 blocks dilated, a CPM without residual, BatchNorm in the
    initial stage and a refinement stage of five 7x7 convs."""
    trunk = nn.Sequential(
        conv_bn_relu(3, 32, 3, stride=2),
        depthwise_separable(32, 64),
        depthwise_separable(64, 128, stride=2),
        depthwise_separable(128, 128),
        depthwise_separable(128, 256, stride=2),
        depthwise_separable(256, 256),
        depthwise_separable(256, 512),
        *[depthwise_separable(512, 512, dilation=2) for _ in range(5)],
    )
    cpm = nn.Sequential(
        nn.Conv2d(512, 128, 1),
        nn.ReLU(inplace=True),
        *[depthwise_separable(128, 128) for _ in range(3)],
        conv_bn_relu(128, 128, 3, bn=False),
    )
    stages = [
        PredictionStage(128, 128, 3, 3, 512, separate_branches=False, bn=True),
        PredictionStage(128 + 18 + 38, 128, 5, 7, 128, separate_branches=False, bn=True),
    ]
    return PoseNet(nn.Sequential(trunk, cpm), 128, stages, 8, 368)


def test_old_lightweight_checkpoint_names_the_file_and_both_configs(tmp_path):
    old = _old_lightweight_openpose()
    assert round(sum(p.numel() for p in old.parameters()) / 1e6, 2) == 6.89  # the count
    path = save_checkpoint(tmp_path / "round_2.pt", old, OLD_LIGHTWEIGHT_CFG)
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert str(path) in message
    assert "'kernel': 7" in message  # the stored config ...
    assert (
        "conf/model/lightweight_openpose.yaml" in message and "'kind': 'residual'" in message
    )  # ... and now
    assert "missing" in message and "backbone.1.align.0.weight" in message
    assert "retrain" in message


def test_weights_of_another_shape_are_reported_not_raised_raw(tmp_path, compose_cfg):
    cfg = compose_cfg("model=tiny")
    model = build_model(cfg.model)
    wider = build_model({**cfg.model, "widths": [16, 24, 48]})
    path = save_checkpoint(tmp_path / "wider.pt", wider, cfg.model)  # the weights of another config
    blob = torch.load(path, weights_only=True)
    blob["model_cfg"]["widths"] = [16, 24, 32]
    torch.save(blob, path)
    with pytest.raises(
        ValueError, match=r"wider.pt: .*shape mismatches \(e.g. backbone.2.0.weight \(48, 24, 3, 3\)"
    ):
        load_checkpoint(path)
    save_checkpoint(tmp_path / "ok.pt", model, cfg.model)
    assert load_checkpoint(tmp_path / "ok.pt")[1]["name"] == "tiny"
