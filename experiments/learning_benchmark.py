"""Pose engine learning benchmark: tiny model, 1,000 synthetic training images, OKS AP on 300 val images.

    python experiments/learning_benchmark.py [--checkpoint PATH] [--figure PATH] [hydra overrides ...]

Defaults: model=tiny train=tiny_cpu data.n_pool=1000 data.n_val=300 (overrides replace them). Prints
one JSON line of results (AP, wall time, training img/s). With --figure, also draws predicted skeletons
on val images and on the real COCO sample (experiments/draw_predictions.py does this for any checkpoint).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from al_bench.config_schema import register_configs
from al_bench.pose.benchmark import learning_benchmark
from al_bench.threads import set_cpu_threads

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = ["model=tiny", "train=tiny_cpu", "data.n_pool=1000", "data.n_val=300"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint", default="outputs/learning_benchmark/tiny.pt", help="where to save the model"
    )
    parser.add_argument("--figure", default=None, help="PNG of predicted skeletons (val + real COCO sample)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.steps=800")
    args = parser.parse_args()
    keys = {o.split("=", 1)[0] for o in args.overrides}
    overrides = [d for d in DEFAULTS if d.split("=", 1)[0] not in keys] + args.overrides
    register_configs()  # conf/ extends these schemas
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    set_cpu_threads(int(cfg.get("num_threads", 2)))
    result = learning_benchmark(cfg, checkpoint=args.checkpoint)
    print(json.dumps({"overrides": overrides, **result}))
    if args.figure:
        draw = [
            sys.executable,
            str(REPO / "experiments/draw_predictions.py"),
            "--checkpoint",
            args.checkpoint,
        ]
        subprocess.run([*draw, "--out", args.figure, *overrides], check=True)


if __name__ == "__main__":
    main()
