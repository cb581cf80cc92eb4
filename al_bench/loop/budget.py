"""Budgets and seeds of an AL run: how many images per round, the initial labeled set, per-round seeds.

Semantics (DESIGN.md, "Selection semantics"): ``al.initial`` and ``al.budget`` are image counts
(int >= 1) or fractions of the pool (float in (0, 1)); the pool is every image that may be labeled.
Every random draw of a run comes from a seed derived from ``(seed, round, stream)``, so a round's
result does not depend on what ran before it in the same process (a cached round-0 model, a
resumed run, another strategy).
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence

import numpy as np
import torch

# Independent random streams of one run (the second element of a derived seed).
STREAM_INITIAL = 0  # drawing L0
STREAM_TRAIN = 1  # global torch/numpy/python RNGs while training round r
STREAM_SELECT = 2  # the Generator handed to the strategy in round r


def resolve_count(value: float, total: int, key: str) -> int:
    """An image count from an int, or from a fraction of ``total``.

    Args:
        value: int >= 1, or float in (0, 1) (fraction of ``total``, rounded, at least 1).
        total: the size the fraction refers to.
        key: config key, for the error message.

    Raises:
        TypeError: not a number (a bool or a string).
        ValueError: a non-positive value, or a float >= 1 that is not a whole number.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{key}={value!r}: expected an image count (int) or a fraction of {total} (float)")
    if isinstance(value, float) and 0 < value < 1:
        return max(1, round(value * total))
    if value >= 1 and float(value).is_integer():
        return int(value)
    raise ValueError(f"{key}={value!r}: expected an int >= 1 or a fraction in (0, 1)")


def derived_seed(seed: int, *stream: int) -> int:
    """A 32-bit seed for one stream of one run, independent of the other streams."""
    return int(np.random.SeedSequence([int(seed), *map(int, stream)]).generate_state(1)[0])


def selection_rng(seed: int, round_idx: int) -> np.random.Generator:
    """The Generator a strategy gets in ``round_idx`` (the same for every strategy under ``seed``)."""
    return np.random.default_rng(derived_seed(seed, STREAM_SELECT, round_idx))


def seed_training(seed: int, round_idx: int) -> None:
    """Seed the global Python, NumPy and torch RNGs for training round ``round_idx``."""
    value = derived_seed(seed, STREAM_TRAIN, round_idx)
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)


def initial_labeled_ids(pool_ids: Sequence[int], n: int, seed: int) -> np.ndarray:
    """L0: ``n`` pool ids drawn without replacement from ``seed`` alone (identical for every strategy).

    Raises:
        ValueError: ``n`` exceeds the pool.
    """
    pool = np.sort(np.asarray(pool_ids, dtype=np.int64))
    if n > len(pool):
        raise ValueError(f"al.initial={n} exceeds the pool of {len(pool)} images")
    rng = np.random.default_rng(derived_seed(seed, STREAM_INITIAL))
    return np.sort(rng.choice(pool, size=n, replace=False))


def check_budget(n_pool: int, n_initial: int, budget: int, rounds: int) -> None:
    """Refuse an empty pool; warn when the rounds ask for more images than the pool holds.

    Raises:
        ValueError: the pool is empty (every later step would fail less clearly).
    """
    if n_pool == 0:
        raise ValueError(
            "the AL pool is empty: no image can be labeled (check data.* and the skipped images)"
        )
    wanted = n_initial + budget * rounds
    if rounds > 0 and wanted > n_pool:
        left = n_pool - n_initial
        warnings.warn(
            f"al.initial={n_initial} + al.budget={budget} x al.rounds={rounds} = {wanted} images, but the pool "
            f"has {n_pool}: the {left} unlabeled ones run out after {left // budget} full round(s); later "
            "rounds select fewer (or none)",
            BudgetWarning,
            stacklevel=2,
        )


class BudgetWarning(UserWarning):
    """The budget asks for more images than the pool holds."""
