"""CPU thread counts for torch *and* the BLAS that numpy uses, set together.

torch.set_num_threads does not reach numpy's OpenBLAS, whose idle threads busy-wait after each call:
in a data worker or a one-thread job they take cycles from the training step on the same cores
(measured in docs/BENCHMARKS.md, "Round profile"). Every place that fixes torch's threads uses this.
"""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits


def set_cpu_threads(n: int) -> None:
    """Use ``n`` threads for torch's CPU ops and for numpy's BLAS in this process."""
    torch.set_num_threads(int(n))
    threadpool_limits(limits=int(n), user_api="blas")
