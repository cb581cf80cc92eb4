"""Poster Figure 2 from a run with a (tiny, random-weight) checkpoint artifact; skipped without one."""

import numpy as np
import pytest
from figures_store import log_model_run
from test_figures_plots import assert_png_and_pdf

from al_bench.figures.heatmaps import activation_scores, find_checkpoint, plot_activation_extremes
from al_bench.figures.runs import FiguresError, load_runs


@pytest.fixture(scope="module")
def model_store(store_uri):
    from pathlib import Path

    base = Path(store_uri[len("sqlite:///") :]).parent
    run_id = log_model_run(store_uri, base)
    return store_uri, run_id


def test_without_checkpoint_the_reason_is_given(bench_runs, store_uri, tmp_path):
    with pytest.raises(FiguresError, match=r"logged no model checkpoint artifact \(model/\*\.pt\)"):
        plot_activation_extremes(bench_runs, store_uri, tmp_path)
    assert not list(tmp_path.iterdir())


def test_activation_extremes_figure(model_store, tmp_path):
    uri, run_id = model_store
    assert find_checkpoint(uri, run_id) == "model/model_round03.pt"
    runs = load_runs(uri, "with_model", progress=False)
    paths = plot_activation_extremes(runs, uri, tmp_path, n_each=2, max_pool=12)
    assert_png_and_pdf(paths, "activation_extremes")


def test_activation_is_mean_of_keypoint_maxima(model_store, tmp_path):
    """The ranking score equals the mean over keypoints of the heatmap maximum (clipped at 0, refined to the
    peak's height as the decoder reads it) computed directly."""
    import torch
    from omegaconf import OmegaConf

    from al_bench.figures.heatmaps import _load_model_and_config, keypoint_overlays
    from al_bench.figures.pool import load_pool, run_params

    uri, run_id = model_store
    runs = load_runs(uri, "with_model", progress=False)
    model, cfg, _ = _load_model_and_config(uri, run_id, tmp_path)
    pool = load_pool(run_params(runs, run_id))
    ids = pool.image_ids[:3]
    scores = activation_scores(model, pool, ids, cfg)
    from al_bench.data.dataset import PoseDataset
    from al_bench.pose.decode import peak_values

    data = PoseDataset(pool, ids, model.input_size, model.stride, 2.5, 3.0, augment=None, with_targets=False)
    with torch.no_grad():
        heat = model(torch.stack([torch.as_tensor(data[i]["image"]) for i in range(3)]))[-1][0][:, :17]
    expected = peak_values(heat, max_peaks=1)[..., 0].mean(dim=1).numpy()
    assert np.all(expected >= heat.amax(dim=(2, 3)).clamp_min(0).mean(dim=1).numpy() - 1e-6)
    assert scores == pytest.approx(expected, abs=1e-5)
    images, overlays = keypoint_overlays(model, pool, [int(i) for i in ids], OmegaConf.create(cfg))
    assert images.shape == (3, model.input_size, model.input_size, 3) and images.dtype == np.uint8
    assert overlays.shape == (3, model.input_size, model.input_size)
    assert overlays.min() >= 0.0 and overlays.max() <= 1.0
