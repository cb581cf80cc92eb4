"""Unreadable images: found at start-up, left out of their split with a warning naming the file, cached."""

import json
import shutil
from pathlib import Path

import pytest
from conf_files import load_option
from omegaconf import OmegaConf

from al_bench.data import integrity, sources
from al_bench.data.coco import CocoKeypoints
from al_bench.data.integrity import UnreadableImageError, UnreadableImageWarning
from al_bench.data.transforms import load_image

CONF = Path(__file__).resolve().parents[2] / "conf/data"
SAMPLE_ANN = "person_keypoints_sample.json"


def _cfg(tmp_path: Path, **overrides):
    """conf/data/synthetic.yaml with a tiny pool, resolved against ``tmp_path/cache``."""
    cfg = OmegaConf.create(
        {"paths": {"cache_dir": str(tmp_path / "cache")}, "data": load_option(CONF / "synthetic.yaml")}
    )
    for key, value in {"n_pool": 12, "n_val": 4, **overrides}.items():
        OmegaConf.update(cfg, f"data.{key}", value)
    return cfg.data


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def sample_copy(coco_sample, tmp_path) -> Path:
    """A writable copy of the real COCO sample (4 JPEGs + annotations)."""
    folder = tmp_path / "coco"
    shutil.copytree(coco_sample, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def test_truncated_real_jpeg_is_left_out_with_its_file_named(sample_copy):
    _truncate(sample_copy / "000000040083.jpg")
    source = CocoKeypoints(sample_copy / SAMPLE_ANN, sample_copy, require_keypoints=False)
    assert 40083 in source
    with pytest.warns(
        UnreadableImageWarning, match=r"left out 1 unreadable image.*000000040083\.jpg.*truncated"
    ):
        bad = integrity.leave_out_unreadable(source, "pool", "decode", None, max_fraction=0.5)
    assert list(bad) == [40083] and "image file is truncated" in bad[40083]
    assert 40083 not in source and 40083 not in source.image_ids.tolist() and len(source) == 3
    assert source.image_size(40083) == (500, 333), "its annotations stay readable (COCO object unchanged)"


def test_header_only_check_misses_truncation_that_decode_finds(sample_copy):
    _truncate(sample_copy / "000000000785.jpg")
    paths = {785: sample_copy / "000000000785.jpg", 40083: sample_copy / "000000040083.jpg"}
    assert integrity.find_unreadable(paths, "open") == {}
    assert list(integrity.find_unreadable(paths, "decode")) == [785]
    assert integrity.find_unreadable(paths, "none") == {}
    with pytest.raises(ValueError, match=r"data.image_check must be one of \('decode', 'open', 'none'\)"):
        integrity.find_unreadable(paths, "full")


def test_first_read_of_a_broken_image_names_the_file(sample_copy):
    _truncate(sample_copy / "000000196141.jpg")
    with pytest.raises(UnreadableImageError, match=r"000000196141\.jpg: cannot read image .*truncated"):
        load_image(sample_copy / "000000196141.jpg", 1.0)
    with pytest.raises(UnreadableImageError, match=r"nope\.jpg: image file not found"):
        load_image(sample_copy / "nope.jpg", 1.0)


def test_build_sources_leaves_out_corrupt_and_missing_images(tmp_path):
    cfg = _cfg(tmp_path)
    clean = sources.build_sources(cfg)
    pool_id, val_id = int(clean.pool.image_ids[3]), int(clean.val.image_ids[0])
    _truncate(clean.pool.image_path(pool_id))
    clean.val.image_path(val_id).unlink()
    with pytest.warns(UnreadableImageWarning) as caught:
        built = sources.build_sources(cfg)
    messages = [str(w.message) for w in caught]
    assert any("pool: left out 1" in m and clean.pool.image_path(pool_id).name in m for m in messages)
    assert any(f"{clean.val.image_path(val_id)}: image file not found" in m for m in messages)
    assert built.pool_skipped.keys() == {pool_id} and built.val_skipped.keys() == {val_id}
    assert pool_id not in built.pool.image_ids and val_id not in built.val.image_ids
    assert len(built.pool) == len(clean.pool) - 1
    assert built.fingerprint != clean.fingerprint, (
        "caches keyed by the fingerprint must not mix the two pools"
    )


def test_verdict_is_cached_per_unchanged_file_list(tmp_path, monkeypatch):
    cfg = _cfg(tmp_path)
    first = sources.build_sources(cfg)
    assert len(list(Path(cfg.image_check_cache).glob("*.json"))) == 2  # pool and val

    def no_decoding(path, mode):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(integrity, "image_problem", no_decoding)
    assert sources.build_sources(cfg).fingerprint == first.fingerprint
    _truncate(first.pool.image_path(int(first.pool.image_ids[0])))  # a changed file: checked again
    with pytest.raises(AssertionError, match="decoded"):
        sources.build_sources(cfg)


def test_too_many_unreadable_images_is_an_error_not_a_skip(tmp_path):
    cfg = _cfg(tmp_path, max_unreadable_fraction=0.1)
    clean = sources.build_sources(cfg)
    for image_id in clean.pool.image_ids[:2]:
        clean.pool.image_path(int(image_id)).write_bytes(b"not an image")
    with pytest.raises(
        UnreadableImageError, match=r"pool: 2 of 12 images cannot be read .*max_unreadable_fraction=0.1"
    ):
        sources.build_sources(cfg)


def test_empty_pool_is_named(sample_copy):
    ann = sample_copy / SAMPLE_ANN
    data = json.loads(ann.read_text())
    data["images"], data["annotations"] = [], []
    ann.write_text(json.dumps(data))
    cfg = load_option(CONF / "coco.yaml")  # build_sources reads every key of a data set's file
    settings = {"pool_ann": SAMPLE_ANN, "val_ann": SAMPLE_ANN, "pool_images": ".", "val_images": "."}
    cfg.merge_with({**settings, "root": str(sample_copy), "image_check": "open", "image_check_cache": None})
    with pytest.raises(
        ValueError, match=r"the pool split is empty: the file lists no usable image \(.*sample"
    ):
        sources.build_sources(cfg)


def test_malformed_num_keypoints_is_named_by_annotation_id(sample_copy):
    ann = sample_copy / SAMPLE_ANN
    data = json.loads(ann.read_text())
    data["annotations"][2]["num_keypoints"] = -1  # annotation id 230195
    ann.write_text(json.dumps(data))
    with pytest.raises(
        ValueError, match=r"annotation id 230195 .*num_keypoints must be an integer in 0..17, got -1"
    ):
        CocoKeypoints(ann, sample_copy)
    with pytest.warns(UserWarning, match=r"skipped 1 bad annotations \(ids 230195\)"):
        source = CocoKeypoints(ann, sample_copy, on_bad_annotation="skip")
    assert source.bad_annotation_ids == [230195]
