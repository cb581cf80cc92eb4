"""``al-bench-select``: pick the images a human should annotate next, from a trained model and unlabeled images.

The flow (issue 13, DESIGN.md "Annotate next"):

1. :func:`scan_images` lists the candidates: a folder (recursive, ``.jpg/.jpeg/.png`` in any case) or a COCO
   JSON of images. Every file is opened and decoded with PIL; a non-image file or an unreadable image is
   skipped, named and counted (never aborting the run); nothing readable is a :class:`SelectError`.
2. :func:`build_source` writes one images-only COCO file holding the candidates and (optionally) the
   already labeled images, with non-colliding ids, read with ``CocoKeypoints(require_keypoints=False)``.
3. :func:`run_select` runs the configured strategy exactly as the loop does (``selection_context`` then
   ``strategy.select``), predicts the picks' persons, and writes one output folder atomically:
   ``picks.json``, ``picks.csv``, ``coco_images.json``, ``label_studio_config.xml``,
   ``label_studio_tasks.json`` and ``picks.png``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from al_bench.annotate.atomic import atomic_output_dir, atomic_write_json, atomic_write_text
from al_bench.annotate.formats import Pick, write_annotation_files

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
PICKS_JSON = "picks.json"
PICKS_CSV = "picks.csv"
PICKS_PNG = "picks.png"
EXPERIMENT = "al_bench_select"

# The last stage a pick passed, by strategy name (every pick of one strategy passes the same stages).
STAGES = {
    "random": "random",
    "uncertainty": "uncertainty",
    "mpe": "uncertainty",
    "uncertainty_random": "uncertainty+random",
    "diversity": "diversity_walk",
    "heatmap_annoy": "uncertainty+diversity_walk",
    "heatmap_exact": "uncertainty+diversity_walk",
    "coreset": "coreset",
}


class SelectError(ValueError):
    """``al-bench-select`` cannot run on these inputs: the message names the input and what is wrong."""


@dataclass(frozen=True)
class ImageEntry:
    """One readable image: ``file_name`` relative to its folder, ``path`` absolute."""

    image_id: int
    file_name: str
    path: Path
    width: int
    height: int


@dataclass
class ScanResult:
    """Readable images and the skipped files (``(path, reason)``)."""

    images: list[ImageEntry]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    ids: frozenset[int] = frozenset()  # labeled: every image id of the file (also of missing files)


def probe_image(path: Path) -> tuple[int, int]:
    """``(width, height)`` of an image PIL can fully decode; raises ``OSError``/``ValueError`` otherwise.

    The size comes from the header; the pixels are decoded too, so a truncated file is caught here rather
    than aborting inference later.
    """
    from PIL import Image

    with Image.open(path) as img:
        size = img.size
        img.load()
    return int(size[0]), int(size[1])


def _probe_or_reason(path: Path) -> tuple[tuple[int, int] | None, str]:
    try:
        return probe_image(path), ""
    except Exception as err:  # noqa: BLE001 - any failure to read one file skips that file
        return None, f"unreadable image ({type(err).__name__}: {err})"


def scan_images(
    images: str | Path, image_dir: str | Path | None = None, exclude: Path | None = None, first_id: int = 1
) -> ScanResult:
    """The candidate images of a folder (recursive) or of a COCO JSON that lists images.

    Args:
        images: a folder, or a COCO JSON with an ``images`` list (``id``, ``file_name``; annotations ignored).
        image_dir: for a JSON, the folder ``file_name`` is relative to (default: the JSON's folder).
        exclude: a folder whose files are never candidates (the output folder, when it lies inside).

    Returns:
        ids ``first_id..first_id+N-1`` in sorted path order for a folder (``run_select`` starts them above
        the labeled set's ids, so picks merge without id clashes); the JSON's own ids for a JSON.

    Raises:
        SelectError: the path does not exist, the folder holds no file, or no file is a readable image.
    """
    images = Path(images)
    if not images.exists():
        raise SelectError(f"images={images}: no such folder or file")
    skipped: list[tuple[str, str]] = []
    entries: list[ImageEntry] = []
    if images.is_dir():
        root = images.resolve()
        skip_root = exclude.resolve() if exclude is not None else None
        files = sorted(
            p for p in root.rglob("*")
            if p.is_file() and not (skip_root and skip_root in p.resolve().parents)
        )  # fmt: skip
        if not files:
            raise SelectError(
                f"images={images}: the folder holds no files (looked for {', '.join(IMAGE_SUFFIXES)})"
            )
        for path in files:
            rel = path.relative_to(root).as_posix()
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append((rel, f"not an image file (suffix not one of {', '.join(IMAGE_SUFFIXES)})"))
                continue
            size, reason = _probe_or_reason(path)
            if size is None:
                skipped.append((rel, reason))
                continue
            entries.append(ImageEntry(first_id + len(entries), rel, path, *size))
        what = f"the folder {images}"
    else:
        rows = _coco_images(images, "images", "a folder nor a readable COCO JSON", "a COCO JSON")
        root = Path(image_dir) if image_dir is not None else images.parent
        seen: set[int] = set()
        for i, row in enumerate(rows):
            image_id = row.get("id") if isinstance(row, dict) else None
            name = row.get("file_name") if isinstance(row, dict) else None
            if not isinstance(image_id, int) or isinstance(image_id, bool) or not name:
                skipped.append((f"images[{i}]", f"needs an integer id and a file_name, got {row!r}"))
                continue
            if image_id in seen:
                skipped.append((str(name), f"duplicate image id {image_id}"))
                continue
            path = root / name
            if not path.is_file():
                skipped.append((str(name), f"no such file under {root}"))
                continue
            size, reason = _probe_or_reason(path)
            if size is None:
                skipped.append((str(name), reason))
                continue
            seen.add(image_id)
            entries.append(ImageEntry(image_id, str(name), path.resolve(), *size))
        what = f"{images} (images under {root})"
    if not entries:
        raise SelectError(f"images={images}: no readable image in {what}; {len(skipped)} file(s) skipped")
    return ScanResult(entries, skipped)


def _coco_images(path: Path, key: str, readable: str, kind: str) -> list:
    """The ``images`` list of the COCO JSON at ``path``; errors name the config ``key`` and the file."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SelectError(f"{key}={path}: not {readable} ({err})") from err
    rows = raw.get("images") if isinstance(raw, dict) else None
    if not isinstance(rows, list):
        raise SelectError(f"{key}={path}: {kind} needs an 'images' list")
    return rows


def load_labeled(labeled: str | Path, image_dir: str | Path) -> ScanResult:
    """The images of a labeled COCO keypoints JSON whose files exist under ``image_dir`` (others skipped).

    Raises:
        SelectError: the file is missing or not a COCO JSON with an ``images`` list.
    """
    labeled = Path(labeled)
    rows = _coco_images(labeled, "labeled", "a readable COCO keypoints JSON", "a COCO keypoints JSON")
    root = Path(image_dir)
    out, skipped = [], []
    ids = frozenset(
        r["id"]
        for r in rows
        if isinstance(r, dict) and isinstance(r.get("id"), int) and not isinstance(r["id"], bool)
    )
    for row in rows:
        name = row.get("file_name") if isinstance(row, dict) else None
        path = root / str(name)
        if not name or not path.is_file():
            skipped.append((f"labeled:{name}", f"no such file under {root}"))
            continue
        size, reason = _probe_or_reason(path)
        if size is None:
            skipped.append((f"labeled:{name}", reason))
            continue
        out.append(ImageEntry(int(row.get("id", 0)), str(name), path.resolve(), *size))
    return ScanResult(out, skipped, ids)


def build_source(
    candidates: Sequence[ImageEntry],
    labeled: Sequence[ImageEntry],
    work_dir: Path,
    taken_ids: frozenset[int] = frozenset(),
):
    """One images-only COCO source of candidates and labeled images: ``(source, pool_ids, labeled_ids, pool)``.

    Both keep their ids (the picks' ids are the ones ``al-bench-data merge`` adds to the labeled set). A
    labeled image that is the same file as a candidate removes that candidate (it is never picked).
    ``file_name`` s are the absolute paths (``image_dir / absolute`` is the absolute path), so the two sets
    may live in different folders.

    Raises:
        SelectError: a candidate's id is an id of the labeled set (``taken_ids``) for another file.
    """
    from al_bench.data.coco import CocoKeypoints

    labeled_paths = {e.path for e in labeled}
    pool = [e for e in candidates if e.path not in labeled_paths]
    labeled_entries = list({e.image_id: e for e in {e.path: e for e in labeled}.values()}.values())
    taken = set(taken_ids) | {e.image_id for e in labeled_entries}
    clash = [e for e in pool if e.image_id in taken]
    if clash:
        raise SelectError(
            f"image id {clash[0].image_id} ({clash[0].file_name}) of images= is also an image id of labeled= "
            f"({len(clash)} such ids): the picks keep their ids when merged, so the two must not share ids"
        )
    images = [
        {"id": e.image_id, "file_name": str(e.path), "width": e.width, "height": e.height}
        for e in [*pool, *labeled_entries]
    ]
    dataset = {
        "info": {"description": "al-bench-select candidates (images only)"},
        "images": images,
        "annotations": [],
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }
    ann_file = work_dir / "select_source.json"
    ann_file.write_text(json.dumps(dataset), encoding="utf-8")
    source = CocoKeypoints(ann_file, work_dir, require_keypoints=False)
    pool_ids = np.asarray(sorted(e.image_id for e in pool), dtype=np.int64)
    labeled_ids = np.asarray([e.image_id for e in labeled_entries], dtype=np.int64)
    return source, pool_ids, labeled_ids, pool


def fingerprint(entries: Sequence[ImageEntry]) -> str:
    """A key of the image set (paths, sizes, mtimes) for the embedding cache."""
    digest = hashlib.sha1()
    for e in entries:
        stat = e.path.stat()
        digest.update(
            f"{e.image_id}|{e.path}|{e.width}x{e.height}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
        )
    return "select-" + digest.hexdigest()[:16]


# -- the model -------------------------------------------------------------------------------------


def resolve_checkpoint(cfg: DictConfig, work_dir: Path) -> tuple[Path, str]:
    """The checkpoint file of ``checkpoint=`` or ``run=`` (downloaded from MLflow); ``(path, description)``.

    Raises:
        SelectError: both or neither given, or the run has no ``model/*.pt`` artifact.
    """
    ckpt, run_id = cfg.get("checkpoint"), cfg.get("run")
    if (ckpt is None) == (run_id is None):
        given = "both" if ckpt is not None else "neither"
        raise SelectError(
            f"give exactly one of checkpoint=<file.pt> or run=<MLflow run id> ({given} given: "
            f"checkpoint={ckpt!r}, run={run_id!r})"
        )
    if ckpt is not None:
        return Path(str(ckpt)), f"checkpoint {ckpt}"
    import mlflow.artifacts

    uri = str(cfg.tracking.uri)
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=str(run_id), artifact_path="model", tracking_uri=uri, dst_path=str(work_dir / "model")
        )
    except Exception as err:
        raise SelectError(
            f"run={run_id}: cannot download its final model (artifact model/*.pt) from {uri}: "
            f"{type(err).__name__}: {err}"
        ) from err
    found = sorted(Path(local).rglob("*.pt"))
    if len(found) != 1:
        raise SelectError(
            f"run={run_id}: expected one model/*.pt artifact in {uri}, found {[p.name for p in found]}"
        )
    return found[0], f"MLflow run {run_id} ({found[0].name})"


def load_model(path: Path, cfg: DictConfig):
    """``load_checkpoint(path)``; with ``input_size=`` set, a checkpoint of another input size is refused."""
    from al_bench.pose.checkpoint import load_checkpoint

    model, model_cfg, _ = load_checkpoint(path)  # raises naming the stored and current model configs
    want = cfg.get("input_size")
    if want is not None and int(want) != int(model.input_size):
        raise SelectError(
            f"{path}: the checkpoint's model (model.name={model_cfg.get('name')!r}) has input_size="
            f"{model.input_size}, but input_size={want} was asked for"
        )
    return model, model_cfg


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class SelectResult:
    """What one ``al-bench-select`` run wrote."""

    out_dir: Path
    picks: list[dict]
    timings: dict[str, float]
    skipped: list[tuple[str, str]]
    n_candidates: int
    n_labeled: int
    mlflow_run_id: str | None = None


def clip_persons(persons: Sequence[Mapping], width: int, height: int) -> tuple[list[dict], int]:
    """Predicted persons with every predicted keypoint (score > 0) moved into the image, and how many moved.

    Decoding can put a point a few pixels outside the image (a face at the top edge); as a pre-annotation
    it is a suggestion the annotator corrects, and ``al-bench-data merge`` refuses points outside the image,
    so it is clipped to ``[0, width - 1] x [0, height - 1]``.
    """
    out, moved = [], 0
    for person in persons:
        kps = np.asarray(person["keypoints"], dtype=np.float64).reshape(-1, 3).copy()
        on = kps[:, 2] > 0
        clipped = kps.copy()
        clipped[:, 0] = np.clip(kps[:, 0], 0, max(0, width - 1))
        clipped[:, 1] = np.clip(kps[:, 1], 0, max(0, height - 1))
        changed = on & (np.abs(clipped[:, :2] - kps[:, :2]).sum(axis=1) > 0)
        moved += int(changed.sum())
        kps[on] = clipped[on]
        out.append({**dict(person), "keypoints": [float(v) for v in kps.reshape(-1)]})
    return out, moved


def _person_array(persons: Sequence[Mapping]) -> np.ndarray:
    """COCO results (``keypoints``: x, y, score) as ``(P, 17, 3)`` with v=2 where the score is positive."""
    if not persons:
        return np.zeros((0, 17, 3), np.float32)
    kps = np.asarray([p["keypoints"] for p in persons], dtype=np.float32).reshape(-1, 17, 3)
    kps[..., 2] = np.where(kps[..., 2] > 0, 2.0, 0.0)
    return kps


def contact_sheet_png(
    picks: Sequence[Pick], paths: Sequence[Path], path: Path, tile: int, ncols: int
) -> Path:
    """``picks.png``: the picks in rank order with their predicted skeletons (``data.visualize``)."""
    from al_bench.data.visualize import contact_sheet, draw_keypoints, letterbox_tile

    tiles, labels = [], []
    for rank, (pick, image_path) in enumerate(zip(picks, paths, strict=True), start=1):
        shown, scale = letterbox_tile(image_path, tile)
        kps = _person_array(pick.persons)
        kps[..., :2] = (kps[..., :2] + 0.5) * scale - 0.5
        tiles.append(draw_keypoints(shown, kps, radius=max(1.5, tile / 96)))
        labels.append(f"{rank}. {pick.file_name}")
    contact_sheet(tiles, ncols, labels).save(path)
    return path


def _share(folder: Path) -> None:
    """Give the output folder and its files the umask's usual modes (the temp files are created 0600/0700):
    the picks are meant to be handed to annotation tools and teammates."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)
    for path in folder.iterdir():
        path.chmod(0o666 & ~mask)


def _csv_text(rows: Sequence[dict], timings: Mapping[str, float]) -> str:
    buf = io.StringIO()
    timing_keys = list(timings)
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["rank", "image_id", "file_name", "path", "score", "stage", "persons", *timing_keys])
    for row in rows:
        score = "" if row["score"] is None else f"{row['score']:.6g}"
        writer.writerow([
            row["rank"], row["image_id"], row["file_name"], row["path"], score, row["stage"] or "",
            row["persons"], *(f"{timings[k]:.6f}" for k in timing_keys),
        ])  # fmt: skip
    return buf.getvalue()


def default_out_dir(cfg: DictConfig) -> Path:
    """``out=``, else the Hydra run dir's ``picks/`` (CLI), else ``paths.output_dir/select/<timestamp>/picks``."""
    if cfg.get("out"):
        return Path(str(cfg.out))
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir) / "picks"
    except Exception:  # noqa: BLE001 - not inside a Hydra app
        stamp = datetime.now(UTC).strftime("%Y-%m-%d_%H-%M-%S-%f")
        return Path(str(cfg.paths.output_dir)) / "select" / stamp / "picks"


