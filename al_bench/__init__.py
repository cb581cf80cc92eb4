"""al_bench: active-learning benchmark harness for multi-person human pose estimation."""

__version__ = "0.1.0"
