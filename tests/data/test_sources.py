"""build_sources: on-demand atomic synthetic generation, COCO layout, fingerprints."""

from pathlib import Path

import pytest
from conf_files import load_option
from omegaconf import OmegaConf

from al_bench.data import sources
from al_bench.data.coco import DataNotFoundError

CONF = Path(__file__).resolve().parents[2] / "conf/data"


def _cfg(preset: str, tmp_path: Path, **overrides):
    """The real conf/data/<preset>.yaml, resolved against a paths group pointing at ``tmp_path``."""
    data = load_option(CONF / f"{preset}.yaml")
    cfg = OmegaConf.create({"paths": {"cache_dir": str(tmp_path / "cache")}, "data": data})
    for key, value in overrides.items():
        OmegaConf.update(cfg, f"data.{key}", value)
    return cfg.data


def test_synthetic_is_generated_once_atomically(tmp_path):
    cfg = _cfg("synthetic", tmp_path, n_pool=8, n_val=3)
    first = sources.build_sources(cfg)
    root = Path(cfg.root)
    assert (
        root.name == "v4_seed0_pool8_val3_128px_pool_upright_bursts0.6x10"
        and (root / sources.COMPLETE_MARKER).exists()
    )
    assert first.name == "synthetic" and len(first.fingerprint) == 16
    # Nothing is filtered with labels: person-free images stay in the pool and in val.
    assert first.pool.image_ids.tolist() == list(range(1, 9)) and first.val.image_ids.tolist() == [9, 10, 11]
    left = sorted(p.name for p in root.parent.iterdir())
    assert left == sorted([root.name, sources.generation_lock(root).name]), "no temporary folders left behind"
    stamp = (root / "person_keypoints_pool.json").stat().st_mtime_ns
    second = sources.build_sources(cfg)
    assert (root / "person_keypoints_pool.json").stat().st_mtime_ns == stamp, (
        "complete data is not regenerated"
    )
    assert second.fingerprint == first.fingerprint
    other = sources.build_sources(_cfg("synthetic", tmp_path, n_pool=8, n_val=3, seed=1))
    assert other.fingerprint != first.fingerprint


def test_killed_generation_leaves_nothing(tmp_path, monkeypatch):
    def dies(out_dir, *args, **kwargs):
        (Path(out_dir) / "images").mkdir()
        (Path(out_dir) / "person_keypoints_pool.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(sources, "generate_synthetic", dies)
    cfg = _cfg("synthetic", tmp_path, n_pool=4, n_val=2)
    with pytest.raises(KeyboardInterrupt):
        sources.build_sources(cfg)
    assert list(Path(cfg.root).parent.iterdir()) == [sources.generation_lock(Path(cfg.root))]


def test_incomplete_or_mismatched_root_is_refused(tmp_path):
    cfg = _cfg("synthetic", tmp_path, n_pool=4, n_val=2)
    Path(cfg.root).mkdir(parents=True)
    with pytest.raises(ValueError, match="not a complete synthetic data set"):
        sources.build_sources(cfg)
    Path(cfg.root).rmdir()
    sources.build_sources(cfg)
    cfg.root = str(Path(cfg.root))  # freeze the folder, then change a parameter
    cfg.seed = 9
    with pytest.raises(ValueError, match="generated with .*'seed': 0"):
        sources.build_sources(cfg)


def _coco_root(tmp_path: Path, coco_sample: Path) -> Path:
    """The COCO layout, built from symlinks to the real sample (never copied)."""
    root = tmp_path / "coco"
    (root / "annotations").mkdir(parents=True)
    for split in ("train2017", "val2017"):
        (root / "annotations" / f"person_keypoints_{split}.json").symlink_to(
            coco_sample / "person_keypoints_sample.json"
        )
        (root / split).symlink_to(coco_sample)
    return root


def test_coco_layout_loads(tmp_path, coco_sample):
    root = _coco_root(tmp_path, coco_sample)
    data = sources.build_sources(_cfg("coco", tmp_path, root=str(root), max_val_images=2))
    assert data.name == "coco" and data.pool.image_ids.tolist() == [785, 40083, 196141, 197388]
    assert data.val.image_ids.tolist() == [785, 40083]
    assert data.pool.image_path(785) == root / "train2017/000000000785.jpg"


def test_coco_missing_files_say_how_to_provide_them(tmp_path, coco_sample):
    with pytest.raises(DataNotFoundError, match="data.root is not set"):
        sources.build_sources(_cfg("coco", tmp_path))
    with pytest.raises(DataNotFoundError, match="data.root .*nowhere does not exist.*data.root="):
        sources.build_sources(_cfg("coco", tmp_path, root=str(tmp_path / "nowhere")))
    root = _coco_root(tmp_path, coco_sample)
    (root / "val2017").unlink()
    with pytest.raises(DataNotFoundError, match=r"image folder not found: expected it at .*coco/val2017"):
        sources.build_sources(_cfg("coco", tmp_path, root=str(root)))
    hand_made = _cfg("coco", tmp_path, kind="lsp")
    del hand_made["_target_"]  # only a config without a builder falls back on data.kind
    with pytest.raises(ValueError, match="data.kind must be one of"):
        sources.build_sources(hand_made)


def test_a_config_without_a_builder_gets_its_kinds(tmp_path):
    cfg = _cfg("synthetic", tmp_path, n_pool=4, n_val=2)
    with_target = sources.build_sources(cfg)
    del cfg["_target_"]  # composed before data sets named their builder
    assert sources.data_builder(cfg) is sources.synthetic_files
    assert sources.build_sources(cfg).fingerprint == with_target.fingerprint


def test_fingerprint_depends_on_annotation_contents(tmp_path):
    ann = tmp_path / "a.json"
    ann.write_text('{"images": []}')
    before = sources.fingerprint(ann, tmp_path)
    assert sources.fingerprint(ann, tmp_path) == before
    ann.write_text('{"images": [1]}')
    assert sources.fingerprint(ann, tmp_path) != before


def test_pool_keeps_person_free_images(tmp_path):
    cfg = _cfg("synthetic", tmp_path, n_pool=40, n_val=2)
    pool = sources.build_sources(cfg).pool
    free = [i for i in pool.image_ids if not pool.annotations(i)]
    assert pool.image_ids.tolist() == list(range(1, 41)) and len(free) >= 2


def test_rare_families_are_checked_by_name(tmp_path):
    with pytest.raises(
        ValueError, match=r"data.rare_families names unknown families \['lyin'\]; valid: standing"
    ):
        sources.build_sources(_cfg("synthetic", tmp_path, n_pool=4, n_val=2, rare_families=["lyin"]))
    coco = _cfg("coco", tmp_path, root=str(tmp_path), rare_families=["lying"])
    with pytest.raises(
        ValueError, match=r"only the synthetic set labels pose families; set it to \[\] for 'coco'"
    ):
        sources.build_sources(coco)
