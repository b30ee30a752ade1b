"""Photo -> 3D head: fit the morphable model to one detected face.

``FaceFitter`` owns what fitting needs from the model (the detector correspondence as point bases, the jaw-contour
candidates, the eye-rig data); ``fit_face`` is one call per face:

1. landmark fit (``fit_landmarks``) of pose, focal length, identity and expression to the 478 detector landmarks
   (gaze blendshapes held out),
2. gaze: each eye's yaw/pitch from its iris centre, turned into eyeLook{In,Out,Up,Down} weights of the eye rig,
3. the fitted iBUG-68 landmarks projected into the image, jaw points on the far side of a turned face moved to the
   silhouette (``contour.py``).

The camera is the implicit camera of params.json (docs/conventions.md): at the world origin, looking down -z.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from faceforge.detect.indices import LEFT_IRIS, RIGHT_IRIS
from faceforge.detect.mesh import FaceLandmarks
from faceforge.errors import UsageError
from faceforge.fit.contour import ContourCandidates, contour_candidates, contour_landmarks_68
from faceforge.fit.correspondence import Correspondence, load_correspondence
from faceforge.fit.landmark_fit import LandmarkFitOptions, LandmarkFitResult, fit_landmarks, project_points
from faceforge.fit.surface import PointBasis, SurfacePoints, point_basis
from faceforge.morphable.model import MorphableModel
from faceforge.structures import Camera, FaceParams

log = logging.getLogger(__name__)

_FLIP = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class ReconstructOptions:
    """Options of ``fit_face``.

    Attributes:
        landmarks: the landmark-fit options.
        focal_px: known focal length in pixels (None: estimated, starting at 1.2 x the larger image side).
        gaze: estimate the gaze from the iris points (else eyeLook weights stay 0).
        contour: move far-side jaw landmarks of the iBUG-68 output to the silhouette.
    """

    landmarks: LandmarkFitOptions = field(default_factory=LandmarkFitOptions)
    focal_px: float | None = None
    gaze: bool = True
    contour: bool = True


@dataclass(frozen=True)
class FaceReconstruction:
    """One fitted face.

    Attributes:
        params: FaceParams with batch 1 (model -> world pose; world = the implicit camera's OpenGL-style frame).
        camera: Camera with batch 1: rotation diag(1, -1, -1), translation 0, the fitted focal length, the image
            centre as principal point, the image size.
        landmarks_68_px: (68, 2) fitted iBUG-68 landmarks in the input image, pixels (contour-aware jaw).
        detected_px: (478, 3) the detector's landmarks (x, y pixels; z relative).
        bbox_px: (4,) x0, y0, x1, y1 of the detected face.
        rms_px: root-mean-square landmark residual of the fit, pixels.
    """

    params: FaceParams
    camera: Camera
    landmarks_68_px: np.ndarray
    detected_px: np.ndarray
    bbox_px: np.ndarray
    rms_px: float


@dataclass(frozen=True)
class _Eye:
    shapes: np.ndarray  # (4,) expression indices: lookIn, lookOut, lookUp, lookDown
    side: float  # +1 for the subject's left eye (+x), -1 for the right
    centre: PointBasis  # eyeball centroid (L = 1)
    pupil: PointBasis  # front-most eyeball vertex (L = 1)
    iris_landmark: int  # detector index of the iris centre


class FaceFitter:
    """Model data prepared for fitting one face after another (loaded once, reused)."""

    def __init__(self, model: MorphableModel, correspondence: Correspondence | None = None) -> None:
        self.model = model
        self.correspondence = correspondence or load_correspondence(model)
        self.basis = point_basis(model, self.correspondence.points)
        self.contour: ContourCandidates = contour_candidates(model)
        self.gaze_free = np.array([not n.startswith("eyeLook") for n in model.expression_names])
        self.eyes: tuple[_Eye, ...] = ()
        if model.eyes is not None:
            rig = model.eyes
            eyes = []
            for verts, shapes, side, iris in ((rig.left_vertices, rig.left_shapes, 1.0, LEFT_IRIS[0]),
                                              (rig.right_vertices, rig.right_shapes, -1.0, RIGHT_IRIS[0])):
                v = verts.numpy()
                pupil = v[np.argmax(model.template.numpy()[v, 2])]
                centre = _mean_basis(point_basis(model, SurfacePoints.at_vertices(model, v)))
                eyes.append(_Eye(shapes.numpy(), side, centre,
                                 point_basis(model, SurfacePoints.at_vertices(model, np.array([pupil]))), iris))
            self.eyes = tuple(eyes)

    def fit_face(
        self, face: FaceLandmarks, image_size: tuple[int, int], options: ReconstructOptions = ReconstructOptions()
    ) -> FaceReconstruction:
        """Fit the model to one detected face.

        Args:
            face: the detector's landmarks of the face.
            image_size: (width, height) of the image the landmarks are in, pixels.
        """
        width, height = image_size
        if width <= 0 or height <= 0:
            raise UsageError(f"image_size must be positive, got {image_size}")
        m = self.model
        obs = face.points_px[:, :2].astype(np.float64)
        res = fit_landmarks(
            self.basis, obs, image_size, weights=self.correspondence.weight, focal_px=options.focal_px,
            options=options.landmarks, expression_bounds=m.expression_bounds, free_expression=self.gaze_free,
        )
        expression = res.expression.copy()
        if options.gaze and self.eyes:
            for eye in self.eyes:
                expression[eye.shapes] = self._fit_gaze(eye, res, obs[eye.iris_landmark])
        params = FaceParams(
            identity=torch.tensor(res.identity[None], dtype=torch.float32),
            expression=torch.tensor(expression[None], dtype=torch.float32),
            rotation=torch.tensor(_axis_angle(res.rotation)[None], dtype=torch.float32),
            translation=torch.tensor(res.translation[None], dtype=torch.float32),
        )
        camera = implicit_camera(res.focal_px, res.principal_px, width, height)
        lm68 = self._landmarks_68(res, expression, options.contour)
        return FaceReconstruction(params, camera, lm68, face.points_px.copy(), face.bbox_px.copy(), res.rms_px)

    # -- steps ----------------------------------------------------------------------------------------------------

    def _fit_gaze(self, eye: _Eye, res: LandmarkFitResult, iris_px: np.ndarray) -> np.ndarray:
        """eyeLook weights (in, out, up, down) that put the pupil on the detected iris centre."""
        rig = self.model.eyes
        assert rig is not None
        ident, expr = res.identity, res.expression
        c = eye.centre.positions(ident, expr)[0]
        p = eye.pupil.positions(ident, expr)[0]

        def pupil_px(angles: np.ndarray) -> np.ndarray:
            yaw, pitch = angles
            ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
            rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
            q = c + ry @ rx @ (p - c)
            return project_points((q @ res.rotation.T + res.translation)[None], res.focal_px, res.principal_px)[0]

        lo = np.array([-rig.max_yaw_rad, -rig.max_down_rad])
        hi = np.array([rig.max_yaw_rad, rig.max_up_rad])
        ang = np.zeros(2)
        for _ in range(6):  # Gauss-Newton with a numerical 2x2 Jacobian
            r = pupil_px(ang) - iris_px
            jac = np.stack([(pupil_px(ang + d) - pupil_px(ang - d)) / 2e-3 for d in np.eye(2) * 1e-3], 1)
            step = np.linalg.lstsq(jac, -r, rcond=None)[0]
            ang = np.clip(ang + step, lo, hi)
            if np.abs(step).max() < 1e-4:
                break
        yaw, pitch = ang
        # EyeRig: yaw = side * max_yaw * (out - in); pitch = -(max_up * up - max_down * down).
        out_in = eye.side * yaw / rig.max_yaw_rad
        return np.array([max(-out_in, 0.0), max(out_in, 0.0), max(-pitch, 0.0) / rig.max_up_rad,
                         max(pitch, 0.0) / rig.max_down_rad]).clip(0.0, 1.0)

    def _landmarks_68(self, res: LandmarkFitResult, expression: np.ndarray, contour: bool) -> np.ndarray:
        m = self.model
        lm = m.landmark_indices.numpy()
        cand = np.unique(np.concatenate([lm, *self.contour.candidates]))
        verts = _vertices_at(m, cand, res.identity, expression) @ res.rotation.T + res.translation
        px = np.zeros((m.num_vertices, 2))
        px[cand] = project_points(verts, res.focal_px, res.principal_px)
        if not contour:
            return px[lm]
        # The subject's +x side faces away from the camera when the model x axis points away from it.
        to_camera = -res.translation / np.linalg.norm(res.translation)
        far_positive = float(res.rotation[:, 0] @ to_camera) < 0
        return contour_landmarks_68(self.contour, lm, px, far_positive)


def implicit_camera(focal_px: float, principal_px: np.ndarray, width: int, height: int) -> Camera:
    """The Camera of params.json: at the world origin looking down -z (OpenCV rotation diag(1, -1, -1), t = 0)."""
    return Camera(
        focal=torch.tensor([[focal_px, focal_px]], dtype=torch.float32),
        principal=torch.tensor(np.asarray(principal_px, dtype=np.float32)[None]),
        rotation=torch.tensor(_FLIP[None], dtype=torch.float32),
        translation=torch.zeros(1, 3),
        width=int(width),
        height=int(height),
    )


def _axis_angle(rot: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.Rodrigues(np.asarray(rot, dtype=np.float64))[0].ravel()


def _mean_basis(b: PointBasis) -> PointBasis:
    return PointBasis(b.mean.mean(0, keepdims=True), b.shape.mean(0, keepdims=True), b.num_identity, b.num_expression)


def _vertices_at(model: MorphableModel, idx: np.ndarray, identity: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """(n,) vertex indices -> (n, 3) model-frame positions (no eye rig: these are skin vertices)."""
    t = model.template.numpy()[idx].astype(np.float64)
    t += np.einsum("k,kvc->vc", identity, model.identity_basis.numpy()[:, idx])
    t += np.einsum("k,kvc->vc", expression, model.expression_basis.numpy()[:, idx])
    return t
