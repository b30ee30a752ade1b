"""Photometric refinement of a landmark fit: render-and-compare under SH lighting with a smooth albedo (CPU).

The hybrid path of seed 003 (Pixel3DMM-style: a fast landmark fit, then an analysis-by-synthesis refinement), with
the differentiable CPU renderer of ``faceforge.render`` instead of a learned pixel predictor. For one face:

1. A square crop around the face (``crop_camera``, ``crop_size`` pixels) is cut from the photo and converted to
   linear radiance (inverse sRGB curve). Only the model's face region (``face_narrow`` on ICT-FaceKit, ears
   removed) is rendered: eyes and mouth interior are holes in it, so they never enter the loss.
2. Image formation (linear radiance): ``I(p) = albedo(p) * sum_k (A_l / pi) c_k Y_k(n(p))`` with world-frame unit
   normals ``n`` and 9 SH coefficients per channel (``faceforge.render.shade``; Ramamoorthi & Hanrahan 2001). The
   albedo is per vertex but low-dimensional: the initial albedo (``SKIN_ALBEDO`` unless given) plus a colour offset
   plus smooth polynomials (degree ``albedo_degree``) of the template position, so that it cannot absorb what the
   geometry has to explain; sharp albedo features (brows, lips, stubble) are left to the robust loss and the skin
   mask. The SH start from a least-squares solve on the initial geometry.
3. Loss, minimized with Adam over normalized parameter offsets (expression weights projected onto their bounds
   after every step)::

       photo_weight * mean_p Huber(I(p) - J(p), huber)                  pixels of the rendered region, eroded by
                                                                        1 px, inside the photo, skin-coloured
     + landmark_weight * sum_l w_l rho(|proj_l - obs_l| / s)            s = face size in pixels: fit_landmarks' cost
     + identity_prior |id|^2 + expression_prior |expr|^2               (fit_landmarks' priors)
     + albedo_prior |polynomial coefficients|^2 + base_prior |colour offset|^2

   With ``photo_weight = 0`` the optimum is the landmark fit's (for the refined identity modes).
   The z-buffer (which triangle each pixel sees) is recomputed every ``raster_every`` iterations; in between the
   barycentrics are recomputed differentiably from the moving vertices (``differentiable_barycentrics``): that and
   the normals in the shading are where the gradients wrt pose, identity and expression come from. Silhouette motion
   has no gradient (no soft rasterizer); the landmark term keeps the outline anchored.

Albedo and light share a global scale and colour: only the prior toward the initial albedo fixes it, so recovered SH
are meaningful up to that prior (exact when the true mean albedo is the prior). Band-2 SH coefficients are poorly
determined by the normals of one face (roughly a hemisphere); the shading they produce on those normals is what is
recovered. Frames: the camera is the landmark fit's (docs/conventions.md) and is not refined (focal length,
principal point); SH coefficients are in the world frame.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from itertools import combinations_with_replacement

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from faceforge.camera.build import crop_camera
from faceforge.camera.projection import project
from faceforge.errors import UsageError
from faceforge.fit.correspondence import Correspondence
from faceforge.fit.surface import SurfacePoints
from faceforge.geometry import axis_angle_to_matrix
from faceforge.morphable.evaluate import evaluate
from faceforge.morphable.model import MorphableModel
from faceforge.render.encode import linear_to_srgb, to_uint8
from faceforge.render.fragments import Fragments
from faceforge.render.gbuffers import render_normals
from faceforge.render.interpolate import differentiable_barycentrics, interpolate
from faceforge.render.rasterize import rasterize
from faceforge.render.shade import LAMBERT_BAND_FACTORS, sh_basis, sh_shading
from faceforge.structures import Camera, FaceParams, Mesh

log = logging.getLogger(__name__)

SKIN_ALBEDO = (0.78, 0.57, 0.47)  # the renderer's skin colour (faceforge.render.pipeline), linear reflectance
# Regions whose pixels define the photo's skin colour (those the model has; else the whole rendered region).
_SKIN_REFERENCE_REGIONS = ("cheeks", "nose")
# Normalized-offset scales (value = initial + scale * z): changes that alter the image by similar small amounts, so
# one Adam step size suits every group. Translation: this fraction of the head's distance.
_SCALES = {"rotation": 0.01, "identity": 0.1, "expression": 0.05, "sh": 0.05, "base": 0.02, "coef": 0.02}
_TRANSLATION_SCALE = 0.002


@dataclass(frozen=True)
class LandmarkObservation:
    """Observed 2D landmarks tied to points on the model surface.

    Attributes:
        points: L surface points of the model.
        observed_px: (L, 2) float64 observed pixels in the full image (x right, y down, pixel-centre origin).
        weights: (L,) float64 non-negative weights (0 = ignored).
    """

    points: SurfacePoints
    observed_px: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        n = self.points.num_points
        if self.observed_px.shape != (n, 2):
            raise UsageError(f"observed_px: expected ({n}, 2), got {self.observed_px.shape}")
        if self.weights.shape != (n,) or (self.weights < 0).any():
            raise UsageError(f"weights: expected ({n},) non-negative, got shape {self.weights.shape}")

    @staticmethod
    def at_vertices(
        model: MorphableModel, vertex_indices: np.ndarray, observed_px: np.ndarray, weights: np.ndarray | None = None
    ) -> LandmarkObservation:
        """Landmarks sitting on model vertices (e.g. ``model.landmark_indices`` with iBUG-68 points), weights 1."""
        obs = np.asarray(observed_px, dtype=np.float64)
        w = np.ones(len(vertex_indices)) if weights is None else np.asarray(weights, dtype=np.float64)
        return LandmarkObservation(SurfacePoints.at_vertices(model, np.asarray(vertex_indices)), obs, w)

    @staticmethod
    def from_correspondence(correspondence: Correspondence, detected_px: np.ndarray) -> LandmarkObservation:
        """The detector's 478 landmarks (``FaceReconstruction.detected_px``) with the correspondence's weights.

        The iris points have weight 0 there (they sit on eyeballs, which the refinement does not turn).
        """
        det = np.asarray(detected_px, dtype=np.float64)
        n = correspondence.points.num_points
        if det.ndim != 2 or det.shape[0] != n or det.shape[1] < 2:
            raise UsageError(f"detected_px: expected ({n}, 2 or 3), got {det.shape}")
        return LandmarkObservation(correspondence.points, det[:, :2].copy(), correspondence.weight.astype(np.float64))


@dataclass(frozen=True)
class PhotometricOptions:
    """Options of ``refine_photometric`` (defaults: ~0.7 s per face on one core, 128 px crop, 40 iterations).

    Attributes:
        crop_size: side of the square crop the refinement renders, pixels.
        crop_padding: crop side = padding x the larger side of the projected region's bounding box.
        iterations: Adam iterations (one render + gradient each).
        raster_every: recompute the z-buffer every this many iterations.
        learning_rate: Adam step in normalized units (about 0.3 x: 3 mrad of rotation, 0.03 identity, 0.015
            expression weight per step at first); decays linearly to 30 % over the run.
        num_identity: leading identity modes refined (the others stay at their initial values).
        region: model region rendered and compared; None = ``face_narrow`` if the model has it, else ``face``.
        exclude_regions: regions removed from it (names the model lacks are skipped): ears are often under hair.
        fixed_expression_prefixes: expressions that keep their initial weights (the gaze: the iris cue is the landmark
            fit's, and the eyeballs are not rendered).
        fit_pose, fit_shape, fit_light, fit_albedo: which groups are optimized (shape = identity + expression).
        photo_weight: weight of the photometric term.
        huber: Huber threshold of a per-pixel, per-channel residual (linear radiance).
        landmark_weight: weight of the landmark term.
        landmark_huber: Huber threshold of a landmark residual, as a fraction of the face size (fit_landmarks').
        identity_prior, expression_prior: weights of |identity|^2 and |expression|^2 (fit_landmarks' defaults).
        albedo_degree: degree of the albedo polynomials (0 = a single colour).
        albedo_prior: weight of the squared polynomial coefficients (each polynomial has unit RMS over the region).
        base_prior: weight of the squared colour offset from the initial albedo (sets the albedo/light scale).
        skin_mask: compare only pixels whose colour is close to the skin sampled on the cheeks and nose of the
            initial fit (drops hair, beards, brows, glasses, occluders).
        skin_threshold: robust z-score (median / MAD) beyond which a pixel's chroma is not skin.
        num_threads: torch intra-op threads during the call (torch's setting is restored afterwards); None leaves it.
            The tensors here are small (~10k vertices, ~15k pixels): one thread is as fast as two on an idle 2-core
            machine, and 10-20x faster when another process keeps a core busy (threads then wait on each other).
    """

    crop_size: int = 128
    crop_padding: float = 1.1
    iterations: int = 40
    raster_every: int = 4
    learning_rate: float = 0.3
    num_identity: int = 10
    region: str | None = None
    exclude_regions: tuple[str, ...] = ("ears",)
    fixed_expression_prefixes: tuple[str, ...] = ("eyeLook",)
    fit_pose: bool = True
    fit_shape: bool = True
    fit_light: bool = True
    fit_albedo: bool = True
    photo_weight: float = 100.0
    huber: float = 0.05
    landmark_weight: float = 1.0
    landmark_huber: float = 0.03
    identity_prior: float = 2e-4
    expression_prior: float = 1e-4
    albedo_degree: int = 3
    albedo_prior: float = 0.1
    base_prior: float = 1.0
    skin_mask: bool = True
    skin_threshold: float = 3.5
    num_threads: int | None = 1

    def __post_init__(self) -> None:
        if self.crop_size < 16:
            raise UsageError(f"crop_size must be at least 16, got {self.crop_size}")
        if self.iterations < 0 or self.raster_every < 1:
            raise UsageError(
                f"iterations must be >= 0 and raster_every >= 1, got {self.iterations}, {self.raster_every}"
            )
        if min(self.crop_padding, self.huber, self.landmark_huber, self.learning_rate) <= 0:
            raise UsageError("crop_padding, huber, landmark_huber and learning_rate must be positive")
        if self.albedo_degree < 0 or self.num_identity < 0:
            raise UsageError("albedo_degree and num_identity must be >= 0")
        if self.num_threads is not None and self.num_threads < 1:
            raise UsageError(f"num_threads must be >= 1 or None, got {self.num_threads}")


@dataclass(frozen=True)
class PhotometricResult:
    """One refined face.

    Attributes:
        params: refined FaceParams, batch 1 (same frames as the input).
        camera: the input camera (unchanged; batch 1, full image).
        sh_coeffs: (9, 3) float32 SH lighting, world frame, linear radiance (``sh_shading`` order and constants).
        albedo: (V, 3) float32 per-vertex linear reflectance in [0, 1]; outside ``albedo_vertices`` the initial albedo
            plus the fitted colour offset.
        albedo_vertices: (n,) int64 the rendered region's vertices, whose albedo was fitted.
        crop_camera: the crop camera the refinement rendered with (``crop_size`` square).
        losses: (iterations,) float64 total loss per iteration (before that iteration's step).
        photometric_losses: (iterations,) float64 the photometric term alone, unweighted.
        landmark_rms_px: (before, after) RMS landmark residual over the points with weight > 0, full-image pixels.
        seconds: wall time of the call.
    """

    params: FaceParams
    camera: Camera
    sh_coeffs: torch.Tensor
    albedo: torch.Tensor
    albedo_vertices: torch.Tensor
    crop_camera: Camera
    losses: np.ndarray
    photometric_losses: np.ndarray
    landmark_rms_px: tuple[float, float]
    seconds: float


# --- image helpers ------------------------------------------------------------------------------------------------


def srgb_to_linear(image: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] -> linear (inverse of ``faceforge.render.encode.linear_to_srgb``)."""
    x = np.clip(image, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def crop_image(image: np.ndarray, bbox: np.ndarray, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The square ``bbox`` of a photo resampled to ``out_size`` pixels, mapping pixels as ``crop_camera`` does.

    Args:
        image: (H, W, 3) uint8 RGB, sRGB-encoded.
        bbox: (3,) x0, y0, side in original pixels (the crop spans [x0 - 0.5, x0 + side - 0.5] horizontally).
        out_size: crop side in pixels.
    Returns:
        crop: (S, S, 3) float32 linear radiance in [0, 1]; valid: (S, S) bool, False where the crop leaves the photo.
    """
    x0, y0, side = (float(v) for v in bbox)
    s = out_size / side
    sigma = 0.5 / s if s < 1.0 else 0.0  # anti-alias before shrinking
    # Work on the window the crop reads (plus the blur's reach), not the whole photo.
    pad = int(np.ceil(3.0 * sigma)) + 2
    h, w = image.shape[:2]
    wx0, wy0 = max(int(np.floor(x0)) - pad, 0), max(int(np.floor(y0)) - pad, 0)
    wx1, wy1 = min(int(np.ceil(x0 + side)) + pad, w), min(int(np.ceil(y0 + side)) + pad, h)
    if wx1 <= wx0 or wy1 <= wy0:
        return np.zeros((out_size, out_size, 3), np.float32), np.zeros((out_size, out_size), bool)
    src = image[wy0:wy1, wx0:wx1].astype(np.float32) / 255.0
    if sigma > 0:
        src = cv2.GaussianBlur(src, (0, 0), sigmaX=sigma, sigmaY=sigma)
    # Crop pixel u' samples the original at u = (u' + 0.5) / s + x0 - 0.5 (window coordinates: minus wx0).
    m = np.array([[1.0 / s, 0.0, 0.5 / s + x0 - 0.5 - wx0], [0.0, 1.0 / s, 0.5 / s + y0 - 0.5 - wy0]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    crop = cv2.warpAffine(src, m, (out_size, out_size), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    inside = np.ones(src.shape[:2], np.float32)
    valid = cv2.warpAffine(inside, m, (out_size, out_size), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0.0) > 0.999
    return srgb_to_linear(crop).astype(np.float32), valid


def skin_pixels(crop_linear: np.ndarray, reference: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels whose chroma and brightness are close to those of reference (skin) pixels.

    Features: log(R/G), log(B/G) (chroma; shading hardly changes them) and log(R+G+B) (brightness, allowed twice the
    threshold since shading varies it). A pixel is skin when each feature lies within ``threshold`` robust standard
    deviations (1.4826 MAD, floored at 0.03 for chroma and 0.1 for brightness) of the reference median.

    Args:
        crop_linear: (S, S, 3) linear radiance. reference: (S, S) bool reference pixels.
    Returns:
        (S, S) bool; all True when there are fewer than 20 reference pixels.
    """
    c = crop_linear.astype(np.float64) + 1e-3
    feats = np.stack([np.log(c[..., 0] / c[..., 1]), np.log(c[..., 2] / c[..., 1]), np.log(c.sum(-1))], -1)
    ref = feats[reference]
    if len(ref) < 20:
        return np.ones(crop_linear.shape[:2], bool)
    med = np.median(ref, 0)
    scale = np.maximum(1.4826 * np.median(np.abs(ref - med), 0), np.array([0.03, 0.03, 0.1]))
    z = np.abs(feats - med) / scale
    return (z[..., 0] <= threshold) & (z[..., 1] <= threshold) & (z[..., 2] <= 2.0 * threshold)


# --- setup --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Region:
    """The rendered part of the model, with its own vertex numbering."""

    vertices: torch.Tensor  # (n,) model vertex indices
    faces: torch.Tensor  # (F', 3) local indices
    reference: torch.Tensor  # (n,) bool: vertices whose pixels define the skin colour
    features: torch.Tensor  # (n, K) albedo polynomials, orthogonal, unit RMS


def _region(model: MorphableModel, options: PhotometricOptions) -> _Region:
    name = options.region
    if name is None:
        name = "face_narrow" if "face_narrow" in model.regions else "face"
    inside = torch.zeros(model.num_vertices, dtype=torch.bool)
    inside[model.region(name)] = True
    for ex in options.exclude_regions:
        if ex in model.regions:
            inside[model.regions[ex]] = False
    faces = model.faces[inside[model.faces].all(1)]
    if faces.shape[0] == 0:
        raise UsageError(f"region {name!r} has no triangles left after excluding {options.exclude_regions}")
    used = torch.unique(faces)
    local = torch.full((model.num_vertices,), -1, dtype=torch.int64)
    local[used] = torch.arange(used.numel())
    ref = torch.zeros(model.num_vertices, dtype=torch.bool)
    for r in _SKIN_REFERENCE_REGIONS:
        if r in model.regions:
            ref[model.regions[r]] = True
    reference = ref[used] if bool(ref[used].any()) else torch.ones(used.numel(), dtype=torch.bool)
    return _Region(used, local[faces], reference, _albedo_features(model.template[used], options.albedo_degree))


def _albedo_features(points: torch.Tensor, degree: int) -> torch.Tensor:
    """(n, K) monomials of degree 1..``degree`` of the points normalized to [-1, 1], orthonormal with unit RMS."""
    p = points.double()
    lo, hi = p.min(0).values, p.max(0).values
    u = (2.0 * (p - lo) / (hi - lo).clamp_min(1e-9) - 1.0).numpy()
    cols = [np.prod(u[:, list(c)], axis=1) for d in range(1, degree + 1)
            for c in combinations_with_replacement(range(3), d)]
    if not cols:
        return torch.zeros(len(p), 0)
    a = np.stack(cols, 1)
    a = a - a.mean(0)  # orthogonal to the constant (the colour offset's job)
    # Orthonormalize through the K x K Gram matrix (K <= 83 for degree 5; a QR of the n x K matrix is slower).
    lam, vec = np.linalg.eigh(a.T @ a / len(a))
    keep = lam > 1e-9 * lam.max()  # drop dependent monomials
    return torch.tensor(a @ (vec[:, keep] / np.sqrt(lam[keep])), dtype=torch.float32)


def _landmark_bases(
    model: MorphableModel, points: SurfacePoints, use: np.ndarray, identity: torch.Tensor, ni: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model at the surface points ``use``: mean (L, 3) with identity modes from ni on frozen at ``identity``,
    identity offsets (L, 3, ni) and expression offsets (L, 3, Ne), float32 (only the points' vertices are read)."""
    tri = torch.as_tensor(model.faces.numpy()[points.face_index[use]])  # (L, 3)
    w = torch.as_tensor(points.bary[use], dtype=torch.float32)[None, :, :, None]  # (1, L, 3, 1)

    def at(basis: torch.Tensor) -> torch.Tensor:  # (K, V, 3) -> (L, 3, K)
        return (basis[:, tri] * w).sum(2).permute(1, 2, 0)

    mean = at(model.template[None])[..., 0] + at(model.identity_basis[ni:]) @ identity[ni:]
    return mean, at(model.identity_basis[:ni]), at(model.expression_basis)


def _crop_box(points_px: np.ndarray, padding: float) -> np.ndarray:
    """(3,) x0, y0, side of an integer square around points (their box's larger side times ``padding``)."""
    lo, hi = points_px.min(0), points_px.max(0)
    side = float(np.ceil(max(hi - lo) * padding + 2.0))
    centre = (lo + hi) / 2.0
    return np.array([np.floor(centre[0] - side / 2.0 + 0.5), np.floor(centre[1] - side / 2.0 + 0.5), side])


def _solve_sh(albedo: torch.Tensor, normals: torch.Tensor, target: torch.Tensor, ridge: float = 1e-4) -> torch.Tensor:
    """Least-squares SH (9, 3) for ``target ~ albedo * shading(normals)`` over P pixels: (P, 3) each."""
    basis = sh_basis(normals.double()) * torch.tensor(LAMBERT_BAND_FACTORS, dtype=torch.float64)  # (P, 9)
    out = []
    for c in range(3):
        a = basis * albedo[:, c : c + 1].double()
        h = a.T @ a + ridge * max(len(a), 1) * torch.eye(9, dtype=torch.float64)
        out.append(torch.linalg.solve(h, a.T @ target[:, c].double()))
    return torch.stack(out, 1).to(torch.float32)


def _huber(x: torch.Tensor, delta: float) -> torch.Tensor:
    a = x.abs()
    return torch.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta))


def _check_inputs(model: MorphableModel, image: np.ndarray, params: FaceParams, camera: Camera,
                  albedo: torch.Tensor | None, sh_coeffs: torch.Tensor | None) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise UsageError(f"image: expected (H, W, 3) uint8, got {got}")
    if params.batch_size != 1 or camera.batch_size != 1:
        raise UsageError(
            f"refine_photometric: expected batch 1, got params {params.batch_size}, camera {camera.batch_size}"
        )
    if (image.shape[1], image.shape[0]) != (camera.width, camera.height):
        raise UsageError(f"image is {image.shape[1]}x{image.shape[0]} but the camera is {camera.width}x{camera.height}")
    if params.identity.shape[1] != model.num_identity or params.expression.shape[1] != model.num_expression:
        raise UsageError(
            f"params do not match {model.name}: identity {tuple(params.identity.shape)}, expression "
            f"{tuple(params.expression.shape)}"
        )
    if albedo is not None and tuple(albedo.shape) != (model.num_vertices, 3):
        raise UsageError(f"albedo: expected ({model.num_vertices}, 3), got {tuple(albedo.shape)}")
    if sh_coeffs is not None and tuple(sh_coeffs.shape) != (9, 3):
        raise UsageError(f"sh_coeffs: expected (9, 3), got {tuple(sh_coeffs.shape)}")


# --- the refinement -----------------------------------------------------------------------------------------------


def refine_photometric(
    model: MorphableModel,
    image: np.ndarray,
    params: FaceParams,
    camera: Camera,
    landmarks: LandmarkObservation,
    options: PhotometricOptions = PhotometricOptions(),
    albedo: torch.Tensor | None = None,
    sh_coeffs: torch.Tensor | None = None,
) -> PhotometricResult:
    """Refine a landmark fit against the photo's pixels (model and loss in the module docstring).

    Args:
        model: the morphable model of the fit.
        image: (H, W, 3) uint8 RGB photo, sRGB-encoded; H, W equal to the camera's image size.
        params: the initial fit, batch 1 (e.g. ``FaceReconstruction.params``).
        camera: its camera, batch 1 (e.g. ``FaceReconstruction.camera``); not refined.
        landmarks: observed landmarks anchoring the fit (e.g. ``LandmarkObservation.from_correspondence``).
        options: see ``PhotometricOptions``.
        albedo: (V, 3) initial per-vertex linear albedo (e.g. a previous frame's ``PhotometricResult.albedo``, or a
            known one); None = ``SKIN_ALBEDO`` everywhere. The albedo priors pull toward it.
        sh_coeffs: (9, 3) initial lighting, world frame; None = least squares on the initial geometry.
    Returns:
        PhotometricResult.
    """
    _check_inputs(model, image, params, camera, albedo, sh_coeffs)
    threads = torch.get_num_threads()
    if options.num_threads is not None:
        torch.set_num_threads(options.num_threads)
    try:
        return _refine(model, image, params, camera, landmarks, options, albedo, sh_coeffs)
    finally:
        torch.set_num_threads(threads)


def _refine(
    model: MorphableModel,
    image: np.ndarray,
    params: FaceParams,
    camera: Camera,
    landmarks: LandmarkObservation,
    options: PhotometricOptions,
    albedo: torch.Tensor | None,
    sh_coeffs: torch.Tensor | None,
) -> PhotometricResult:
    start = time.perf_counter()
    o = options
    region = _region(model, o)
    vi = region.vertices
    ni = min(o.num_identity, model.num_identity)
    ne = model.num_expression
    id0 = params.identity[0].detach().to(torch.float32)
    ex0 = params.expression[0].detach().to(torch.float32)
    rot0 = params.rotation[0].detach().to(torch.float32)
    trans0 = params.translation[0].detach().to(torch.float32)
    free_ex = torch.tensor([not n.startswith(tuple(o.fixed_expression_prefixes)) for n in model.expression_names])
    lo, hi = model.expression_bounds if model.expression_bounds is not None else (-float("inf"), float("inf"))

    # The region's bases; identity modes past ni are frozen into its template.
    id_basis = model.identity_basis[:, vi]  # (Ni, n, 3)
    base_shape = model.template[vi] + torch.einsum("k,kvc->vc", id0[ni:], id_basis[ni:])
    id_basis = id_basis[:ni].reshape(ni, -1)
    ex_basis = model.expression_basis[:, vi].reshape(ne, -1)

    def posed(identity: torch.Tensor, ex: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor
              ) -> torch.Tensor:
        """(1, n, 3) world-frame region vertices."""
        shape = base_shape + (identity @ id_basis + ex @ ex_basis).reshape(-1, 3)
        return (shape @ axis_angle_to_matrix(rotation).T + translation)[None]

    # Landmarks: the full model at the surface points (weight-0 points dropped), float32 torch.
    use = np.nonzero(landmarks.weights > 0)[0]
    lm_mean, lm_id, lm_ex = _landmark_bases(model, landmarks.points, use, id0, ni)
    lm_obs = torch.tensor(landmarks.observed_px[use], dtype=torch.float32)
    lm_w = torch.tensor(landmarks.weights[use], dtype=torch.float32)
    lm_scale = float(max(np.ptp(landmarks.observed_px[use], axis=0).max(), 1.0)) if len(use) else 1.0

    def landmark_term(identity: torch.Tensor, ex: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """fit_landmarks' robust cost and the (L,) residual lengths in pixels."""
        if not len(use):
            return torch.zeros(()), torch.zeros(0)
        world = (lm_mean + lm_id @ identity + lm_ex @ ex) @ axis_angle_to_matrix(rotation).T + translation
        r = project(world[None], camera)[0] - lm_obs
        err = r.norm(dim=1) / lm_scale
        rho = torch.where(err <= o.landmark_huber, err**2, o.landmark_huber * (2 * err - o.landmark_huber))
        return (lm_w * rho).sum(), r.detach().norm(dim=1)

    # The crop around the projected region of the initial fit.
    with torch.no_grad():
        verts0 = posed(id0[:ni], ex0, rot0, trans0)
        box = _crop_box(project(verts0, camera)[0].numpy(), o.crop_padding)
    cam = crop_camera(camera, torch.tensor(box, dtype=torch.float32), o.crop_size)
    target_np, valid_np = crop_image(image, box, o.crop_size)
    target = torch.from_numpy(target_np)[None]  # (1, S, S, 3)
    valid = torch.from_numpy(valid_np)[None]

    def raster(verts: torch.Tensor) -> tuple[Fragments, torch.Tensor]:
        frags = rasterize(Mesh(verts.detach(), region.faces), cam)
        cover = frags.mask.to(torch.float32)[:, None]
        eroded = -F.max_pool2d(-cover, 3, stride=1, padding=1)[:, 0] > 0.5  # silhouettes mix face and background
        return frags, eroded & valid

    # Initial albedo (region), skin mask and lighting from the initial geometry.
    albedo0 = (torch.tensor(SKIN_ALBEDO).expand(model.num_vertices, 3) if albedo is None
               else albedo.detach().to(torch.float32))
    a0 = albedo0[vi]
    with torch.no_grad():
        frags, mask = raster(verts0)
        skin = torch.ones_like(valid)
        if o.skin_mask:
            ref = interpolate(region.reference[None, :, None].to(torch.float32), region.faces, frags)[0, ..., 0]
            skin = torch.from_numpy(skin_pixels(target_np, ((ref > 0.99) & mask[0]).numpy(), o.skin_threshold))[None]
        if sh_coeffs is None:
            normals = render_normals(Mesh(verts0, region.faces), cam, frags, frame="world")
            m = mask & skin
            sh0 = _solve_sh(interpolate(a0[None], region.faces, frags)[m], normals[m], target[m])
        else:
            sh0 = sh_coeffs.detach().to(torch.float32)

    # Optimized: normalized offsets z, value = initial + scale * z.
    initial = {"rotation": rot0, "translation": trans0, "identity": id0[:ni], "expression": ex0, "sh": sh0,
               "base": torch.zeros(3), "coef": torch.zeros(region.features.shape[1], 3)}
    scales = dict(_SCALES, translation=_TRANSLATION_SCALE * float(trans0.norm()) + 1e-3)
    groups = {"rotation": o.fit_pose, "translation": o.fit_pose, "identity": o.fit_shape, "expression": o.fit_shape,
              "sh": o.fit_light, "base": o.fit_albedo, "coef": o.fit_albedo}
    free = {k: torch.zeros_like(v, requires_grad=True) for k, v in initial.items() if groups[k] and v.numel()}

    def value(name: str) -> torch.Tensor:
        return initial[name] + scales[name] * free[name] if name in free else initial[name]

    state: dict[str, object] = {}
    losses: list[float] = []
    photo_losses: list[float] = []

    def rasterize_now() -> None:
        with torch.no_grad():
            ex = torch.where(free_ex, value("expression"), ex0)
            frags, mask = raster(posed(value("identity"), ex, value("rotation"), value("translation")))
        state["frags"], state["mask"] = frags, mask & skin

    def loss_now() -> torch.Tensor:
        identity, rotation, translation = value("identity"), value("rotation"), value("translation")
        ex = torch.where(free_ex, value("expression"), ex0)
        frags, m = state["frags"], state["mask"]
        mesh = Mesh(posed(identity, ex, rotation, translation), region.faces)
        bary = differentiable_barycentrics(mesh, cam, frags)
        normals = render_normals(mesh, cam, frags, frame="world", bary=bary)
        base, coef = value("base"), value("coef")
        alb = interpolate((a0 + base + region.features @ coef)[None], region.faces, frags, bary)
        res = (alb * sh_shading(normals, value("sh")[None]) - target)[m]  # (P, 3)
        photo = _huber(res, o.huber).sum(1).mean() if res.numel() else torch.zeros(())
        loss = (o.photo_weight * photo + o.landmark_weight * landmark_term(identity, ex, rotation, translation)[0]
                + o.identity_prior * (identity**2).sum() + o.expression_prior * (ex**2).sum()
                + o.albedo_prior * (coef**2).sum() + o.base_prior * (base**2).sum())
        losses.append(float(loss.detach()))
        photo_losses.append(float(photo.detach()))
        return loss

    with torch.no_grad():
        rms_before = float(landmark_term(id0[:ni], ex0, rot0, trans0)[1].pow(2).mean().sqrt()) if len(use) else 0.0
    if free:
        adam = torch.optim.Adam(list(free.values()), lr=o.learning_rate)
        decay = torch.optim.lr_scheduler.LambdaLR(adam, lambda k: 1.0 - 0.7 * k / max(o.iterations, 1))
        for it in range(o.iterations):
            if it % o.raster_every == 0:
                rasterize_now()
            adam.zero_grad()
            loss_now().backward()
            adam.step()
            decay.step()
            if "expression" in free:
                with torch.no_grad():
                    clamped = value("expression").clamp(lo, hi)
                    free["expression"].copy_((clamped - ex0) / scales["expression"])

    with torch.no_grad():
        identity, rotation, translation = value("identity"), value("rotation"), value("translation")
        ex = torch.where(free_ex, value("expression"), ex0)
        rms_after = float(landmark_term(identity, ex, rotation, translation)[1].pow(2).mean().sqrt()) if len(
            use) else 0.0
        full_id = id0.clone()
        full_id[:ni] = identity
        out = FaceParams(full_id[None], ex.clone()[None], rotation.clone()[None], translation.clone()[None],
                         params.joint_rotations)
        albedo_out = (albedo0 + value("base")).clamp(0.0, 1.0)
        albedo_out[vi] = (a0 + value("base") + region.features @ value("coef")).clamp(0.0, 1.0)
        sh = value("sh").clone()
    seconds = time.perf_counter() - start
    log.info("photometric refinement: %d iterations, loss %.5f -> %.5f, landmark rms %.2f -> %.2f px, %.2f s",
             o.iterations, losses[0] if losses else 0.0, losses[-1] if losses else 0.0, rms_before, rms_after, seconds)
    return PhotometricResult(
        params=out, camera=camera, sh_coeffs=sh, albedo=albedo_out, albedo_vertices=vi.clone(), crop_camera=cam,
        losses=np.array(losses), photometric_losses=np.array(photo_losses), landmark_rms_px=(rms_before, rms_after),
        seconds=seconds,
    )


def render_photometric(model: MorphableModel, result: PhotometricResult, image: np.ndarray) -> np.ndarray:
    """A picture to check a refinement by eye: the photo's crop | albedo x SH shading over it | the albedo alone.

    Args:
        model: the model of the refinement.
        result: its result.
        image: (H, W, 3) uint8 the refined photo.
    Returns:
        (S, 3 S, 3) uint8 RGB, S = the crop size; renders are composited over the crop.
    """
    cam = result.crop_camera
    crop, _ = crop_image(image, _crop_box_of(result.camera, cam), cam.width)
    inside = torch.zeros(model.num_vertices, dtype=torch.bool)
    inside[result.albedo_vertices] = True
    faces = model.faces[inside[model.faces].all(1)]
    with torch.no_grad():
        mesh = Mesh(evaluate(model, result.params).vertices, faces)
        frags = rasterize(mesh, cam)
        normals = render_normals(mesh, cam, frags, frame="world")
        albedo = interpolate(result.albedo[None], faces, frags)
        shaded = albedo * sh_shading(normals, result.sh_coeffs[None])
        cover = frags.mask[..., None]
        photo = torch.from_numpy(crop)[None]
        row = torch.cat([photo, torch.where(cover, shaded, photo), torch.where(cover, albedo, photo)], dim=2)
    return to_uint8(linear_to_srgb(row))[0]


def _crop_box_of(camera: Camera, crop: Camera) -> np.ndarray:
    """Invert ``crop_camera``: the (x0, y0, side) box of a crop camera made from ``camera``."""
    s = float(crop.focal[0, 0] / camera.focal[0, 0])
    xy = camera.principal[0].double().numpy() + 0.5 - (crop.principal[0].double().numpy() + 0.5) / s
    return np.array([xy[0], xy[1], crop.width / s])
