"""``--help`` of the Hydra console scripts opens with what the tool does and how to call it."""

import subprocess
import sys

import pytest
from cli_support import cli_env


def _help(module: str, tmp_path) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return proc.stdout


@pytest.mark.parametrize(
    ("module", "opening"),
    [
        ("al_bench.cli.main", "al-bench: active-learning benchmark for multi-person pose estimation."),
        ("al_bench.cli.search", "al-bench-search: the ANN-vs-exact k-NN benchmark"),
    ],
)
def test_help_starts_with_what_the_tool_does_and_three_examples(module, opening, tmp_path):
    text = _help(module, tmp_path)
    assert text.startswith(opening), text[:300]
    assert "powered by Hydra" not in text
    program = opening.split(":")[0]
    examples = text.split("Examples:\n")[1].split("\n\n")[0].splitlines()
    assert len(examples) >= 2 and all(line.strip().startswith(program + " ") for line in examples)


def test_search_help_lists_its_own_config_not_al_benchs_groups(tmp_path):
    text = _help("al_bench.cli.search", tmp_path)
    assert "pool_sizes:" in text and "n_trees:" in text
    assert "Configuration groups" not in text and "heatmap_annoy, heatmap_exact" not in text


def test_select_help_starts_with_what_it_does(tmp_path):
    assert _help("al_bench.cli.select", tmp_path).startswith(
        "al-bench-select: pick the images to annotate next"
    )
