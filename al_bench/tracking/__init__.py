"""Tracking: MLflow params, per-round metrics, artifacts and tags for AL runs (see mlflow_tracker.py)."""

from al_bench.tracking.mlflow_tracker import MlflowTracker, TrackingError, flatten, ui_command

__all__ = ["MlflowTracker", "TrackingError", "flatten", "ui_command"]
