"""Strategies on hand-built point sets and peaks whose correct picks are known."""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np
import pytest
from conf_files import load_option
from omegaconf import OmegaConf

from al_bench.search import AnnoyIndex, ExactIndex
from al_bench.strategies import (
    CoresetStrategy,
    DiversityStrategy,
    HeatmapAnnoy,
    HeatmapExact,
    MPEStrategy,
    RandomStrategy,
    SelectionContext,
    UncertaintyStrategy,
    build_strategy,
)
from al_bench.strategies.base import Picked, Strategy

# Index factories, as build_strategy passes them (instantiate(cfg.index, _partial_=True)).
ANNOY = partial(AnnoyIndex, "euclidean", n_trees=20, search_k=100000, seed=0, progress=False)
EXACT = partial(ExactIndex, "euclidean", device="cpu", progress=False)
CONF = __import__("pathlib").Path(__file__).resolve().parents[2] / "conf"


def clusters(n_clusters=3, per=5, seed=0):
    """Tight Gaussian clusters far apart, shuffled ids 10, 20, ...; returns ids, vectors, cluster labels."""
    rng = np.random.default_rng(seed)
    centres = np.arange(n_clusters)[:, None] * 100.0 * np.eye(n_clusters, 4)[:, :4].sum(1, keepdims=True)
    labels = rng.permutation(np.repeat(np.arange(n_clusters), per))
    vectors = centres[labels] + rng.normal(scale=0.1, size=(len(labels), 4))
    return np.arange(1, len(labels) + 1) * 10, vectors.astype(np.float32), labels


def peaks_with_mean(means, m=3):
    """Peaks whose 17 keypoint maxima all equal ``means[i]`` (uncertainty = 1 - mean)."""
    peaks = np.zeros((len(means), 17, m), dtype=np.float32)
    peaks[:, :, 0] = np.asarray(means)[:, None]
    return peaks


@pytest.mark.parametrize("cls,index", [(HeatmapAnnoy, ANNOY), (HeatmapExact, EXACT)])
def test_heatmap_walk_takes_most_uncertain_of_each_cluster(make_context, cls, index):
    ids, vectors, labels = clusters()
    means = np.linspace(0.1, 0.9, len(ids))  # id 10 is the most uncertain, id 150 the least
    ctx = make_context(ids, vectors, peaks_with_mean(means))
    sel = cls(index=index, selection_ratio=0.2, quality_sample=15).select(ctx, 3)
    # Candidates: ceil(3 / 0.2) = 15 (all); each pick suppresses ceil(1/0.2) - 1 = 4 = its cluster-mates.
    expected = [
        int(ids[labels == c][0]) for c in sorted(set(labels), key=lambda c: np.flatnonzero(labels == c)[0])
    ]
    assert sel.ids.tolist() == expected
    assert sel.info["n_candidates"] == 15 and sel.info["n_suppress"] == 4 and sel.info["n_filled"] == 0
    assert sel.quality["overlap_exact"] == 1.0 and sel.quality["knn_recall"] == 1.0
    assert sel.quality["knn_recall_at10"] == 1.0
    # Every point lies within its cluster (radius ~0.1 * sqrt(4) * a few) of a selected one.
    assert 0 < sel.quality["coverage_radius"] < 1.0
    assert set(sel.timings) >= {
        "uncertainty_s",
        "embedding_s",
        "index_build_s",
        "query_s",
        "total_s",
        "quality_s",
    }
    assert sel.timings["query_s"] > 0 and sel.timings["index_build_s"] > 0


def test_ratio_one_equals_pure_uncertainty(make_context):
    rng = np.random.default_rng(5)
    ids = np.arange(100, 160)
    vectors, peaks = rng.normal(size=(60, 8)), rng.uniform(size=(60, 17, 3)).astype(np.float32)
    pure = UncertaintyStrategy().select(make_context(ids, vectors, peaks), 12)
    walk = HeatmapAnnoy(index=ANNOY, selection_ratio=1.0).select(make_context(ids, vectors, peaks), 12)
    assert walk.ids.tolist() == pure.ids.tolist()
    assert walk.info["n_suppress"] == 0


