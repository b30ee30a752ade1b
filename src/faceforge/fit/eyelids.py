"""Eyelid points that follow the lids.

The detector correspondence and the iBUG-68 calibration were made where the lid contour appeared in renders of the
open-eyed model, and place most eyelid landmarks on the **eyeball** surface just below/above the lid margin
(ICT-FaceKit vertices 21451-24590). There they do not move with ``eyeBlink`` (the eyeball stays put), so a fit could
not explain a closed eye by a blink: it used the gaze and eyeWide shapes instead (measured on the dev videos: eyeBlink
max 0.03-0.08 during visible blinks).

The detector's lid points follow the lid margin's silhouette. So for every eyelid point whose triangle lies outside
the model's ``face`` region, ``follow_lids`` keeps the point's neutral position (the ``mean`` row) but takes its
identity and expression offsets (``shape`` rows) from the nearest ``face``-region vertex of the template, which for
eyelid points is a vertex of the lid margin (e.g. the upper-lid centre moves 8 mm down at eyeBlink = 1). Iris rows are
left alone (their gaze motion comes from the eye rig). Models without a ``face`` region are returned unchanged.
``FaceFitter`` applies this to its detector and iBUG-68 bases, so photos and video frames fit the same way.
"""

from __future__ import annotations

import logging

import numpy as np

from faceforge.fit.surface import PointBasis, SurfacePoints, point_basis
from faceforge.morphable.model import MorphableModel

log = logging.getLogger(__name__)

IBUG_EYE_ROWS = np.arange(36, 48)
"""The iBUG-68 rows of the eye contours (0-based)."""


def lid_following_rows(
    model: MorphableModel, points: SurfacePoints, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which of ``rows`` sit outside the face region, and the nearest face vertex of each.

    Args:
        points: the L surface points of the basis.
        rows: (K,) candidate rows (e.g. the eyelid landmarks).
    Returns:
        (moved_rows (M,), vertices (M,)): rows to re-rig and the face-region vertex whose offsets they take.
    """
    if "face" not in model.regions:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    face = model.region("face").numpy()
    in_face = np.zeros(model.num_vertices, bool)
    in_face[face] = True
    tri = model.faces.numpy()[points.face_index[rows]]
    outside = ~in_face[tri].all(1)
    moved = np.asarray(rows)[outside]
    if not len(moved):
        return moved, np.zeros(0, np.int64)
    template = model.template.numpy().astype(np.float64)
    corners = template[model.faces.numpy()[points.face_index[moved]]]  # (M, 3, 3)
    pos = (corners * points.bary[moved][:, :, None]).sum(1)
    d = np.linalg.norm(template[face][None] - pos[:, None], axis=2)  # (M, |face|)
    return moved, face[np.argmin(d, axis=1)]


def follow_lids(model: MorphableModel, basis: PointBasis, points: SurfacePoints, rows: np.ndarray) -> PointBasis:
    """A copy of ``basis`` whose ``rows`` outside the face region move like their nearest face vertex (docstring).

    Args:
        basis: the model at ``points`` (same row order).
        points: the surface points of the basis.
        rows: candidate rows (eyelid landmarks).
    """
    moved, verts = lid_following_rows(model, points, rows)
    if not len(moved):
        return basis
    at_verts = point_basis(model, SurfacePoints.at_vertices(model, verts))
    shape = basis.shape.copy()
    shape[moved] = at_verts.shape
    log.debug("%d eyelid points re-rigged to follow the lid margin", len(moved))
    return PointBasis(basis.mean, shape, basis.num_identity, basis.num_expression)