def check_inputs(cfg: DictConfig) -> int:
    """The budget as an int; raises :class:`SelectError` for a missing ``images=`` or a bad ``budget=``."""
    if cfg.get("images") is None:
        raise SelectError("images= is required: a folder of .jpg/.jpeg/.png images or a COCO JSON of images")
    budget = cfg.get("budget")
    if budget is None or isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise SelectError(f"budget= must be a positive integer (images to pick), got {budget!r}")
    return int(budget)


def run_select(cfg: DictConfig) -> SelectResult:
    """Pick ``budget`` images of ``images`` with the configured strategy and write the output folder.

    Raises:
        SelectError: bad inputs (see the module doc); ``ValueError`` from ``load_checkpoint`` for a
            checkpoint that does not fit its model config.
    """
    from al_bench.strategies import build_strategy

    budget = check_inputs(cfg)
    strategy = build_strategy(cfg)
    refuse_label_strategies(cfg, strategy)
    out_dir = default_out_dir(cfg)
    start_all = time.perf_counter()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="al_bench_select_") as tmp:
        work = Path(tmp)
        start = time.perf_counter()
        ckpt_path, ckpt_desc = resolve_checkpoint(cfg, work)
        model, model_cfg = load_model(ckpt_path, cfg)
        timings["load_model_s"] = time.perf_counter() - start
        start = time.perf_counter()
        cands = gather_candidates(cfg, work, out_dir)
        timings["scan_s"] = time.perf_counter() - start
        check_budget(budget, cands)
        for name, reason in cands.skipped:
            warnings.warn(f"al-bench-select: skipped {name}: {reason}", stacklevel=2)
        ids, selection = select_ids(cfg, strategy, model, cands, budget, timings)
        start = time.perf_counter()
        picks, n_clipped = predicted_picks(cfg, model, cands, ids, selection)
        timings["preannotate_s"] = time.perf_counter() - start
        rows = pick_rows(picks, cands, STAGES.get(str(cfg.strategy.name), str(cfg.strategy.name)))
        summary = picks_summary(
            cfg, budget, cands, (ckpt_desc, model_cfg), selection, rows, n_clipped, timings
        )
        model_version = f"al_bench {model_cfg.get('name')} ({ckpt_desc})"
        write_output_folder(cfg, out_dir, picks, cands, summary, model_version, start_all)
    result = SelectResult(out_dir, rows, timings, cands.skipped, len(cands.pool_ids), len(cands.labeled_ids))
    if cfg.get("track", True):
        result.mlflow_run_id = _track(cfg, result, ckpt_desc, budget)
    return result


