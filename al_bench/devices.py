"""Where and how torch work runs: the one reading of a ``device`` setting (``auto``, ``cpu``,
``cuda:1``, ...) and of a ``channels_last`` setting.

Shared by training, inference, the exact index, core-set and the ResNet embedder; it knows nothing
of any of them.
"""

from __future__ import annotations

import torch


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def memory_format(channels_last: bool) -> torch.memory_format:
    """The tensor memory format a ``train.channels_last`` / ``infer.channels_last`` setting asks for."""
    return torch.channels_last if channels_last else torch.contiguous_format