def test_uncertainty_ties_broken_by_id_and_scores_in_info(make_context):
    ids = np.array([3, 7, 9, 12])
    sel = UncertaintyStrategy().select(make_context(ids, peaks=peaks_with_mean([0.5, 0.2, 0.5, 0.2])), 3)
    assert sel.ids.tolist() == [7, 12, 3]
    np.testing.assert_allclose(sel.info["scores"], [0.8, 0.8, 0.5], rtol=1e-6)


def test_peak_count_fills_by_ranking_and_logs_pass_fraction(make_context):
    ids = np.arange(1, 11)
    maxima = np.full((10, 17), 0.9, dtype=np.float32)
    maxima[3, :12] = 0.1  # 12 weak keypoints: passes th_kp = 8
    maxima[6, :10] = 0.2  # 10 weak: passes
    maxima[1, :5] = 0.3  # 5 weak: fails, but ranks third
    maxima[8, :5] = 0.1  # 5 weak with lower mean peak: ranks before id 2
    peaks = np.zeros((10, 17, 2), dtype=np.float32)
    peaks[:, :, 0] = maxima
    unc = {"mode": "peak_count", "th_hm": 0.5, "th_kp": 8}
    sel = UncertaintyStrategy(uncertainty=unc).select(make_context(ids, peaks=peaks), 4)
    assert sel.ids.tolist() == [4, 7, 9, 2]
    assert sel.quality["filter_pass_fraction"] == pytest.approx(0.2)
    vectors = np.eye(10, dtype=np.float32)
    walk = HeatmapExact(index=EXACT, uncertainty=unc, selection_ratio=0.5).select(
        make_context(ids, vectors, peaks), 2
    )
    assert walk.info["n_candidates"] == 4 and walk.info["candidates_from_fill"] == 2
    assert walk.quality["filter_pass_fraction"] == pytest.approx(0.2)


def test_mpe_strategy_picks_highest_entropy(make_context):
    peaks = np.zeros((3, 17, 3), dtype=np.float32)
    peaks[0, 0, :2] = [0.5, 0.5]
    peaks[2, :, :3] = 0.5  # three equal peaks on every keypoint: 17 log 3
    sel = MPEStrategy().select(make_context([5, 6, 7], peaks=peaks), 2)
    assert sel.ids.tolist() == [7, 5]
    np.testing.assert_allclose(sel.info["scores"], [17 * np.log(3), np.log(2)], rtol=1e-6)


def test_coreset_matches_brute_force_k_center(make_context):
    rng = np.random.default_rng(3)
    ids = np.arange(40) * 2 + 1
    vectors = rng.normal(size=(40, 5)).astype(np.float32)
    labeled = ids[:4]
    sel = CoresetStrategy(device="cpu", chunk_size=7).select(make_context(ids, vectors, labeled=labeled), 6)
    # Brute-force reference in float64.
    x = vectors.astype(np.float64)
    centres, pool, picks = list(range(4)), list(range(4, 40)), []
    for _ in range(6):
        d = np.linalg.norm(x[pool][:, None] - x[centres][None], axis=2).min(1)
        best = pool[int(np.argmax(d))]
        picks.append(best)
        centres.append(best)
        pool.remove(best)
    assert sel.ids.tolist() == ids[picks].tolist()
    d = np.linalg.norm(x[pool][:, None] - x[centres][None], axis=2).min(1)
    assert sel.quality["coverage_radius"] == pytest.approx(d.max(), rel=1e-4)


def test_diversity_covers_clusters_and_is_deterministic(make_context):
    ids, vectors, labels = clusters(n_clusters=4, per=6, seed=2)
    runs = [DiversityStrategy(index=ANNOY, quality_sample=10).select(make_context(ids, vectors, seed=9), 4)
            for _ in range(2)]  # fmt: skip
    assert runs[0].ids.tolist() == runs[1].ids.tolist()
    # ratio = 4 / 24: each pick suppresses its 5 cluster-mates, so each cluster is picked once.
    picked_labels = labels[np.searchsorted(ids, runs[0].ids)]
    assert sorted(picked_labels.tolist()) == [0, 1, 2, 3]
    by_id = DiversityStrategy(index=EXACT, order="id").select(make_context(ids, vectors), 4)
    first_of_cluster = [int(ids[labels == c][0]) for c in range(4)]
    assert sorted(by_id.ids.tolist()) == sorted(first_of_cluster)


