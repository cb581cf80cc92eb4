"""Status messages go through ``logging``: each Hydra job writes its own to ``<job dir>/main.log``."""

import subprocess
import sys

from cli_support import FAKE_PIECES, cli_env, tiny_run_name


def test_each_job_of_a_sweep_logs_its_own_rounds_to_its_main_log(tmp_path, run_cli):
    out = tmp_path / "out"
    proc = run_cli(out, FAKE_PIECES, "strategy=random", "seed=0,1")
    names = {seed: tiny_run_name("random", seed) for seed in (0, 1)}
    logs = sorted(out.glob("multirun/*/*/main.log"))
    assert len(logs) == 2, proc.stdout[-2000:]
    by_seed = {}
    for path in logs:
        text = path.read_text()
        [seed] = [s for s, name in names.items() if f"[al-bench] {name} round 0:" in text]
        other = names[1 - seed]
        assert all(f"[al-bench] {names[seed]} round {r}:" in text for r in (0, 1, 2)), text
        assert other not in text  # the other job's messages are in its own file
        by_seed[seed] = path
    assert sorted(by_seed) == [0, 1]
    assert f"[al-bench] {names[0]} round 2:" in proc.stdout  # and on the console, as before


def test_argparse_cli_shows_package_status_on_the_terminal(tmp_path):
    """Not a Hydra app: its ``main`` configures logging, so al_bench's INFO messages reach stderr."""
    code = (
        "import logging, sys; from al_bench.cli import data; "
        "data.main(['synthetic', '--out', sys.argv[1], '--n-pool', '2', '--n-val', '1']); "
        "logging.getLogger('al_bench.data').info('a status line')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "syn")],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "a status line" in proc.stderr and "wrote 2 pool + 1 val images" in proc.stdout
