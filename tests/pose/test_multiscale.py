"""Multi-scale and flip test: maps of scaled / mirrored inputs land on the plain input's grid exactly.

The stand-in network finds two bright blobs in its input and returns the encoded targets of a "person"
with its left shoulder on the left blob and its right shoulder on the right one (so it is translation-,
scale- and mirror-consistent like a perfect pose network), on the output grid of whatever size it gets.
"""

import numpy as np
import pytest
import torch
from torch import nn

from al_bench.data.skeleton import LIMBS
from al_bench.data.targets import cell_centers, encode_targets
from al_bench.pose.infer import _forward_maps

STRIDE, SIDE, SIGMA = 8, 368, 7.0
L_SHOULDER, R_SHOULDER = 5, 6
SHOULDERS = LIMBS.index((L_SHOULDER, R_SHOULDER))


class BlobNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stride, self.input_size, self.feature_dim = STRIDE, SIDE, 3
        self.backbone = nn.Identity()
        self.input_sizes: list[tuple[int, int]] = []

    def forward(self, x):
        self.input_sizes.append(tuple(x.shape[-2:]))
        assert x.shape[-2] % STRIDE == 0 and x.shape[-1] % STRIDE == 0, "input not stride-aligned"
        out_hw = (x.shape[-2] // STRIDE, x.shape[-1] // STRIDE)
        heat, paf = [], []
        for image in x[:, 0].numpy():
            weights = np.where(image > 0.05, image, 0.0)  # the blobs, not the ~0 padding
            ys, xs = np.nonzero(weights)
            split = (xs.min() + xs.max()) / 2
            kps = np.zeros((1, 17, 3), np.float32)
            for k, side in ((L_SHOULDER, xs < split), (R_SHOULDER, xs >= split)):
                w = weights[ys[side], xs[side]]
                kps[0, k] = (np.sum(w * xs[side]) / w.sum(), np.sum(w * ys[side]) / w.sum(), 2)
            h, p = encode_targets(kps, out_hw, STRIDE, SIGMA, paf_width=8.0)
            heat.append(torch.from_numpy(h))
            paf.append(torch.from_numpy(p))
        return [(torch.stack(heat), torch.stack(paf))]

    def run_stages(self, feats):
        return self(feats)


def _blobs(points, sigma=3.0):
    """``(1, 3, SIDE, SIDE)`` input: Gaussian blobs of height 1 at ``points`` (input pixels), 0 elsewhere."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    img = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)) for x, y in points)
    return torch.from_numpy(np.broadcast_to(img, (3, SIDE, SIDE)).copy())[None]


def _peak(heatmap):
    """Weighted centroid of one heatmap channel, in input pixels (cell-centre convention)."""
    h = heatmap.numpy().astype(np.float64)
    centres = cell_centers(h.shape[0], STRIDE)
    return np.array([np.sum(h.sum(0) * centres), np.sum(h.sum(1) * centres)]) / h.sum()


# Left blob near the origin, right blob near the far corner (where a scale error is largest).
POINTS = [(60.0, 90.0), (321.3, 318.6)]


@pytest.mark.parametrize("scales", [[0.75], [1.25], [0.5], [0.75, 1.0, 1.25]])
@pytest.mark.parametrize("flip", [False, True])
def test_scaled_and_mirrored_maps_align_with_the_plain_input(scales, flip):
    net = BlobNet()
    heat, paf = _forward_maps(net, _blobs(POINTS), flip=flip, scales=scales)
    assert heat.shape == (1, 18, SIDE // STRIDE, SIDE // STRIDE) and paf.shape == (1, 38, 46, 46)
    assert net.input_sizes == [
        (-(-round(SIDE * s) // STRIDE) * STRIDE,) * 2 for s in scales for _ in range(1 + flip)
    ]
    for k, point in ((L_SHOULDER, POINTS[0]), (R_SHOULDER, POINTS[1])):
        error = np.abs(_peak(heat[0, k]) - point)
        assert error.max() < 0.5, (k, scales, flip, error)
    # The flip swapped the shoulders back: no left shoulder at the right blob, and the PAF of the
    # shoulder limb still points from the left blob to the right one.
    right = heat[0, L_SHOULDER, round((POINTS[1][1] - 3.5) / STRIDE), round((POINTS[1][0] - 3.5) / STRIDE)]
    assert right < 1e-3
    direction = np.subtract(POINTS[1], POINTS[0]) / np.linalg.norm(np.subtract(POINTS[1], POINTS[0]))
    mid = np.mean(POINTS, axis=0)
    cell = (round((mid[1] - 3.5) / STRIDE), round((mid[0] - 3.5) / STRIDE))
    vec = paf[0, 2 * SHOULDERS : 2 * SHOULDERS + 2, cell[0], cell[1]].numpy()
    assert np.linalg.norm(vec) > 0.8, vec  # on the limb (its encoded width varies with the scale)
    np.testing.assert_allclose(vec / np.linalg.norm(vec), direction, atol=0.01)


def test_plain_scale_is_returned_untouched():
    """Scale 1 without flip is the model's own output (no resampling): exact equality."""
    net, x = BlobNet(), _blobs(POINTS)
    heat, paf = _forward_maps(net, x, flip=False, scales=[1.0])
    expected_heat, expected_paf = BlobNet()(x)[-1]
    assert torch.equal(heat, expected_heat) and torch.equal(paf, expected_paf)
