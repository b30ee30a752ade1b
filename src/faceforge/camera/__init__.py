"""Cameras: projection to pixels and back (pure torch functions) and camera constructors.

The ``Camera`` dataclass lives in ``faceforge.structures``; frames and the pixel-centre convention are in
docs/conventions.md.
"""

from faceforge.camera.build import crop_camera, front_camera, look_at_camera, look_at_face_camera, look_at_rotation
from faceforge.camera.projection import (
    broadcast_batch,
    camera_centers,
    camera_to_pixels,
    camera_to_world,
    project,
    project_with_depth,
    unproject,
    world_to_camera,
)
from faceforge.structures import Camera

__all__ = [
    "Camera",
    "broadcast_batch",
    "camera_centers",
    "camera_to_pixels",
    "camera_to_world",
    "crop_camera",
    "front_camera",
    "look_at_camera",
    "look_at_face_camera",
    "look_at_rotation",
    "project",
    "project_with_depth",
    "unproject",
    "world_to_camera",
]