def refuse_label_strategies(cfg: DictConfig, strategy) -> None:
    """A strategy that reads the pool's ground truth (``uses_labels``) is a :class:`SelectError`."""
    if getattr(strategy, "uses_labels", False):
        raise SelectError(
            f"strategy={cfg.strategy.name} reads ground-truth labels of the pool (uses_labels, a control "
            "for simulations); unlabeled images have none: choose another strategy, e.g. strategy=heatmap_annoy"
        )


@dataclass
class Candidates:
    """The images a selection chooses from, and the labeled ones it measures against."""

    images: Path  # the images= input
    source: object  # CocoKeypoints of candidates + labeled images (images only)
    pool_ids: np.ndarray
    labeled_ids: np.ndarray
    pool: list[ImageEntry]
    labeled: list[ImageEntry]
    n_readable: int  # readable images of images= (before the labeled ones are removed)
    n_scan_skipped: int  # skipped files of images=
    skipped: list[tuple[str, str]]  # skipped files of images= and of labeled=
    by_id: dict[int, ImageEntry] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {e.image_id: e for e in self.pool}

    def entry(self, image_id: int) -> ImageEntry:
        """The pool entry of a candidate id."""
        return self.by_id[image_id]


def gather_candidates(cfg: DictConfig, work: Path, out_dir: Path) -> Candidates:
    """Scan ``images=`` and ``labeled=``; the images-only source of both, written in ``work``."""
    images = Path(str(cfg.images))
    lab = ScanResult([])
    if cfg.get("labeled"):
        default_dir = images if images.is_dir() else (cfg.get("image_dir") or images.parent)
        lab = load_labeled(str(cfg.labeled), cfg.get("labeled_images") or default_dir)
    scan = scan_images(
        images,
        cfg.get("image_dir"),
        exclude=out_dir if out_dir.exists() else None,
        first_id=max(lab.ids, default=0) + 1,
    )
    source, pool_ids, labeled_ids, pool = build_source(scan.images, lab.images, work, lab.ids)
    return Candidates(
        images, source, pool_ids, labeled_ids, pool, lab.images, len(scan.images), len(scan.skipped),
        [*scan.skipped, *lab.skipped],
    )  # fmt: skip


