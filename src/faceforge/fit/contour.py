"""Contour-aware jaw landmarks: on a turned face the visible jaw outline is a silhouette, not fixed vertices.

300-W annotates landmarks 0-16 on the visible face outline. For the side of the face turned away from the camera we
follow the "landmark marching" idea (Zhu et al., HPEN, CVPR 2015): each jaw landmark may slide along a horizontal
band of candidate vertices (same height on the template, same side, between the landmark's own vertex and the face
centre), and takes the candidate that projects furthest outward. The side facing the camera keeps its fixed
vertices, where the jaw line itself is the visible outline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceforge.morphable.model import MorphableModel

JAW = tuple(range(17))
_CHIN = (6, 7, 8, 9, 10)  # near the chin the outline is the jaw itself at any yaw


@dataclass(frozen=True)
class ContourCandidates:
    """Candidate vertices per jaw landmark.

    Attributes:
        candidates: 17 arrays of vertex indices, one per iBUG jaw landmark (the landmark's own vertex first).
        side: (17,) +1 for landmarks on the subject's left (+x), -1 for the right, 0 for the chin.
    """

    candidates: tuple[np.ndarray, ...]
    side: np.ndarray


def contour_candidates(model: MorphableModel, band_cm: float = 0.35) -> ContourCandidates:
    """Build the candidate bands from the model's template (face region when the model has one).

    Args:
        band_cm: half-height of the horizontal band, in model units (cm for ICT).
    """
    tmpl = model.template.numpy().astype(np.float64)
    lm = model.landmark_indices.numpy()
    pool = model.regions["face"].numpy() if "face" in model.regions else np.arange(model.num_vertices)
    pool_xyz = tmpl[pool]
    nose_z = tmpl[lm[30], 2]
    cands: list[np.ndarray] = []
    side = np.zeros(17, dtype=np.int64)
    for k in JAW:
        v = tmpl[lm[k]]
        if k in _CHIN:
            cands.append(np.array([lm[k]]))
            continue
        side[k] = 1 if v[0] > 0 else -1
        sel = (
            (np.abs(pool_xyz[:, 1] - v[1]) < band_cm)
            & (np.sign(pool_xyz[:, 0]) == side[k])
            & (np.abs(pool_xyz[:, 0]) <= abs(v[0]) + 1e-6)
            & (pool_xyz[:, 2] >= v[2] - 1e-6)
            & (pool_xyz[:, 2] < nose_z - 1.0)
        )
        others = pool[sel]
        cands.append(np.concatenate([[lm[k]], others[others != lm[k]]]))
    return ContourCandidates(candidates=tuple(cands), side=side)


def contour_landmarks_68(
    candidates: ContourCandidates,
    landmarks_px: np.ndarray,
    vertices_px: np.ndarray,
    yaw_toward_positive_x: bool,
) -> np.ndarray:
    """The 68 iBUG landmarks in the image with the far-side jaw points moved to the silhouette.

    Args:
        candidates: from ``contour_candidates``.
        landmarks_px: (68, 2) the fixed (frontal-convention) landmarks projected to pixels.
        vertices_px: (V, 2) model vertices projected to pixels (at least the candidates' rows are used).
        yaw_toward_positive_x: True when the face is turned so that its +x side (subject's left) faces away from the
            camera, i.e. the subject's left cheek is the occluded side.
    Returns:
        (68, 2) pixel coordinates.
    """
    out = np.array(landmarks_px, dtype=np.float64, copy=True)
    far_side = 1 if yaw_toward_positive_x else -1
    centre_x = out[27:36, 0].mean()
    for k in JAW:
        if candidates.side[k] != far_side:
            continue
        pts = vertices_px[candidates.candidates[k]]
        # "Outward" in the image: away from the nose's image x on this landmark's side of the face. The fixed point
        # stays when it is already further out (frontal faces).
        direction = np.sign(out[k, 0] - centre_x) or 1.0
        best = pts[np.argmax(direction * pts[:, 0])]
        if direction * best[0] > direction * out[k, 0]:
            out[k] = best
    return out
