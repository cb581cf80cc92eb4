"""Real data, fake model: the real data sources (synthetic images on disk, the start-up image check)
with the fast fake pose model and strategy of ``fakes.py``.

The fake model decodes every image it trains or predicts on, so an unreadable image that reached
training, evaluation or selection would crash the run: a run that finishes proves it never did.
"""

from __future__ import annotations

import fakes
import numpy as np

from al_bench.data.integrity import decoded, open_rgb
from al_bench.data.sources import build_sources
from al_bench.loop.pieces import Pieces


def _decode_all(source, image_ids) -> None:
    for image_id in image_ids:
        path = source.image_path(int(image_id))
        decoded(open_rgb(path), path)


def fit(cfg, source, labeled_ids, init_model=None):
    _decode_all(source, labeled_ids)
    return fakes.fit(cfg, source, labeled_ids, init_model)


def predict(model, source, image_ids, cfg, want=("results",)):
    _decode_all(source, image_ids)
    return fakes.predict(model, source, image_ids, cfg, want)


def make_context(cfg, model, source, pool_ids, labeled_ids, rng, fingerprint="", labels_source=None):
    from types import SimpleNamespace

    return SimpleNamespace(
        pool_ids=np.asarray(pool_ids),
        labeled_ids=np.asarray(labeled_ids),
        rng=rng,
        peaks=lambda: predict(model, source, pool_ids, cfg, want=("peaks",)).peaks,
    )


def fake_model_real_data_pieces() -> Pieces:
    return Pieces(
        build_sources,
        fit,
        predict,
        lambda cfg: fakes.LowestPeakStrategy(),
        make_context,
        fakes.save_model,
        fakes.load_model,
    )