def check_budget(budget: int, cands: Candidates) -> None:
    """``budget`` larger than the candidates is a :class:`SelectError` naming both numbers (no clamp)."""
    n = len(cands.pool_ids)
    if budget > n:
        raise SelectError(
            f"budget={budget} is larger than the {n} candidate images of images={cands.images} "
            f"({cands.n_readable} readable, {cands.n_readable - n} already labeled, "
            f"{cands.n_scan_skipped} skipped): lower budget to at most {n}"
        )


def select_ids(cfg: DictConfig, strategy, model, cands: Candidates, budget: int, timings: dict):
    """Run the strategy as the loop does (``selection_context``, ``strategy.select``): ``(ids, selection)``.

    Adds ``context_s`` and the strategy's own parts as ``select_<part>`` to ``timings``.
    """
    from al_bench.loop.pieces import selection_context
    from al_bench.pose.infer import predict

    rng = np.random.default_rng(int(cfg.get("seed", 0)))
    start = time.perf_counter()  # context_s: mostly the first import of the embedders (torchvision)
    context = selection_context(
        cfg, model, cands.source, cands.pool_ids, cands.labeled_ids, rng, predict,
        fingerprint([*cands.pool, *cands.labeled]),
    )  # fmt: skip
    timings["context_s"] = time.perf_counter() - start
    start = time.perf_counter()
    selection = strategy.select(context, budget)
    wall = time.perf_counter() - start
    sel_timings = {k: float(v) for k, v in dict(selection.timings).items()}
    sel_timings.setdefault("total_s", wall)
    timings.update({f"select_{k}": v for k, v in sel_timings.items()})
    return [int(i) for i in np.asarray(selection.ids, dtype=np.int64)], selection


