"""Annotate next: files an annotation tool imports (picks + predicted persons) and the merge of its export.

Pure data code (no model): :mod:`.formats` writes ``coco_images.json`` (CVAT), ``label_studio_config.xml``
and ``label_studio_tasks.json`` (Label Studio) from :class:`Pick` s; :mod:`.merge` merges a tool's export
back into a labeled COCO keypoints set; :mod:`.atomic` writes files and folders atomically.
"""

from al_bench.annotate.atomic import atomic_output_dir, atomic_write_json, atomic_write_text
from al_bench.annotate.formats import (
    COCO_IMAGES,
    LS_CONFIG,
    LS_TASKS,
    Pick,
    PickError,
    coco_images,
    label_studio_config,
    label_studio_tasks,
    write_annotation_files,
)
from al_bench.annotate.merge import MergeError, MergeReport, load_picked, merge_annotations

__all__ = [
    "COCO_IMAGES",
    "LS_CONFIG",
    "LS_TASKS",
    "MergeError",
    "MergeReport",
    "Pick",
    "PickError",
    "atomic_output_dir",
    "atomic_write_json",
    "atomic_write_text",
    "coco_images",
    "label_studio_config",
    "label_studio_tasks",
    "load_picked",
    "merge_annotations",
    "write_annotation_files",
]
