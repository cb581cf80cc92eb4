"""Draw a pose checkpoint's predicted skeletons (next to the ground truth) on val images.

    python experiments/draw_predictions.py --checkpoint PATH --out fig.png [--n 8] [hydra overrides ...]

Shows the first --n images of the synthetic val set (cfg.data) and, when present, the four real COCO
images of ../shared/fixtures/coco_val2017_sample (a second file, <out>_coco.png).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from al_bench.config_schema import register_configs
from al_bench.data.coco import CocoKeypoints
from al_bench.data.sources import build_sources
from al_bench.evaluate.coco_eval import evaluate_keypoints
from al_bench.pose.checkpoint import load_checkpoint
from al_bench.pose.draw import prediction_sheet, save_sheet
from al_bench.pose.infer import predict

REPO = Path(__file__).resolve().parents[1]
COCO_SAMPLE = REPO.parent / "shared/fixtures/coco_val2017_sample"


def _draw(model, cfg, source, ids, out: Path, min_score: float) -> None:
    preds = predict(model, source, ids, cfg, want=("results",))
    ap = evaluate_keypoints(source.coco, preds.results, ids)["ap"]
    save_sheet(prediction_sheet(source, ids, preds.results, min_score=min_score), out)
    print(f"{out}: {len(ids)} images, {len(preds.results)} predicted persons, AP on them {ap:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", required=True, help="PNG path")
    parser.add_argument("--n", type=int, default=8, help="synthetic val images to draw")
    parser.add_argument(
        "--min-score", type=float, default=0.1, help="hide predicted persons below this score"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides selecting the data set")
    args = parser.parse_args()
    register_configs()  # conf/ extends these schemas
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=args.overrides)
    torch.set_num_threads(int(cfg.get("num_threads", 2)))
    model, _, _ = load_checkpoint(args.checkpoint)
    out = Path(args.out)
    val = build_sources(cfg.data).val
    _draw(model, cfg, val, val.image_ids[: args.n].tolist(), out, args.min_score)
    if (COCO_SAMPLE / "person_keypoints_sample.json").is_file():
        coco = CocoKeypoints(COCO_SAMPLE / "person_keypoints_sample.json", COCO_SAMPLE)
        _draw(
            model, cfg, coco, coco.image_ids.tolist(), out.with_name(out.stem + "_coco.png"), args.min_score
        )


if __name__ == "__main__":
    main()