def predicted_picks(cfg: DictConfig, model, cands: Candidates, ids: list[int], selection):
    """The picks with the model's persons, keypoints clipped into the image: ``(picks, points clipped)``."""
    from al_bench.pose.infer import predict

    results = predict(model, cands.source, ids, cfg, want=("results",)).results
    persons: dict[int, list[dict]] = {i: [] for i in ids}
    for r in results:
        persons.setdefault(int(r["image_id"]), []).append(r)
    n_clipped = 0
    for i in ids:
        persons[i], moved = clip_persons(persons[i], cands.entry(i).width, cands.entry(i).height)
        n_clipped += moved
    scores = list(selection.info.get("scores") or [])
    scores = scores if len(scores) == len(ids) else [None] * len(ids)
    picks = [
        Pick(i, cands.entry(i).file_name, cands.entry(i).width, cands.entry(i).height, tuple(persons[i]),
             None if s is None else float(s))
        for i, s in zip(ids, scores, strict=True)
    ]  # fmt: skip
    return picks, n_clipped


def pick_rows(picks: Sequence[Pick], cands: Candidates, stage: str) -> list[dict]:
    """The rows of ``picks.json`` / ``picks.csv``, ranked from 1."""
    return [
        {
            "rank": rank,
            "image_id": p.image_id,
            "file_name": p.file_name,
            "path": str(cands.entry(p.image_id).path),
            "width": p.width,
            "height": p.height,
            "score": p.score,
            "stage": stage,
            "persons": len(p.persons),
        }
        for rank, p in enumerate(picks, start=1)
    ]


