"""Photo -> 3D head: fit the morphable model to one detected face.

``FaceFitter`` owns what fitting needs from the model (the detector correspondence as point bases, the jaw-contour
candidates, the eye-rig data); ``fit_face`` is one call per face:

1. landmark fit (``fit_landmarks``) of pose, focal length, identity and expression to the 478 detector landmarks
   with the iris points moving with the eyeLook weights through the linearized eye rig (the gaze),
2. the fitted iBUG-68 landmarks projected into the image, jaw points on the far side of a turned face moved to the
   silhouette (``contour.py``),
3. optionally (``ReconstructOptions.refine``) the photometric refinement of ``faceforge.fit.photometric`` against
   the photo's pixels, anchored by the same detector landmarks; the iBUG-68 output is then recomputed.

The camera is the implicit camera of params.json (docs/conventions.md): at the world origin, looking down -z.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from faceforge.detect.eyes import iris_visibility
from faceforge.detect.faces import DetectFacesOptions, detect_faces
from faceforge.detect.indices import LEFT_EYELID, LEFT_IRIS, RIGHT_EYELID, RIGHT_IRIS
from faceforge.detect.mesh import FaceLandmarks
from faceforge.errors import UsageError
from faceforge.fit.contour import ContourCandidates, contour_candidates, contour_landmarks_68
from faceforge.fit.correspondence import Correspondence, load_correspondence, load_ibug68
from faceforge.fit.eyelids import IBUG_EYE_ROWS, follow_lids
from faceforge.fit.landmark_fit import (
    LandmarkFitOptions,
    LandmarkFitResult,
    fit_landmarks,
    opposite_pairs,
    project_points,
)
from faceforge.fit.photometric import LandmarkObservation, PhotometricOptions, PhotometricResult, refine_photometric
from faceforge.fit.surface import PointBasis, SurfacePoints, point_basis
from faceforge.geometry import axis_angle_to_matrix
from faceforge.morphable.evaluate import evaluate
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
        iris_weight: weight of each iris landmark relative to the (reliability-weighted) face landmarks.
        eye_closed, eye_open: lid opening / eye width (``faceforge.detect.eyes.eye_openness``) below which an eye
            counts as closed and above which as open. In between, the eye's iris weight ramps from 0 to
            ``iris_weight``; a closed eye's gaze stays 0 (the iris model has nothing to see there, and its guess
            would otherwise close the lids with eyeLookDown instead of eyeBlink).
        gaze_iterations: iterations of the gaze stage (identity fixed, warm-started).
        num_points: how many of the 468 face landmarks to fit (the most reliable ones; the cost grows with it).
        refine: run the photometric refinement after the landmark stages (needs the image; ~1 s per face).
        photometric: its options.
    """

    landmarks: LandmarkFitOptions = field(default_factory=LandmarkFitOptions)
    focal_px: float | None = None
    gaze: bool = True
    contour: bool = True
    iris_weight: float = 3.0
    eye_closed: float = 0.12
    eye_open: float = 0.22
    gaze_iterations: int = 3
    num_points: int = 468
    refine: bool = False
    photometric: PhotometricOptions = field(default_factory=PhotometricOptions)


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
        rms_px: root-mean-square landmark residual of the fit, pixels (after a refinement: over the detector
            points with a correspondence weight > 0).
        photometric: the refinement's result (light, albedo, losses) when ``ReconstructOptions.refine``, else None.
    """

    params: FaceParams
    camera: Camera
    landmarks_68_px: np.ndarray
    detected_px: np.ndarray
    bbox_px: np.ndarray
    rms_px: float
    photometric: PhotometricResult | None = None


class FaceFitter:
    """Model data prepared for fitting one face after another (loaded once, reused)."""

    def __init__(
        self, model: MorphableModel, correspondence: Correspondence | None = None, ibug68: SurfacePoints | None = None
    ) -> None:
        """Prepare fitting.

        Args:
            correspondence: detector landmarks on the model (default: the shipped MediaPipe-478 one).
            ibug68: where the output iBUG-68 landmarks sit on the surface (default: the shipped 300-W calibration
                when there is one, else the model's own landmark vertices).
        """
        self.model = model
        self.correspondence = correspondence or load_correspondence(model)
        lids = np.array(RIGHT_EYELID + LEFT_EYELID)
        points = self.correspondence.points
        raw = point_basis(model, points)
        self.basis = follow_lids(model, raw, points, lids)
        if ibug68 is None:
            ibug68 = load_ibug68(model) or SurfacePoints.at_vertices(model, model.landmark_indices.numpy())
        self.ibug68 = follow_lids(model, point_basis(model, ibug68), ibug68, IBUG_EYE_ROWS)
        self._subsets: dict[int, tuple[np.ndarray, PointBasis, PointBasis]] = {}
        self.contour: ContourCandidates = contour_candidates(model)
        self._contour_vertices = np.unique(np.concatenate(self.contour.candidates))
        self._contour_basis = point_basis(model, SurfacePoints.at_vertices(model, self._contour_vertices))
        self.gaze_shapes = np.array([n.startswith("eyeLook") for n in model.expression_names])
        self.iris = np.array(RIGHT_IRIS + LEFT_IRIS)
        names = model.expression_names
        self.eye_gaze = [np.array([i for i, n in enumerate(names) if n.startswith("eyeLook") and n.endswith(side)])
                         for side in ("_R", "_L")]  # the subject's right eye's gaze shapes, then the left's
        # Iris rows take the identity motion of the lid ring's own surface points (on the eyeball), then the lid rows
        # are re-rigged to follow the lids.
        self.gaze_basis = follow_lids(model, _rig_iris_rows(model, raw, points), points, lids)
        self.pairs = opposite_pairs(model.expression_names)

    def fit_face(
        self,
        face: FaceLandmarks,
        image_size: tuple[int, int],
        options: ReconstructOptions = ReconstructOptions(),
        image: np.ndarray | None = None,
    ) -> FaceReconstruction:
        """Fit the model to one detected face.

        Args:
            face: the detector's landmarks of the face.
            image_size: (width, height) of the image the landmarks are in, pixels.
            image: (H, W, 3) uint8 RGB photo of that size; needed only by ``options.refine``.
        """
        width, height = image_size
        if width <= 0 or height <= 0:
            raise UsageError(f"image_size must be positive, got {image_size}")
        m = self.model
        rows, basis, gaze_basis = self._subset(options.num_points)
        obs = face.points_px[rows, :2].astype(np.float64)
        weights = self.correspondence.weight[rows].copy()
        # Stage 1: pose, focal, identity and expression from the face landmarks, gaze shapes held at 0.
        res = fit_landmarks(
            basis, obs, image_size, weights=weights, focal_px=options.focal_px, options=options.landmarks,
            expression_bounds=m.expression_bounds, free_expression=~self.gaze_shapes, exclusive_pairs=self.pairs,
        )
        if options.gaze and m.eyes is not None:
            # Stage 2: identity fixed, the iris points join and move with the eyeLook weights (linearized eye rig);
            # warm-started, so a few iterations over the expression and pose suffice.
            visible = iris_visibility(face.points_px, options.eye_closed, options.eye_open)  # (right, left)
            weights[-len(self.iris):] = options.iris_weight * np.repeat(visible, len(RIGHT_IRIS))
            free = np.ones(m.num_expression, bool)
            for eye, v in zip(self.eye_gaze, visible, strict=True):
                free[eye] = v > 0
            gb = gaze_basis
            ni = gb.num_identity
            fixed = PointBasis(gb.mean + gb.shape[:, :, :ni] @ res.identity, gb.shape[:, :, ni:], 0, gb.num_expression)
            stage2 = fit_landmarks(
                fixed, obs, image_size, weights=weights, focal_px=options.focal_px, options=replace(
                    options.landmarks, num_identity=0, iterations=options.gaze_iterations),
                expression_bounds=m.expression_bounds, init=replace(res, identity=np.zeros(0)),
                exclusive_pairs=self.pairs, free_expression=free, fixed_expression=res.expression,
            )
            res = replace(stage2, identity=res.identity)
        expression = res.expression
        params = FaceParams(
            identity=torch.tensor(res.identity[None], dtype=torch.float32),
            expression=torch.tensor(expression[None], dtype=torch.float32),
            rotation=torch.tensor(_axis_angle(res.rotation)[None], dtype=torch.float32),
            translation=torch.tensor(res.translation[None], dtype=torch.float32),
        )
        camera = implicit_camera(res.focal_px, res.principal_px, width, height)
        lm68 = self._landmarks_68(res, expression, options.contour)
        rec = FaceReconstruction(params, camera, lm68, face.points_px.copy(), face.bbox_px.copy(), res.rms_px)
        return self._refine(rec, image, options) if options.refine else rec

    # -- steps ----------------------------------------------------------------------------------------------------

    def _subset(self, num_points: int) -> tuple[np.ndarray, PointBasis, PointBasis]:
        """The ``num_points`` most reliable face landmarks followed by the 10 iris points, and their bases."""
        if num_points not in self._subsets:
            if not 10 <= num_points <= 468:
                raise UsageError(f"num_points must be in [10, 468], got {num_points}")
            face_rows = np.sort(np.argsort(-self.correspondence.weight[:468], kind="stable")[:num_points])
            rows = np.r_[face_rows, self.iris]

            def take(b: PointBasis) -> PointBasis:
                return PointBasis(b.mean[rows], np.ascontiguousarray(b.shape[rows]), b.num_identity, b.num_expression)

            self._subsets[num_points] = (rows, take(self.basis), take(self.gaze_basis))
        return self._subsets[num_points]

    def _refine(self, rec: FaceReconstruction, image: np.ndarray | None, options: ReconstructOptions
                ) -> FaceReconstruction:
        """Photometric refinement of a landmark fit, then the iBUG-68 output of the refined parameters."""
        if image is None:
            raise UsageError("ReconstructOptions.refine needs the image: fit_face(..., image=...)")
        observed = LandmarkObservation.from_correspondence(self.correspondence, rec.detected_px)
        ref = refine_photometric(self.model, image, rec.params, rec.camera, observed, options.photometric)
        p = ref.params
        res = LandmarkFitResult(
            rotation=axis_angle_to_matrix(p.rotation.double())[0].numpy(),
            translation=p.translation[0].double().numpy(),
            identity=p.identity[0].double().numpy(), expression=p.expression[0].double().numpy(),
            focal_px=float(rec.camera.focal[0, 0]), principal_px=rec.camera.principal[0].double().numpy(),
            projected_px=np.zeros((0, 2)), rms_px=ref.landmark_rms_px[1], iterations=0,
        )
        lm68 = self._landmarks_68(res, res.expression, options.contour)
        return replace(rec, params=p, landmarks_68_px=lm68, rms_px=ref.landmark_rms_px[1], photometric=ref)

    def _landmarks_68(self, res: LandmarkFitResult, expression: np.ndarray, contour: bool) -> np.ndarray:
        m = self.model
        world = self.ibug68.positions(res.identity, expression) @ res.rotation.T + res.translation
        lm68 = project_points(world, res.focal_px, res.principal_px)
        if not contour:
            return lm68
        cand = self._contour_vertices
        verts = self._contour_basis.positions(res.identity, expression) @ res.rotation.T + res.translation
        px = np.zeros((m.num_vertices, 2))
        px[cand] = project_points(verts, res.focal_px, res.principal_px)
        # The subject's +x side faces away from the camera when the model x axis points away from it.
        to_camera = -res.translation / np.linalg.norm(res.translation)
        far_positive = float(res.rotation[:, 0] @ to_camera) < 0
        return contour_landmarks_68(self.contour, lm68, px, far_positive)


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


def _rig_iris_rows(model: MorphableModel, basis: PointBasis, points: SurfacePoints) -> PointBasis:
    """A copy of ``basis`` (rows = the 478 detector points) whose iris rows move with the eyeLook weights.

    The eye rig turns the eyeballs (``EyeRig``); for fitting it is linearized as the chord from weight 0 to weight 1
    (the same linearization the GLB export uses for its morph targets): at 35 degrees the chord's midpoint lies
    0.2 mm from the arc, well below what an iris detector resolves.

    Identity modes also shift the eyeballs; if the iris rows followed them, an iris offset could be explained as an
    eyeball shift instead of a gaze. Each eye's iris rows therefore follow the identity motion of its eyelid ring
    (the eyeball sits behind the lid opening): only the gaze moves the iris relative to the lids.
    """
    if model.eyes is None:
        return basis
    iris = np.array(RIGHT_IRIS + LEFT_IRIS)
    shape = basis.shape.copy()
    ni = model.num_identity
    for iris_rows, lids in ((RIGHT_IRIS, RIGHT_EYELID), (LEFT_IRIS, LEFT_EYELID)):
        shape[list(iris_rows), :, :ni] = basis.shape[list(lids), :, :ni].mean(0)
    zero = FaceParams.zeros(1, model.num_identity, model.num_expression)
    rest = evaluate(model, zero).vertices[0].numpy()
    tri = model.faces.numpy()[points.face_index[iris]]
    bary = points.bary[iris][:, :, None]
    for k, name in enumerate(model.expression_names):
        if not name.startswith("eyeLook"):
            continue
        expr = zero.expression.clone()
        expr[0, k] = 1.0
        moved = evaluate(model, FaceParams(zero.identity, expr, zero.rotation, zero.translation)).vertices[0].numpy()
        delta = ((moved - rest)[tri] * bary).sum(1)  # (10, 3): rig motion of the iris points at weight 1
        shape[iris, :, model.num_identity + k] = delta
    return PointBasis(basis.mean, shape, basis.num_identity, basis.num_expression)


def reconstruct_image(
    fitter: FaceFitter,
    image: np.ndarray,
    detect_options: DetectFacesOptions | None = None,
    options: ReconstructOptions = ReconstructOptions(),
) -> list[FaceReconstruction]:
    """Detect the faces of an image (as ``detect_options.select`` says) and fit each one.

    Args:
        image: (H, W, 3) uint8 RGB.
    Returns:
        one FaceReconstruction per selected face, largest first.
    Raises:
        NoFaceError: no (matching) face.
    """
    faces = detect_faces(image, detect_options or DetectFacesOptions())
    size = (int(image.shape[1]), int(image.shape[0]))
    return [fitter.fit_face(face, size, options, image=image) for face in faces]
