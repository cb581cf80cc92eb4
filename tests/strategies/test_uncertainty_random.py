"""uncertainty_random: heatmap_annoy's uncertainty candidates, then a seeded random subset (no walk)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest
from conf_files import load_option

from al_bench.search import ExactIndex
from al_bench.strategies import HeatmapExact, UncertaintyRandom, UncertaintyStrategy, build_strategy

CONF = Path(__file__).resolve().parents[2] / "conf"
EXACT = partial(ExactIndex, "euclidean", device="cpu", progress=False)


def _pool(n=80, seed=3):
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(5_000, n, replace=False))
    return ids, rng.normal(size=(n, 6)), rng.uniform(size=(n, 17, 3)).astype(np.float32)


def test_picks_are_a_seeded_random_subset_of_the_walks_candidates(make_context):
    ids, vectors, peaks = _pool()
    # ceil(6 / 0.25) = 24 candidates: the 24 most uncertain images, most uncertain first.
    top = UncertaintyStrategy().select(make_context(ids, peaks=peaks), 24)
    sel = UncertaintyRandom(selection_ratio=0.25).select(make_context(ids, peaks=peaks, seed=7), 6)
    rows = np.random.default_rng(7).choice(24, size=6, replace=False)
    assert sel.ids.tolist() == top.ids[rows].tolist()
    assert sel.info["n_candidates"] == 24 and sel.info["selection_ratio"] == 0.25
    np.testing.assert_allclose(sel.info["scores"], np.asarray(top.info["scores"])[rows])
    walk = HeatmapExact(index=EXACT, selection_ratio=0.25).select(make_context(ids, vectors, peaks), 6)
    assert walk.info["n_candidates"] == 24 and np.isin(walk.ids, top.ids).all()
    other = UncertaintyRandom(selection_ratio=0.25).select(make_context(ids, peaks=peaks, seed=8), 6)
    assert other.ids.tolist() != sel.ids.tolist() and np.isin(other.ids, top.ids).all()


def test_ratio_one_picks_the_uncertainty_strategys_images(make_context):
    ids, _, peaks = _pool()
    pure = UncertaintyStrategy().select(make_context(ids, peaks=peaks), 10)
    ablation = UncertaintyRandom(selection_ratio=1.0).select(make_context(ids, peaks=peaks), 10)
    assert sorted(ablation.ids.tolist()) == sorted(pure.ids.tolist())
    with pytest.raises(ValueError, match=r"selection_ratio must be a number in \(0, 1\]"):
        UncertaintyRandom(selection_ratio=0)


def test_peak_count_candidates_carry_the_filter_statistics(make_context):
    ids, _, peaks = _pool()
    unc = {"mode": "peak_count", "th_hm": 0.5, "th_kp": 8}
    sel = UncertaintyRandom(uncertainty=unc, selection_ratio=0.5).select(make_context(ids, peaks=peaks), 5)
    passed = ((peaks[:, :, 0] < 0.5).sum(axis=1) > 8).sum()
    assert sel.quality["filter_pass_fraction"] == pytest.approx(passed / len(ids))
    assert sel.info["candidates_from_fill"] == max(0, 10 - passed)


def test_preset_matches_heatmap_annoys_uncertainty_keys():
    ablation = load_option(CONF / "strategy/uncertainty_random.yaml")
    annoy = load_option(CONF / "strategy/heatmap_annoy.yaml")
    assert ablation.uncertainty == annoy.uncertainty
    assert ablation.selection_ratio == annoy.selection_ratio
    built = build_strategy({"strategy": ablation})
    assert isinstance(built, UncertaintyRandom) and built.name == "uncertainty_random"