@pytest.mark.parametrize("name", ["random", "heatmap_annoy", "diversity", "coreset", "uncertainty_random"])
def test_seeded_runs_repeat_and_never_pick_labeled_or_duplicates(make_context, name):
    rng = np.random.default_rng(11)
    ids = np.sort(rng.choice(10_000, 120, replace=False))
    vectors, peaks = rng.normal(size=(120, 6)), rng.uniform(size=(120, 17, 3)).astype(np.float32)
    labeled = ids[::7]
    cfg = OmegaConf.create({"seed": 0, "strategy": load_option(CONF / f"strategy/{name}.yaml"),
                            "index": load_option(CONF / "index/annoy.yaml")})  # fmt: skip
    cfg.index.progress = False
    runs = [
        build_strategy(cfg).select(make_context(ids, vectors, peaks, labeled, seed=4), 30) for _ in range(2)
    ]
    assert runs[0].ids.tolist() == runs[1].ids.tolist()
    assert len(set(runs[0].ids.tolist())) == 30
    assert not np.isin(runs[0].ids, labeled).any() and np.isin(runs[0].ids, ids).all()


def test_budget_larger_than_pool_warns_and_returns_pool(make_context):
    ctx = make_context([4, 8, 15], peaks=peaks_with_mean([0.3, 0.2, 0.1]))
    with pytest.warns(UserWarning, match="budget 5 > pool size 3"):
        sel = UncertaintyStrategy().select(ctx, 5)
    assert sel.ids.tolist() == [15, 8, 4]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert RandomStrategy().select(ctx, 0).ids.tolist() == []
    with pytest.raises(ValueError, match="non-negative integer"):
        RandomStrategy().select(ctx, 2.5)


def test_base_rejects_duplicates_and_labeled_ids():
    class Broken(Strategy):
        name = "broken"

        def __init__(self, ids):
            super().__init__()
            self.ids = ids

        def _select(self, context, budget):
            return Picked(np.array(self.ids))

    ctx = SelectionContext([1, 2, 3], [9], np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="duplicate"):
        Broken([1, 1]).select(ctx, 2)
    with pytest.raises(RuntimeError, match=r"not in the unlabeled pool: \[9\]"):
        Broken([1, 9]).select(ctx, 2)
    with pytest.raises(ValueError, match=r"\[3\] are both in the pool and already labeled"):
        SelectionContext([1, 2, 3], [3], np.random.default_rng(0))


def test_nan_peaks_and_embeddings_name_the_image(make_context):
    peaks = peaks_with_mean([0.1, 0.2, 0.3])
    peaks[1, 4, 0] = np.nan
    with pytest.raises(ValueError, match=r"image ids \[20\]"):
        UncertaintyStrategy().select(make_context([10, 20, 30], peaks=peaks), 1)
    vectors = np.ones((3, 2))
    vectors[2, 0] = np.inf
    with pytest.raises(ValueError, match=r"image ids \[30\]"):
        DiversityStrategy(index=EXACT).select(make_context([10, 20, 30], vectors), 1)
    with pytest.raises(ValueError, match=r"shape \(N=3, 17, M>=1\)"):
        UncertaintyStrategy().select(make_context([10, 20, 30], peaks=np.zeros((3, 17))), 1)


def test_build_strategy_index_wiring():
    base = {"seed": 0, "index": load_option(CONF / "index/annoy.yaml")}
    heatmap_exact = {**load_option(CONF / "strategy/heatmap_annoy.yaml"), "_target_": HeatmapExact.__module__
                     + ".HeatmapExact", "name": "heatmap_exact", "exact": {"chunk_size": 7, "device": "cpu"}}  # fmt: skip
    exact = build_strategy(OmegaConf.create({**base, "strategy": heatmap_exact}))
    built = exact.index()
    assert isinstance(built, ExactIndex) and built.metric == "angular" and built.chunk_size == 7
    annoy = build_strategy(
        OmegaConf.create({**base, "strategy": load_option(CONF / "strategy/heatmap_annoy.yaml")})
    )
    assert (
        isinstance(annoy.index(), AnnoyIndex) and annoy.index().n_trees == 50 and annoy.selection_ratio == 0.2
    )
    assert annoy.index() is not annoy.index()  # a fresh, unbuilt index for every selection
    bad = {
        "seed": 0,
        "index": {"_target_": "al_bench.search.ExactIndex"},
        "strategy": load_option(CONF / "strategy/heatmap_annoy.yaml"),
    }
    with pytest.raises(ValueError, match="heatmap_exact"):
        build_strategy(OmegaConf.create(bad))
    with pytest.raises(ValueError, match=r"strategy config \{'name': 'badge'\} has no _target_"):
        build_strategy({"strategy": {"name": "badge"}})
    with pytest.raises(ValueError, match=r"selection_ratio must be in \(0, 1\]"):
        HeatmapAnnoy(selection_ratio=0)


