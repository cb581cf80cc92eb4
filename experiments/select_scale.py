"""``al-bench-select`` at scale: one selection over N synthetic images on the CPU, time per 1,000 images.

    python experiments/select_scale.py [--n-images 10000] [--work /tmp/select_scale] [--budget 100]
        [--strategies heatmap_annoy diversity] [--checkpoint model.pt | --train-steps 200] [overrides ...]

1. ``al-bench-data synthetic`` data (``--n-images`` pool images, seed 0; reused when ``--work`` has them);
   the pool's COCO file is the ``images=`` listing, so exactly N candidates (annotations are ignored).
2. A tiny checkpoint: ``--checkpoint``, else the tiny model trained ``--train-steps`` optimizer steps on the
   first 200 pool images (``train=tiny_cpu``), saved in ``--work``.
3. ``al-bench-select`` (``python -m al_bench.cli.select``, a fresh process each) once per strategy with
   ``budget``, ``track=false``, ``num_threads`` torch threads; the Hydra overrides go to every selection
   (e.g. ``index.n_trees=50``).

Prints a Markdown table of ``picks.json``'s timing parts (seconds, and seconds per 1,000 images) and one
JSON line per strategy. ``select_uncertainty_s`` is the pool's forward pass (with ``embedding=pose_backbone``
it also keeps the backbone features, so the candidates' ``select_embedding_s`` is a lookup);
``select_index_build_s`` and ``select_query_s`` (the walk) are over the strategy's candidates:
``budget / selection_ratio`` for ``heatmap_annoy``, the whole pool for ``diversity``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from al_bench.config_schema import register_configs
from al_bench.threads import set_cpu_threads

REPO = Path(__file__).resolve().parents[1]
PARTS = (
    ("scan_s", "scan: list + decode every file once (PIL)"),
    ("load_model_s", "load the checkpoint"),
    ("context_s", "selection context (imports the embedders)"),
    ("select_uncertainty_s", "inference: pool forward pass + uncertainty"),
    ("select_embedding_s", "embedding of the candidates"),
    ("select_index_build_s", "index build over the candidates"),
    ("select_query_s", "walk (index queries)"),
    ("select_total_s", "selection in all (the loop's sampling time)"),
    ("select_quality_s", "quality measures (not in the selection time)"),
    ("preannotate_s", "pre-annotations: predict + decode the picks"),
    ("write_s", "write the output folder"),
    ("total_s", "total (run_select)"),
    ("process_wall_s", "process wall time (interpreter start, imports, Hydra included)"),
)


def synthetic_pool(work: Path, n_images: int) -> tuple[Path, Path, float]:
    """``(pool COCO file, image folder, seconds to generate)``; reuses an existing set of the same size."""
    from al_bench.data.synthetic import generate_synthetic

    syn = work / f"syn_{n_images}"
    ann = syn / "person_keypoints_pool.json"
    if ann.exists() and len(json.loads(ann.read_text())["images"]) == n_images:
        return ann, syn / "images", 0.0
    start = time.perf_counter()
    paths = generate_synthetic(syn, n_pool=n_images, n_val=1, seed=0)
    return Path(paths.pool_ann), Path(paths.image_dir), time.perf_counter() - start


def tiny_checkpoint(work: Path, pool_ann: Path, image_dir: Path, steps: int) -> tuple[Path, float]:
    """The tiny model trained ``steps`` steps on the first 200 pool images; ``(path, seconds)``."""
    from al_bench.data.coco import CocoKeypoints
    from al_bench.pose.checkpoint import save_checkpoint
    from al_bench.pose.train import fit

    path = work / f"tiny_{steps}steps.pt"
    if path.exists():
        return path, 0.0
    overrides = ["model=tiny", "train=tiny_cpu", f"train.steps={steps}", f"train.min_steps={steps}",
                 "train.device=cpu", "train.num_workers=0", "train.progress=false"]  # fmt: skip
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    source = CocoKeypoints(pool_ann, image_dir)
    start = time.perf_counter()
    model, _ = fit(cfg, source, [int(i) for i in source.image_ids[:200]])
    save_checkpoint(path, model, OmegaConf.to_container(cfg.model, resolve=True))
    return path, time.perf_counter() - start


def select_once(ckpt: Path, pool_ann: Path, image_dir: Path, out: Path, strategy: str, budget: int,
                threads: int, overrides: list[str]) -> dict:  # fmt: skip
    """One ``al-bench-select`` in its own process (as a user runs it: cold start); returns its ``picks.json``."""
    cmd = [
        sys.executable, "-m", "al_bench.cli.select",
        f"checkpoint={ckpt}", f"images={pool_ann}", f"image_dir={image_dir}", f"budget={budget}",
        f"strategy={strategy}", f"out={out}", f"paths.output_dir={out.parent}", "device=cpu", "track=false",
        f"num_threads={threads}", *overrides,
    ]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    summary = json.loads((out / "picks.json").read_text())
    summary["timings"]["process_wall_s"] = time.perf_counter() - start
    return summary


def table(n_images: int, runs: dict[str, dict]) -> str:
    names = list(runs)
    lines = [
        "| part | " + " | ".join(f"{s}: s | {s}: s / 1,000 images" for s in names) + " |",
        "| --- |" + " --- | --- |" * len(names),
    ]
    for key, what in PARTS:
        cells = []
        for name in names:
            value = runs[name]["timings"].get(key)
            cells += ["-", "-"] if value is None else [f"{value:.2f}", f"{1000.0 * value / n_images:.3f}"]
        lines.append(f"| {what} (`{key}`) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n-images", type=int, default=10_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/select_scale"))
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--strategies", nargs="+", default=["heatmap_annoy", "diversity"])
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="a pose checkpoint (default: train one)"
    )
    parser.add_argument(
        "--train-steps", type=int, default=200, help="steps of the tiny model when no --checkpoint"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "overrides", nargs="*", help="Hydra overrides of conf/select.yaml for every selection"
    )
    args = parser.parse_args()
    register_configs()  # conf/ extends these schemas
    set_cpu_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    pool_ann, image_dir, gen_s = synthetic_pool(args.work, args.n_images)
    print(f"synthetic pool: {args.n_images} images in {image_dir} ({gen_s:.1f} s to generate; 0: reused)")
    if args.checkpoint is None:
        ckpt, train_s = tiny_checkpoint(args.work, pool_ann, image_dir, args.train_steps)
        print(f"checkpoint: {ckpt} ({train_s:.1f} s of training; 0: reused)")
    else:
        ckpt = args.checkpoint
    runs = {}
    for strategy in args.strategies:
        out = args.work / f"picks_{strategy}"
        summary = select_once(
            ckpt, pool_ann, image_dir, out, strategy, args.budget, args.threads, args.overrides
        )
        runs[strategy] = summary
        line = {
            k: summary[k] for k in ("strategy", "budget", "n_candidates", "n_skipped", "timings", "quality")
        }
        print(json.dumps({"n_images": args.n_images, "checkpoint": str(ckpt), **line}))
    print(table(args.n_images, runs))


if __name__ == "__main__":
    main()
