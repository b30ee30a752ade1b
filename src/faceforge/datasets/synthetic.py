"""The synthetic face benchmark: fixed-seed, versioned faces sampled like seed 003 (section III.4 / IV.1), rendered.

Every face is a pure function of ``(SYNTHETIC_VERSION, options.seed, split, index)``: the same call gives the same
parameters, camera and pixels on any machine (NumPy's PCG64 through a ``SeedSequence`` of those four numbers). Bump
``SYNTHETIC_VERSION`` whenever the sampling or rendering changes, so published figures name the set they came from.
Only parameters are stored; meshes are recomputed from them (``SyntheticFaces.mesh``).

**Splits** are disjoint seed ranges: sample ``index`` of split ``s`` uses seed ``SPLIT_OFFSETS[s] + index`` with
``0 <= index < SPLIT_SIZE``; "test" is held out from "train" by construction.

**Sampling** (seed 003 IV.1 adapted to a blendshape model; ``SyntheticOptions`` holds every number):

* identity: every mode ~ N(0, 0.8^2) (ICT-FaceKit: all 100; seed 003: beta ~ N(0, 0.8^2));
* expression: k ~ uniform{0, ..., 4} active blendshapes chosen uniformly among the non-gaze ones, each weight
  ~ U(0, 1), the others 0 (ARKit-style weights live in [0, 1]; seed 003's psi ~ N(0, 0.5^2) is for FLAME's PCA
  expression space). The ``eyeLook*`` gaze shapes stay 0: with the eye rig they turn the eyeballs, and a random
  gaze would make the landmark ground truth of the irises depend on the rig's linearization;
* head rotation: Euler angles of seed 003's camera rotation, phi_x ~ N(0, (15 deg)^2), phi_y ~ N(0, (20 deg)^2),
  phi_z ~ N(0, (10 deg)^2), i.e. in faceforge's convention (geometry.py: ``R = Ry(yaw) Rx(pitch) Rz(roll)``)
  pitch (about +x) sigma 15 deg, yaw (about +y) sigma 20 deg, roll (about +z) sigma 10 deg, applied to the head
  (turning the head by R is the same picture as turning the camera by R^T about the head);
* translation: x, y ~ N(0, (2 cm)^2), distance ~ N(100 cm, (20 cm)^2) clipped below at 40 cm, with the camera of
  params.json (docs/conventions.md: the camera at the world origin looking down -z), so ``translation = (x, y,
  -distance)``;
* original camera (seed 003 samples f_orig and c_orig from Gaussians without giving numbers; ours): a square
  ``original_size`` = 1024 px image, f_orig ~ N(1500 px, (200 px)^2) (about 38 degrees of field of view), c_orig ~
  the image centre + N(0, (20 px)^2) per axis;
* crop (DECA, seed 003 eqs. 6-9): the box of the projected 68 landmarks, ``side = max(w, h) * padding`` (alpha =
  1.4 here; not given by seed 003), centred on the box, resized to ``image_size`` (256): ``camera.crop_camera``
  keeps R and t and scales f and c (pixel-centre-correct form of eq. 9);
* lighting: world-frame second-order SH (``render.shade``) of an ambient term ~ U(0.25, 0.6) plus one distant light
  ~ U(0.3, 0.9) from a direction on the camera's side of the head (x ~ N(0, 0.6), y ~ N(0.3, 0.4), z = 1,
  normalized), each channel tinted by U(0.9, 1.1), plus N(0, 0.04^2) on the 8 non-constant coefficients;
* albedo: per vertex, a skin tone interpolated between a light (0.85, 0.66, 0.56) and a dark (0.36, 0.23, 0.16)
  linear RGB by t ~ U(0, 1), times (1 + smooth noise: three random cosine waves over the template of amplitude
  0.04 each, + per-vertex N(0, 0.02^2)); eyes, teeth and gums keep the material colours of ``render.pipeline``;
* background: a constant linear colour, each channel ~ U(0.05, 0.7).

**Outputs** per face (``SyntheticSample``): the shaded sRGB image, camera-frame normal map, head mask, face-region
mask (triangles of the model's ``face`` region), region segmentation, the projected 68 landmarks (the same iBUG-68
surface points the fitter outputs: the shipped 300-W calibration for ICT-FaceKit) with a visibility flag, the
projected 478 MediaPipe-correspondence points (ICT-FaceKit only), and the ground-truth parameters and camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from faceforge.camera.build import crop_camera
from faceforge.errors import UsageError
from faceforge.geometry import euler_to_matrix, matrix_to_axis_angle
from faceforge.morphable.evaluate import evaluate
from faceforge.morphable.model import MorphableModel
from faceforge.render.encode import linear_to_srgb, to_uint8
from faceforge.render.gbuffers import face_labels, render_normals, render_segmentation, vertex_region_labels
from faceforge.render.interpolate import interpolate
from faceforge.render.parts import visible_face_indices
from faceforge.render.pipeline import SEGMENTATION_REGIONS, SKIN_ALBEDO, vertex_albedo
from faceforge.render.rasterize import rasterize
from faceforge.render.shade import sh_from_directional_light, shade_lambertian
from faceforge.structures import Camera, FaceParams, Mesh

SYNTHETIC_VERSION = 1
SPLITS = ("train", "test")
SPLIT_SIZE = 1_000_000_000
SPLIT_OFFSETS = {"train": 0, "test": SPLIT_SIZE}
_FLIP = np.diag([1.0, -1.0, -1.0])  # the params.json camera: OpenCV axes of a camera looking down world -z
_LIGHT_SKIN = np.array([0.85, 0.66, 0.56])
_DARK_SKIN = np.array([0.36, 0.23, 0.16])


@dataclass(frozen=True)
class SyntheticOptions:
    """The numbers of the synthetic set (module docstring); changing any of them makes a different set.

    Lengths in centimetres (converted to the model's units), angles in degrees, pixels for the cameras.
    """

    seed: int = 0
    image_size: int = 256
    padding: float = 1.4
    identity_std: float = 0.8
    max_active_expressions: int = 4
    pitch_std_deg: float = 15.0
    yaw_std_deg: float = 20.0
    roll_std_deg: float = 10.0
    translation_xy_std_cm: float = 2.0
    distance_mean_cm: float = 100.0
    distance_std_cm: float = 20.0
    min_distance_cm: float = 40.0
    original_size: int = 1024
    focal_mean_px: float = 1500.0
    focal_std_px: float = 200.0
    principal_std_px: float = 20.0

    def __post_init__(self) -> None:
        if self.image_size < 16 or self.original_size < 16:
            raise UsageError(f"image sizes must be >= 16, got {self.image_size} and {self.original_size}")
        if not self.padding > 0 or self.max_active_expressions < 0 or not self.focal_mean_px > 0:
            raise UsageError("SyntheticOptions: padding and focal_mean_px must be > 0, max_active_expressions >= 0")


@dataclass(frozen=True)
class SyntheticScene:
    """Everything sampled for one face (no pixels).

    Attributes:
        index, split: which face of which split.
        seed: the sample seed ``SPLIT_OFFSETS[split] + index``.
        params: FaceParams, batch 1 (world = the params.json camera frame: head translation z < 0).
        camera: the cropped camera, batch 1, ``image_size`` square (OpenCV rotation diag(1, -1, -1), t = 0).
        original_camera: the camera of the uncropped ``original_size`` image, batch 1.
        crop_box: (3,) float64 x0, y0, side of the crop in original pixels (``crop_camera``'s convention).
        sh_coeffs: (9, 3) float32 world-frame SH lighting.
        skin_tone: (3,) float64 linear RGB.
        albedo_seed: seed of the albedo noise.
        background: (3,) float64 linear RGB.
    """

    index: int
    split: str
    seed: int
    params: FaceParams
    camera: Camera
    original_camera: Camera
    crop_box: np.ndarray
    sh_coeffs: torch.Tensor
    skin_tone: np.ndarray
    albedo_seed: int
    background: np.ndarray


@dataclass(frozen=True)
class SyntheticSample:
    """One rendered face (image_size H = W).

    Attributes:
        scene: the sampled parameters and cameras.
        image: (H, W, 3) uint8 sRGB shaded render.
        normals_cam: (H, W, 3) float32 unit normals in the OpenCV camera frame (a surface facing the camera has
            n_z < 0); zeros on the background.
        mask: (H, W) bool, any drawn surface (head, eyes, mouth interior).
        face_mask: (H, W) bool, triangles of the model's ``face`` region.
        segmentation: (H, W) int64 region labels; ``label_names[k]`` names label k (0 background, 1 other).
        label_names: names of the labels.
        landmarks_68_px: (68, 2) float64 projected iBUG-68 landmarks (pixels, pixel-centre convention).
        landmarks_68_visible: (68,) bool, the landmark is inside the image and not hidden by the head.
        landmarks_478_px: (478, 2) float64 projected MediaPipe-correspondence points, or None (no correspondence).
        uv: (H, W, 2) float32 interpolated texture coordinates of the drawn surface (the model's UV layout, origin
            bottom-left; zeros on the background), only when ``render(..., uv=True)`` (else None).
    """

    scene: SyntheticScene
    image: np.ndarray
    normals_cam: np.ndarray
    mask: np.ndarray
    face_mask: np.ndarray
    segmentation: np.ndarray
    label_names: tuple[str, ...]
    landmarks_68_px: np.ndarray
    landmarks_68_visible: np.ndarray
    landmarks_478_px: np.ndarray | None = field(default=None)
    uv: np.ndarray | None = field(default=None)


def _cm(model: MorphableModel) -> float:
    """One centimetre in model units."""
    units = {"cm": 1.0, "m": 0.01, "mm": 10.0}
    if model.units not in units:
        raise UsageError(f"model units {model.units!r} not supported (cm, m, mm)")
    return units[model.units]


def _project(points_world: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) world -> (N, 2) pixels and (N,) camera z with batch-1 ``camera`` (float64)."""
    rot = camera.rotation[0].double().numpy()
    cam = points_world @ rot.T + camera.translation[0].double().numpy()
    f = camera.focal[0].double().numpy()
    c = camera.principal[0].double().numpy()
    return cam[:, :2] / cam[:, 2:3] * f + c, cam[:, 2]


def _camera(focal: float, principal: np.ndarray, size: int) -> Camera:
    return Camera(
        focal=torch.tensor([[focal, focal]], dtype=torch.float32),
        principal=torch.tensor(np.asarray(principal, dtype=np.float32)[None]),
        rotation=torch.tensor(_FLIP[None], dtype=torch.float32),
        translation=torch.zeros(1, 3),
        width=int(size),
        height=int(size),
    )


class SyntheticFaces:
    """The synthetic benchmark for one model: per-model data prepared once, faces made on demand."""

    def __init__(self, model: MorphableModel, options: SyntheticOptions = SyntheticOptions()) -> None:
        from faceforge.fit.correspondence import load_correspondence, load_ibug68
        from faceforge.fit.surface import SurfacePoints, point_basis

        if model.landmark_indices.numel() != 68:
            raise UsageError(f"{model.name} has no iBUG-68 landmarks; the synthetic set needs them")
        self.model = model
        self.options = options
        self._cm = _cm(model)
        self._drawn = visible_face_indices(model)
        faces_drawn = model.faces[self._drawn]
        present = tuple(r for r in SEGMENTATION_REGIONS if r in model.regions)
        self.label_names: tuple[str, ...] = ("background", "other", *present)
        self._triangle_labels = face_labels(vertex_region_labels(model.regions, present, model.num_vertices),
                                            faces_drawn)
        in_face = torch.zeros(model.num_vertices, dtype=torch.bool)
        if "face" in model.regions:
            in_face[model.regions["face"]] = True
        self._face_triangles = in_face[faces_drawn].all(1)
        self._albedo = vertex_albedo(model).double().numpy()
        self._skin = np.all(np.isclose(self._albedo, SKIN_ALBEDO), axis=1)
        template = model.template.double().numpy()
        extent = np.ptp(template, axis=0).max()
        self._template_unit = (template - template.mean(0)) / max(extent, 1e-12)
        ib = load_ibug68(model) or SurfacePoints.at_vertices(model, model.landmark_indices.numpy())
        self._ibug = (model.faces.numpy()[ib.face_index], ib.bary)
        # The crop needs the 68 landmarks before rendering: a point basis is exact for unskinned linear models with
        # the gaze at rest (the eye rig only turns the eyeballs for eyeLook weights, which are 0 here).
        self._ibug_basis = point_basis(model, ib) if model.skeleton is None else None
        self._faces_drawn = faces_drawn
        self._mp = None
        if model.name == "ict-facekit":
            corr = load_correspondence(model).points
            self._mp = (model.faces.numpy()[corr.face_index], corr.bary)
        self._gaze = np.array([n.startswith("eyeLook") for n in model.expression_names])

    # -- sampling ------------------------------------------------------------------------------------------------

    def scene(self, index: int, split: str = "test") -> SyntheticScene:
        """Sample face ``index`` of ``split`` (parameters, cameras, lighting, albedo; no rendering)."""
        if split not in SPLITS:
            raise UsageError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
        if not 0 <= int(index) < SPLIT_SIZE or int(index) != index:
            raise UsageError(f"index: expected an integer in [0, {SPLIT_SIZE}), got {index}")
        o, m = self.options, self.model
        seed = SPLIT_OFFSETS[split] + int(index)
        rng = np.random.default_rng(np.random.SeedSequence([SYNTHETIC_VERSION, o.seed, seed]))
        identity = rng.normal(0.0, o.identity_std, m.num_identity)
        expression = np.zeros(m.num_expression)
        candidates = np.nonzero(~self._gaze)[0]
        k = int(rng.integers(0, min(o.max_active_expressions, len(candidates)) + 1))
        active = rng.choice(candidates, size=k, replace=False)
        expression[active] = rng.uniform(0.0, 1.0, k)
        pitch, yaw, roll = np.radians(rng.normal(0.0, [o.pitch_std_deg, o.yaw_std_deg, o.roll_std_deg]))
        rot = euler_to_matrix(torch.tensor([yaw, pitch, roll], dtype=torch.float64))
        tx, ty = rng.normal(0.0, o.translation_xy_std_cm, 2)
        distance = max(rng.normal(o.distance_mean_cm, o.distance_std_cm), o.min_distance_cm)
        translation = np.array([tx, ty, -distance]) * self._cm
        focal = max(rng.normal(o.focal_mean_px, o.focal_std_px), 0.25 * o.focal_mean_px)
        centre = (o.original_size - 1) / 2.0 + rng.normal(0.0, o.principal_std_px, 2)
        params = FaceParams(
            identity=torch.tensor(identity[None], dtype=torch.float32),
            expression=torch.tensor(expression[None], dtype=torch.float32),
            rotation=matrix_to_axis_angle(rot).to(torch.float32)[None],
            translation=torch.tensor(translation[None], dtype=torch.float32),
        )
        original = _camera(focal, centre, o.original_size)
        if self._ibug_basis is not None:
            lm_world = self._ibug_basis.positions(identity, expression) @ rot.numpy().T + translation
        else:
            lm_world = self._points(self._vertices(params), self._ibug)
        lm_px, _ = _project(lm_world, original)
        lo, hi = lm_px.min(0), lm_px.max(0)
        side = float(np.max(hi - lo)) * o.padding
        mid = (lo + hi) / 2.0
        box = np.r_[mid - side / 2.0 + 0.5, side]  # pixel (x0, y0) is the first crop pixel: its left edge x0 - 0.5
        camera = crop_camera(original, torch.tensor(box, dtype=torch.float32), o.image_size)
        # Lighting: ambient + one light on the camera's side of the head, tinted, plus low-order noise.
        direction = np.array([rng.normal(0.0, 0.6), rng.normal(0.3, 0.4), 1.0])
        ambient, directional = rng.uniform(0.25, 0.6), rng.uniform(0.3, 0.9)
        tint = rng.uniform(0.9, 1.1, 3)
        sh = sh_from_directional_light(torch.tensor(direction[None]), torch.tensor((directional * tint)[None]),
                                       torch.tensor((ambient * tint)[None]))[0]
        sh[1:] += torch.tensor(rng.normal(0.0, 0.04, (8, 3)))
        tone = _LIGHT_SKIN + rng.uniform(0.0, 1.0) * (_DARK_SKIN - _LIGHT_SKIN)
        albedo_seed = int(rng.integers(0, 2**31 - 1))
        background = rng.uniform(0.05, 0.7, 3)
        return SyntheticScene(index=int(index), split=split, seed=seed, params=params, camera=camera,
                              original_camera=original, crop_box=box, sh_coeffs=sh.to(torch.float32),
                              skin_tone=tone, albedo_seed=albedo_seed, background=background)

    # -- geometry ------------------------------------------------------------------------------------------------

    def mesh(self, scene: SyntheticScene) -> Mesh:
        """The ground-truth mesh (full model topology, world frame, model units), recomputed from the parameters."""
        with torch.no_grad():
            return evaluate(self.model, scene.params)

    def _vertices(self, params: FaceParams) -> np.ndarray:
        with torch.no_grad():
            return evaluate(self.model, params).vertices[0].double().numpy()

    @staticmethod
    def _points(vertices: np.ndarray, points: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        tri, bary = points
        return (vertices[tri] * bary[:, :, None]).sum(1)

    def landmarks_3d(self, scene: SyntheticScene) -> np.ndarray:
        """(68, 3) float64 world-frame iBUG-68 landmarks (the surface points the 2D ground truth projects)."""
        return self._points(self._vertices(scene.params), self._ibug)

    def landmarks_from_vertices(self, vertices: np.ndarray) -> np.ndarray:
        """The same 68 surface points on any mesh of the model: (V, 3) vertices -> (68, 3) float64."""
        v = np.asarray(vertices, dtype=np.float64)
        if v.shape != (self.model.num_vertices, 3):
            raise UsageError(f"vertices: expected ({self.model.num_vertices}, 3), got {v.shape}")
        return self._points(v, self._ibug)

    def vertex_albedo(self, scene: SyntheticScene) -> np.ndarray:
        """(V, 3) float64 linear albedo of the face (skin tone with smooth noise; other materials unchanged)."""
        rng = np.random.default_rng(scene.albedo_seed)
        x = self._template_unit
        noise = np.zeros(len(x))
        for _ in range(3):
            freq = rng.normal(0.0, 6.0, 3)
            noise += 0.04 * np.cos(x @ freq + rng.uniform(0.0, 2.0 * math.pi))
        noise += rng.normal(0.0, 0.02, len(x))
        out = self._albedo.copy()
        out[self._skin] = scene.skin_tone * (1.0 + noise[self._skin, None])
        return np.clip(out, 0.0, 1.0)

    # -- rendering -----------------------------------------------------------------------------------------------

    def render(self, scene: SyntheticScene, uv: bool = False) -> SyntheticSample:
        """Render the images and project the landmarks of a scene (and the UV map with ``uv``: the texture
        coordinates of the drawn surface, as Pixel3DMM's UV prediction; not part of the versioned set)."""
        with torch.no_grad():
            full = evaluate(self.model, scene.params)
            mesh = Mesh(full.vertices, self._faces_drawn)
            frags = rasterize(mesh, scene.camera)
            mask = frags.mask
            n_world = render_normals(mesh, scene.camera, frags, frame="world")
            albedo = interpolate(torch.tensor(self.vertex_albedo(scene), dtype=torch.float32)[None], mesh.faces, frags)
            linear = shade_lambertian(albedo, n_world, scene.sh_coeffs[None], mask.float())
            bg = torch.tensor(scene.background, dtype=torch.float32)
            linear = torch.where(mask[..., None], linear, bg)
            image = to_uint8(linear_to_srgb(linear))[0]
            normals_cam = (n_world @ scene.camera.rotation[0].to(n_world.dtype).T)[0].numpy()
            segmentation = render_segmentation(self._triangle_labels, frags)[0].numpy()
            face_mask = (self._face_triangles[frags.face_index.clamp_min(0)] & mask)[0].numpy()
            uv_map = None
            if uv:
                if self.model.uv is None or self.model.uv_faces is None:
                    raise UsageError(f"{self.model.name} has no UV coordinates")
                uv_map = interpolate(self.model.uv[None], self.model.uv_faces[self._drawn], frags)
                uv_map = torch.where(mask[..., None], uv_map, 0.0)[0].numpy().astype(np.float32)
        vertices = full.vertices[0].double().numpy()
        lm = self._points(vertices, self._ibug)
        lm_px, lm_z = _project(lm, scene.camera)
        size = self.options.image_size
        col = np.clip(np.rint(lm_px[:, 0]).astype(np.int64), 0, size - 1)
        row = np.clip(np.rint(lm_px[:, 1]).astype(np.int64), 0, size - 1)
        inside = (lm_px >= -0.5).all(1) & (lm_px <= size - 0.5).all(1)
        depth = frags.depth[0].numpy().astype(np.float64)[row, col]
        visible = inside & (lm_z <= depth + 0.3 * self._cm)  # 3 mm: the landmark is on the visible surface
        mp = None if self._mp is None else _project(self._points(vertices, self._mp), scene.camera)[0]
        return SyntheticSample(
            scene=scene, image=image, normals_cam=normals_cam.astype(np.float32), mask=mask[0].numpy(),
            face_mask=face_mask, segmentation=segmentation, label_names=self.label_names, landmarks_68_px=lm_px,
            landmarks_68_visible=visible, landmarks_478_px=mp, uv=uv_map,
        )

    def sample(self, index: int, split: str = "test") -> SyntheticSample:
        """``render(scene(index, split))``."""
        return self.render(self.scene(index, split))