def picks_summary(
    cfg: DictConfig,
    budget: int,
    cands: Candidates,
    model: tuple[str, Mapping],
    selection,
    rows: list[dict],
    n_clipped: int,
    timings: dict[str, float],
) -> dict:
    """The ``picks.json`` content (``timings`` is the run's dict itself: later parts still land in it)."""
    ckpt_desc, model_cfg = model
    return {
        "strategy": str(cfg.strategy.name),
        "budget": budget,
        "input_images": str(cands.images),  # not "images": load_picked reads that as a COCO list
        "model": ckpt_desc,
        "model_name": model_cfg.get("name"),
        "n_candidates": len(cands.pool_ids),
        "n_labeled": len(cands.labeled_ids),
        "n_skipped": len(cands.skipped),
        "keypoints_clipped_into_image": n_clipped,
        "skipped": [{"file": n, "reason": r} for n, r in cands.skipped],
        "timings": timings,
        "quality": {k: float(v) for k, v in dict(selection.quality).items()},
        "picks": rows,
    }


def write_output_folder(
    cfg: DictConfig,
    out_dir: Path,
    picks: Sequence[Pick],
    cands: Candidates,
    summary: dict,
    model_version: str,
    start_all: float,
) -> None:
    """Write every output file into a temp folder that becomes ``out_dir`` at once.

    ``write_s`` and ``total_s`` are added to ``summary["timings"]`` before ``picks.json`` is written.
    """
    timings = summary["timings"]
    start = time.perf_counter()
    with atomic_output_dir(out_dir) as tmp_out:
        write_annotation_files(
            picks,
            tmp_out,
            image_url=cfg.get("image_url"),
            model_version=model_version,
            min_keypoint_score=float(cfg.get("min_keypoint_score", 0.0)),
        )
        contact_sheet_png(
            picks, [cands.entry(p.image_id).path for p in picks], tmp_out / PICKS_PNG,
            int(cfg.contact_sheet.tile), int(cfg.contact_sheet.ncols),
        )  # fmt: skip
        timings["write_s"] = time.perf_counter() - start
        timings["total_s"] = time.perf_counter() - start_all
        atomic_write_json(tmp_out / PICKS_JSON, summary)
        atomic_write_text(tmp_out / PICKS_CSV, _csv_text(summary["picks"], timings))
        _share(tmp_out)


