"""Confidence bands and normalised AUC against hand computations."""

import math

import numpy as np
import pandas as pd
import pytest

from al_bench.figures.stats import auc_table, curve_band, normalized_auc, t_interval

T_975_DF2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom (printed tables: 4.303)
T_975_DF1 = 12.706204736174698  # 1 degree of freedom (tables: 12.706)


def test_t_interval_matches_the_textbook_formula():
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    half = T_975_DF2 * 1.0 / math.sqrt(3)  # s = 1 for 1, 2, 3
    assert mean == pytest.approx(2.0)
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half))


def test_t_interval_other_confidence_is_narrower():
    _, low95, high95 = t_interval([1.0, 2.0, 3.0, 5.0])
    _, low80, high80 = t_interval([1.0, 2.0, 3.0, 5.0], confidence=0.8)
    assert low95 < low80 < high80 < high95


def test_t_interval_single_value_has_no_interval():
    mean, low, high = t_interval([0.4, float("nan")])
    assert mean == 0.4 and math.isnan(low) and math.isnan(high)  # never a zero-width interval
    assert all(math.isnan(v) for v in t_interval([]))
    with pytest.raises(ValueError, match="confidence"):
        t_interval([1.0, 2.0], confidence=1.5)


def test_normalized_auc_is_trapezoid_over_range():
    # (0.1+0.2)/2*4 + (0.2+0.25)/2*4 + (0.25+0.3)/2*4 = 2.6 over a width of 12
    assert normalized_auc([8, 12, 16, 20], [0.10, 0.20, 0.25, 0.30]) == pytest.approx(2.6 / 12)
    # unsorted input is sorted first; uneven spacing is honoured: (0+1)/2*1 + (1+1)/2*3 = 3.5 over 4
    assert normalized_auc([4, 0, 1], [1.0, 0.0, 1.0]) == pytest.approx(3.5 / 4)
    assert normalized_auc([5], [0.3]) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="shape"):
        normalized_auc([1, 2], [0.1])


def test_auc_table_on_fixture_runs_matches_hand_computation(bench_runs):
    table = auc_table(bench_runs, "ap").set_index("condition_name")
    # random, seed 0: AP 0.10 0.20 0.25 0.30 at 8 12 16 20 labeled -> 2.6 / 12
    # random, seed 1: AP 0.12 0.18 0.27 0.34 -> 4 * (0.15 + 0.225 + 0.305) / 12 = 2.72 / 12
    seed0, seed1 = 2.6 / 12, 2.72 / 12
    assert table.loc["random", "auc_mean"] == pytest.approx((seed0 + seed1) / 2)
    assert table.loc["random", "auc_std"] == pytest.approx(abs(seed1 - seed0) / math.sqrt(2))
    half = T_975_DF1 * abs(seed1 - seed0) / math.sqrt(2) / math.sqrt(2)
    assert table.loc["random", "auc_ci_low"] == pytest.approx((seed0 + seed1) / 2 - half)
    assert table.loc["random", "final_mean"] == pytest.approx((0.30 + 0.34) / 2)
    assert list(table.index) == ["heatmap_annoy", "uncertainty", "random"]  # best first
    assert set(table["n_seeds"]) == {2}


def test_curve_band_per_round(bench_runs):
    band = curve_band(bench_runs, "ap", group="condition_name")
    last = band[(band["condition_name"] == "random") & (band["step"] == 3)].iloc[0]
    values = np.array([0.30, 0.34])
    half = T_975_DF1 * values.std(ddof=1) / math.sqrt(2)
    assert last["n_labeled"] == 20
    assert last["mean"] == pytest.approx(0.32)
    assert (last["low"], last["high"]) == pytest.approx((0.32 - half, 0.32 + half))
    assert len(band) == 3 * 4


def test_curve_band_skips_missing_values():
    runs = pd.DataFrame(
        {
            "condition": ["a"] * 3,
            "step": [0, 0, 1],
            "seed": [0, 1, 0],
            "n_labeled": [10, 10, 20],
            "ap": [0.1, np.nan, 0.3],
        }
    )
    band = curve_band(runs, "ap")
    assert band["n_seeds"].tolist() == [1, 1]
    assert band["mean"].tolist() == pytest.approx([0.1, 0.3])
