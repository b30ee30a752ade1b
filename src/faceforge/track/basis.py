"""Point bases for tracking: eyelid points that follow the lids.

The shipped detector correspondence (and the iBUG-68 calibration) places most eyelid landmarks where the lid
contour appeared in renders of the open-eyed model: on the **eyeball** surface just below/above the lid margin
(ICT-FaceKit vertices 21451-24590). There they do not move with ``eyeBlink`` (the eyeball stays put), so a fit
cannot explain a closed eye by a blink; on real blinks the fit used the gaze and eyeWide shapes instead and the
eyeBlink curves stayed near 0 (measured on the dev videos: max 0.03-0.08 during visible blinks).

The detector's lid points follow the lid margin's silhouette. So for every point whose triangle lies outside the
model's ``face`` region, ``follow_lids`` keeps the point's neutral position (the ``mean`` row) but takes its identity
and expression offsets (``shape`` rows) from the nearest ``face``-region vertex of the template, which for eyelid
points is a vertex of the lid margin (e.g. the upper-lid centre moves 8 mm down at eyeBlink = 1). Iris rows are left
alone (their gaze motion comes from the eye rig). Models without a ``face`` region are returned unchanged.
"""

from __future__ import annotations

import logging

import numpy as np

from faceforge.detect.indices import LEFT_EYELID, RIGHT_EYELID
from faceforge.fit.correspondence import load_ibug68
from faceforge.fit.reconstruct import FaceFitter
from faceforge.fit.surface import PointBasis, SurfacePoints, point_basis
from faceforge.morphable.model import MorphableModel

log = logging.getLogger(__name__)


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


IBUG_EYE_ROWS = np.arange(36, 48)


def tracking_bases(fitter: FaceFitter) -> tuple[PointBasis, PointBasis]:
    """The bases the tracker fits and reports with, both with lid-following eyelid rows.

    Returns:
        detector basis: the 478 detector points (``fitter.gaze_basis``: iris rows on the eye rig) with the 32 eyelid
            rows following the lids;
        iBUG-68 basis: ``fitter.ibug68`` with the eye rows 36-47 following the lids (the model's shipped iBUG-68
            surface points; the model's landmark vertices when it has none).
    """
    m = fitter.model
    lids = np.array(RIGHT_EYELID + LEFT_EYELID)
    detector = follow_lids(m, fitter.gaze_basis, fitter.correspondence.points, lids)
    ibug_points = load_ibug68(m) or SurfacePoints.at_vertices(m, m.landmark_indices.numpy())
    ibug = follow_lids(m, fitter.ibug68, ibug_points, IBUG_EYE_ROWS)
    return detector, ibug
