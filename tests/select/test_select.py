"""al-bench-select: picks of an untrained tiny model on a folder of synthetic images (no training)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from PIL import Image

from al_bench.annotate.formats import PERSON_CATEGORY
from al_bench.annotate.select import SelectError, clip_persons, run_select, scan_images
from al_bench.cli.main import CONF_DIR

N_GOOD = 12  # readable images in the folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny checkpoint, an image folder (12 good images, nested, one upper-case suffix, a .txt and a
    truncated PNG) and a labeled COCO file naming two of the folder's images."""
    from al_bench.data.synthetic import generate_synthetic
    from al_bench.pose.checkpoint import save_checkpoint
    from al_bench.pose.models import build_model

    root = tmp_path_factory.mktemp("select")
    syn = generate_synthetic(root / "syn", n_pool=N_GOOD, n_val=1)
    model_cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / "tiny.yaml"))
    ckpt = save_checkpoint(root / "tiny.pt", build_model(model_cfg), model_cfg)
    images = root / "images"
    (images / "sub").mkdir(parents=True)
    sources = sorted(syn.image_dir.iterdir())[:N_GOOD]
    for i, src in enumerate(sources):
        name = f"img_{i:02d}{src.suffix}"
        if i == 0:
            name = f"IMG_00{src.suffix.upper()}"
        dst = images / ("sub" if i % 3 == 0 else ".") / name
        shutil.copy(src, dst)
    (images / "notes.txt").write_text("not an image\n")
    good = min(syn.image_dir.iterdir())
    blob = good.read_bytes() if good.suffix.lower() == ".png" else _png_bytes(good)
    (images / "broken.png").write_bytes(blob[: len(blob) // 2])
    labeled_names = ["img_01" + sources[1].suffix, "img_02" + sources[2].suffix]
    labeled = root / "labeled.json"
    labeled.write_text(json.dumps({
        "images": [{"id": 7 + i, "file_name": n, "width": 128, "height": 128} for i, n in enumerate(labeled_names)],
        "annotations": [],
        "categories": [dict(PERSON_CATEGORY)],
    }))  # fmt: skip
    return {"root": root, "ckpt": ckpt, "images": images, "labeled": labeled, "labeled_names": labeled_names}


def _png_bytes(path: Path) -> bytes:
    import io

    buf = io.BytesIO()
    Image.open(path).save(buf, format="PNG")
    return buf.getvalue()


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose("select", overrides=overrides)


def base(data, tmp_path, *extra: str) -> list[str]:
    return [
        f"checkpoint={data['ckpt']}",
        f"images={data['images']}",
        f"paths.output_dir={tmp_path}",
        f"out={tmp_path / 'picks'}",
        "device=cpu",
        "track=false",
        *extra,
    ]


def test_scan_skips_and_names_bad_files(data):
    scan = scan_images(data["images"])
    assert len(scan.images) == N_GOOD
    assert [e.image_id for e in scan.images] == list(range(1, N_GOOD + 1))
    names = dict(scan.skipped)
    assert set(names) == {"broken.png", "notes.txt"}
    assert names["notes.txt"].startswith("not an image file")
    assert names["broken.png"].startswith("unreadable image")
    assert any(e.file_name.startswith("sub/IMG_00.") for e in scan.images)


def test_clip_persons_moves_predicted_points_into_the_image():
    kps = [0.0] * 51
    kps[0:3] = [-6.0, 5.0, 0.7]  # outside on the left
    kps[3:6] = [50.0, 120.0, 0.4]  # below a 100 px high image
    kps[6:9] = [-3.0, -3.0, 0.0]  # not predicted: left as is
    kps[9:12] = [10.0, 10.0, 0.9]  # inside
    persons, moved = clip_persons([{"image_id": 1, "keypoints": kps, "score": 0.5}], width=80, height=100)
    assert moved == 2
    assert persons[0]["keypoints"][:12] == [0.0, 5.0, 0.7, 50.0, 99.0, 0.4, -3.0, -3.0, 0.0, 10.0, 10.0, 0.9]
    assert persons[0]["score"] == 0.5


def test_select_writes_every_output(data, tmp_path):
    from pycocotools.coco import COCO

    cfg = compose(
        base(data, tmp_path, "budget=4", f"labeled={data['labeled']}", "image_url='http://host/img/'")
    )
    result = run_select(cfg)
    out = tmp_path / "picks"
    assert result.out_dir == out
    expected = {"picks.json", "picks.csv", "picks.png", "coco_images.json",
                "label_studio_config.xml", "label_studio_tasks.json"}  # fmt: skip
    assert {p.name for p in out.iterdir()} == expected
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".picks")]  # no temp folder left
    mask = os.umask(0)
    os.umask(mask)
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o666 & ~mask}  # not the temp files' 0600

    summary = json.loads((out / "picks.json").read_text())
    assert len(summary["picks"]) == 4
    assert summary["n_candidates"] == N_GOOD - 2 and summary["n_labeled"] == 2
    assert summary["n_skipped"] == 2
    assert summary["keypoints_clipped_into_image"] >= 0
    assert {s["file"] for s in summary["skipped"]} == {"broken.png", "notes.txt"}
    picked = [p["file_name"] for p in summary["picks"]]
    assert not set(picked) & set(data["labeled_names"])
    assert len(set(picked)) == 4
    assert [p["rank"] for p in summary["picks"]] == [1, 2, 3, 4]
    assert all(p["stage"] == "uncertainty+diversity_walk" for p in summary["picks"])
    timings = summary["timings"]
    parts = (
        "load_model_s",
        "scan_s",
        "context_s",
        "select_total_s",
        "select_quality_s",
        "preannotate_s",
        "write_s",
    )
    assert set(parts) | {"select_uncertainty_s", "select_embedding_s", "total_s"} <= set(timings)
    assert sum(timings[k] for k in parts) <= timings["total_s"] <= sum(timings[k] for k in parts) + 1.0

    from al_bench.annotate import load_picked

    picked_back = load_picked(out / "picks.json")  # the file al-bench-data merge --picks reads
    assert sorted(picked_back) == sorted(p["image_id"] for p in summary["picks"])
    from al_bench.annotate import merge_annotations

    # The loop closes: the pre-annotations, exported unchanged, merge into the labeled set.
    report = merge_annotations(
        data["labeled"], out / "coco_images.json", out / "picks.json", tmp_path / "m.json"
    )
    merged = json.loads((tmp_path / "m.json").read_text())
    assert len(merged["images"]) == 2 + 4, report
    assert min(p["image_id"] for p in summary["picks"]) > 8  # folder ids start above labeled.json's 7, 8
    with (out / "picks.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file_name"] for r in rows] == picked
    assert "select_total_s" in rows[0] and float(rows[0]["total_s"]) > 0

    coco = COCO(str(out / "coco_images.json"))
    assert sorted(coco.getImgIds()) == sorted(p["image_id"] for p in summary["picks"])
    assert {img["file_name"] for img in coco.dataset["images"]} == set(picked)
    tasks = json.loads((out / "label_studio_tasks.json").read_text())
    assert len(tasks) == 4
    assert [t["data"]["image"] for t in tasks] == [f"http://host/img/{name}" for name in picked]
    assert Image.open(out / "picks.png").size[0] == 4 * 192


