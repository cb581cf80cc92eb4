"""Profile one AL round: data, forward/backward, val predict / decode / COCOeval, each selection part,
beside the bare model rates measured in the same process (al_bench/bench/round_profile.py).

    python experiments/profile_round.py [--n-labeled 200] [--fit-steps 80] [--checkpoint M.pt]
        [--fit-repeats 3] [hydra overrides ...]

Defaults: the default run's settings (quick preset: tiny model, synthetic pool 1,000 / val 100,
strategy heatmap_annoy), one torch thread, one data worker. Prints a Markdown table and one JSON line.
Run two at once (``& wait``) to see the rates the default run's two parallel jobs get.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hydra import compose, initialize_config_dir

from al_bench.bench.round_profile import format_profile, profile_round
from al_bench.config_schema import register_configs
from al_bench.threads import set_cpu_threads

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = ["num_threads=1", "train.num_workers=1", "strategy=heatmap_annoy", "hydra.mode=RUN"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-labeled", type=int, default=200, help="labelled images the round trains on")
    parser.add_argument("--fit-steps", type=int, default=80, help="optimizer steps of the timed fit")
    parser.add_argument("--fit-repeats", type=int, default=3, help="timed fit + bare pairs (median ratio)")
    parser.add_argument(
        "--checkpoint", help="a trained model to evaluate and select with (e.g. a round-0 model of the cache)"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data.n_val=300")
    args = parser.parse_args()
    keys = {o.split("=", 1)[0] for o in args.overrides}
    overrides = [d for d in DEFAULTS if d.split("=", 1)[0] not in keys] + args.overrides
    register_configs()  # conf/ extends these schemas
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    set_cpu_threads(int(cfg.num_threads))
    out = profile_round(
        cfg,
        n_labeled=args.n_labeled,
        fit_steps=args.fit_steps,
        checkpoint=args.checkpoint,
        fit_repeats=args.fit_repeats,
    )
    print(format_profile(out))
    print(json.dumps({"overrides": overrides, **out}))


if __name__ == "__main__":
    main()
