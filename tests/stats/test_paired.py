"""t-interval, exact sign-flip p-value and the paired table, against hand computations."""

import itertools
import math

import numpy as np
import pytest

from al_bench.stats import paired_differences, reference_for, sign_flip_p, sign_flip_p_floor, t_interval

T_975_DF1 = 12.706204736174698  # Student t, 97.5 % quantile, 1 degree of freedom (tables: 12.706)
T_975_DF2 = 4.302652729911275  # 2 degrees of freedom (tables: 4.303)


def test_t_interval_matches_the_textbook_formula():
    mean, low, high = t_interval([1.0, 2.0, 3.0])
    half = T_975_DF2 * 1.0 / math.sqrt(3)  # s = 1 (ddof = 1) for 1, 2, 3
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half))


def test_t_interval_has_nan_bounds_below_two_values():
    mean, low, high = t_interval([0.4, float("nan")])
    assert mean == 0.4 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in t_interval([]))
    with pytest.raises(ValueError, match="confidence"):
        t_interval([1.0, 2.0], confidence=1.5)


def test_sign_flip_p_enumerates_all_patterns():
    # +-1 +-2 +-3 gives sums 6, 4, 2, 0, 0, -2, -4, -6: |sum| >= 6 in 2 of 8
    assert sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(0.25)
    # observed |1 - 2 + 3| = 2: every pattern but the two zero sums -> 6 / 8
    assert sign_flip_p([1.0, -2.0, 3.0]) == pytest.approx(0.75)
    assert sign_flip_p([0.5]) == 1.0
    assert sign_flip_p([0.0, 0.0]) == 1.0
    assert math.isnan(sign_flip_p([]))


def test_sign_flip_p_equals_brute_force_on_six_seeds():
    d = np.array([0.012, -0.004, 0.020, 0.007, 0.015, 0.003])
    sums = [abs(np.dot(signs, d)) for signs in itertools.product([-1, 1], repeat=6)]
    expected = np.mean(np.array(sums) >= abs(d.sum()) - 1e-15)
    assert sign_flip_p(d) == pytest.approx(expected)
    # flipping a subset S moves the sum 0.053 by -2 sum(S): |sum| stays >= 0.053 only for S = {},
    # {-0.004}, {-0.004, 0.003} (sum(S) <= 0), and their mirror patterns -> 6 of 64
    assert sign_flip_p(d) == pytest.approx(6 / 64)


def test_p_floor_is_two_over_two_to_the_n():
    assert [sign_flip_p_floor(n) for n in (1, 3, 5, 6)] == pytest.approx([1.0, 0.25, 0.0625, 0.03125])
    assert math.isnan(sign_flip_p_floor(0))
    assert sign_flip_p(np.full(6, 0.01)) == pytest.approx(sign_flip_p_floor(6))


def test_paired_differences_pair_by_seed():
    curves = {
        "a": {
            0: ([10, 20], [0.2, 0.4]),  # AULC 0.3
            1: ([10, 20], [0.2, 0.6]),  # AULC 0.4
            2: ([10, 20], [0.9, 0.9]),  # no reference run for seed 2: not paired
        },
        "ref": {0: ([10, 20], [0.1, 0.3]), 1: ([10, 20], [0.2, 0.2])},  # AULC 0.2, 0.2
        "one": {0: ([10, 20], [0.3, 0.3])},
    }
    rows = {r["condition"]: r for r in paired_differences(curves, {"a": "ref", "one": "ref", "x": None})}
    a = rows["a"]
    # deltas 0.1 and 0.2: mean 0.15, s = 0.1 / sqrt(2), half = t * s / sqrt(2) = t * 0.05
    assert a["seeds"] == 2 and a["reference"] == "ref"
    assert a["delta_aulc"] == pytest.approx({0: 0.1, 1: 0.2})
    assert a["delta_aulc_mean"] == pytest.approx(0.15)
    assert (a["delta_aulc_ci_low"], a["delta_aulc_ci_high"]) == pytest.approx(
        (0.15 - T_975_DF1 * 0.05, 0.15 + T_975_DF1 * 0.05)
    )
    assert a["delta_final_mean"] == pytest.approx((0.1 + 0.4) / 2)
    assert a["p_value"] == pytest.approx(0.5) and a["p_floor"] == pytest.approx(0.5)  # sums +-0.3, +-0.1
    one = rows["one"]
    assert one["seeds"] == 1 and one["delta_aulc_mean"] == pytest.approx(0.1)
    assert math.isnan(one["delta_aulc_ci_low"]) and math.isnan(one["delta_aulc_ci_high"])
    assert rows["x"]["seeds"] == 0 and math.isnan(rows["x"]["delta_aulc_mean"])


def test_paired_differences_on_a_cost_axis_use_each_pairs_common_range():
    # seed 0: the condition's keypoints run to 30, the reference's to 20 -> compared over [10, 20]
    curves = {"a": {0: ([10, 20, 30], [0.2, 0.4, 0.9])}, "ref": {0: ([10, 20], [0.2, 0.2])}}
    (row,) = paired_differences(curves, {"a": "ref"})
    assert row["delta_aulc_mean"] == pytest.approx(0.3 - 0.2)
    assert row["delta_final_mean"] == pytest.approx(0.9 - 0.2)


def test_reference_for_matches_settings():
    names = {
        "r1": "random n_val=100",
        "r2": "random n_val=200",
        "h1": "heatmap_annoy ratio=0.2 n_val=100",
        "h2": "heatmap_annoy n_val=200",
        "c": "coreset",
    }
    strategies = {k: v.split()[0] for k, v in names.items()}
    assert reference_for("h1", "random", names, strategies) == "r1"
    assert reference_for("h2", "random", names, strategies) == "r2"
    assert reference_for("c", "random", names, strategies) is None  # ambiguous: no n_val of its own
    assert reference_for("r1", "random", names, strategies) is None  # a reference is not compared with itself
    assert reference_for("h2", "random n_val=100", names, strategies) == "r1"  # an exact name wins
    assert reference_for("h1", "uncertainty", names, strategies) is None
    single = {"r": "random", "h": "heatmap_annoy ratio=0.2"}
    assert reference_for("h", "random", single, {"r": "random", "h": "heatmap_annoy"}) == "r"


def test_stats_imports_neither_loop_figures_mlflow_nor_torch():
    import subprocess
    import sys

    code = (
        "import sys, al_bench.stats; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('mlflow', 'torch') "
        "or m.startswith(('al_bench.loop', 'al_bench.figures'))]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
