"""The embedded synthetic COCO-keypoints data set: jointed mannequins on textured scenes.

``mannequin`` owns one person (3D pose families, the view from front, back or profile, drawing in depth
order), ``scene`` one image (placement at COCO-annotated sizes, background people, crowds, clutter,
occluders, visibility, a burst's frames), ``writer`` the COCO json and the deterministic generation of a
data set (a pool's near-duplicate bursts included).
Nothing here knows about training or selection.
"""

from al_bench.data.synthetic.mannequin import FACINGS, POSE_FAMILIES, sample_pose
from al_bench.data.synthetic.scene import (
    FAMILY_MIXES,
    FRAME_STEP_PX,
    POSE_FREQUENCIES,
    SCENE_TYPES,
    Scene,
    render_scene,
)
from al_bench.data.synthetic.writer import (
    GENERATOR_VERSION,
    IMAGES_SUBDIR,
    POOL_ANN,
    VAL_ANN,
    SyntheticPaths,
    burst_plan,
    generate_synthetic,
)

__all__ = [
    "FACINGS",
    "FAMILY_MIXES",
    "FRAME_STEP_PX",
    "GENERATOR_VERSION",
    "IMAGES_SUBDIR",
    "POOL_ANN",
    "POSE_FAMILIES",
    "POSE_FREQUENCIES",
    "SCENE_TYPES",
    "VAL_ANN",
    "Scene",
    "SyntheticPaths",
    "burst_plan",
    "generate_synthetic",
    "render_scene",
    "sample_pose",
]
