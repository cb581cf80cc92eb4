"""A tiny MLflow store with synthetic AL runs in the loop's schema (docs/ARCHITECTURE.md, loop / tracking).

Experiment ``bench``: 3 strategies x 2 seeds x 4 rounds, with selections artifacts and a tiny
synthetic pool (images + annotation file with per-image ``attributes``) that the params point at.
Experiment ``sweep``: heatmap_annoy over ``strategy.selection_ratio`` and ``index.n_trees``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

STRATEGIES = ("random", "uncertainty", "heatmap_annoy")
SEEDS = (0, 1)
ROUNDS = 4
INITIAL = 8
BUDGET = 4
N_POOL = 40
FAMILIES = ("standing", "sitting", "lying")

# AP per (strategy, seed) and round: hand-picked, non-linear, so the AUC test checks real arithmetic.
AP = {
    ("random", 0): [0.10, 0.20, 0.25, 0.30],
    ("random", 1): [0.12, 0.18, 0.27, 0.34],
    ("uncertainty", 0): [0.10, 0.25, 0.32, 0.36],
    ("uncertainty", 1): [0.12, 0.22, 0.30, 0.40],
    ("heatmap_annoy", 0): [0.10, 0.30, 0.40, 0.45],
    ("heatmap_annoy", 1): [0.12, 0.28, 0.38, 0.47],
}
TIMINGS = {  # uncertainty_s, embedding_s, index_build_s, query_s per round
    "random": (0.0, 0.0, 0.0, 0.0),
    "uncertainty": (1.0, 0.0, 0.0, 0.0),
    "heatmap_annoy": (1.0, 0.5, 0.25, 0.125),
}


def family_of(image_id: int) -> str:
    """Pose family of the one person in pool image ``image_id``: 'lying' is rare (every 10th image)."""
    if image_id % 10 == 0:
        return "lying"
    return "standing" if image_id % 2 else "sitting"


def make_pool(root: Path) -> None:
    """Write a 40-image synthetic pool: solid-colour 24 px PNGs and a COCO file with ``attributes``."""
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, N_POOL + 1):
        colour = tuple(int(c) for c in np.random.default_rng(image_id).integers(40, 255, 3))
        Image.new("RGB", (24, 24), colour).save(root / "images" / f"{image_id:06d}.png")
        images.append(
            {
                "id": image_id,
                "file_name": f"{image_id:06d}.png",
                "width": 24,
                "height": 24,
                # The generator's schema (al_bench/data/synthetic.py): one family per annotated person.
                "attributes": {
                    "scene_type": "stripes" if image_id % 3 else "noise",
                    "n_persons": 1,
                    "pose_families": [family_of(image_id)],
                    "n_occluders": image_id % 2,
                },
            }
        )
        annotations.append(
            {
                "id": image_id,
                "image_id": image_id,
                "category_id": 1,
                "iscrowd": 0,
                "bbox": [2, 2, 20, 20],
                "area": 400,
                "num_keypoints": 1,
                "keypoints": [12, 12, 2] + [0, 0, 0] * 16,
            }
        )
    doc = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": [], "skeleton": []}],
    }
    (root / "person_keypoints_pool.json").write_text(json.dumps(doc))


def selection_ids(strategy: str, seed: int, rnd: int) -> list[int]:
    """Deterministic picks: heatmap_annoy finds the rare 'lying' images, the others do not."""
    if strategy == "heatmap_annoy":
        pool = [10, 20, 30, 40, 3, 5, 7, 9, 11, 13, 15, 17]
    else:
        pool = [i for i in range(1 + seed, N_POOL + 1, 1 + len(strategy) % 3) if i % 10][: 3 * BUDGET]
    return pool[rnd * BUDGET : (rnd + 1) * BUDGET]


def log_run(client, exp_id: str, strategy: str, seed: int, params: dict, ap: list[float], tmp: Path) -> str:
    """Log one run in the loop's schema and return its id (index build time grows with index.n_trees)."""
    from mlflow.entities import Metric, Param

    run = client.create_run(
        exp_id,
        run_name=f"{strategy}-seed{seed}",
        tags={
            "strategy": strategy,
            "seed": str(seed),
            "dataset": "synthetic",
            "run_key": f"{strategy}-{seed}-{sorted(params.items())}",
        },
    )
    run_id = run.info.run_id
    now = int(time.time() * 1000)
    metrics = []
    unc, emb, build, query = TIMINGS[strategy]
    build *= int(params.get("index.n_trees", 10)) / 10
    for rnd, value in enumerate(ap):
        values = {
            "n_labeled": INITIAL + BUDGET * rnd,
            "ap": value,
            "ap50": min(1.0, value + 0.2),
            "person_count_accuracy": min(1.0, 0.5 + value),
        }
        if rnd < len(ap) - 1:
            values.update(
                {
                    "uncertainty_s": unc,
                    "embedding_s": emb,
                    "index_build_s": build,
                    "query_s": query,
                    "sampling_time_s": unc + emb + build + query,
                }
            )
            if "index.n_trees" in params:  # ANN recall grows with the forest, as Annoy's does
                values["quality_knn_recall"] = min(1.0, 0.5 + int(params["index.n_trees"]) / 100)
        metrics += [Metric(k, float(v), now + rnd, rnd) for k, v in values.items()]
    client.log_batch(run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()])
    initial = tmp / "initial.json"
    initial.write_text(json.dumps({"ids": list(range(N_POOL - INITIAL + 1, N_POOL + 1))}))
    client.log_artifact(run_id, str(initial), "selections")
    for rnd in range(len(ap) - 1):
        path = tmp / f"round_{rnd:02d}.json"
        path.write_text(json.dumps({"round": rnd, "ids": selection_ids(strategy, seed, rnd)}))
        client.log_artifact(run_id, str(path), "selections")
    client.set_terminated(run_id)
    return run_id


