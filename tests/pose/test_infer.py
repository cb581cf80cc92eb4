"""Batched inference: an oracle network that outputs the encoded ground truth must score AP >= 0.9
through the whole predict path (letterbox, decoding, mapping back to original pixels)."""

import numpy as np
import pytest
import torch
from torch import nn

from al_bench.data.dataset import HeightResizedImages, PoseDataset, collate_widths
from al_bench.data.targets import encode_targets
from al_bench.data.transforms import fit_height
from al_bench.evaluate.coco_eval import evaluate_keypoints
from al_bench.pose.ceiling import Encoding, decoder_ceiling
from al_bench.pose.decode import MAX_LOG_GAIN, DecodeParams
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
    # Where two people's Gaussians of a keypoint lie a cell or two apart the map is their maximum, not
    # one Gaussian, and the log-parabola overshoots by a few % (bounded above): most peaks read 1.
    near_one = np.abs(refined[maxima > 0.5] - 1.0) <= 0.02
    assert near_one.mean() >= 0.98 and np.all(refined[maxima > 0.5] <= 1.05), refined[maxima > 0.5]
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


class HeightOracleNet(nn.Module):
    """A perfect network under ``infer.resize: height``: the encoded ground truth of each image, fitted to
    its height (:func:`fit_height`), on the batch's padded grid."""

    def __init__(self, source, image_ids, input_size, stride, sigma, paf_width):
        super().__init__()
        self.source, self.ids = source, list(image_ids)
        self.stride, self.input_size, self.feature_dim = stride, input_size, 3
        self.sigma, self.paf_width = sigma, paf_width
        self.backbone = nn.Identity()
        self.calls = 0

    def run_stages(self, feats):
        out_hw = (feats.shape[-2] // self.stride, feats.shape[-1] // self.stride)
        heat, paf = [], []
        for image_id in self.ids[self.calls : self.calls + feats.shape[0]]:
            scale, offset, _ = fit_height(*self.source.image_size(image_id), self.input_size, self.stride)
            kps = self.source.keypoints(image_id).copy()
            kps[..., :2] = np.where(kps[..., 2:] > 0, kps[..., :2] * scale + offset, 0.0)
            h, p = encode_targets(kps, out_hw, self.stride, self.sigma, self.paf_width)
            heat.append(torch.from_numpy(h))
            paf.append(torch.from_numpy(p))
        self.calls += feats.shape[0]
        return [(torch.stack(heat), torch.stack(paf))]


def test_height_resize_maps_results_back_to_original_pixels_as_the_ceiling_does(coco_source, compose_cfg):
    cfg = compose_cfg(
        "model=lightweight_openpose", "infer.device=cpu", "infer.batch_size=3", "infer.resize=height"
    )
    ids = coco_source.image_ids.tolist()
    sigma, paf_width = target_encoding(cfg)
    oracle = HeightOracleNet(coco_source, ids, cfg.model.input_size, cfg.model.stride, sigma, paf_width)
    preds = predict(oracle, coco_source, ids, cfg, want=("results",))
    metrics = evaluate_keypoints(coco_source.coco, preds.results, ids)
    encoding = Encoding(cfg.model.input_size, cfg.model.stride, sigma, paf_width, resize="height")
    ceiling = decoder_ceiling(
        coco_source, encoding, DecodeParams.from_cfg(cfg.infer.decode), breakdowns=False
    )
    assert metrics["ap"] >= 0.95, metrics
    assert metrics["ap"] == pytest.approx(ceiling.metrics["ap"], abs=1e-9)  # batches padded to the widest


def test_height_resized_items_keep_the_aspect_and_pad_to_the_stride(coco_source):
    images = HeightResizedImages(coco_source, coco_source.image_ids.tolist(), 368, 8)
    items = [images[i] for i in range(len(images))]
    for item in items:
        width, height = coco_source.image_size(item["image_id"])
        assert item["image"].shape[-2] == 368 and item["image"].shape[-1] % 8 == 0
        assert abs(item["image"].shape[-1] - width * 368 / height) < 8 + 1
        assert item["scale"] == pytest.approx(368 / height)
    batch = collate_widths(items)
    widest = max(item["image"].shape[-1] for item in items)
    assert batch["image"].shape == (len(items), 3, 368, widest)
    narrow = min(range(len(items)), key=lambda i: items[i]["image"].shape[-1])
    w = items[narrow]["image"].shape[-1]
    torch.testing.assert_close(batch["image"][narrow, :, :, :w], items[narrow]["image"])
    if w < widest:  # the padding is the letterbox colour, which normalises to ~0
        assert batch["image"][narrow, :, :, w:].abs().max() < 0.02


def test_unknown_resize_is_rejected(coco_source, compose_cfg):
    cfg = compose_cfg("model=tiny", "infer.device=cpu", "infer.resize=width")
    model = build_model(cfg.model)
    with pytest.raises(ValueError, match="infer.resize"):
        predict(model, coco_source, coco_source.image_ids.tolist()[:1], cfg, want=("peaks",))


def test_height_resized_batches_leave_the_widest_image_as_it_is_alone(coco_source, compose_cfg):
    ids = coco_source.image_ids.tolist()  # four images of different widths at height 368
    widths = [HeightResizedImages(coco_source, ids, 368, 8)[i]["input_width"] for i in range(len(ids))]
    widest = int(np.argmax(widths))
    torch.manual_seed(0)
    outputs = []
    for batch_size in (1, 4):
        overrides = ("model=lightweight_openpose", "infer.device=cpu", "infer.resize=height")
        cfg = compose_cfg(*overrides, f"infer.batch_size={batch_size}")
        if not outputs:
            model = build_model(cfg.model).eval()
        outputs.append(predict(model, coco_source, ids, cfg, want=("peaks", "features")))
    alone, batched = outputs
    np.testing.assert_allclose(batched.features[widest], alone.features[widest], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(batched.peaks[widest], alone.peaks[widest], rtol=1e-4, atol=1e-5)
    # A narrower image is padded to the widest: its features average its own cells only (close to alone;
    # not equal, since cells within the receptive field of its right edge see the batch's padding).
    narrow = int(np.argmin(widths))
    np.testing.assert_allclose(batched.features[narrow], alone.features[narrow], atol=0.2)


def test_overlapped_prediction_equals_the_serial_one(synthetic_sources, compose_cfg):
    """infer.overlap reads and decodes on helper threads: the same outputs, to the bit, in the same order."""
    _, val = synthetic_sources
    ids = val.image_ids.tolist()[::-1]
    outputs = {}
    for overlap in (True, False):
        cfg = compose_cfg("model=tiny", "infer.device=cpu", "infer.batch_size=5", f"infer.overlap={overlap}")
        sigma, paf_width = target_encoding(cfg)
        oracle = OracleNet(val, ids, cfg.model.input_size, cfg.model.stride, sigma, paf_width)
        outputs[overlap] = predict(oracle, val, ids, cfg)
    fast, slow = outputs[True], outputs[False]
    assert len(slow.results) >= len(ids) // 2 and fast.results == slow.results
    for key in ("peaks", "features", "heatmaps"):
        np.testing.assert_array_equal(getattr(fast, key), getattr(slow, key))
    assert fast.image_ids.tolist() == ids


def _trained_like(cfg) -> nn.Module:
    """The tiny model with weights and BatchNorm statistics away from their initial values."""
    torch.manual_seed(0)
    model = build_model(cfg.model)
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.add_(0.05 * torch.randn_like(t))
                if t.dim() == 1:
                    t.abs_()  # BatchNorm scales and variances stay positive
    return model


def test_traced_prediction_equals_the_eager_one(synthetic_sources, compose_cfg):
    """infer.jit runs backbone + stages as one TorchScript graph: the same outputs, to the bit."""
    _, val = synthetic_sources
    ids = val.image_ids.tolist()
    from al_bench.pose.traced import _TRACES

    outputs, models = {}, {}
    for jit in (True, False):
        cfg = compose_cfg("model=tiny", "infer.device=cpu", "infer.batch_size=5", f"infer.jit={jit}")
        want = ("results", "peaks", "features", "heatmaps")
        models[jit] = _trained_like(cfg)
        outputs[jit] = predict(models[jit], val, ids, cfg, want=want)
    assert models[True] in _TRACES and models[False] not in _TRACES, "the traced path ran"
    traced, eager = outputs[True], outputs[False]
    assert len(eager.results) > 0 and traced.results == eager.results
    for key in ("peaks", "features", "heatmaps"):
        np.testing.assert_array_equal(getattr(traced, key), getattr(eager, key))


SMALL_MODEL = {
    "name": "tiny", "backbone": "tiny", "input_size": 32, "stride": 4, "widths": [8, 8, 8],
    "convs_per_block": 1, "batch_norm": True, "num_refinement_stages": 1,
    "initial_stage": {"width": 8, "depth": 1, "kernel": 3, "head_width": 8, "separate_branches": False},
    "refinement_stage": {"width": 8, "depth": 1, "kernel": 3, "head_width": 8, "separate_branches": False},
}  # fmt: skip


def test_the_trace_follows_the_models_weights():
    """The cached trace shares the model's tensors: an in-place update reaches it, replaced tensors
    make a new trace, and a trace never stands in for another model."""
    from al_bench.pose import traced

    model = build_model(SMALL_MODEL).eval()
    x = torch.randn(2, 3, 32, 32)

    def same(trace) -> bool:
        with torch.no_grad():
            return all(
                torch.equal(a, b) for a, b in zip(trace(x), traced.PlainForward(model)(x), strict=True)
            )

    first = traced.traced_forward(model, x)
    assert same(first) and traced.traced_forward(model, x[:1]) is first  # any batch size, one trace
    with torch.no_grad():
        next(model.parameters()).mul_(2.0)
    assert traced.traced_forward(model, x) is first and same(first)
    weight = next(model.parameters())
    weight.data = weight.data.clone() * 0.5
    second = traced.traced_forward(model, x)
    assert second is not first and same(second)
    assert traced.traced_forward(build_model(SMALL_MODEL).eval(), x) is not second
