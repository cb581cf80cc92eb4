"""Small, fast stand-ins for the data, pose and strategy pieces (tests of the loop only).

They keep the real contracts (docs/ARCHITECTURE.md): global image ids, COCO results evaluated by
the real COCOeval, peaks ``(N, 17, M)``, ``Selection``-like picks. The fake model's predictions get
better with the number of labeled images it was trained on, so AP rises round over round.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
from pycocotools.coco import COCO

from al_bench.loop.pieces import Pieces


class FakeSource:
    """COCO-like source of ``n`` images (ids ``first_id`` ...), one person per image."""

    def __init__(self, n: int, first_id: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        images, anns = [], []
        for i in range(n):
            image_id = first_id + i
            xy = rng.uniform(10, 90, size=(17, 2))
            kps = np.concatenate([xy, np.full((17, 1), 2.0)], axis=1).reshape(-1).tolist()
            images.append({"id": image_id, "width": 100, "height": 100, "file_name": f"{image_id}.jpg"})
            anns.append(
                {
                    "id": image_id,
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": kps,
                    "num_keypoints": 17,
                    "area": 3000.0,
                    "bbox": [10, 10, 80, 80],
                    "iscrowd": 0,
                }
            )
        self.coco = COCO()
        self.coco.dataset = {
            "images": images,
            "annotations": anns,
            "categories": [{"id": 1, "name": "person"}],
        }
        self.coco.createIndex()
        self.image_ids = [im["id"] for im in images]

    def annotations(self, image_id: int) -> list[dict]:
        return self.coco.imgToAnns[int(image_id)]

    def attributes(self, image_id: int) -> dict:
        return {}  # like real COCO: no latent factors, so no per-family metrics


def build_sources(data_cfg):
    pool = FakeSource(int(data_cfg.n_pool), 1000, seed=1)
    val = FakeSource(int(data_cfg.n_val), 5000, seed=2)
    return SimpleNamespace(
        pool=pool, val=val, name="fake", fingerprint=f"fake-{data_cfg.n_pool}-{data_cfg.n_val}"
    )


@dataclass
class FakeModel:
    trained_on: list[int] = field(default_factory=list)


def fit(cfg, source, labeled_ids, init_model=None):
    # Reading every label goes through the loop's RevealedSource: an unlabeled id would raise.
    for image_id in labeled_ids:
        source.annotations(int(image_id))  # raises for an unlabeled id; [] for a person-free image
    delay = float(os.environ.get("FAKE_FIT_SECONDS", "0"))
    if delay:
        time.sleep(delay)
    return FakeModel(sorted(int(i) for i in labeled_ids)), {"final_loss": 1.0 / len(labeled_ids), "steps": 3}


def predict(model, source, image_ids, cfg, want=("results",)):
    quality = max(len(model.trained_on), 1)
    results, peaks = [], []
    for image_id in image_ids:
        rng = np.random.default_rng([int(image_id), quality])
        persons = (
            [a for a in source.coco.imgToAnns.get(int(image_id), []) if a["num_keypoints"] > 0]
            if "results" in want
            else []
        )
        if persons:  # a person-free image gets no prediction
            gt = np.asarray(persons[0]["keypoints"]).reshape(17, 3)
            xy = gt[:, :2] + rng.normal(0, 6.0 / np.sqrt(quality), size=(17, 2))
            kps = np.concatenate([xy, np.ones((17, 1))], axis=1).reshape(-1).tolist()
            results.append({"image_id": int(image_id), "category_id": 1, "keypoints": kps, "score": 1.0})
        peaks.append(rng.uniform(0, 1, size=(17, 4)))
    return SimpleNamespace(results=results, peaks=np.sort(np.array(peaks), axis=2)[:, :, ::-1], features=None)


class LowestPeakStrategy:
    """Picks the images with the lowest mean heatmap maximum (ties: RNG order)."""

    def select(self, context, budget):
        start = time.perf_counter()
        scores = context.peaks()[:, :, 0].mean(axis=1) + 1e-6 * context.rng.random(len(context.pool_ids))
        ids = context.pool_ids[np.argsort(scores)[:budget]]
        elapsed = time.perf_counter() - start
        return SimpleNamespace(
            ids=ids,
            timings={"uncertainty_s": elapsed, "total_s": elapsed},
            quality={"mean_score": float(scores.min())},
            info={"scores": scores[:3]},
        )


def make_context(cfg, model, source, pool_ids, labeled_ids, rng, fingerprint, labels_source=None):
    # labels_source (the unrestricted pool, for label-using controls) is accepted and unused here.
    return SimpleNamespace(
        pool_ids=np.asarray(pool_ids),
        labeled_ids=np.asarray(labeled_ids),
        rng=rng,
        peaks=lambda: predict(model, source, pool_ids, cfg, want=("peaks",)).peaks,
    )


def save_model(path, model, cfg):
    path.write_text(json.dumps(model.trained_on))


def load_model(path):
    return FakeModel(json.loads(path.read_text()))


def fake_pieces() -> Pieces:
    return Pieces(
        build_sources, fit, predict, lambda cfg: LowestPeakStrategy(), make_context, save_model, load_model
    )
