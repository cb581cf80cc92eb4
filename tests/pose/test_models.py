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