# Selection strategies only: a preset of another run kind (full_pool: the upper reference) selects nothing.
STRATEGY_PRESETS = sorted(
    p.stem for p in (CONF / "strategy").glob("*.yaml") if load_option(p).get("kind", "al") == "al"
)


@pytest.mark.slow  # one Hydra compose per preset
@pytest.mark.parametrize(
    "strategy,index",
    [(s, "annoy") for s in STRATEGY_PRESETS] + [("heatmap_exact", "exact"), ("diversity", "exact")],
)
def test_every_strategy_preset_builds_from_the_main_config(strategy, index, tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            "config", overrides=[f"strategy={strategy}", f"index={index}", f"paths.output_dir={tmp_path}"]
        )
    built = build_strategy(cfg)
    assert built.name == strategy
    assert instantiate(cfg.index).name == index
    assert instantiate(cfg.embedding).name == cfg.embedding.name
    if strategy == "heatmap_exact":
        assert built.index().name == "exact" and built.metric == cfg.index.metric
    if strategy == "diversity":
        assert built.index().name == index


def test_mpe_preset_follows_the_decoders_peak_threshold(make_context):
    cfg = OmegaConf.create({"infer": {"decode": {"peak_threshold": 0.3}},
                            "strategy": load_option(CONF / "strategy/mpe.yaml")})  # fmt: skip
    mpe = build_strategy(cfg)
    assert mpe.peak_threshold == 0.3 and mpe.relative_threshold == 0.0
    peaks = np.zeros((2, 17, 3), dtype=np.float32)
    peaks[0, 0] = [0.8, 0.25, 0.25]  # noise below 0.3: unambiguous
    peaks[1, 0] = [0.5, 0.45, 0.0]  # two candidates
    sel = mpe.select(make_context([1, 2], peaks=peaks), 2)
    assert sel.ids.tolist() == [2, 1] and sel.info["scores"][1] == 0.0
    assert sel.info["mpe_multi_peak_fraction"] == pytest.approx(1 / 34)


def test_a_strategy_config_may_name_its_own_index():
    strategy = {
        **load_option(CONF / "strategy/diversity.yaml"),
        "index": {"_target_": "al_bench.search.ExactIndex", "_partial_": True, "metric": "euclidean"},
    }
    cfg = OmegaConf.create({"seed": 0, "index": load_option(CONF / "index/annoy.yaml"), "strategy": strategy})
    built = build_strategy(cfg)
    assert (
        isinstance(built.index(), ExactIndex) and built.metric == "euclidean"
    )  # not the index group's annoy


def test_heatmap_exact_preset_is_heatmap_annoy_with_another_class():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        exact, annoy = (
            OmegaConf.to_container(compose("config", overrides=[f"strategy={s}"]).strategy, resolve=True)
            for s in ("heatmap_exact", "heatmap_annoy")
        )
    assert exact.pop("name") == "heatmap_exact" and exact.pop("_target_").endswith("HeatmapExact")
    assert annoy.pop("name") == "heatmap_annoy" and annoy.pop("_target_").endswith("HeatmapAnnoy")
    assert exact == annoy and exact["exact"]["chunk_size"] == 1024 and exact["quality_sample"] == 200


def test_one_clamp_and_one_check_serve_the_loop_and_the_base_class():
    from al_bench.strategies.base import check_selection, clamp_budget

    assert clamp_budget(5, 3) == 3 and clamp_budget(2, 3) == 2 and clamp_budget(0, 0) == 0
    with pytest.raises(ValueError, match="non-negative integer; got True"):
        clamp_budget(True, 3)
    pool = np.array([1, 2, 3])
    assert check_selection([3, 1], pool, 2, "x").dtype == np.int64
    with pytest.raises(RuntimeError, match=r"^who returned 1 ids for a budget of 2$"):
        check_selection([1], pool, 2, "who")
    with pytest.raises(RuntimeError, match=r"who returned ids not in the unlabeled pool: \[7\]"):
        check_selection([1, 7], pool, 2, "who")