@pytest.mark.parametrize("strategy", ["random", "coreset", "uncertainty"])
def test_other_strategies_pick_budget(data, tmp_path, strategy):
    cfg = compose(base(data, tmp_path, "budget=3", f"strategy={strategy}", f"labeled={data['labeled']}"))
    result = run_select(cfg)
    assert len(result.picks) == 3
    assert not {p["file_name"] for p in result.picks} & set(data["labeled_names"])
    if strategy == "uncertainty":
        assert all(p["score"] is not None for p in result.picks)


def test_images_from_coco_json(data, tmp_path):
    listing = tmp_path / "list.json"
    # synthetic images may be jpg: list whatever the folder holds
    names = sorted(p.name for p in data["images"].glob("img_0[45].*"))
    listing.write_text(json.dumps({"images": [
        {"id": 100, "file_name": names[0]}, {"id": 200, "file_name": names[1]},
        {"id": 300, "file_name": "missing.png"},
    ]}))  # fmt: skip
    overrides = base(data, tmp_path, "budget=2", "strategy=random")
    overrides[1] = f"images={listing}"
    result = run_select(compose([*overrides, f"image_dir={data['images']}"]))
    assert sorted(p["image_id"] for p in result.picks) == [100, 200]
    assert result.skipped == [("missing.png", f"no such file under {data['images']}")]


def test_coco_json_ids_must_not_clash_with_labeled(data, tmp_path):
    name = min(p.name for p in data["images"].glob("img_05.*"))
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps({"images": [{"id": 8, "file_name": name}]}))
    overrides = base(data, tmp_path, "budget=1", f"labeled={data['labeled']}", f"image_dir={data['images']}")
    overrides[1] = f"images={listing}"
    with pytest.raises(
        SelectError, match=rf"image id 8 \({name}\) of images= is also an image id of labeled="
    ):
        run_select(compose(overrides))


