"""Figures as objects from config: composed from the ``figures`` group, built with ``hydra.utils.instantiate``.

Each figure is a file ``figures/<name>.yaml`` of ``conf/`` or of a folder of the user's own (added to
Hydra's search path, ``al-bench-figures --config-dir DIR``). Its ``_target_`` is a function with
``_partial_: true`` (the file's other keys are bound now) or a class (its instance is the figure).
Either is then called with the runtime arguments of :data:`RUNTIME_ARGS` that its signature names
(all of them if it takes ``**kwargs``), except those its file already sets, and returns the paths it
wrote; ``FiguresError`` means its inputs are missing (a skip). ``conf/figures_report.yaml`` lists the
figures drawn by default, in order; a name of the group (built-in or the user's) adds one.

Knows only Hydra and conf/; the figures themselves live in their family modules.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

import al_bench
from al_bench.figures.runs import FiguresError

GROUP = "figures"
DEFAULT_SET = "figures_report"
"""The primary config (``conf/figures_report.yaml``) whose defaults list is the default figure set."""
RUNTIME_ARGS = ("runs", "tracking_uri", "out_dir", "metric", "axis", "reference", "report")
"""What a figure can name in its signature: the complete runs (tidy table), the MLflow URI, the output
folder (a ``Path``, created), ``--metric``, ``--x``, ``--reference``, and the ``FigureReport`` being
filled (for a figure that also hands back a printed table)."""


def compose_figures(
    names: Sequence[str] = (), config_dirs: Sequence[str | Path] = (), overrides: Sequence[str] = ()
) -> DictConfig:
    """``{name: figure config}``: the default set, then each of ``names`` not in it, in that order.

    Args:
        names: figures to add (files of the ``figures`` group, built-in or in ``config_dirs``).
        config_dirs: the user's config folders, each holding ``figures/<name>.yaml``; searched after conf/.
        overrides: Hydra overrides of the composed config (``figures.selection_grid.n_images=16``).

    Raises:
        FiguresError: conf/ is missing, a name is not a figure (the message lists the valid ones), or
            the configs do not compose.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    conf = al_bench.CONF_DIR
    if not (conf / f"{DEFAULT_SET}.yaml").is_file():
        raise FiguresError(
            f"config directory {conf} has no {DEFAULT_SET}.yaml; install al_bench from a checkout "
            "with `pip install -e .`"
        )
    searchpath = [f"hydra.searchpath=[{','.join(_file_uri(d) for d in config_dirs)}]"] if config_dirs else []
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            default = compose(DEFAULT_SET, overrides=searchpath)[GROUP]
            added = list(dict.fromkeys(n for n in names if n not in default))
            loader = GlobalHydra.instance().config_loader()
            valid = loader.get_group_options(GROUP, config_name=DEFAULT_SET, overrides=searchpath)
            unknown = [n for n in added if n not in valid]
            if unknown:
                raise FiguresError(f"unknown figure {unknown[0]!r}; figures: {', '.join(valid)}")
            picks = [f"+{GROUP}@{GROUP}.{n}={n}" for n in added]
            return compose(DEFAULT_SET, overrides=[*searchpath, *picks, *overrides])[GROUP]
    except (HydraException, OmegaConfBaseException) as exc:
        raise FiguresError(f"the figure configs do not compose: {_first_line(exc)}") from exc


def build_figure(figure: DictConfig | Callable[..., Any]) -> Callable[..., Any]:
    """The figure a config names (``hydra.utils.instantiate``); a callable is already one."""
    if callable(figure):
        return figure
    from hydra.utils import instantiate

    return instantiate(figure)


def call_figure(figure: Callable[..., Any], **runtime: Any) -> list[Path]:
    """Call ``figure`` with the runtime arguments it names, leaving those its config bound as they are."""
    params = inspect.signature(figure).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    bound = figure.keywords if isinstance(figure, functools.partial) else {}
    return list(figure(**{k: v for k, v in runtime.items() if (takes_any or k in params) and k not in bound}))


def _file_uri(folder: str | Path) -> str:
    return f"file://{Path(folder).resolve()}"


def _first_line(exc: Exception) -> str:
    cause = exc.__cause__ or exc
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
