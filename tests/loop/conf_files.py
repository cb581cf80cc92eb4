"""Reading one option file of conf/ on its own, as tests that build a piece from a file do."""

from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def load_option(path: Path) -> DictConfig:
    """The settings a ``conf/<group>/<option>.yaml`` file sets, without its defaults list (the schema
    it names, al_bench/config_schema.py, applies only when Hydra composes the file)."""
    cfg = OmegaConf.load(path)
    cfg.pop("defaults", None)
    return cfg
