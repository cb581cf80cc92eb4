"""Shapes, stage counts and config errors of the three pose networks."""

import pytest
import torch

from al_bench.pose.models import VGG19_WEIGHTS_FILE, build_model


@pytest.mark.parametrize(
    ("name", "stages", "stride", "side"),
    [("tiny", 2, 4, 128), ("lightweight_openpose", 2, 8, 64), ("openpose_vgg19", 6, 8, 64)],
)
def test_every_stage_predicts_heatmaps_and_pafs(compose_cfg, name, stages, stride, side):
    cfg = compose_cfg(
        f"model={name}", "model.pretrained=false" if name == "openpose_vgg19" else "model.name=" + name
    )
    torch.manual_seed(0)
    model = build_model(cfg.model).eval()
    assert model.stride == stride and model.input_size == cfg.model.input_size
    x = torch.randn(2, 3, side, side)
    x[1] = x[1].abs() + 1.0  # a brighter image: pooled features must differ
    with torch.no_grad():
        outputs = model(x)
        feats = model.features(x)
    assert len(outputs) == stages
    for heatmaps, pafs in outputs:
        assert heatmaps.shape == (2, 18, side // stride, side // stride)
        assert pafs.shape == (2, 38, side // stride, side // stride)
    assert feats.shape == (2, model.feature_dim)
    assert not torch.allclose(feats[0], feats[1])  # depends on the image


def test_vgg19_without_local_weights_names_the_file_and_the_options(compose_cfg, tmp_path):
    cfg = compose_cfg("model=openpose_vgg19", f"model.weights_path={tmp_path / VGG19_WEIGHTS_FILE}")
    with pytest.raises(FileNotFoundError) as err:
        build_model(cfg.model)
    message = str(err.value)
    assert str(tmp_path / VGG19_WEIGHTS_FILE) in message
    assert "model.weights_path=" in message and "model.pretrained=false" in message


@pytest.mark.slow
def test_vgg19_loads_local_imagenet_weights(compose_cfg, tmp_path):
    from torchvision.models import vgg19

    torch.manual_seed(3)
    reference = vgg19(weights=None)
    path = tmp_path / VGG19_WEIGHTS_FILE
    torch.save(reference.state_dict(), path)
    model = build_model(compose_cfg("model=openpose_vgg19", f"model.weights_path={path}").model)
    assert torch.equal(model.backbone[0][0].weight, reference.features[0].weight)  # conv1_1
    assert torch.equal(model.backbone[0][21].weight, reference.features[21].weight)  # conv4_2


def test_unknown_backbone_lists_the_valid_ones(compose_cfg):
    cfg = compose_cfg("model=tiny", "model.backbone=resnet")
    with pytest.raises(ValueError, match=r"model.backbone='resnet'.*\['mobilenet', 'tiny', 'vgg19'\]"):
        build_model(cfg.model)


def test_stride_must_match_the_backbone(compose_cfg):
    with pytest.raises(ValueError, match="model.stride=4 but backbone 'mobilenet' has stride 8"):
        build_model(compose_cfg("model=lightweight_openpose", "model.stride=4").model)


def _n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_lightweight_openpose_is_osokins_published_network(compose_cfg):
    """Osokin 2018 (arXiv:1811.12004): MobileNetV1 with only conv5_1 dilated, the residual CPM, an initial
    stage without BatchNorm and one refinement stage of residual blocks: ~4.1 M parameters."""
    from torch import nn

    from al_bench.pose.models import Cpm, RefinementBlock, ResidualRefinementStage

    torch.manual_seed(0)
    model = build_model(compose_cfg("model=lightweight_openpose").model).eval()
    assert 4.0e6 <= _n_params(model) <= 4.2e6, _n_params(model)
    trunk, cpm = model.backbone
    depthwise = [m for m in trunk.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert [m.dilation[0] for m in depthwise] == [1] * 6 + [2] + [1] * 4  # conv2_1 ... conv5_5
    assert [m.stride[0] for m in depthwise] == [1, 2, 1, 2, 1, 1] + [1] * 5  # stride 8 with conv1
    assert isinstance(cpm, Cpm) and model.feature_dim == 128
    initial, refinement = model.stages
    assert not any(isinstance(m, nn.BatchNorm2d) for m in initial.modules())
    assert isinstance(refinement, ResidualRefinementStage) and len(refinement.trunk) == 5
    block = refinement.trunk[0]
    assert isinstance(block, RefinementBlock)
    assert [m.dilation[0] for m in block.trunk.modules() if isinstance(m, nn.Conv2d)] == [1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in refinement.modules()) == 10
    x = torch.randn(1, 3, 368, 368)
    with torch.no_grad():
        outputs = model(x)
        # The CPM and the refinement blocks are residual: output = conv(a + trunk(a)), a + trunk(a).
        feats = trunk(x)
        a = cpm.align(feats)
        assert torch.allclose(cpm(feats), cpm.conv(a + cpm.trunk(a)))
        z = torch.randn(1, 128 + 18 + 38, 46, 46)
        b = block.initial(z)
        assert torch.allclose(block(z), b + block.trunk(b))
    assert [tuple(t.shape) for pair in outputs for t in pair] == [(1, 18, 46, 46), (1, 38, 46, 46)] * 2


def test_openpose_vgg19_keeps_cmu_size(compose_cfg):
    """CMU's COCO model has 52.31 M parameters with 19 heatmaps; COCO's 18 here drop 63,878 of them (one
    output channel per heatmap head, one input channel of each refinement branch's first 7x7 conv)."""
    model = build_model(compose_cfg("model=openpose_vgg19", "model.pretrained=false").model)
    assert _n_params(model) == 52_247_568
    assert _n_params(model) + 513 + 5 * (129 + 2 * 7 * 7 * 128) == 52_311_446


def test_unknown_stage_kind_lists_the_valid_ones(compose_cfg):
    cfg = compose_cfg("model=tiny", "+model.refinement_stage.kind=dense")
    with pytest.raises(
        ValueError, match=r"model.refinement_stage.kind='dense'; valid: \['openpose', 'residual'\]"
    ):
        build_model(cfg.model)


def user_backbone(cfg):
    """A backbone of the user's own: one stride-4 conv (what ``model.backbone=<dotted path>`` calls)."""
    return torch.nn.Conv2d(3, 8, kernel_size=4, stride=4), 8, 4


def test_a_backbone_of_the_users_own_is_named_by_its_dotted_path(compose_cfg):
    cfg = compose_cfg("model=tiny", f"model.backbone={__name__}.user_backbone")
    model = build_model(cfg.model)
    assert isinstance(model.backbone, torch.nn.Conv2d) and model.stride == 4
    heatmaps, pafs = model(torch.zeros(1, 3, 64, 64))[-1]
    assert heatmaps.shape[-2:] == (16, 16) and pafs.shape[1] == 38
