"""Batched inference: an oracle network that outputs the encoded ground truth must score AP >= 0.9
through the whole predict path (letterbox, decoding, mapping back to original pixels)."""

import numpy as np
import pytest
import torch
from torch import nn

from al_bench.data.dataset import PoseDataset
from al_bench.evaluate.coco_eval import evaluate_keypoints
from al_bench.pose.decode import MAX_LOG_GAIN
from al_bench.pose.infer import predict
from al_bench.pose.models import build_model
from al_bench.pose.train import target_encoding


class OracleNet(nn.Module):
    """Stands in for a perfect :class:`PoseNet`: its maps are the targets of the images, in order."""

    def __init__(self, source, image_ids, input_size, stride, sigma, paf_width):
        super().__init__()
        self.stride, self.input_size, self.feature_dim = stride, input_size, 3
        ds = PoseDataset(source, image_ids, input_size, stride, sigma, paf_width, augment=None)
        self.maps = [(ds[i]["heatmaps"], ds[i]["pafs"]) for i in range(len(ds))]
        self.backbone = nn.Identity()  # features = mean colour of the image
        self.calls = 0

    def run_stages(self, feats):
        batch = self.maps[self.calls : self.calls + feats.shape[0]]
        self.calls += feats.shape[0]
        return [(torch.stack([h for h, _ in batch]), torch.stack([p for _, p in batch]))]


def _oracle_ap(cfg, source):
    ids = source.image_ids.tolist()
    sigma, paf_width = target_encoding(cfg)
    oracle = OracleNet(source, ids, cfg.model.input_size, cfg.model.stride, sigma, paf_width)
    preds = predict(oracle, source, ids, cfg, want=("results", "peaks"))
    assert {r["image_id"] for r in preds.results} <= set(ids)
    maxima = np.stack([h[:17].amax(dim=(1, 2)).clamp_min(0).numpy() for h, _ in oracle.maps])
    # peaks[..., 0] is each keypoint's maximum, refined to the Gaussian's height: 1 where a person has it.
    refined = preds.peaks[:, :, 0]
    assert np.all(refined >= maxima - 1e-6) and np.all(refined <= np.exp(2 * MAX_LOG_GAIN) * maxima + 1e-6)
    np.testing.assert_allclose(refined[maxima > 0.5], 1.0, atol=0.02)
    return evaluate_keypoints(source.coco, preds.results, ids), preds


def test_oracle_maps_score_high_on_real_coco_images(coco_source, compose_cfg):
    cfg = compose_cfg("model=lightweight_openpose", "infer.device=cpu", "infer.batch_size=3")
    metrics, preds = _oracle_ap(cfg, coco_source)
    assert metrics["ap"] >= 0.9, metrics
    assert preds.peaks.shape == (4, 17, 8) and preds.features is None


def test_oracle_maps_score_high_on_synthetic_val(synthetic_sources, compose_cfg):
    _, val = synthetic_sources
    cfg = compose_cfg("model=tiny", "infer.device=cpu")
    metrics, _ = _oracle_ap(cfg, val)
    assert metrics["ap"] >= 0.9, metrics


def test_predict_outputs_align_with_the_requested_ids(coco_source, compose_cfg):
    cfg = compose_cfg("model=tiny", "model.input_size=64", "infer.device=cpu", "infer.batch_size=3")
    torch.manual_seed(0)
    model = build_model(cfg.model)
    ids = coco_source.image_ids.tolist()[::-1]
    preds = predict(model, coco_source, ids, cfg)
    assert preds.image_ids.tolist() == ids
    assert preds.peaks.shape == (4, 17, cfg.infer.max_peaks) and preds.peaks.dtype == np.float32
    assert np.all(np.diff(preds.peaks, axis=-1) <= 0)  # sorted descending per keypoint
    assert preds.features.shape == (4, model.feature_dim)
    # Features do not depend on batch composition or order.
    single = predict(model, coco_source, ids[:1], cfg, want=("features",))
    np.testing.assert_allclose(single.features[0], preds.features[0], rtol=1e-4, atol=1e-5)
    assert single.peaks is None and single.results == []


def test_flip_and_multiscale_test_keep_shapes(coco_source, compose_cfg):
    cfg = compose_cfg(
        "model=tiny", "model.input_size=64", "infer.device=cpu", "infer.flip=true", "infer.scales=[0.5,1.0]"
    )
    torch.manual_seed(0)
    preds = predict(build_model(cfg.model), coco_source, coco_source.image_ids.tolist(), cfg, want=("peaks",))
    assert preds.peaks.shape == (4, 17, 8)


def test_unknown_want_is_rejected(coco_source, compose_cfg):
    cfg = compose_cfg("model=tiny")
    with pytest.raises(
        ValueError, match=r"want=.*\['maps'\]; valid: \['results', 'peaks', 'features', 'heatmaps'\]"
    ):
        predict(build_model(cfg.model), coco_source, [785], cfg, want=("maps",))


def test_heatmaps_are_the_maps_the_peaks_come_from(coco_source, compose_cfg):
    cfg = compose_cfg("model=tiny", "model.input_size=64", "infer.device=cpu", "infer.batch_size=3")
    torch.manual_seed(0)
    model = build_model(cfg.model)
    ids = coco_source.image_ids.tolist()
    preds = predict(model, coco_source, ids, cfg, want=("peaks", "heatmaps"))
    assert preds.heatmaps.shape == (4, 17, 64 // model.stride, 64 // model.stride) and preds.features is None
    with torch.no_grad():  # the plain forward pass, last stage: what the poster figure used to run itself
        x = torch.stack([torch.as_tensor(image) for image in _inputs(coco_source, ids, model)])
        np.testing.assert_allclose(
            preds.heatmaps, model.eval()(x)[-1][0][:, :17].numpy(), rtol=1e-4, atol=1e-5
        )
    maxima = preds.heatmaps.max(axis=(2, 3)).clip(0)  # peaks[..., 0]: the maximum, refined (capped) upwards
    assert np.all(preds.peaks[:, :, 0] >= maxima - 1e-6)
    assert np.all(preds.peaks[:, :, 0] <= np.exp(2 * MAX_LOG_GAIN) * maxima + 1e-6)


def _inputs(source, ids, model):
    from al_bench.data.dataset import PoseDataset

    dataset = PoseDataset(source, ids, model.input_size, model.stride, 1.0, 1.0, with_targets=False)
    return [dataset[i]["image"] for i in range(len(ids))]