def test_empty_folder_is_an_error(data, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    overrides = base(data, tmp_path, "budget=2")
    overrides[1] = f"images={empty}"
    with pytest.raises(SelectError, match=f"images={empty}: the folder holds no files"):
        run_select(compose(overrides))


def test_nothing_readable_is_an_error(data, tmp_path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("x")
    (junk / "b.jpg").write_bytes(b"not a jpeg")
    overrides = base(data, tmp_path, "budget=1")
    overrides[1] = f"images={junk}"
    with pytest.raises(SelectError, match=r"no readable image in the folder .*junk; 2 file\(s\) skipped"):
        run_select(compose(overrides))


def test_budget_larger_than_candidates(data, tmp_path):
    cfg = compose(base(data, tmp_path, "budget=11", f"labeled={data['labeled']}"))
    with pytest.raises(SelectError, match=r"budget=11 is larger than the 10 candidate images"):
        run_select(cfg)
    assert not (tmp_path / "picks").exists()


def test_bad_budget(data, tmp_path):
    with pytest.raises(SelectError, match=r"budget= must be a positive integer \(images to pick\), got 0"):
        run_select(compose(base(data, tmp_path, "budget=0")))


def test_both_or_neither_model_source(data, tmp_path):
    both = compose(base(data, tmp_path, "budget=2", "run=abc123"))
    with pytest.raises(
        SelectError, match=r"exactly one of checkpoint=<file.pt> or run=<MLflow run id> \(both"
    ):
        run_select(both)
    neither = base(data, tmp_path, "budget=2")
    neither[0] = "checkpoint=null"
    with pytest.raises(SelectError, match=r"\(neither given: checkpoint=None, run=None\)"):
        run_select(compose(neither))


def test_oracle_loss_refused(data, tmp_path):
    cfg = compose(base(data, tmp_path, "budget=2", "strategy=oracle_loss"))
    with pytest.raises(
        SelectError, match=r"strategy=oracle_loss reads ground-truth labels .* unlabeled images have none"
    ):
        run_select(cfg)


def test_checkpoint_of_another_config(data, tmp_path):
    import torch

    blob = torch.load(data["ckpt"], weights_only=True)
    blob["model_cfg"]["widths"] = [8, 12, 16]  # the stored config builds another network than the weights
    bad = tmp_path / "bad.pt"
    torch.save(blob, bad)
    overrides = base(data, tmp_path, "budget=2")
    overrides[0] = f"checkpoint={bad}"
    with pytest.raises(
        ValueError, match=r"bad.pt: its weights do not fit .*Stored model config: .*'widths': \[8, 12, 16\]"
    ):
        run_select(compose(overrides))
    with pytest.raises(SelectError, match=r"has input_size=128, but input_size=256 was asked for"):
        run_select(compose([*base(data, tmp_path, "budget=2"), "input_size=256"]))


def test_run_id_and_tracking(data, tmp_path, empty_mlflow_db):
    """run=<id> downloads the model artifact as the loop logs it; the selection is an MLflow run."""
    from mlflow.tracking import MlflowClient

    from al_bench.tracking.mlflow_tracker import MlflowTracker

    db = tmp_path / "mlflow.db"
    shutil.copy(empty_mlflow_db, db)
    uri = f"sqlite:///{db}"
    train = MlflowTracker(uri, "al_bench")
    train_id = train.start("train-key", "train", {}, {})
    train.log_file(data["ckpt"], "model")  # as runner._log_final_artifacts does
    train.finish()
    overrides = base(data, tmp_path, "budget=3", f"run={train_id}", f"tracking.uri={uri}")
    overrides[0] = "checkpoint=null"
    overrides.remove("track=false")
    result = run_select(compose(overrides))
    assert len(result.picks) == 3
    client = MlflowClient(uri)
    run = client.get_run(result.mlflow_run_id)
    assert client.get_experiment(run.info.experiment_id).name == "al_bench_select"
    assert run.info.status == "FINISHED"
    assert run.data.params["budget"] == "3"
    assert "select_total_s" in run.data.metrics and run.data.metrics["n_picks"] == 3.0
    logged = {a.path for a in client.list_artifacts(result.mlflow_run_id, "select")}
    assert "select/picks.json" in logged and "select/coco_images.json" in logged


@pytest.mark.slow  # two interpreter start-ups with torch + Hydra (about 15 s)
def test_console_script(data, tmp_path):
    """The CLI end to end (subprocess); a bad input exits with one line naming it."""
    import tomllib

    scripts = tomllib.loads((CONF_DIR.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["al-bench-select"] == "al_bench.cli.select:main"
    out = tmp_path / "cli_picks"
    cmd = [sys.executable, "-m", "al_bench.cli.select", f"checkpoint={data['ckpt']}", f"images={data['images']}",
           "budget=2", "strategy=random", f"out={out}", f"paths.output_dir={tmp_path}", "track=false",
           "device=cpu"]  # fmt: skip
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "picked 2 of 12 candidate images (0 labeled, 2 skipped)" in done.stdout
    assert "skipped notes.txt: not an image file" in done.stdout
    assert json.loads((out / "picks.json").read_text())["budget"] == 2
    bad = subprocess.run([*cmd[:-6], "budget=99", f"out={out}2", f"paths.output_dir={tmp_path}",
                          "track=false", "device=cpu"], check=False, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert bad.returncode == 1
    assert "al-bench-select: budget=99 is larger than the 12 candidate images" in bad.stderr