def build_store(base: Path) -> str:
    """Create the store with both experiments under ``base`` and return its tracking URI."""
    from mlflow.tracking import MlflowClient

    pool_root = base / "pool"
    make_pool(pool_root)
    uri = f"sqlite:///{base / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    common = {
        "data.root": str(pool_root),
        "data.pool_ann": "person_keypoints_pool.json",
        "data.images_subdir": "images",
        "al.budget": BUDGET,
        "al.initial": INITIAL,
    }
    tmp = base / "tmp_artifacts"
    tmp.mkdir()
    exp_id = client.create_experiment("bench", artifact_location=(base / "artifacts_bench").as_uri())
    # The loop nests a sweep's runs under a parent run without a strategy tag: readers must skip it.
    client.create_run(exp_id, run_name="multirun/parent", tags={"al_bench.invocation": "abc"})
    for strategy in STRATEGIES:
        for seed in SEEDS:
            params = {**common, "seed": seed, "strategy.name": strategy}
            if strategy == "heatmap_annoy":
                params.update({"strategy.selection_ratio": 0.2, "index.n_trees": 10})
            log_run(client, exp_id, strategy, seed, params, AP[(strategy, seed)], tmp)
    exp_id = client.create_experiment("sweep", artifact_location=(base / "artifacts_sweep").as_uri())
    for ratio, trees in [(0.1, 10), (0.2, 10), (0.5, 10), (0.2, 2), (0.2, 50)]:
        for seed in SEEDS:
            params = {
                **common,
                "seed": seed,
                "strategy.name": "heatmap_annoy",
                "strategy.selection_ratio": ratio,
                "index.n_trees": trees,
            }
            ap = [a + ratio / 10 + trees / 1000 for a in AP[("heatmap_annoy", seed)]]
            log_run(client, exp_id, "heatmap_annoy", seed, params, ap, tmp)
    return uri


def log_model_run(uri: str, base: Path, experiment: str = "with_model") -> str:
    """Log one heatmap_annoy run with a (random-weight) tiny pose checkpoint and config.yaml artifacts."""
    import yaml
    from mlflow.tracking import MlflowClient

    from al_bench.pose.checkpoint import save_checkpoint
    from al_bench.pose.models import build_model

    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment(
        experiment, artifact_location=(base / f"artifacts_{experiment}").as_uri()
    )
    params = {
        "data.root": str(base / "pool"),
        "data.pool_ann": "person_keypoints_pool.json",
        "data.images_subdir": "images",
        "al.budget": BUDGET,
        "al.initial": INITIAL,
        "seed": 0,
    }
    run_id = log_run(
        client, exp_id, "heatmap_annoy", 0, params, AP[("heatmap_annoy", 0)], base / "tmp_artifacts"
    )
    model_cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / "conf/model/tiny.yaml").read_text())
    # A run's config.yaml is resolved: target sizes are numbers there, whatever the preset defers.
    model_cfg["sigma"], model_cfg["paf_width"] = (
        model_cfg.get("sigma") or 2.5,
        model_cfg.get("paf_width") or 3.0,
    )
    torch_seed(0)
    ckpt = save_checkpoint(base / "model_round03.pt", build_model(model_cfg), model_cfg)
    client.log_artifact(run_id, str(ckpt), "model")
    config = {"model": model_cfg, "infer": {"device": "cpu", "batch_size": 8, "max_peaks": 2}}
    (base / "config.yaml").write_text(yaml.safe_dump(config))
    client.log_artifact(run_id, str(base / "config.yaml"))
    return run_id


def torch_seed(seed: int) -> None:
    """Seed torch so the random-weight checkpoint is the same on every run."""
    import torch

    torch.manual_seed(seed)


# --- the "Done when" store of issue 16: two configs sharing strategy and seed, a failed and a killed run ---

BASE_AP = [0.10, 0.20, 0.25, 0.30]  # random, n_val=100, seed s: BASE_AP + 0.01 * s
HEATMAP_GAIN = {100: [0.02, 0.04, 0.06], 200: [0.01, 0.03]}  # heatmap - random from round 1 on, per seed
ORACLE_GAIN = [0.10, 0.12, 0.14]
KEYPOINTS_PER_IMAGE = {"random": 17, "heatmap_annoy": 10, "oracle_loss": 12, "full_pool": 17}
COST = {"cost.per_image_s": 2.0, "cost.per_person_s": 5.0, "cost.per_keypoint_s": 1.0}


