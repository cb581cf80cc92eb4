"""The loop hands the unrestricted pool to a label-using control only, and the oracle's picks follow
the ground-truth error of the round's model (fake pose pieces, real selection context and strategies)."""

from dataclasses import replace

import numpy as np
import pytest
from fakes import FakeModel, FakeSource, fake_pieces
from fakes import predict as fake_predict

from al_bench.evaluate import image_oks_errors
from al_bench.loop.labeled import RevealedSource
from al_bench.loop.pieces import selection_context
from al_bench.loop.runner import run_experiment
from al_bench.loop.state import load_state, run_key, state_dir
from al_bench.strategies import build_strategy


def _pieces(calls):
    def make_context(cfg, model, source, pool_ids, labeled_ids, rng, fingerprint, **kwargs):
        calls.append((source, kwargs))
        return selection_context(cfg, model, source, pool_ids, labeled_ids, rng, fake_predict, **kwargs)

    return replace(fake_pieces(), build_strategy=build_strategy, make_context=make_context)


@pytest.mark.slow  # two fake runs through MLflow (~10 s)
def test_only_the_oracle_gets_labels_and_picks_the_largest_errors(tmp_path, compose_cfg):
    calls = []
    cfg = compose_cfg(tmp_path, "strategy=oracle_loss")
    run_experiment(cfg, _pieces(calls))
    assert len(calls) == 2
    for source, kwargs in calls:
        assert isinstance(source, RevealedSource)
        assert isinstance(kwargs["labels_source"], FakeSource)  # the unrestricted pool
    state = load_state(state_dir(cfg.paths.state_dir, run_key(cfg)), run_key(cfg))
    initial = sorted(i for i, r in state.labeled["labeled"] if r == 0)
    pool = calls[0][1]["labels_source"]
    unlabeled = np.setdiff1d(pool.image_ids, initial)
    results = fake_predict(FakeModel(initial), pool, unlabeled, cfg, want=("results",)).results
    errors = image_oks_errors(pool.coco, results, unlabeled)
    expected = unlabeled[np.lexsort((unlabeled, -errors))[:5]]
    assert state.selections[0]["ids"] == expected.tolist()
    assert state.selections[0]["info"]["scores"] == sorted(errors, reverse=True)[:5]

    calls.clear()
    run_experiment(compose_cfg(tmp_path, "strategy=uncertainty"), _pieces(calls))
    assert len(calls) == 2 and all(kwargs == {} for _, kwargs in calls)
