"""The x axes a learning curve can be drawn against, and the annotation-cost model.

Annotators are paid per person and per keypoint as much as per image: a strategy that picks
single-person images reaches 300 labeled images with far fewer labelled keypoints. ``images`` =
``n_labeled``, ``persons`` = ``n_persons`` (cumulative labeled persons), ``keypoints`` =
``n_keypoints`` (cumulative labelled keypoints), ``cost`` = seconds of annotation:
``per_image_s * n_labeled + per_person_s * n_persons + per_keypoint_s * n_keypoints`` with the
rates from the run's params ``cost.per_image_s``, ``cost.per_person_s``, ``cost.per_keypoint_s``.
"""

from __future__ import annotations

AXES: dict[str, str] = {"images": "n_labeled", "persons": "n_persons", "keypoints": "n_keypoints", "cost": ""}
"""Axis name -> the per-round metric it reads (``cost`` is computed from three of them)."""

COST_PARAMS: tuple[str, str, str] = ("cost.per_image_s", "cost.per_person_s", "cost.per_keypoint_s")
"""Params with the annotation rates, in the order of :func:`annotation_cost`'s arguments."""

AXIS_LABELS: dict[str, str] = {
    "images": "labeled images (count)",
    "persons": "labeled persons (count)",
    "keypoints": "labelled keypoints (count)",
    "cost": "annotation cost (s)",
}


def check_axis(axis: str) -> str:
    """``axis`` itself when it is one of :data:`AXES`, else a ValueError naming them."""
    if axis not in AXES:
        raise ValueError(f"unknown x axis {axis!r}; choose one of {', '.join(AXES)}")
    return axis


def axis_label(axis: str) -> str:
    """Axis title with its unit."""
    return AXIS_LABELS[check_axis(axis)]


def annotation_cost(
    n_labeled: float,
    n_persons: float,
    n_keypoints: float,
    per_image_s: float,
    per_person_s: float,
    per_keypoint_s: float,
):
    """Annotation seconds of a labeled set (works elementwise on numpy arrays and pandas Series)."""
    return per_image_s * n_labeled + per_person_s * n_persons + per_keypoint_s * n_keypoints