def condition_specs() -> list[dict]:
    """One dict per run: strategy, n_val, seed, status, rounds logged, AP per round, tags."""
    specs = []
    for n_val, seeds in ((100, (0, 1, 2)), (200, (0, 1))):
        for seed in seeds:
            random_ap = [a + 0.01 * seed + (0.05 if n_val == 200 else 0.0) for a in BASE_AP]
            gain = HEATMAP_GAIN[n_val][seed]
            heatmap_ap = [random_ap[0]] + [a + gain for a in random_ap[1:]]
            specs.append({"strategy": "random", "n_val": n_val, "seed": seed, "ap": random_ap})
            specs.append({"strategy": "heatmap_annoy", "n_val": n_val, "seed": seed, "ap": heatmap_ap})
    for seed in (0, 1, 2):  # the positive control reads labels: ORACLE_GAIN over random from round 1 on
        ap = [BASE_AP[0] + 0.01 * seed] + [a + 0.01 * seed + ORACLE_GAIN[seed] for a in BASE_AP[1:]]
        specs.append({"strategy": "oracle_loss", "n_val": 100, "seed": seed, "ap": ap, "uses_labels": True})
    for seed in (0, 1):  # the upper reference: one step, the whole pool
        specs.append(
            {
                "strategy": "full_pool",
                "n_val": 100,
                "seed": seed,
                "ap": [0.50 + 0.02 * seed],
                "kind": "full_pool",
            }
        )
    specs.append(  # raised in round 1: FAILED, error tag, only round 0 logged
        {
            "strategy": "random",
            "n_val": 200,
            "seed": 2,
            "ap": [0.2],
            "status": "FAILED",
            "error": "RuntimeError: boom",
        }
    )
    specs.append(  # killed after round 1: still RUNNING, rounds 0-1 only
        {"strategy": "heatmap_annoy", "n_val": 200, "seed": 2, "ap": [0.17, 0.99], "status": "RUNNING"}
    )
    return specs


def spec_name(spec: dict) -> str:
    """The loop's ``condition_name`` of a spec's condition."""
    return f"{spec['strategy']} n_val={spec['n_val']}"


def spec_rounds(spec: dict) -> list[dict]:
    """Per-round metrics of a spec's run (n_labeled 8, 12, 16, 20; persons 2 per image)."""
    rounds = []
    for rnd, ap in enumerate(spec["ap"]):
        n_labeled = INITIAL + BUDGET * rnd if spec["strategy"] != "full_pool" else N_POOL
        rounds.append(
            {
                "round": rnd,
                "n_labeled": n_labeled,
                "n_persons": 2 * n_labeled,
                "n_keypoints": KEYPOINTS_PER_IMAGE[spec["strategy"]] * n_labeled,
                "ap": ap,
            }
        )
    return rounds


def build_conditions_store(base: Path, tagged: bool = True, experiment: str = "conditions") -> str:
    """Log :func:`condition_specs` into one SQLite store under ``base`` and return its URI.

    ``tagged``: the runs carry the loop's ``condition`` / ``condition_name`` / ``uses_labels`` /
    ``kind`` tags; without them the figures must tell the configs apart from the params alone.
    """
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{base / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment(
        experiment, artifact_location=(base / f"artifacts_{experiment}").as_uri()
    )
    now = int(time.time() * 1000)
    for i, spec in enumerate(condition_specs()):
        seed = spec["seed"]
        tags = {"strategy": spec["strategy"], "seed": str(seed), "run_key": f"key-{i}"}
        if tagged:
            tags.update(
                {
                    "condition": f"cond-{spec['strategy']}-{spec['n_val']}",
                    "condition_name": spec_name(spec),
                    "uses_labels": "true" if spec.get("uses_labels") else "false",
                    "kind": spec.get("kind", "al"),
                }
            )
        if "error" in spec:
            tags["error"] = spec["error"]
        run = client.create_run(
            exp_id, run_name=f"{spec_name(spec)}-seed{seed}", tags=tags, start_time=now + i
        )
        params = {
            "seed": seed,
            "strategy.name": spec["strategy"],
            "data.n_val": spec["n_val"],
            "al.rounds": 3,
            "al.budget": BUDGET,
            "index.seed": seed,  # ${seed} in conf/index/annoy.yaml: follows the seed, not a condition
            "train.progress": "true" if i % 2 else "false",  # cannot change results
            **COST,
        }
        metrics = [
            Metric(k, float(v), now + rnd, rnd)
            for rnd, values in enumerate(spec_rounds(spec))
            for k, v in values.items()
            if k != "round"
        ]
        client.log_batch(
            run.info.run_id, metrics=metrics, params=[Param(k, str(v)) for k, v in params.items()]
        )
        if spec.get("status", "FINISHED") != "RUNNING":
            client.set_terminated(run.info.run_id, spec.get("status", "FINISHED"))
    return uri
