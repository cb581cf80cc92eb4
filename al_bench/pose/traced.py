"""The inference forward pass as one TorchScript graph (``infer.jit``), cached per model.

Why: a TorchScript graph runs in C++ with the GIL released, while an eager forward takes the GIL
back between its ops. :func:`~al_bench.pose.infer.predict` decodes the last batch on a helper thread
(``infer.overlap``) while the model runs; measured on a 2-core VM, the tiny model's eager forward
fell from ~600 to ~120 img/s with a Python thread beside it, the traced one from ~780 to ~665
(docs/BENCHMARKS.md, round profile). The graph runs the same aten kernels in the same order, so on CPU
its outputs equal the eager ones to the bit (tests/pose/test_infer.py); it is not used on other
devices, where a fuser may merge kernels and change the floats. It pays when the job has a free core
for the helper thread; the presets that run two jobs on two cores turn it off (conf/experiment/quick.yaml).
"""

from __future__ import annotations

import warnings
import weakref

import torch

from al_bench.pose.models import PoseNet

# model -> (what the trace was made for, the trace). Weak keys: a round's model is freed with it.
_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class PlainForward(torch.nn.Module):
    """Backbone feature maps and the last stage's heatmaps and PAFs of one (unscaled, unmirrored) input."""

    def __init__(self, model: PoseNet):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feats = self.model.backbone(x)
        heat, paf = self.model.run_stages(feats)[-1]
        return feats, heat, paf


def traced_forward(model: PoseNet, x: torch.Tensor):
    """``PlainForward(model)`` traced on ``x``'s device and dtype, reused while the model's tensors are
    the same ones (the trace shares them, so in-place weight updates reach it; replaced ones re-trace).
    Any batch size runs through one trace: the graph has no shape-dependent Python."""
    tensors = [*model.parameters(), *model.buffers()]
    key = (x.device, x.dtype, tuple(t.data_ptr() for t in tensors))
    cached = _TRACES.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    with warnings.catch_warnings():
        # torch 2.x marks jit.trace deprecated in favour of torch.compile / torch.export, neither of which
        # runs a graph without the GIL on CPU without a compiler toolchain.
        warnings.simplefilter("ignore", FutureWarning)
        trace = torch.jit.trace(PlainForward(model), x, check_trace=False)
    _TRACES[model] = (key, trace)
    return trace
