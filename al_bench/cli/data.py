"""``al-bench-data``: generate the synthetic data set and inspect a generated one.

    al-bench-data synthetic --out DIR --n-pool N --n-val M --seed S [--image-size 128]
                            [--val-distribution pool|balanced] [--burst-share 0.6 --n-bursts 10]
    al-bench-data inspect DIR [--split pool|val] [--sheet PATH] [--n-sheet 32]
    al-bench-data merge --labeled LABELED.json --export EXPORT.json --picks PICKS.json [--out OUT.json]
    al-bench-data ceiling ANNOTATIONS.json IMAGE_DIR [--input-size 368 --stride 8 --sigma 7 --paf-width 8]
                          [--resize long_side|height] [--decode KEY=VALUE ...] [--sheet PATH] [--json PATH]

Errors exit with a one-line message, no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from al_bench.annotate.merge import merge_annotations
from al_bench.data.coco import BadAnnotationError, CocoKeypoints, DataNotFoundError
from al_bench.data.synthetic import (
    FACINGS,
    FAMILY_MIXES,
    IMAGES_SUBDIR,
    POOL_ANN,
    POSE_FAMILIES,
    SCENE_TYPES,
    VAL_ANN,
    generate_synthetic,
)
from al_bench.data.visualize import keypoint_sheet

AREA_RANGES = ("small", "medium", "large")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="al-bench-data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("synthetic", help="generate the synthetic COCO-keypoints data set")
    gen.add_argument("--out", required=True, type=Path, help="output folder")
    gen.add_argument("--n-pool", required=True, type=int)
    gen.add_argument("--n-val", required=True, type=int)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--image-size", type=int, default=128)
    gen.add_argument("--val-distribution", choices=("pool", "balanced"), default="pool")
    gen.add_argument(
        "--families",
        choices=tuple(FAMILY_MIXES),
        default="upright",
        help="pose-family mix (all: + lying, upside down)",
    )
    # The benchmark's values (conf/data/synthetic.yaml), so that the command makes the set a run uses.
    gen.add_argument(
        "--burst-share",
        type=float,
        default=0.6,
        help="share of the pool that is frames of a few near-duplicate bursts (0: independent images)",
    )
    gen.add_argument("--n-bursts", type=int, default=10, help="how many bursts those frames come from")
    ins = sub.add_parser("inspect", help="print statistics of a synthetic data set and write a contact sheet")
    ins.add_argument("dir", type=Path)
    ins.add_argument("--split", choices=("pool", "val"), default="pool")
    ins.add_argument(
        "--sheet", type=Path, default=None, help="contact sheet PNG (default DIR/sheet_<split>.png)"
    )
    ins.add_argument("--n-sheet", type=int, default=32, help="images on the contact sheet")
    mrg = sub.add_parser(
        "merge",
        help="merge an annotation export (COCO keypoints, Label Studio JSON) into a labeled COCO set",
    )
    mrg.add_argument("--labeled", required=True, type=Path, help="labeled COCO JSON (created when missing)")
    mrg.add_argument(
        "--export", required=True, type=Path, help="CVAT / Label Studio COCO export or Label Studio JSON"
    )
    mrg.add_argument(
        "--picks", required=True, type=Path, help="coco_images.json or picks.json naming the picked images"
    )
    mrg.add_argument("--out", type=Path, default=None, help="merged set (default: --labeled, in place)")
    _add_ceiling_parser(sub)
    return parser


def _add_ceiling_parser(sub) -> None:
    cei = sub.add_parser(
        "ceiling",
        help="the decoder ceiling of a COCO keypoints set: ground truth encoded as targets, decoded, COCOeval",
        description="AP/AR of ground truth -> targets -> decoder -> COCOeval, overall, per area range and per "
        "number of labelled keypoints, and a contact sheet of the images of the worst persons. The defaults "
        "are lightweight_openpose's encoding (368 px, stride 8, sigma 7, PAF width 8); the tiny model's is "
        "--input-size 128 --stride 4 --sigma 3 --paf-width 4.",
    )
    cei.add_argument("annotations", type=Path, help="COCO person_keypoints JSON")
    cei.add_argument("images", type=Path, help="folder holding its images (read for the contact sheet only)")
    cei.add_argument("--input-size", type=int, default=368)
    cei.add_argument("--stride", type=int, default=8)
    cei.add_argument("--sigma", type=float, default=7.0, help="heatmap Gaussian sigma, input pixels")
    cei.add_argument("--paf-width", type=float, default=8.0, help="PAF half-width, input pixels")
    cei.add_argument(
        "--resize",
        choices=("long_side", "height"),
        default="long_side",
        help="long_side: the harness's letterbox; height: OpenPose's test protocol (height to --input-size)",
    )
    cei.add_argument(
        "--decode", action="append", default=[], metavar="KEY=VALUE", help="decoder setting (infer.decode)"
    )
    cei.add_argument("--sheet", type=Path, default=None, help="contact sheet of the worst persons' images")
    cei.add_argument("--n-worst", type=int, default=8, help="persons listed and drawn")
    cei.add_argument("--json", type=Path, default=None, help="write the report (metrics, bins, persons) here")


def _ceiling(args: argparse.Namespace) -> None:
    import json

    from al_bench.pose.ceiling import Encoding, decoder_ceiling
    from al_bench.pose.decode import DecodeParams
    from al_bench.pose.draw import prediction_sheet, save_sheet

    source = CocoKeypoints(args.annotations, args.images)
    encoding = Encoding(args.input_size, args.stride, args.sigma, args.paf_width, args.resize)
    report = decoder_ceiling(source, encoding, DecodeParams.from_cfg(_decode_settings(args.decode)))
    print("\n".join(format_ceiling(report, encoding, len(source), args.n_worst)))
    worst = report.worst(args.n_worst)
    if args.sheet and worst:
        ids = list(dict.fromkeys(p["image_id"] for p in worst))
        print(f"contact sheet: {save_sheet(prediction_sheet(source, ids, report.results), args.sheet)}")
    if args.json:
        payload = {"encoding": vars(encoding), "metrics": report.metrics,
                   "by_keypoint_count": report.by_keypoint_count, "persons": report.persons}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=1))
        print(f"report: {args.json}")


def _decode_settings(pairs: Sequence[str]) -> dict:
    """``["join_reach=1.5", "subpixel=false"]`` -> typed ``infer.decode`` settings (YAML scalars)."""
    import yaml

    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--decode expects KEY=VALUE, got {pair!r}")
        settings[key.strip()] = yaml.safe_load(value)
    return settings


def format_ceiling(report, encoding, n_images: int, n_worst: int = 8) -> list[str]:
    """The ceiling report as printed lines."""
    m = report.metrics
    title = (
        f"decoder ceiling of {n_images} images at {encoding.input_size} px / stride {encoding.stride} "
        f"(sigma {encoding.sigma}, PAF width {encoding.paf_width}, resize {encoding.resize})"
    )
    lines = [
        title,
        f"  all: AP {m['ap']:.4f}  AP50 {m['ap50']:.4f}  AP75 {m['ap75']:.4f}  AR {m['ar']:.4f}",
        f"  by area: APm {m['apm']:.4f}  APl {m['apl']:.4f}  ARm {m['arm']:.4f}  ARl {m['arl']:.4f}",
        "  by labelled keypoints:",
    ]
    for name, row in report.by_keypoint_count.items():
        lines.append(f"    {name:>6}: {row['n_persons']:4d} persons  AP {row['ap']:.4f}  AR {row['ar']:.4f}")
    lines.append("  worst persons (image, annotation, labelled keypoints, area, OKS after matching):")
    for p in report.worst(n_worst):
        lines.append(
            f"    {p['image_id']:>12} {p['annotation_id']:>10} {p['num_keypoints']:3d} {p['area']:10.0f} {p['oks']:.3f}"
        )
    return lines


def _merge(args: argparse.Namespace) -> None:
    report = merge_annotations(args.labeled, args.export, args.picks, args.out)
    print("\n".join(report.lines()))


def _synthetic(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    paths = generate_synthetic(
        args.out,
        args.n_pool,
        args.n_val,
        args.image_size,
        args.seed,
        args.val_distribution,
        args.families,
        args.burst_share,
        args.n_bursts,
    )
    elapsed = time.perf_counter() - start
    print(f"wrote {args.n_pool} pool + {args.n_val} val images to {paths.root} in {elapsed:.1f} s")


def _table(title: str, counts: Counter, order: Sequence | None = None) -> list[str]:
    total = sum(counts.values())
    keys = list(order) if order is not None else sorted(counts)
    lines = [f"{title} (total {total}):"]
    for key in keys:
        n = counts.get(key, 0)
        lines.append(f"  {key!s:<12} {n:>7}  {100.0 * n / max(total, 1):5.1f} %")
    return lines


def _area_range(area: float) -> str:
    """COCO's area ranges (pixels): small < 32², medium < 96², large."""
    return "small" if area < 32**2 else "medium" if area < 96**2 else "large"


