"""The detector-landmark <-> model-surface correspondence shipped with faceforge.

``data/mediapipe478_ict.json`` maps each of the 478 MediaPipe face-mesh landmarks to a point on the ICT-FaceKit
surface (triangle index into the triangulated model + barycentric weights) with a reliability weight. It is made by
``scripts/build_correspondence.py`` (renders of the model, the detector run on them, visibility-filtered medoids;
iris points placed geometrically on the eyeballs); see docs/BENCHMARKS.md for its measured quality.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from faceforge.errors import AssetError, UsageError
from faceforge.fit.surface import SurfacePoints
from faceforge.morphable.model import MorphableModel

NUM_DETECTOR_POINTS = 478


@dataclass(frozen=True)
class Correspondence:
    """Detector landmarks as model surface points.

    Attributes:
        points: the 478 surface points.
        weight: (478,) float64 reliability in [0, 1] for the shape/pose fit (0 for the iris points, which drive the
            gaze step instead).
        quality: the figures measured when the file was made (held-out error etc.).
    """

    points: SurfacePoints
    weight: np.ndarray
    quality: dict


@lru_cache(maxsize=1)
def _read() -> dict:
    text = resources.files("faceforge").joinpath("data/mediapipe478_ict.json").read_text()
    return json.loads(text)


def load_correspondence(model: MorphableModel) -> Correspondence:
    """The MediaPipe-478 correspondence for ``model`` (only ICT-FaceKit has one)."""
    if model.name != "ict-facekit":
        raise UsageError(f"no detector correspondence for model {model.name!r} (only ict-facekit has one)")
    d = _read()
    face_index = np.asarray(d["face_index"], dtype=np.int64)
    bary = np.asarray(d["barycentric"], dtype=np.float64)
    if face_index.shape != (NUM_DETECTOR_POINTS,) or face_index.max() >= model.num_faces:
        raise AssetError("the shipped correspondence does not match the installed model (reinstall faceforge)")
    bary = bary / bary.sum(1, keepdims=True)
    return Correspondence(SurfacePoints(face_index, bary), np.asarray(d["weight"], dtype=np.float64), d["quality"])


def load_ibug68(model: MorphableModel) -> SurfacePoints | None:
    """The shipped iBUG-68 calibration for ``model`` (300-W annotation convention as surface points), or None.

    Made by ``scripts/calibrate_ibug68.py`` (see its docstring and docs/BENCHMARKS.md); None when the package holds
    no calibration for this model.
    """
    if model.name != "ict-facekit":
        return None
    path = resources.files("faceforge").joinpath("data/ibug68_ict.json")
    if not path.is_file():
        return None
    d = json.loads(path.read_text())
    face_index = np.asarray(d["face_index"], dtype=np.int64)
    bary = np.asarray(d["barycentric"], dtype=np.float64)
    if face_index.shape != (68,) or face_index.max() >= model.num_faces:
        raise AssetError("the shipped iBUG-68 calibration does not match the installed model (reinstall faceforge)")
    return SurfacePoints(face_index, bary / bary.sum(1, keepdims=True))
