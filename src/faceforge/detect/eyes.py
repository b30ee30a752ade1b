"""Eye state from the detector's landmarks (pure functions of the 478 points)."""

from __future__ import annotations

import numpy as np

from faceforge.detect.indices import LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS

# Upper/lower lid point pairs (mesh indices; after the iris model's eyelid refinement they lie on its lid contour).
_RIGHT_LID_PAIRS = ((160, 144), (159, 145), (158, 153))
_LEFT_LID_PAIRS = ((387, 373), (386, 374), (385, 380))


def eye_openness(points_px: np.ndarray) -> np.ndarray:
    """Lid opening / eye width per eye, (2,) = (subject's right, subject's left); ~0.3 open, < 0.1 closed.

    Args:
        points_px: (478, >=2) detector landmarks.
    """
    p = np.asarray(points_px, dtype=np.float64)[:, :2]
    out = np.zeros(2)
    for k, (pairs, corners) in enumerate(((_RIGHT_LID_PAIRS, RIGHT_EYE_CORNERS), (_LEFT_LID_PAIRS, LEFT_EYE_CORNERS))):
        width = float(np.linalg.norm(p[corners[0]] - p[corners[1]]))
        gap = np.mean([np.linalg.norm(p[a] - p[b]) for a, b in pairs])
        out[k] = gap / max(width, 1e-6)
    return out


def iris_visibility(points_px: np.ndarray, closed: float, open_: float) -> np.ndarray:
    """(2,) in [0, 1] per eye (subject's right, left): 0 at ``eye_openness <= closed``, 1 at ``>= open_``, linear
    in between. The iris model has nothing to see on a closed eye; fits scale the iris points' weight by this."""
    return np.clip((eye_openness(points_px) - closed) / (open_ - closed), 0.0, 1.0)
