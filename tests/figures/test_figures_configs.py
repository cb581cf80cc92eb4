"""Figures as objects from config: the default set of conf/figures_report.yaml, and the call contract
(the runtime arguments a figure names, never over what its YAML set)."""

import pytest
from omegaconf import OmegaConf

from al_bench.figures.configs import RUNTIME_ARGS, build_figure, call_figure, compose_figures
from al_bench.figures.runs import FiguresError

RUNTIME = {name: f"<{name}>" for name in RUNTIME_ARGS}


def test_the_default_set_is_every_built_in_figure_in_report_order():
    assert list(compose_figures()) == [
        "learning_curve",
        "auc_table",
        "paired_table",
        "sampling_time",
        "sweep_strategy_selection_ratio",
        "sweep_index_n_trees",
        "coverage",
        "selection_grid",
        "activation_extremes",
    ]


def test_overrides_reach_the_figure_and_a_bad_one_is_a_figures_error():
    figures = compose_figures(overrides=["figures.sweep_index_n_trees.key=train.lr"])
    assert build_figure(figures.sweep_index_n_trees).keywords == {"key": "train.lr"}
    with pytest.raises(FiguresError, match="do not compose"):
        compose_figures(overrides=["figures.coverage=["])


def _named(runs, out_dir, metric="x"):
    return [(runs, out_dir, metric)]


def _any(**kwargs):
    return [tuple(sorted(kwargs))]


class _Counted:
    def __init__(self, label):
        self.label = label

    def __call__(self, report, axis):
        return [(self.label, report, axis)]


def test_a_figure_gets_the_runtime_arguments_it_names_and_keeps_those_its_yaml_set():
    assert call_figure(_named, **RUNTIME) == [("<runs>", "<out_dir>", "<metric>")]
    assert call_figure(_any, **RUNTIME) == [tuple(sorted(RUNTIME_ARGS))]
    partial = build_figure(
        OmegaConf.create({"_target_": f"{__name__}._named", "_partial_": True, "metric": "ap50"})
    )
    assert call_figure(partial, **RUNTIME) == [("<runs>", "<out_dir>", "ap50")]
    instance = build_figure(OmegaConf.create({"_target_": f"{__name__}._Counted", "label": "mine"}))
    assert call_figure(instance, **RUNTIME) == [("mine", "<report>", "<axis>")]
