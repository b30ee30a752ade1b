"""Index tables of the MediaPipe 478-point face landmark layout used by faceforge.

Layout (MediaPipe's "refined landmarks", ``tensors_to_face_landmarks_with_attention.pbtxt``):

- 0-467: the face mesh (``face_landmark.tflite``).
- 468-472: iris of the eye whose corners are mesh points 33 (outer) and 133 (inner): the subject's **right** eye,
  at the smaller x in a non-mirrored photo. Order: centre, then four edge points: nasal side, top, temporal side,
  bottom (measured on an upright face: 469 at larger x, 470 above, 471 at smaller x, 472 below).
- 473-477: iris of the subject's **left** eye (corners 362 inner, 263 outer), same order, mirrored: 474 nasal side
  (smaller x), 475 top, 476 temporal side (larger x), 477 bottom. (MediaPipe's graphs call the edges right, top,
  left, bottom for both eyes; this module's mirrored iris input makes them anatomically symmetric.)

MediaPipe's own names for the two eyes differ between its graphs (the iris graph calls the 33/133 eye "left", the
mesh connection tables call it "right"); faceforge always names eyes from the subject's point of view, like iBUG-68.
"""

from __future__ import annotations

import numpy as np

NUM_MESH_POINTS = 468
NUM_POINTS = 478

RIGHT_IRIS = (468, 469, 470, 471, 472)
"""Subject's right iris: centre then 4 edge points."""
LEFT_IRIS = (473, 474, 475, 476, 477)
"""Subject's left iris: centre then 4 edge points."""

RIGHT_EYE_CORNERS = (33, 133)
"""Subject's right eye: (outer, inner) corner mesh indices."""
LEFT_EYE_CORNERS = (362, 263)
"""Subject's left eye: (inner, outer) corner mesh indices (ordered so that the vector points to +x when upright)."""

# The first 16 of the iris model's 71 eye-contour points are the eyelid contour: lower lid from the outer to the
# inner corner (9 points), then the upper lid without corners (7 points). Their mesh counterparts, per eye
# (MediaPipe's landmark refinement tables).
RIGHT_EYELID = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
LEFT_EYELID = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398)

# Mesh points with an unambiguous iBUG-68 counterpart (0-based iBUG index -> mesh index). Checked visually on
# overlays of the 300-W AFW images and measured against their annotations (see tests/test_detect_dev.py).
# Left out on purpose: the jaw contour (iBUG's is the visible outline, which slides over the mesh as the head turns),
# the eyebrows (iBUG traces the upper brow edge, the mesh the brow centre) and the nose bridge.
IBUG_TO_MESH: dict[int, int] = {
    8: 152,  # chin (menton)
    30: 4,  # nose tip
    36: 33,  # right eye, outer corner
    39: 133,  # right eye, inner corner
    42: 362,  # left eye, inner corner
    45: 263,  # left eye, outer corner
    48: 61,  # mouth, right corner
    51: 0,  # upper lip, top centre
    54: 291,  # mouth, left corner
    57: 17,  # lower lip, bottom centre
}


def ibug_subset(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mesh points of :data:`IBUG_TO_MESH`.

    Args:
        points: (478, C) or (468, C) MediaPipe landmarks.
    Returns:
        ibug_indices (K,) int64 (0-based iBUG-68) and the matching (K, C) rows of ``points``.
    """
    ibug = np.array(sorted(IBUG_TO_MESH), dtype=np.int64)
    mesh = np.array([IBUG_TO_MESH[i] for i in ibug], dtype=np.int64)
    return ibug, np.asarray(points)[mesh]
