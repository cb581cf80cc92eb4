"""The learning benchmark's plumbing and the prediction figure (the benchmark itself is experiments/)."""

import json

import numpy as np
import pytest
from PIL import Image

from al_bench.pose.benchmark import learning_benchmark
from al_bench.pose.draw import prediction_sheet, results_to_keypoints, save_sheet


def test_results_to_keypoints_keeps_one_image_and_marks_found_keypoints():
    kps = np.zeros((17, 3))
    kps[0] = [5.0, 6.0, 0.8]
    results = [
        {"image_id": 1, "keypoints": kps.ravel().tolist(), "score": 0.9},
        {"image_id": 1, "keypoints": kps.ravel().tolist(), "score": 0.05},
        {"image_id": 2, "keypoints": kps.ravel().tolist(), "score": 0.9},
    ]
    out = results_to_keypoints(results, 1, min_score=0.1)
    assert out.shape == (1, 17, 3)
    assert out[0, 0].tolist() == [5.0, 6.0, 2.0] and np.all(out[0, 1:] == 0)
    assert results_to_keypoints(results, 3).shape == (0, 17, 3)


def test_prediction_sheet_draws_ground_truth_and_predictions(coco_source, tmp_path):
    ids = coco_source.image_ids.tolist()[:2]
    person = coco_source.keypoints(ids[0])[0]
    results = [{"image_id": ids[0], "keypoints": person.ravel().tolist(), "score": 1.0}]
    path = save_sheet(prediction_sheet(coco_source, ids, results, tile=96), tmp_path / "fig" / "sheet.png")
    drawn = np.asarray(Image.open(path)).astype(int)
    empty = np.asarray(prediction_sheet(coco_source, ids, [], tile=96)).astype(int)
    assert drawn.shape[1] == 4 * 96  # ground truth + prediction tiles of 2 images in one row
    tile = [slice(-96, None), slice(None)]
    assert np.array_equal(drawn[tile[0], :96], empty[tile[0], :96])  # ground truth tile: same
    assert np.abs(drawn[tile[0], 96:192] - empty[tile[0], 96:192]).sum() > 0  # the predicted skeleton
    assert np.array_equal(drawn[tile[0], 288:], empty[tile[0], 288:])  # no prediction for image 2


@pytest.mark.slow
def test_learning_benchmark_runs_end_to_end(compose_cfg, tmp_path):
    cfg = compose_cfg(
        f"paths.output_dir={tmp_path}",
        "data.n_pool=8",
        "data.n_val=4",
        "model.input_size=64",
        "train.device=cpu",
        "train.steps=2",
        "train.min_steps=1",
        "train.batch_size=4",
        "train.progress=false",
        "infer.device=cpu",
    )
    result = learning_benchmark(cfg, checkpoint=tmp_path / "model.pt")
    assert (tmp_path / "model.pt").is_file()
    assert result["n_train"] == 8 and result["n_val"] == 4 and result["steps"] == 2
    assert 0.0 <= result["ap"] <= 1.0 and result["images_per_s"] > 0
    assert result["wall_time_s"] >= result["train_time_s"] + result["predict_time_s"]
    json.dumps(result)  # the script prints it as one JSON line
