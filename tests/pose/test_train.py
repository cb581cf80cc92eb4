"""Training: the loss goes down, runs are bit-identical per seed, warm starts copy, checkpoints round-trip."""

import numpy as np
import pytest
import torch

from al_bench.pose.checkpoint import load_checkpoint, save_checkpoint
from al_bench.pose.models import build_model
from al_bench.pose.train import EpochBatches, WeightAverage, build_optimizer, build_scheduler, fit, num_steps


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_few_steps_lower_the_loss(tiny_cfg, coco_source):
    ids = coco_source.image_ids.tolist()
    tiny_cfg.data.augment.enabled = False  # the same 4 images every step: the loss must fall
    tiny_cfg.train.steps = 25
    losses = []
    _, stats = fit(tiny_cfg, coco_source, ids)
    tiny_cfg.train.steps = 1
    _, first = fit(tiny_cfg, coco_source, ids)
    losses = first["final_loss"], stats["final_loss"]
    assert losses[1] < 0.7 * losses[0], losses
    assert stats["steps"] == 25 and stats["images_per_s"] > 0 and stats["train_time_s"] > 0
    assert stats["warm_start"] == 0.0


@pytest.mark.slow
def test_same_seed_gives_bit_identical_weights(tiny_cfg, coco_source):
    ids = coco_source.image_ids.tolist()
    a, stats_a = fit(tiny_cfg, coco_source, ids)
    b, stats_b = fit(tiny_cfg, coco_source, ids)
    assert _same(_weights(a), _weights(b))
    assert stats_a["final_loss"] == stats_b["final_loss"]
    tiny_cfg.seed = 1
    c, _ = fit(tiny_cfg, coco_source, ids)
    assert not _same(_weights(a), _weights(c))


def test_warm_start_continues_a_copy_of_the_previous_model(tiny_cfg, coco_source):
    ids = coco_source.image_ids.tolist()
    previous, _ = fit(tiny_cfg, coco_source, ids)
    before = _weights(previous)
    warm, stats = fit(tiny_cfg, coco_source, ids[:2], init_model=previous)
    assert _same(before, _weights(previous))  # the caller's model is untouched
    assert stats["warm_start"] == 1.0 and stats["steps"] == tiny_cfg.train.warm_start_steps
    assert not _same(before, _weights(warm))
    tiny_cfg.train.warm_start = False
    scratch, stats = fit(tiny_cfg, coco_source, ids[:2], init_model=previous)
    fresh, _ = fit(tiny_cfg, coco_source, ids[:2])
    assert stats["warm_start"] == 0.0 and _same(_weights(scratch), _weights(fresh))


def test_fit_rejects_an_empty_labelled_set(tiny_cfg, coco_source):
    with pytest.raises(ValueError, match="at least one labelled image"):
        fit(tiny_cfg, coco_source, [])


@pytest.mark.parametrize(
    ("overrides", "n", "warm", "expected"),
    [
        ({}, 100, False, 6),
        ({}, 100, True, 3),
        ({"epochs": 2}, 10, False, 5),  # ceil(2 * 10 / 4)
        ({"epochs": 2, "min_steps": 8}, 10, False, 8),
        ({"steps": 50, "max_steps": 20}, 10, False, 20),
    ],
)
def test_num_steps(tiny_cfg, overrides, n, warm, expected):
    train = {**tiny_cfg.train, **overrides}
    assert num_steps(train, n, warm) == expected


def test_cosine_schedule_warms_up_then_decays_to_the_floor(tiny_cfg):
    train = {**tiny_cfg.train, "lr": 1.0, "warmup_steps": 4, "min_lr_ratio": 0.1}
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, train, steps=20)
    lrs = []
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert np.all(np.diff(lrs[4:]) <= 0)
    assert lrs[-1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 15 / 16)))


def test_unknown_optimizer_names_the_valid_ones(tiny_cfg, coco_source):
    tiny_cfg.train.optimizer = "adam"
    with pytest.raises(ValueError, match=r"train.optimizer='adam'; valid: \['adamw', 'sgd'\]"):
        fit(tiny_cfg, coco_source, coco_source.image_ids.tolist())


