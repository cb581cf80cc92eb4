"""Uncertainty scores, peak_count filter and multiple-peak entropy on hand-made heatmap peaks."""

from __future__ import annotations

import numpy as np
import pytest

from al_bench.strategies.scores import mpe_scores, uncertainty_scores


def peaks_from_maxima(maxima: np.ndarray, m: int = 4) -> np.ndarray:
    """``(N, 17)`` per-keypoint maxima -> ``(N, 17, m)`` peaks with only the maximum set."""
    peaks = np.zeros((len(maxima), 17, m), dtype=np.float32)
    peaks[:, :, 0] = maxima
    return peaks


def test_mean_max_min_and_mean_topk_values():
    maxima = np.full((2, 17), 0.8, dtype=np.float32)
    maxima[1, :4] = 0.0  # four missing keypoints in image 1
    peaks = peaks_from_maxima(maxima)
    np.testing.assert_allclose(uncertainty_scores(peaks).primary, [0.2, 1 - 0.8 * 13 / 17], rtol=1e-6)
    np.testing.assert_allclose(uncertainty_scores(peaks, "min").primary, [0.2, 1.0], rtol=1e-6)
    # The 5 largest maxima of both images are 0.8: mean_topk ignores the missing keypoints.
    np.testing.assert_allclose(uncertainty_scores(peaks, "mean_topk", topk=5).primary, [0.2, 0.2], rtol=1e-6)
    with pytest.raises(ValueError, match="valid modes: mean_max, min, mean_topk, peak_count"):
        uncertainty_scores(peaks, "entropy")
    with pytest.raises(ValueError, match="topk"):
        uncertainty_scores(peaks, "mean_topk", topk=18)


def test_peak_count_counts_weak_keypoints_and_filters():
    maxima = np.full((3, 17), 0.9, dtype=np.float32)
    maxima[0, :10] = 0.1  # 10 weak keypoints
    maxima[1, :3] = 0.49  # 3 weak (0.49 < th_hm 0.5)
    maxima[2, :9] = 0.5  # 0.5 is not below th_hm: 0 weak
    scores = uncertainty_scores(peaks_from_maxima(maxima), "peak_count", th_hm=0.5, th_kp=3)
    assert scores.primary.tolist() == [10, 3, 0]
    assert scores.passed.tolist() == [True, False, False]  # count must *exceed* th_kp
    np.testing.assert_allclose(scores.secondary, 1 - maxima.mean(axis=1), rtol=1e-6)


def test_mpe_known_entropies_and_padding_excluded():
    peaks = np.zeros((4, 17, 4), dtype=np.float32)
    peaks[1, 0, :2] = [0.7, 0.7]  # two equal peaks: log 2
    peaks[2, 0, :3] = [0.4, 0.4, 0.4]  # three equal: log 3
    peaks[2, 5, 0] = 0.9  # a single peak adds 0
    peaks[3, 0, :2] = [1.0, 0.0]  # the 0 is padding: one peak, entropy 0
    peaks[3, 1, :2] = [1.0, 0.5]
    p = np.exp([1.0, 0.5]) / np.exp([1.0, 0.5]).sum()
    expected = [0.0, np.log(2), np.log(3), -(p * np.log(p)).sum()]
    np.testing.assert_allclose(mpe_scores(peaks), expected, rtol=1e-6)


def _one_keypoint(values, m=8):
    """One image whose keypoint 0 has these NMS peaks (the other 16 keypoints have none)."""
    peaks = np.zeros((1, 17, m), dtype=np.float32)
    peaks[0, 0, : len(values)] = values
    return peaks


def test_mpe_noise_peaks_below_the_threshold_do_not_count():
    confident = _one_keypoint([0.9, 0.06, 0.05, 0.05, 0.04, 0.03, 0.02, 0.01])  # what peak_values yields
    ambiguous = _one_keypoint([0.6, 0.58])
    peaks = np.concatenate([confident, ambiguous])
    scores = mpe_scores(peaks, peak_threshold=0.1)
    assert scores[0] == 0.0 and scores[0] < scores[1]
    q = np.exp([0.6, 0.58]) / np.exp([0.6, 0.58]).sum()
    assert scores[1] == pytest.approx(-(q * np.log(q)).sum(), rel=1e-6)
    # Counting every positive local maximum (the old behaviour) inverts the order.
    unfiltered = mpe_scores(peaks, peak_threshold=0.0)
    assert unfiltered[0] > unfiltered[1]


def test_mpe_relative_threshold_drops_peaks_weak_against_the_keypoint_maximum():
    # Noise peaks at 0.2 pass the absolute threshold 0.1 but not half of the 0.9 maximum.
    peaks = np.concatenate([_one_keypoint([0.9, 0.2, 0.2, 0.2]), _one_keypoint([0.6, 0.58])])
    absolute = mpe_scores(peaks, peak_threshold=0.1)
    assert absolute[0] > absolute[1]
    relative = mpe_scores(peaks, peak_threshold=0.1, relative_threshold=0.5)
    assert relative[0] == 0.0 and relative[1] == pytest.approx(absolute[1])
    with pytest.raises(ValueError, match="relative_threshold in"):
        mpe_scores(peaks, relative_threshold=1.5)


def test_mpe_keypoints_whose_peaks_are_all_below_the_threshold_score_zero():
    weak = _one_keypoint([0.09, 0.09, 0.08])  # three near-equal peaks, none a decoder candidate
    np.testing.assert_array_equal(mpe_scores(weak, peak_threshold=0.1), [0.0])
    np.testing.assert_allclose(mpe_scores(weak, peak_threshold=0.08), [np.log(3)], rtol=1e-3)
