"""Normalised AULC, interpolation, the common x range and the cost model, against hand computations."""

import math

import numpy as np
import pytest

from al_bench.stats import (
    annotation_cost,
    axis_label,
    common_range,
    interpolate,
    normalized_aulc,
    paired_aulc,
)


def test_normalized_aulc_is_trapezoid_over_range():
    # (0.1+0.2)/2*4 + (0.2+0.25)/2*4 + (0.25+0.3)/2*4 = 2.6 over a width of 12
    assert normalized_aulc([8, 12, 16, 20], [0.10, 0.20, 0.25, 0.30]) == pytest.approx(2.6 / 12)
    # unsorted input is sorted first; uneven spacing is honoured: (0+1)/2*1 + (1+1)/2*3 = 3.5 over 4
    assert normalized_aulc([4, 0, 1], [1.0, 0.0, 1.0]) == pytest.approx(3.5 / 4)
    assert normalized_aulc([10, 15, 30], [0.0, 0.5, 0.5]) == pytest.approx((1.25 + 7.5) / 20)
    assert normalized_aulc([5], [0.3]) == pytest.approx(0.3)
    assert normalized_aulc([5, 10], [0.3, float("nan")]) == pytest.approx(0.3)
    assert math.isnan(normalized_aulc([], []))
    with pytest.raises(ValueError, match="shape"):
        normalized_aulc([1, 2], [0.1])


def test_interpolate_never_extrapolates():
    values = interpolate([0, 10], [0.0, 1.0], [5, 2.5, 10, 12, -1])
    assert values[:3] == pytest.approx([0.5, 0.25, 1.0])
    assert np.isnan(values[3:]).all()


def test_common_range_is_latest_start_to_earliest_end():
    assert common_range([0, 10, 20], [5, 15, 30]) == (5.0, 20.0)
    low, high = common_range([0, 10], [20, 30])
    assert low > high


def test_paired_aulc_uses_the_common_range_not_each_runs_own():
    a = ([0, 10, 20], [0.0, 0.5, 0.5])
    b = ([5, 15, 30], [0.2, 0.4, 0.6])
    # common range [5, 20]; grid 5, 10, 15, 20.
    # a: 0.25, 0.5, 0.5, 0.5 -> (0.375*5 + 0.5*5 + 0.5*5) / 15 = 6.875 / 15
    # b: 0.2, 0.3, 0.4, 0.4 + 0.2/3 -> (0.25*5 + 0.35*5 + (0.8 + 0.2/3)/2*5) / 15
    aulc_a, aulc_b, low, high = paired_aulc(*a, *b)
    assert (low, high) == (5.0, 20.0)
    assert aulc_a == pytest.approx(6.875 / 15)
    assert aulc_b == pytest.approx((1.25 + 1.75 + (0.8 + 0.2 / 3) / 2 * 5) / 15)
    assert aulc_a - aulc_b == pytest.approx(0.1138889, abs=1e-6)
    # over each run's own range the sign flips: 0.375 - 0.42 < 0
    assert normalized_aulc(*a) - normalized_aulc(*b) == pytest.approx(0.375 - 0.42)


def test_paired_aulc_equal_x_is_the_plain_aulc_and_disjoint_is_nan():
    x = [10, 20, 30]
    assert paired_aulc(x, [0.1, 0.2, 0.4], x, [0.1, 0.1, 0.1])[:2] == pytest.approx((0.225, 0.1))
    assert all(math.isnan(v) for v in paired_aulc([0, 10], [0.1, 0.2], [20, 30], [0.1, 0.2])[:2])
    # single-round runs at one shared x: the value there
    assert paired_aulc([10], [0.3], [10], [0.2])[:2] == pytest.approx((0.3, 0.2))


def test_annotation_cost_and_axis_labels():
    # 100 images * 2 s + 300 persons * 10 s + 5000 keypoints * 1 s
    assert annotation_cost(100, 300, 5000, 2.0, 10.0, 1.0) == pytest.approx(8200.0)
    assert annotation_cost(np.array([1, 2]), np.array([0, 1]), np.array([0, 17]), 1.0, 1.0, 1.0).tolist() == [
        1.0,
        20.0,
    ]
    assert axis_label("keypoints") == "labelled keypoints (count)"
    with pytest.raises(ValueError, match="images, persons, keypoints, cost"):
        axis_label("hours")
