"""The schemas of al_bench/config_schema.py: a bad value or an unknown key fails at compose time,
naming the key, and the schemas leave every existing run key as it was."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_support import cli_env
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from al_bench.loop.state import condition, run_key

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
TYPED_GROUPS = ("data", "train", "infer", "index", "strategy", "tracking", "paths")


def _compose(config="config", *overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config, overrides=list(overrides))


@pytest.mark.parametrize(
    "override",
    [
        "al.rounds=four",
        "al.initial=many",
        "seed=zero",
        "train.lr=fast",
        "train.steps=1.5",
        "infer.decode.nms_kernel=big",
        "data.augment.rotation_deg=lots",
        "data.n_pool=all",
        "index.n_trees=many",
        "strategy.selection_ratio=half",
        "strategy.uncertainty.topk=some",
        "tracking.check_timeout_s=soon",
    ],
)
def test_a_wrong_type_fails_at_compose_naming_the_key(override):
    _assert_compose_fails_naming_the_key(override)


def _assert_compose_fails_naming_the_key(override: str) -> None:
    key = override.split("=")[0]
    with pytest.raises(ConfigCompositionException) as err:
        _compose("config", override)
    assert f"full_key: {key}" in str(err.value.__cause__ or err.value)


def test_a_wrong_list_item_fails_at_compose_naming_the_override():
    with pytest.raises(ConfigCompositionException, match=r"infer\.scales=\[x\]"):
        _compose("config", "infer.scales=[x]")


@pytest.mark.parametrize(
    "override",
    [
        "al.roundz=2",
        "train.stepz=3",
        "infer.decode.nms_kernal=3",
        "data.n_poool=5",
        "index.n_treez=3",
        "strategy.selection_ratioo=0.1",
        "tracking.urii=x",
        "paths.output=x",
    ],
)
def test_an_unknown_key_fails_at_compose_naming_the_key(override):
    _assert_compose_fails_naming_the_key(override)


@pytest.mark.parametrize("option", sorted(f.stem for f in (CONF_DIR / "strategy").glob("*.yaml")))
def test_every_strategy_file_is_typed_by_its_own_schema(option):
    strategy = _compose("config", f"strategy={option}").strategy
    assert OmegaConf.get_type(strategy).__module__ == "al_bench.config_schema"


def test_the_typed_groups_of_the_default_config_have_schemas():
    cfg = _compose("config")
    for group in TYPED_GROUPS:
        assert OmegaConf.get_type(cfg[group]).__module__ == "al_bench.config_schema", group


def test_select_and_search_bench_compose_with_their_own_keys():
    assert _compose("select").tracking.experiment_name == "al_bench_select"
    assert _compose("search_bench", "tracking.enabled=false").tracking.enabled is False


# Run keys of today's configs, computed before the schemas existed (also compared by hand for every
# group option, preset and sweep value: only `data=coco` under the quick preset changed, because the
# preset's data.n_pool / n_val no longer land on the COCO config). A change here re-runs every sweep.
# Run keys and conditions pinned so that refactors (schemas, data builders in _target_, ...) cannot
# change them unnoticed. Re-pinned deliberately on 2026-12-01 when tiny_cpu gained train.warm_start_lr
# and when the target encoding moved to its one home (model.sigma / model.paf_width; data.target went);
# on 2026-12-02 when the decoder's defaults changed (infer.decode.min_keypoints 3 -> 1, new join_reach):
# the same model now scores another AP, so no earlier run may be resumed as one of these. Again on
# 2026-12-02 (session 5) for the grid NMS (infer.decode.nms_kernel 5 -> 9), infer.resize and the decoder's join_shared /
# keep_parts. On 2026-12-03 for the synthetic generator's version 3 (data.families; the data differ), and
# for channels_last on CPU (train.channels_last true in tiny_cpu, the new infer.channels_last: other floats)
# and the new train.ema_decay key. Again on 2026-12-03 (session 9) for generator version 4's bursts
# (data.burst_share, data.n_bursts: the synthetic pool differs).
# A built-in data builder adds nothing to the key (data.kind says it), a builder of the user's own does.
KNOWN_KEYS = [
    ([], "2aa4af2a5277eba9", "f8d8b9ad35854c4f"),
    (["strategy=full_pool"], "6129726f21247be7", "d985e6e273b675ef"),
    (["strategy=random"], "763cc1b0916ed5b5", "ae4d5c483cd79b2e"),
    (["data=coco"], "cd50668c8b4b447a", "7864ab32ab6b2ea6"),
    (["experiment=paper_coco", "strategy=coreset", "seed=1"], "ca88895456768b3c", "8afa45fbbf57febe"),
    (["experiment=kaplan2020"], "a663864454d03088", "6d4d719e63853542"),
]


@pytest.mark.parametrize(("overrides", "key", "cond"), KNOWN_KEYS, ids=lambda v: str(v))
def test_run_keys_and_conditions_stay_pinned(overrides, key, cond):
    cfg = _compose("config", *overrides)
    assert (run_key(cfg), condition(cfg)) == (key, cond)


def test_a_users_data_builder_enters_the_run_key():
    own = _compose("config", "data._target_=my_data.files")
    assert run_key(own) != KNOWN_KEYS[0][1]


def test_al_bench_with_a_bad_value_exits_before_any_work(tmp_path):
    out = tmp_path / "out"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "al_bench.cli.main", f"paths.output_dir={out}", "al.rounds=four"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "al.rounds" in proc.stderr, proc.stderr
    assert not out.exists() and not (tmp_path / "outputs").exists()
    assert time.monotonic() - started < 60  # compose only: no data, no model, no training