def _bursts_line(bursts: Counter, n_images: int) -> str:
    n_frames = sum(bursts.values())
    line = f"burst frames (near-duplicates): {n_frames} ({100.0 * n_frames / max(n_images, 1):.1f} %)"
    if bursts:
        lengths = bursts.values()
        line += f" in {len(bursts)} bursts of {min(lengths)}-{max(lengths)} frames"
    return line


def inspect_dataset(directory: Path, split: str) -> tuple[CocoKeypoints, list[str]]:
    """Load a generated split and describe it: sizes (COCO area ranges), facing, visibility, crowds,
    person-free images, burst frames, pose families, scenes."""
    ann = directory / (POOL_ANN if split == "pool" else VAL_ANN)
    source = CocoKeypoints(ann, directory / IMAGES_SUBDIR, require_keypoints=False)
    families, facings, scenes, people, vis = Counter(), Counter(), Counter(), Counter(), Counter()
    areas_kp, areas_all, crowd_images, person_free, bursts = Counter(), Counter(), 0, 0, Counter()
    for image_id in source.image_ids:
        attrs = source.attributes(image_id)
        if attrs.get("burst") is not None:
            bursts[attrs["burst"]] += 1
        scenes[attrs.get("scene_type", "?")] += 1
        anns = source.annotations(image_id)
        persons = [a for a in anns if not a.get("iscrowd", 0) and a["num_keypoints"] > 0]
        people[len(persons)] += 1
        person_free += not any(not a.get("iscrowd", 0) for a in anns)
        crowd_images += any(a.get("iscrowd", 0) for a in anns)
        for a in anns:
            if not a.get("iscrowd", 0):
                areas_all[_area_range(a["area"])] += 1
        for a in persons:
            areas_kp[_area_range(a["area"])] += 1
            families[a.get("pose_family", "?")] += 1
            facings[a.get("facing", "?")] += 1
            vis.update(int(v) for v in a["keypoints"][2::3])
    n_images = len(source.image_ids)
    n_crowd = sum(a.get("iscrowd", 0) for a in source.coco.anns.values())
    labelled = vis[1] + vis[2]
    lines = [
        f"{ann}: {n_images} images, {len(source.coco.anns)} annotations",
        f"person-free images: {person_free} ({100.0 * person_free / max(n_images, 1):.1f} %)",
        f"crowd regions (iscrowd 1): {n_crowd}, in {crowd_images} images",
        f"labelled keypoints hidden (v = 1): {100.0 * vis[1] / max(labelled, 1):.1f} % of {labelled}",
        _bursts_line(bursts, n_images),
    ]
    lines += _table("area of persons with keypoints (COCO ranges)", areas_kp, AREA_RANGES)
    lines += _table("area of all persons, num_keypoints 0 included", areas_all, AREA_RANGES)
    lines += _table("facing (persons with keypoints)", facings, FACINGS)
    lines += _table("pose families (persons with keypoints)", families, POSE_FAMILIES)
    lines += _table("persons with keypoints per image (images)", people)
    lines += _table("keypoint visibility v (persons with keypoints)", vis, (0, 1, 2))
    lines += _table("scene types (images)", scenes, SCENE_TYPES)
    return source, lines


def _inspect(args: argparse.Namespace) -> None:
    source, lines = inspect_dataset(args.dir, args.split)
    print("\n".join(lines))
    sheet = args.sheet or args.dir / f"sheet_{args.split}.png"
    path = keypoint_sheet(source, source.image_ids[: max(1, args.n_sheet)], sheet)
    print(f"contact sheet: {path}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``al-bench-data``; returns 0 or exits with an error message."""
    # Not a Hydra app: the package's status messages (logging, al_bench.*) go to the terminal.
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = _parser().parse_args(argv)
    try:
        {"synthetic": _synthetic, "inspect": _inspect, "merge": _merge, "ceiling": _ceiling}[args.command](
            args
        )
    except (DataNotFoundError, BadAnnotationError, ValueError, OSError) as err:
        sys.exit(f"al-bench-data: error: {err}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
