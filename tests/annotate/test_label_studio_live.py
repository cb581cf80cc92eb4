"""A real Label Studio round trip: al-bench-select's files into a live server and its exports merged back.

Skipped when no ``label-studio`` executable is found (label_studio_server.find_label_studio: CI installs
only ``.[dev]``). Where one is: a server on 127.0.0.1 with a temporary data folder, a project made from
``label_studio_config.xml``, ``label_studio_tasks.json`` imported with its predictions (the images served
by Label Studio's local-file serving), annotations made from the predictions by the Data Manager action an
annotator uses, one annotation edited through the API as an annotator would (a point moved, one marked
occluded, one deleted), the JSON and COCO exports merged with ``al-bench-data merge``, and the merged set
checked with pycocotools against the predicted keypoints.

The picks come from an untrained tiny model (no training in the test) with the decoder's thresholds at
zero, so that it predicts persons: up to three per image, a few keypoints each.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from label_studio_server import INSTALL_HINT, LabelStudio, find_label_studio
from omegaconf import OmegaConf

from al_bench.annotate.formats import to_percent
from al_bench.cli.main import CONF_DIR
from al_bench.data.skeleton import KEYPOINT_NAMES

pytestmark = pytest.mark.slow  # a server start (~90 s: database migrations) and two exports

BUDGET = 4
URL_PREFIX = "/data/local-files/?d=images/"  # images/ under the server's LOCAL_FILES_DOCUMENT_ROOT
PERMISSIVE_DECODE = [
    "infer.decode.peak_threshold=0.0",
    "infer.decode.paf_threshold=-1.0",
    "infer.decode.min_paf_fraction=0.0",
    "infer.decode.min_mean_score=0.0",
    "infer.decode.max_persons=3",
]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """A running server (stopped at teardown), or a skip naming how to install label-studio."""
    executable, where = find_label_studio()
    if executable is None:
        pytest.skip(f"label-studio not installed: {where}; install it with {INSTALL_HINT}")
    root = tmp_path_factory.mktemp("label_studio")
    (root / "files" / "images").mkdir(parents=True)
    server = LabelStudio(executable, root / "data", root / "files")
    started = time.perf_counter()
    try:
        server.start()
        server.login()
        print(
            f"\nlabel-studio {server.version()} ({executable}, found by {where}) at {server.base}: "
            f"started and logged in in {time.perf_counter() - started:.0f} s"
        )
        yield server
    finally:
        server.stop()
    assert server.process.poll() is not None  # nothing left running


@pytest.fixture(scope="module")
def picks(label_studio, tmp_path_factory):
    """al-bench-select's output folder for 4 of 8 synthetic images in the server's document root."""
    from hydra import compose, initialize_config_dir

    from al_bench.annotate.select import run_select
    from al_bench.data.synthetic import generate_synthetic
    from al_bench.pose.checkpoint import save_checkpoint
    from al_bench.pose.models import build_model

    work = tmp_path_factory.mktemp("select")
    syn = generate_synthetic(work / "syn", n_pool=8, n_val=1)
    images = label_studio.document_root / "images"
    for path in sorted(syn.image_dir.iterdir())[:8]:
        shutil.copy(path, images / path.name)
    model_cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "model" / "tiny.yaml"))
    ckpt = save_checkpoint(work / "tiny.pt", build_model(model_cfg), model_cfg)
    overrides = [
        f"checkpoint={ckpt}", f"images={images}", f"budget={BUDGET}", f"out={work / 'picks'}",
        f"paths.output_dir={work}", "device=cpu", "track=false", f"image_url='{URL_PREFIX}'",
        *PERMISSIVE_DECODE,
    ]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        run_select(compose("select", overrides=overrides))
    out = work / "picks"
    coco = json.loads((out / "coco_images.json").read_text())
    per_image = np.bincount([a["image_id"] for a in coco["annotations"]])
    assert per_image.max() >= 2, "the test needs an image with several predicted persons"
    return {"dir": out, "coco": coco, "work": work, "ckpt": ckpt, "images": images}


def predicted(coco: dict) -> dict[int, list[np.ndarray]]:
    """The predicted persons of ``coco_images.json``: ``(17, 3)`` arrays per image id, in file order."""
    out: dict[int, list[np.ndarray]] = {img["id"]: [] for img in coco["images"]}
    for ann in sorted(coco["annotations"], key=lambda a: a["id"]):
        out[ann["image_id"]].append(np.asarray(ann["keypoints"], dtype=float).reshape(17, 3))
    return out


def merged_persons(path: Path) -> dict[int, list[np.ndarray]]:
    """The persons of a merged set, loaded with pycocotools, per image id in annotation-id order."""
    from pycocotools.coco import COCO

    coco = COCO(str(path))
    return {
        image_id: [
            np.asarray(a["keypoints"], dtype=float).reshape(17, 3)
            for a in sorted(coco.loadAnns(coco.getAnnIds(imgIds=[image_id])), key=lambda a: a["id"])
        ]
        for image_id in coco.getImgIds()
    }


def merge_cli(capsys, labeled: Path, export: Path, picks_json: Path, out: Path) -> str:
    """``al-bench-data merge`` (in process) and what it printed; raises SystemExit with its error."""
    from al_bench.cli.data import main

    capsys.readouterr()
    args = {"--labeled": labeled, "--export": export, "--picks": picks_json, "--out": out}
    main(["merge", *(str(v) for kv in args.items() for v in kv)])
    return capsys.readouterr().out


def new_project(label_studio: LabelStudio, picks: dict, title: str) -> tuple[int, list[dict]]:
    """A project of the picks' config and tasks, its annotations made from the predictions: the server's tasks."""
    project = label_studio.create_project(title, (picks["dir"] / "label_studio_config.xml").read_text())
    label_studio.add_local_storage(project, picks["images"])
    tasks = json.loads((picks["dir"] / "label_studio_tasks.json").read_text())
    done = label_studio.import_tasks(project, tasks)
    assert (done["task_count"], done["prediction_count"]) == (BUDGET, BUDGET), done
    assert label_studio.predictions_to_annotations(project) == {"detail": f"Created {BUDGET} annotations"}
    return project, label_studio.tasks(project)


def test_json_export_round_trip(label_studio, picks, tmp_path, capsys):
    """Predictions -> annotations -> one annotator edit -> JSON export -> merge: the predicted keypoints
    come back to 1e-3 px, the edit as made, and the merged set feeds al-bench-select labeled=."""
    project, tasks = new_project(label_studio, picks, "al_bench picks (JSON export)")
    by_image = {t["data"]["image_id"]: t for t in tasks}
    assert sorted(by_image) == sorted(img["id"] for img in picks["coco"]["images"])

    # The image URLs the tasks hold are served (local-file serving + the project's local storage).
    first = tasks[0]
    content_type, body = label_studio.request("GET", first["data"]["image"])
    assert content_type.startswith("image/")
    assert body == (picks["images"] / first["data"]["file_name"]).read_bytes()

    # The annotations made from the predictions hold the predicted regions, parentID included.
    expected = predicted(picks["coco"])
    for image_id, task in by_image.items():
        (annotation,) = task["annotations"]
        result = annotation["result"]
        kps = [r for r in result if r["type"] == "keypointlabels"]
        boxes = [r for r in result if r["type"] == "rectanglelabels"]
        assert len(boxes) == len(expected[image_id])
        assert len(kps) == sum(int((p[:, 2] > 0).sum()) for p in expected[image_id])
        assert {r["parentID"] for r in kps} == {b["id"] for b in boxes}
        assert {(r["from_name"], r["to_name"]) for r in kps} == {("kp", "image")}

    # An annotator's edit on the image with most persons, saved through the API as the editor saves it.
    image_id = max(expected, key=lambda i: len(expected[i]))
    annotation = by_image[image_id]["annotations"][0]
    result = annotation["result"]
    points = [r for r in result if r["type"] == "keypointlabels"]
    moved, occluded, deleted = points[0], points[1], points[-1]
    width, height = moved["original_width"], moved["original_height"]
    moved["value"]["x"], moved["value"]["y"] = to_percent(12.5, 20.25, width, height)
    result.remove(deleted)
    result.append(
        {
            "id": occluded["id"], "type": "choices", "from_name": "visibility", "to_name": "image",
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {**occluded["value"], "choices": ["occluded"]},
        }
    )  # fmt: skip
    label_studio.api("PATCH", f"/api/annotations/{annotation['id']}/", {"result": result})

    content_type, body = label_studio.export(project, "JSON")
    export = tmp_path / "export.json"
    export.write_bytes(body)
    exported = json.loads(body)
    assert len(exported) == BUDGET and all(len(t["annotations"]) == 1 for t in exported)

    merged = tmp_path / "labeled.json"
    printed = merge_cli(capsys, tmp_path / "none.json", export, picks["dir"] / "picks.json", merged)
    n_persons = sum(len(p) for p in expected.values())
    assert (
        f"merged label_studio_json export into {merged}: added {BUDGET} images, {n_persons} persons"
        in printed
    )

    got = merged_persons(merged)  # pycocotools loads it
    assert sorted(got) == sorted(expected)
    for i, persons in expected.items():
        assert len(got[i]) == len(persons)
        if i != image_id:  # the edited image is checked below
            for person, back in zip(persons, got[i], strict=True):
                np.testing.assert_allclose(back, person, atol=1e-3)

    # The edit: the moved point at (12.5, 20.25), the occluded one v = 1, the deleted one 0, 0, 0.
    person_of = {b["id"]: j for j, b in enumerate(r for r in result if r["type"] == "rectanglelabels")}
    for region, want in ((moved, "moved"), (occluded, "occluded"), (deleted, "deleted")):
        j, k = person_of[region["parentID"]], KEYPOINT_NAMES.index(region["value"]["keypointlabels"][0])
        point, before = got[image_id][j][k], expected[image_id][j][k]
        if want == "moved":
            np.testing.assert_allclose(point, [12.5, 20.25, 2], atol=1e-3)
        elif want == "occluded":
            np.testing.assert_allclose(point, [before[0], before[1], 1], atol=1e-3)
        else:
            assert point.tolist() == [0, 0, 0] and before[2] == 2
    untouched = [r for r in points if r not in (moved, occluded, deleted)]
    for region in untouched:
        j, k = person_of[region["parentID"]], KEYPOINT_NAMES.index(region["value"]["keypointlabels"][0])
        np.testing.assert_allclose(got[image_id][j][k], expected[image_id][j][k], atol=1e-3)

    # The loop closes: the merged set trains (al_bench's loader reads it) and feeds labeled=.
    from hydra import compose, initialize_config_dir

    from al_bench.annotate.select import run_select
    from al_bench.data.coco import CocoKeypoints

    source = CocoKeypoints(merged, picks["images"], require_keypoints=False)
    assert sorted(int(i) for i in source.image_ids) == sorted(expected)
    overrides = [
        f"checkpoint={picks['ckpt']}", f"images={picks['images']}", "budget=4", f"labeled={merged}",
        f"out={tmp_path / 'again'}", f"paths.output_dir={tmp_path}", "device=cpu", "track=false",
    ]  # fmt: skip
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        again = run_select(compose("select", overrides=overrides))
    assert again.n_labeled == BUDGET and again.n_candidates == 8 - BUDGET
    assert not {p["image_id"] for p in again.picks} & set(expected)


def test_coco_export_round_trip(label_studio, picks, tmp_path, capsys):
    """Label Studio's COCO export: refused while an image has several persons (it writes all keypoints of
    a task as one annotation); once the annotator keeps one person per image it merges, each point within
    the half pixel Label Studio rounds it by."""
    project, tasks = new_project(label_studio, picks, "al_bench picks (COCO export)")

    def coco_export(name: str) -> Path:
        content_type, body = label_studio.export(project, "COCO")
        assert body[:2] == b"PK", content_type  # a zip: result.json and images/
        path = tmp_path / name
        path.write_bytes(zipfile.ZipFile(io.BytesIO(body)).read("result.json"))
        return path

    first = coco_export("coco_all.json")
    with pytest.raises(
        SystemExit, match=r"person boxes, but Label Studio's COCO export writes all keypoints"
    ):
        merge_cli(capsys, tmp_path / "none.json", first, picks["dir"] / "picks.json", tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()

    expected = predicted(picks["coco"])
    for task in tasks:  # keep each image's first person, as an annotator deleting the others
        annotation = task["annotations"][0]
        boxes = [r for r in annotation["result"] if r["type"] == "rectanglelabels"]
        keep = [
            r
            for r in annotation["result"]
            if r["id"] == boxes[0]["id"] or r.get("parentID") == boxes[0]["id"]
        ]
        label_studio.api("PATCH", f"/api/annotations/{annotation['id']}/", {"result": keep})
    export = coco_export("coco_one.json")
    merged = tmp_path / "labeled.json"
    printed = merge_cli(capsys, tmp_path / "none.json", export, picks["dir"] / "picks.json", merged)
    assert f"added {BUDGET} images, {BUDGET} persons" in printed
    assert f"skipped {BUDGET} annotations without keypoints (boxes)" in printed
    got = merged_persons(merged)
    for image_id, persons in expected.items():
        (back,) = got[image_id]
        first_person = persons[0]
        on = first_person[:, 2] > 0
        assert (back[:, 2] > 0).tolist() == on.tolist()
        np.testing.assert_allclose(back[on, :2], first_person[on, :2], atol=0.5 + 1e-6)  # whole pixels
        assert set(back[on, 2]) == {2}