def test_checkpoint_round_trip(tmp_path, compose_cfg):
    cfg = compose_cfg("model=tiny")
    torch.manual_seed(5)
    model = build_model(cfg.model)
    model.backbone[0][1].running_mean.fill_(0.25)  # buffers travel too
    path = save_checkpoint(tmp_path / "sub" / "model.pt", model, cfg.model, extra={"round": 3})
    loaded, model_cfg, extra = load_checkpoint(path)
    assert _same(_weights(model), _weights(loaded))
    assert model_cfg["name"] == "tiny" and extra == {"round": 3} and not loaded.training
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        assert torch.equal(model.eval()(x)[-1][0], loaded(x)[-1][0])


def test_load_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(ValueError, match=r"bad.pt is not an al_bench pose checkpoint"):
        load_checkpoint(bad)


def test_data_workers_do_not_change_the_weights(tiny_cfg, coco_source):
    ids = coco_source.image_ids.tolist()
    tiny_cfg.train.steps = 3  # two passes over the 4 images (batch 4 -> 1 step per pass, a new epoch each)
    a, _ = fit(tiny_cfg, coco_source, ids)
    tiny_cfg.train.num_workers = 1
    b, _ = fit(tiny_cfg, coco_source, ids)
    assert _same(_weights(a), _weights(b))


def test_epoch_batches_are_seeded_passes_that_drop_the_partial_batch():
    batches = list(EpochBatches(n=10, batch_size=4, steps=5, seed=3))
    assert len(batches) == 5 and all(len(b) == 4 for b in batches)
    assert [b[0][0] for b in batches] == [0, 0, 1, 1, 2], "two full batches per pass, then a new epoch"
    first_pass = [i for _, i in batches[0] + batches[1]]
    assert len(set(first_pass)) == 8, "no image twice within a pass"
    assert batches == list(EpochBatches(n=10, batch_size=4, steps=5, seed=3))
    assert batches != list(EpochBatches(n=10, batch_size=4, steps=5, seed=4))
    assert [len(b) for b in EpochBatches(n=3, batch_size=4, steps=2, seed=0)] == [3, 3], (
        "smaller than a batch"
    )


def test_a_warm_started_fit_can_use_its_own_peak_lr(tiny_cfg):
    model = build_model(tiny_cfg.model)
    tiny_cfg.train.warm_start_lr = 1e-3
    assert {g["lr"] for g in build_optimizer(model, tiny_cfg.train, warm=True).param_groups} == {1e-3}
    assert {g["lr"] for g in build_optimizer(model, tiny_cfg.train).param_groups} == {tiny_cfg.train.lr}
    tiny_cfg.train.warm_start_lr = None  # null: the from-scratch lr
    assert {g["lr"] for g in build_optimizer(model, tiny_cfg.train, warm=True).param_groups} == {
        tiny_cfg.train.lr
    }


def test_weight_average_follows_the_warmed_up_ema_of_parameters_and_batchnorm_statistics():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    average = WeightAverage(model, decay=0.5)
    tracked = [model[0].weight, model[1].running_mean]
    expected = [t.detach().clone() for t in tracked]
    for n in range(1, 6):
        with torch.no_grad():
            for t in tracked:
                t.add_(1.0)
        model[1].num_batches_tracked += 1  # an integer buffer: left as it is
        average.update()
        keep = min(0.5, (1 + n) / (10 + n))
        expected = [keep * e + (1 - keep) * t.detach() for e, t in zip(expected, tracked, strict=True)]
    average.copy_to_model()
    for e, t in zip(expected, tracked, strict=True):
        torch.testing.assert_close(t.detach(), e)
    assert int(model[1].num_batches_tracked) == 5
    with pytest.raises(ValueError, match="train.ema_decay"):
        WeightAverage(model, decay=1.0)


def test_a_fit_with_ema_returns_other_weights_than_its_last_ones(tiny_cfg, coco_source):
    ids = coco_source.image_ids.tolist()
    tiny_cfg.train.steps = 12
    last, _ = fit(tiny_cfg, coco_source, ids)
    tiny_cfg.train.ema_decay = 0.8
    averaged, _ = fit(tiny_cfg, coco_source, ids)
    again, _ = fit(tiny_cfg, coco_source, ids)
    assert not _same(_weights(last), _weights(averaged))
    assert _same(_weights(averaged), _weights(again))  # seeded as before
