"""The loop's seams: the selection context computes pool peaks and pose features in one pass."""

import numpy as np
from omegaconf import OmegaConf

from al_bench.loop.pieces import selection_context
from al_bench.pose.infer import Predictions


def test_pose_backbone_features_come_from_the_pool_pass_that_gives_the_peaks():
    calls = []

    def predict(model, source, ids, cfg, want):
        ids = np.asarray(ids, dtype=np.int64)
        calls.append((tuple(int(i) for i in ids), tuple(want)))
        feats = np.stack([np.full(4, float(i), np.float32) for i in ids])
        return Predictions(ids, [], peaks=np.ones((len(ids), 17, 2), np.float32), features=feats)

    cfg = OmegaConf.create(
        {"embedding": {"name": "pose_backbone", "_target_": "al_bench.embed.PoseBackboneEmbedder"}}
    )
    context = selection_context(cfg, None, None, [3, 5, 7], [1], np.random.default_rng(0), predict)
    assert context.peaks().shape == (3, 17, 2)
    vectors = context.embeddings([7, 3, 1])  # 1 is labeled: not in the pool pass
    assert calls == [((3, 5, 7), ("peaks", "features")), ((1,), ("features",))]
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)  # pose_backbone L2-normalises
    assert vectors.shape == (3, 4)
