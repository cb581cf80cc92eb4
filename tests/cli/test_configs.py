"""Every config file in conf/ composes; the presets and Hydra settings say what the CLI relies on."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.types import RunMode
from omegaconf import OmegaConf

import al_bench.cli.main as cli

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
# figures/ belongs to al-bench-figures (conf/figures_report.yaml), not to al-bench's config: tested below.
GROUPS = sorted(
    p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name not in ("experiment", "hydra", "figures")
)
FIGURES = sorted(f.stem for f in (CONF_DIR / "figures").glob("*.yaml"))
OPTIONS = [(g, f.stem) for g in GROUPS for f in sorted((CONF_DIR / g).glob("*.yaml"))]
PRESETS = sorted(f.stem for f in (CONF_DIR / "experiment").glob("*.yaml"))
LAUNCHERS = [
    "basic",
    "joblib",
    "submitit_local",
    "submitit_slurm",
    *sorted(f.stem for f in (CONF_DIR / "hydra/launcher").glob("*.yaml")),
]


def _compose(*overrides, hydra=False):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=hydra)


def test_cli_reads_the_repository_conf_dir():
    assert cli.CONF_DIR == CONF_DIR


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes(group, option):
    cfg = _compose(f"{group}={option}")
    assert group in cfg and cfg.al.rounds >= 1
    if "name" in cfg[group]:
        assert cfg[group].name  # the option names itself (tags, run names)


@pytest.mark.parametrize("figure", FIGURES)
def test_every_figure_is_in_the_default_set_and_instantiates(figure):
    from al_bench.figures.configs import build_figure, compose_figures

    figures = compose_figures()
    assert figure in figures  # no built-in figure is left out of conf/figures_report.yaml
    assert callable(build_figure(figures[figure]))


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_and_sweeps(preset):
    cfg = _compose(f"experiment={preset}", hydra=True)
    assert cfg.hydra.mode == RunMode.MULTIRUN
    assert cfg.hydra.sweeper.params  # presets are sweeps: one MLflow experiment, many runs
    assert "strategy" in cfg.hydra.sweeper.params


def test_quick_is_the_default_and_runs_every_strategy():
    cfg = _compose(hydra=True)
    assert cfg.hydra.runtime.choices.experiment == "quick"
    assert cfg.data.kind == "synthetic" and cfg.model.name == "tiny" and cfg.al.rounds >= 4
    assert cfg.hydra.sweeper.params.strategy.split(",") == [
        "random",
        "uncertainty",
        "uncertainty_random",
        "heatmap_annoy",
        "heatmap_exact",
        "coreset",
        "oracle_loss",
    ]
    # Seed last: the sweep's innermost axis, so parallel jobs train different round-0 models at once.
    assert list(cfg.hydra.sweeper.params) == ["strategy", "seed"]
    assert cfg.hydra.sweeper.params.seed == "0,1,2"


def test_six_seeds_is_the_default_run_with_seeds_0_to_5():
    cfg = _compose("experiment=six_seeds", hydra=True)
    assert cfg.hydra.sweeper.params.seed == "0,1,2,3,4,5"
    assert cfg.hydra.sweeper.params.strategy == _compose(hydra=True).hydra.sweeper.params.strategy
    assert (cfg.data.n_pool, cfg.data.n_val, cfg.al.initial, cfg.al.budget) == (1000, 300, 100, 50)
    assert cfg.hydra.launcher.n_jobs == 2 and cfg.num_threads == 1  # two 1-thread jobs on 2 cores


def test_paper_coco_uses_coco_resnet_and_lightweight_openpose():
    cfg = _compose("experiment=paper_coco")
    assert (cfg.data.kind, cfg.model.name, cfg.embedding.name) == (
        "coco",
        "lightweight_openpose",
        "resnet50_imagenet",
    )
    assert cfg.al.initial == 2000 and cfg.al.budget == 1000 and cfg.al.rounds == 4  # 2k -> 6k, as the paper


def test_output_dirs_cannot_collide():
    cfg = _compose(hydra=True)
    assert "%f" in OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["dir"]
    assert "%f" in OmegaConf.to_container(cfg.hydra.run, resolve=False)["dir"]
    assert OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["subdir"] == "${hydra.job.num}"
    assert cfg.hydra.callbacks.report._target_ == "al_bench.loop.report.ReportCallback"


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_launchers_compose(launcher):
    cfg = _compose(f"hydra/launcher={launcher}", hydra=True)
    assert cfg.hydra.launcher._target_.startswith("hydra")


def test_missing_conf_dir_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, "CONF_DIR", tmp_path / "conf")
    with pytest.raises(SystemExit, match=r"pip install -e \."):
        cli.main()


def test_default_synthetic_data_follows_the_benchmark_rules():
    """Flip with the left/right swap is valid now that chirality is learned from shape; val is large
    enough to resolve AP differences and keeps its person-free images; ap_rare has families to average."""
    data = _compose().data
    assert data.augment.flip is True
    assert data.n_val >= 300 and data.val_require_keypoints is False
    assert list(data.rare_families) == ["arms_raised", "crouching"] and data.families == "upright"
    assert _compose("data=coco").data.val_require_keypoints is False
