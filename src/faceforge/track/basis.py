"""Point bases for tracking: the fitter's bases (eyelid points follow the lids, iris points the eye rig)."""

from __future__ import annotations

from faceforge.fit.reconstruct import FaceFitter
from faceforge.fit.surface import PointBasis


def tracking_bases(fitter: FaceFitter) -> tuple[PointBasis, PointBasis]:
    """The bases the tracker fits and reports with.

    Returns:
        detector basis: the 478 detector points (``fitter.gaze_basis``: iris rows on the eye rig, eyelid rows
            following the lids, ``faceforge.fit.eyelids``);
        iBUG-68 basis: ``fitter.ibug68`` (eye rows 36-47 following the lids).
    """
    return fitter.gaze_basis, fitter.ibug68
