"""AFLW2000-3D annotations (Zhu et al., "Face Alignment Across Large Poses: A 3D Solution", CVPR 2016).

Each ``imageNNNNN.jpg`` comes with an ``imageNNNNN.mat`` (MATLAB v5, read with ``scipy.io.loadmat``) holding:

==============  ========  ==========================================================================================
key             shape     meaning
==============  ========  ==========================================================================================
``pt3d_68``     (3, 68)   the 68 iBUG-order landmarks of the fitted 3DMM: rows x, y in image pixels (x right,
                          y down), z depth in the same pixel units (the fit's scaled orthographic frame)
``Pose_Para``   (1, 7)    pitch, yaw, roll (radians), tx, ty, tz (the fit's translation), s (the fit's
                          orthographic scale from 3DMM units to pixels)
``pt2d``        (2, 21)   the original AFLW 21-point annotation (x; y); negative (-1) where not annotated
``Shape_Para``  (199, 1)  BFM identity coefficients of the fit
``Exp_Para``    (29, 1)   expression coefficients of the fit (FaceWarehouse-derived basis)
==============  ========  ==========================================================================================

The field meanings are those of the dataset's readme and of the code that benchmarks on it (3DDFA, DECA read
``pt3d_68`` rows 0-1 as the 2D landmarks; head-pose work reads ``Pose_Para[0, :3]`` as pitch, yaw, roll in radians).
The dataset does not state whether x, y are 0- or 1-based (it was made in MATLAB); benchmarks use them as stored,
and so does this reader: ``landmarks_68_px`` is ``pt3d_68[:2].T`` unchanged. Only ``pt3d_68`` and ``Pose_Para`` are
required; the other keys are None when absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceforge.errors import InputError


@dataclass(frozen=True)
class Aflw2000Annotation:
    """One AFLW2000-3D face.

    Attributes:
        landmarks_3d: (68, 3) float64 ``pt3d_68`` transposed: x, y image pixels, z depth (pixel units).
        pitch_rad, yaw_rad, roll_rad: head pose from ``Pose_Para`` (radians, the dataset's own Euler convention).
        translation: (3,) float64 tx, ty, tz of the fit.
        scale: the fit's orthographic scale.
        landmarks_21_px: (21, 2) float64 AFLW annotation with NaN for points marked missing (-1), or None.
        shape_params: (199,) float64 BFM identity coefficients, or None.
        expression_params: (29,) float64 expression coefficients, or None.
    """

    landmarks_3d: np.ndarray
    pitch_rad: float
    yaw_rad: float
    roll_rad: float
    translation: np.ndarray
    scale: float
    landmarks_21_px: np.ndarray | None = None
    shape_params: np.ndarray | None = None
    expression_params: np.ndarray | None = None

    @property
    def landmarks_68_px(self) -> np.ndarray:
        """(68, 2) x, y image pixels (as stored)."""
        return self.landmarks_3d[:, :2].copy()


def _array(path: Path, data: dict, key: str, shape: tuple[int, ...], required: bool) -> np.ndarray | None:
    if key not in data:
        if required:
            raise InputError(f"{path}: not an AFLW2000-3D annotation (no {key!r})")
        return None
    try:
        a = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{path}: {key} is not numeric") from None
    if a.size != int(np.prod(shape)):
        raise InputError(f"{path}: {key} has shape {a.shape}, expected {shape}")
    a = a.reshape(shape)
    if not np.isfinite(a).all():
        raise InputError(f"{path}: {key} contains NaN or infinite values")
    return a


def read_aflw2000(path: Path) -> Aflw2000Annotation:
    """Read one AFLW2000-3D ``.mat`` annotation.

    Raises:
        InputError: missing/unreadable file, not a MATLAB file, missing ``pt3d_68``/``Pose_Para`` or wrong shapes.
    """
    import scipy.io
    from scipy.io.matlab import MatReadError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        data = scipy.io.loadmat(str(path))
    except (OSError, ValueError, TypeError, NotImplementedError, EOFError, MatReadError) as exc:
        raise InputError(f"{path}: cannot read MATLAB file ({exc})") from None
    pts = _array(path, data, "pt3d_68", (3, 68), True)
    pose = _array(path, data, "Pose_Para", (7,), True)
    assert pts is not None and pose is not None
    pt2d = _array(path, data, "pt2d", (2, 21), False)
    lm21 = None
    if pt2d is not None:
        lm21 = pt2d.T.copy()
        lm21[(pt2d.T < 0).any(1)] = np.nan  # -1 marks an unannotated point
    return Aflw2000Annotation(
        landmarks_3d=pts.T.copy(),
        pitch_rad=float(pose[0]),
        yaw_rad=float(pose[1]),
        roll_rad=float(pose[2]),
        translation=pose[3:6].copy(),
        scale=float(pose[6]),
        landmarks_21_px=lm21,
        shape_params=_array(path, data, "Shape_Para", (199,), False),
        expression_params=_array(path, data, "Exp_Para", (29,), False),
    )


def list_aflw2000(folder: Path) -> list[tuple[Path, Path]]:
    """(image, annotation) pairs of a folder: every ``*.mat`` with a ``.jpg`` of the same name, sorted by name.

    Raises:
        InputError: the folder does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    return [(m.with_suffix(".jpg"), m) for m in sorted(folder.glob("*.mat")) if m.with_suffix(".jpg").is_file()]