def _track(cfg: DictConfig, result: SelectResult, ckpt_desc: str, budget: int) -> str:
    """Log the run to MLflow (experiment ``tracking.experiment_name``): params, timings, the output folder."""
    import uuid

    from al_bench.tracking.mlflow_tracker import MlflowTracker

    tracker = MlflowTracker.from_config(cfg.tracking)
    tracker.check_reachable()
    params = {
        "strategy": OmegaConf.to_container(cfg.strategy, resolve=True),
        "embedding": OmegaConf.to_container(cfg.embedding, resolve=True),
        "index": OmegaConf.to_container(cfg.index, resolve=True),
        "infer": OmegaConf.to_container(cfg.infer, resolve=True),
        "model": ckpt_desc,
        "images": str(cfg.images),
        "labeled": str(cfg.get("labeled")),
        "budget": budget,
        "seed": int(cfg.get("seed", 0)),
    }
    tags = {"kind": "select", "strategy": str(cfg.strategy.name), "out_dir": str(result.out_dir)}
    run_id = tracker.start(f"select-{uuid.uuid4().hex}", f"select-{cfg.strategy.name}-{budget}", tags, params)
    try:
        metrics = {
            **result.timings,
            "n_candidates": float(result.n_candidates),
            "n_labeled": float(result.n_labeled),
            "n_skipped": float(len(result.skipped)),
            "n_picks": float(len(result.picks)),
        }
        tracker.log_round(0, metrics)
        for path in sorted(result.out_dir.iterdir()):
            tracker.log_file(path, "select")
    except BaseException as err:
        tracker.fail(err)
        raise
    tracker.finish("FINISHED")
    return run_id


def summary_text(result: SelectResult) -> str:
    """The lines the CLI prints."""
    lines = [
        (
            f"[al-bench-select] picked {len(result.picks)} of {result.n_candidates} candidate images "
            f"({result.n_labeled} labeled, {len(result.skipped)} skipped) -> {result.out_dir}"
        ),
    ]
    lines += [f"  skipped {name}: {reason}" for name, reason in result.skipped]
    lines += [
        f"  {r['rank']:>3}. {r['file_name']}" + ("" if r["score"] is None else f"  score {r['score']:.4g}")
        for r in result.picks[:20]
    ]
    if len(result.picks) > 20:
        lines.append(f"  ... {len(result.picks) - 20} more in {result.out_dir / PICKS_CSV}")
    timing = ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items())
    lines.append(f"  timings (s): {timing}")
    if result.mlflow_run_id:
        lines.append(f"  MLflow run {result.mlflow_run_id}")
    return "\n".join(lines)


__all__ = [
    "IMAGE_SUFFIXES",
    "ImageEntry",
    "ScanResult",
    "SelectError",
    "SelectResult",
    "build_source",
    "load_labeled",
    "run_select",
    "scan_images",
    "summary_text",
]
