"""oracle_loss: largest ground-truth error first, ties by id; labels only through the named provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conf_files import load_option

from al_bench.strategies import OracleLoss, SelectionContext, UncertaintyStrategy, build_strategy

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_picks_the_largest_errors_ties_by_id_and_times_the_provider():
    errors = np.array([0.2, 0.9, 0.5, 0.9, 0.0])
    calls = []

    def provider():
        calls.append(1)
        return errors

    ctx = SelectionContext([3, 5, 8, 13, 21], [1], np.random.default_rng(0), image_errors=provider)
    sel = OracleLoss().select(ctx, 3)
    assert sel.ids.tolist() == [5, 13, 8]
    assert sel.info["scores"] == [0.9, 0.9, 0.5] and sel.info["pool_mean_error"] == pytest.approx(0.5)
    assert sel.timings["uncertainty_s"] > 0 and sel.timings["embedding_s"] == 0
    ctx.image_errors()
    assert len(calls) == 1  # computed once per context


def test_oracle_is_a_labelled_control_and_others_are_not():
    oracle = build_strategy({"strategy": load_option(CONF / "strategy/oracle_loss.yaml")})
    assert isinstance(oracle, OracleLoss) and oracle.name == "oracle_loss" and oracle.uses_labels is True
    assert UncertaintyStrategy.uses_labels is False


def test_without_the_provider_there_are_no_labels():
    ctx = SelectionContext([3, 5], [], np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="no image_errors provider"):
        OracleLoss().select(ctx, 1)


def test_provider_output_is_checked():
    def ctx(errors):
        return SelectionContext([3, 5, 8], [], np.random.default_rng(0), image_errors=lambda: errors)

    with pytest.raises(ValueError, match=r"shape \(N=3,\)"):
        OracleLoss().select(ctx(np.zeros(2)), 1)
    with pytest.raises(ValueError, match=r"image ids \[5\] are NaN or inf"):
        OracleLoss().select(ctx(np.array([0.1, np.nan, 0.3])), 1)
