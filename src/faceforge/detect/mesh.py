"""Dense face landmarks: the MediaPipe face mesh (468 points) plus the iris model (2 x 5 points) -> 478 points.

Pipeline (MediaPipe ``face_landmark_cpu.pbtxt``, ``face_detection_front_detection_to_roi.pbtxt``,
``face_landmark_landmarks_to_roi.pbtxt``, ``iris_landmark_cpu.pbtxt``; Kartynnik et al. 2019, "Real-time Facial
Surface Geometry from Monocular Video on Mobile GPUs"; Ablavatski et al. 2020, "Real-time Pupil Tracking from
Monocular Video for Digital Puppetry"):

1. ROI: a square around the detector box, side 1.5 x the box's longer side, rotated so that the line from the right
   eye keypoint to the left eye keypoint is horizontal. In tracking mode the box is the tight box of the previous
   frame's 468 mesh points and the rotation comes from the outer eye corners (mesh 33 -> 263).
2. Mesh: the ROI is resampled to 192x192 RGB in [0, 1] (edge pixels replicated), the model returns 468 x (x, y, z) in
   input pixels and a face-presence logit (sigmoid -> score).
3. Iris: per eye a square ROI of side 2.3 x the eye-corner distance (mesh 33/133 and 362/263), rotated along the
   corners, resampled to 64x64 RGB in [0, 1]; the subject's left eye is mirrored horizontally first (the model is
   trained on one eye orientation). The model returns 71 eye-contour points and 5 iris points (x, y, z).

Output units: x, y in original-image pixels (pixel-centre convention, ``docs/conventions.md``). z is MediaPipe's
relative depth, scaled to the same pixel units as x and y: the mesh model's z divided by 192 times the ROI side. Its
origin is arbitrary (near the face's centre of mass); smaller z is closer to the camera (the nose tip has the smallest
z in a frontal view). Iris points get the mean z of their eyelid contour (16 mesh points), as MediaPipe does.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from faceforge.detect.detector import Detection, check_rgb_image
from faceforge.detect.indices import (
    LEFT_EYE_CORNERS,
    LEFT_EYELID,
    LEFT_IRIS,
    NUM_MESH_POINTS,
    NUM_POINTS,
    RIGHT_EYE_CORNERS,
    RIGHT_EYELID,
    RIGHT_IRIS,
)
from faceforge.detect.models import TfliteModel
from faceforge.detect.roi import Roi, crop_roi, roi_from_box, rotation_from_points, tensor_to_image
from faceforge.errors import UsageError

log = logging.getLogger(__name__)

_MESH_FILE = "face_landmark.tflite"
_IRIS_FILE = "iris_landmark.tflite"
_NUM_EYE_CONTOUR = 71
_NUM_IRIS = 5


@dataclass(frozen=True)
class FaceMeshOptions:
    """Face mesh settings.

    Attributes:
        roi_scale: side of the mesh ROI relative to the face box's longer side (MediaPipe: 1.5).
        eye_roi_scale: side of each eye ROI relative to the eye-corner distance (MediaPipe: 2.3).
        refine_eyelids: replace the 16 eyelid points of each eye in the mesh (x, y) by the iris model's eyelid contour,
            as MediaPipe's iris pipeline does.
        roi_refinements: after the first mesh, rebuild the ROI from its landmarks (as tracking mode does for the
            next frame) and run the mesh again this many times; corrects loose or off-centre detector boxes.
        num_threads: LiteRT interpreter threads.
    """

    roi_scale: float = 1.5
    eye_roi_scale: float = 2.3
    refine_eyelids: bool = True
    roi_refinements: int = 1
    num_threads: int = 1

    def __post_init__(self) -> None:
        if not self.roi_scale > 0 or not self.eye_roi_scale > 0:
            raise UsageError(f"FaceMeshOptions: ROI scales must be > 0, got {self.roi_scale}, {self.eye_roi_scale}")
        if self.roi_refinements < 0:
            raise UsageError(f"FaceMeshOptions.roi_refinements must be >= 0, got {self.roi_refinements}")
        if self.num_threads < 1:
            raise UsageError(f"FaceMeshOptions.num_threads must be >= 1, got {self.num_threads}")


@dataclass(frozen=True, eq=False)
class FaceLandmarks:
    """478 landmarks of one face.

    Attributes:
        points_px: (478, 3) float32 (L = 478, layout in ``faceforge.detect.indices``): x, y in original-image pixels,
            z relative depth in the same pixel units (smaller = closer to the camera; see the module docstring).
        presence: face-presence score of the mesh model in [0, 1] (low when the ROI holds no face).
        bbox_px: (4,) float32 x0, y0, x1, y1: tight box of the 468 mesh points.
        roi: the square the mesh model saw.
        detection: the detector output this face came from, or None (user box, tracking).
    """

    points_px: np.ndarray
    presence: float
    bbox_px: np.ndarray
    roi: Roi
    detection: Detection | None = None

    def __post_init__(self) -> None:
        pts = np.ascontiguousarray(self.points_px, dtype=np.float32)
        if pts.shape != (NUM_POINTS, 3):
            raise UsageError(f"FaceLandmarks.points_px: expected shape ({NUM_POINTS}, 3), got {pts.shape}")
        box = np.ascontiguousarray(self.bbox_px, dtype=np.float32).reshape(-1)
        if box.shape != (4,):
            raise UsageError(f"FaceLandmarks.bbox_px: expected shape (4,), got {box.shape}")
        pts.setflags(write=False)
        box.setflags(write=False)
        object.__setattr__(self, "points_px", pts)
        object.__setattr__(self, "bbox_px", box)
        object.__setattr__(self, "presence", float(self.presence))

    @property
    def area_px(self) -> float:
        """Area of ``bbox_px`` in square pixels."""
        return float(max(self.bbox_px[2] - self.bbox_px[0], 0) * max(self.bbox_px[3] - self.bbox_px[1], 0))


@dataclass(frozen=True, eq=False)
class EyeLandmarks:
    """Output of the iris model for one eye.

    Attributes:
        contour_px: (71, 3) float64 eye-contour points (the first 16 are the eyelids: lower lid outer -> inner corner,
            then the upper lid without corners; the rest are halos around the eye and the brow), x/y image pixels,
            z relative (pixel scale, own origin).
        iris_px: (5, 3) float64 iris centre then 4 edge points (nasal side, top, temporal side, bottom), same units.
        roi: the eye ROI the model saw.
    """

    contour_px: np.ndarray
    iris_px: np.ndarray
    roi: Roi


def roi_from_detection(detection: Detection, scale: float = 1.5) -> Roi:
    """Mesh ROI from a detector box: rotation from the eye keypoints (right -> left), side ``scale`` x long side."""
    rotation = rotation_from_points(detection.keypoints_px[0], detection.keypoints_px[1])
    return roi_from_box(detection.bbox_px, rotation, scale)


def roi_from_landmarks(points_px: np.ndarray, scale: float = 1.5) -> Roi:
    """Tracking ROI from (478 or 468, >=2) landmarks: tight box of the mesh, rotation from the outer eye corners.

    The box is taken in the rotated frame (so that it does not grow with head roll) and re-centred in the image.
    """
    pts = np.asarray(points_px, dtype=np.float64)[:NUM_MESH_POINTS, :2]
    rotation = rotation_from_points(pts[RIGHT_EYE_CORNERS[0]], pts[LEFT_EYE_CORNERS[1]])
    c, s = math.cos(rotation), math.sin(rotation)
    local = pts @ np.array([[c, -s], [s, c]])  # image -> ROI axes (columns are the ROI's x and y axes)
    lo, hi = local.min(axis=0), local.max(axis=0)
    mid_local = 0.5 * (lo + hi)
    center = np.array([[c, -s], [s, c]]) @ mid_local
    size = scale * float(max(hi - lo))
    return Roi((float(center[0]), float(center[1])), size, rotation)


def _box_of(points_px: np.ndarray) -> np.ndarray:
    xy = points_px[:NUM_MESH_POINTS, :2]
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)])


class FaceMesh:
    """Owns the face-mesh and iris interpreters. Not thread-safe: one instance per thread."""

    def __init__(self, options: FaceMeshOptions | None = None) -> None:
        self.options = options or FaceMeshOptions()
        self._mesh = TfliteModel(_MESH_FILE, self.options.num_threads)
        self._iris = TfliteModel(_IRIS_FILE, self.options.num_threads)
        self._mesh_points = self._mesh.output_with_last_dim(NUM_MESH_POINTS * 3)
        self._mesh_flag = self._mesh.output_with_last_dim(1)
        self._iris_contour = self._iris.output_with_last_dim(_NUM_EYE_CONTOUR * 3)
        self._iris_points = self._iris.output_with_last_dim(_NUM_IRIS * 3)

    def landmarks(self, image: np.ndarray, face: Detection | np.ndarray) -> FaceLandmarks:
        """Landmarks of the face given by a detection or a box.

        Args:
            image: (H, W, 3) uint8 RGB.
            face: a :class:`Detection` (its eye keypoints set the ROI rotation), or a (4,) box x0, y0, x1, y1 in
                image pixels around the face (upright ROI; a box from a detector or a tight face box works best,
                roughly brows to chin).
        Returns:
            The landmarks; check ``presence`` (no error is raised for a box without a face).
        """
        check_rgb_image(image)
        if isinstance(face, Detection):
            return self.landmarks_in_roi(image, roi_from_detection(face, self.options.roi_scale), face)
        box = np.asarray(face, dtype=np.float64).reshape(-1)
        if box.shape != (4,) or not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
            raise UsageError(f"face box: expected x0, y0, x1, y1 with x1 > x0 and y1 > y0, got {face}")
        return self.landmarks_in_roi(image, roi_from_box(box, 0.0, self.options.roi_scale))

    def track(self, image: np.ndarray, previous: FaceLandmarks) -> FaceLandmarks:
        """Tracking mode: landmarks in a new frame from the ROI of the previous frame's landmarks (no detector).

        Args:
            image: (H, W, 3) uint8 RGB, the next frame.
            previous: landmarks of the same face in the previous frame.
        Returns:
            The new landmarks; a low ``presence`` means the face was lost (run the detector again).
        """
        check_rgb_image(image)
        return self.landmarks_in_roi(image, roi_from_landmarks(previous.points_px, self.options.roi_scale))

    def landmarks_in_roi(self, image: np.ndarray, roi: Roi, detection: Detection | None = None) -> FaceLandmarks:
        """Run the mesh in a given ROI (then ``roi_refinements`` times in the ROI of its own result), then the iris
        model on both eyes; ``roi`` of the result is the ROI of the last mesh run."""
        return self.add_irises(image, self.mesh_in_roi(image, roi, detection))

    def mesh_in_roi(self, image: np.ndarray, roi: Roi, detection: Detection | None = None) -> FaceLandmarks:
        """The mesh stage alone (with its ROI refinements): rows 468-477 (irises) of ``points_px`` are NaN until
        :meth:`add_irises`. Lets a caller drop low-presence or duplicate faces before paying for the irises."""
        check_rgb_image(image)
        mesh, presence = self._run_mesh(image, roi)
        for _ in range(self.options.roi_refinements):
            roi = roi_from_landmarks(mesh, self.options.roi_scale)
            mesh, presence = self._run_mesh(image, roi)
        points = np.full((NUM_POINTS, 3), np.nan)
        points[:NUM_MESH_POINTS] = mesh
        return FaceLandmarks(points, presence, _box_of(points), roi, detection)

    def add_irises(self, image: np.ndarray, face: FaceLandmarks) -> FaceLandmarks:
        """Run the iris model on both eyes of a mesh: fills rows 468-477 and, with ``refine_eyelids``, moves the
        16 eyelid points per eye (x, y) onto the iris model's eyelid contour. Returns a new FaceLandmarks."""
        check_rgb_image(image)
        points = face.points_px.astype(np.float64)
        for corners, eyelid, iris, mirror in (
            (RIGHT_EYE_CORNERS, RIGHT_EYELID, RIGHT_IRIS, False),
            (LEFT_EYE_CORNERS, LEFT_EYELID, LEFT_IRIS, True),
        ):
            eye = self.run_eye(image, points[corners[0], :2], points[corners[1], :2], mirror)
            eyelid_idx = list(eyelid)
            points[list(iris), :2] = eye.iris_px[:, :2]
            points[list(iris), 2] = points[eyelid_idx, 2].mean()
            if self.options.refine_eyelids:
                points[eyelid_idx, :2] = eye.contour_px[: len(eyelid_idx), :2]
        return FaceLandmarks(points, face.presence, _box_of(points), face.roi, face.detection)

    def _run_mesh(self, image: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """The mesh model once: (468, 3) float64 points in image pixels and the presence score."""
        size = self._mesh.input_size
        tensor = crop_roi(image, roi, size, border="replicate").astype(np.float32) * (1.0 / 255.0)
        out = self._mesh.run(tensor[None])
        raw = out[self._mesh_points].reshape(NUM_MESH_POINTS, 3)
        logit = float(out[self._mesh_flag].reshape(-1)[0])
        presence = 1.0 / (1.0 + math.exp(-min(max(logit, -100.0), 100.0)))
        return tensor_to_image(raw, roi, size), presence

    def run_eye(self, image: np.ndarray, start_px: np.ndarray, end_px: np.ndarray, mirror: bool) -> EyeLandmarks:
        """The iris model on one eye.

        Args:
            image: (H, W, 3) uint8 RGB.
            start_px, end_px: (2,) eye corners in image pixels; the ROI's x axis points from start to end
                (right eye: outer -> inner corner; left eye: inner -> outer).
            mirror: flip the crop horizontally before the model and the outputs back (the subject's left eye: the
                model is trained on right eyes seen in a non-mirrored photo; measured: mirroring the wrong eye puts
                the eyelid contour ~10x further from the mesh eyelid).
        Returns:
            The eye's landmarks.
        """
        size = self._iris.input_size
        start = np.asarray(start_px, dtype=np.float64)
        end = np.asarray(end_px, dtype=np.float64)
        width = float(np.linalg.norm(end - start))
        mid = 0.5 * (start + end)
        roi = Roi((float(mid[0]), float(mid[1])), max(width, 1.0) * self.options.eye_roi_scale,
                  rotation_from_points(start, end))
        crop = crop_roi(image, roi, size, border="replicate")
        if mirror:
            crop = crop[:, ::-1]
        tensor = crop.astype(np.float32) * (1.0 / 255.0)
        out = self._iris.run(tensor[None])
        contour = out[self._iris_contour].reshape(_NUM_EYE_CONTOUR, 3).astype(np.float64)
        iris = out[self._iris_points].reshape(_NUM_IRIS, 3).astype(np.float64)
        if mirror:
            contour[:, 0] = size - contour[:, 0]
            iris[:, 0] = size - iris[:, 0]
        return EyeLandmarks(tensor_to_image(contour, roi, size), tensor_to_image(iris, roi, size), roi)
