"""Normal-map fitting: the hybrid of seed 003 (Table 3: the N2FNet prediction initializes a Pixel3DMM-style
optimization) and, started from the mean face, the optimization fit it is compared with.

The optimization moves identity (the first K modes), expression (clamped to [0, 1] after every step), the head
rotation and translation so that the face rendered with ``rendering.render_face`` (differentiable barycentrics; the
CPU rasterizer of ``faceforge.render``) matches a face-masked camera-frame normal map of an S x S crop:

``E = w_n d_cos + w_s (E_out + E_miss) + w_id |id|^2 / K + w_ex sum(ex) [+ w_pose |pose - pose_0|^2]``

* ``d_cos``: the rendering loss's normal term (``losses.render_loss``: mean cosine distance over the union of the
  rendered and the target masks, within the observed pixels);
* silhouette, differentiable through the projected vertices (the hard z-buffer mask carries no gradient):
  ``E_out`` = mean squared distance of the projected face-region vertices to the target mask (a distance transform
  of the target, sampled bilinearly; pixels outside the observed image count as face), ``E_miss`` = mean squared
  distance of target pixels that the render does not cover to the nearest projected face-region vertex (times
  their share of the mask); distances in the [-1, 1] image coordinates of the landmark term;
* priors: identity ~ N(0, I) (``|id|^2 / K``), expression sparsity (L1 of weights in [0, 1]), and optionally a
  pull of the pose towards its start (off by default).

A normal map and a mask fix the face only up to a scale about the camera centre (a larger face farther away looks
the same): the identity prior is what holds the size.

Frames and units: the head is posed in the OpenCV camera frame, ``X_cam = R X_model + t`` (model units; cm for
ICT-FaceKit); intrinsics are the crop's, in pixels. The rotation is optimized as an axis-angle on the left of the
start (``R = exp(w) R_0``) about the face's centroid p (``CompactFace.pivot``), the translation as the camera-frame
position ``c = R p + t`` of that centroid, as ``(c_x / c_z, c_y / c_z, log c_z)`` (image-plane direction and log
depth: the scales of the three are then alike). Adam, a constant rate then a cosine decay over the last half;
``RefineOptions.pose_steps`` of the pose alone first.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from faceforge.errors import UsageError
from faceforge.fit.n2fnet.losses import cosine_distance_map
from faceforge.fit.n2fnet.rendering import FaceParts, render_face
from faceforge.geometry import axis_angle_to_matrix
from faceforge.morphable.model import MorphableModel

FRONTAL = ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0))  # model -> OpenCV camera, facing the camera


@dataclass(frozen=True)
class NormalTarget:
    """What the fit matches: one face-masked normal map of an S x S crop.

    Attributes:
        normals: (1, S, S, 3) float32 unit OpenCV camera-frame normals on the face mask, 0 elsewhere.
        mask: (1, S, S) float32 face mask in {0, 1}.
        focal_px, principal_px: (1, 2) float32 intrinsics of the crop, pixels.
        known: (1, S, S) float32 in {0, 1}: the pixels that were observed (a crop that reaches past the border of
            its image knows nothing there: neither face nor background), or None: all.
    """

    normals: torch.Tensor
    mask: torch.Tensor
    focal_px: torch.Tensor
    principal_px: torch.Tensor
    known: torch.Tensor | None = None

    def distance_map(self) -> torch.Tensor:
        """(S, S) float32 pixels from each pixel to the nearest face or unknown pixel (``distance_to_mask``)."""
        m = self.mask[0].numpy() > 0.5
        if self.known is not None:
            if not m.any():
                raise UsageError("the target face mask is empty")
            m = m | (self.known[0].numpy() < 0.5)
        return torch.from_numpy(distance_to_mask(m))

    @property
    def size(self) -> int:
        return int(self.normals.shape[1])


@dataclass(frozen=True)
class FaceEstimate:
    """A face in the camera frame.

    Attributes:
        identity: (1, K) weights of the first K identity modes. expression: (1, Ne) weights in [0, 1].
        rotation: (1, 3, 3) model -> OpenCV camera frame. translation: (1, 3) camera frame, model units.
    """

    identity: torch.Tensor
    expression: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor


@dataclass(frozen=True)
class RefineOptions:
    """Options of ``refine`` (weights of the energy in the module docstring; rates per Adam step).

    Attributes:
        steps: optimizer steps of everything.
        pose_steps: optimizer steps of the pose alone before them (identity and expression held): with a pose
            far off (a network prediction 15 degrees off), moving the expression at once explains the misalignment
            with it (measured: jawOpen 0.6 -> 0.2) and ends in a worse minimum.
        lr_identity, lr_expression: rates of the identity (prior sigmas) and expression weights.
        lr_rotation: rate of the axis-angle update (radians). lr_position: rate of x/z, y/z. lr_depth: of log z.
        normal, silhouette, identity_prior, expression_prior, pose_prior: energy weights.
        max_miss_pixels: target pixels the render misses that ``E_miss`` uses at most (an even subsample).
    """

    steps: int = 40
    pose_steps: int = 15
    lr_identity: float = 0.05
    lr_expression: float = 0.02
    lr_rotation: float = 0.03
    lr_position: float = 0.005
    lr_depth: float = 0.01
    normal: float = 1.0
    silhouette: float = 100.0
    identity_prior: float = 0.01
    expression_prior: float = 0.002
    pose_prior: float = 0.0
    max_miss_pixels: int = 256

    def __post_init__(self) -> None:
        if self.steps < 0 or self.pose_steps < 0:
            raise UsageError(f"refine steps must be >= 0, got {self.steps}, {self.pose_steps}")


@dataclass(frozen=True)
class RefineResult:
    """The fitted face, its energy per step (``energies[0]`` at the start) and the final unweighted terms."""

    estimate: FaceEstimate
    energies: tuple[float, ...]
    terms: dict[str, float]
    seconds: float


@dataclass(frozen=True)
class CompactFace:
    """The model restricted to what the fit renders, as a linear map: the vertices of the drawn face triangles and
    of the landmark corners, the first K identity modes and every expression.

    Exact for the face region of a blendshape model (ICT-FaceKit's eye rig turns only the eyeballs; a landmark
    corner on an eyeball is linearized, and the fit does not use the landmarks). Several times faster to evaluate
    and differentiate than the whole model.

    Attributes:
        vertex_index: (Vc,) int64 model vertex of each compact vertex.
        mean: (Vc, 3) float32 template (model frame, model units).
        basis: (K + Ne, Vc * 3) float32 identity then expression offsets.
        parts: ``FaceParts`` re-indexed to the compact vertices.
    """

    vertex_index: torch.Tensor
    mean: torch.Tensor
    basis: torch.Tensor
    parts: FaceParts

    @property
    def pivot(self) -> torch.Tensor:
        """(3,) the centroid of the mean face's drawn vertices (model frame): what the fit turns the head about."""
        return self.mean[self.parts.triangles.unique()].mean(0)

    @staticmethod
    def of(model: MorphableModel, parts: FaceParts, num_identity: int) -> CompactFace:
        if model.skeleton is not None:
            raise UsageError("the normal fit needs a blendshape model (no skeleton)")
        keep = torch.cat([parts.triangles.reshape(-1), parts.landmark_corners.reshape(-1)]).unique()
        remap = torch.full((model.num_vertices,), -1, dtype=torch.int64)
        remap[keep] = torch.arange(keep.numel())
        basis = torch.cat([model.identity_basis[:num_identity, keep], model.expression_basis[:, keep]])
        compact = FaceParts(remap[parts.triangles], remap[parts.landmark_corners], parts.landmark_bary)
        return CompactFace(keep, model.template[keep].clone(), basis.reshape(basis.shape[0], -1).contiguous(),
                           compact)

    def vertices(self, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """(B, K) identity, (B, Ne) expression -> (B, Vc, 3) unposed compact vertices."""
        coeffs = torch.cat([identity, expression], dim=1).to(self.basis.dtype)
        return self.mean + (coeffs @ self.basis).reshape(coeffs.shape[0], -1, 3)


def distance_to_mask(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool -> (H, W) float32 Euclidean distance in pixels from each pixel to the nearest mask pixel (0 on
    the mask)."""
    from scipy.ndimage import distance_transform_edt

    if not mask.any():
        raise UsageError("the target face mask is empty")
    return distance_transform_edt(~mask).astype(np.float32)


def sample_map(image: torch.Tensor, points_px: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of a (H, W) map at (N, 2) pixel positions (pixel-centre convention; clamped at the border),
    differentiable wrt the positions -> (N,)."""
    import torch.nn.functional as F

    h, w = image.shape
    grid = torch.stack([(points_px[:, 0] + 0.5) * (2.0 / w) - 1.0, (points_px[:, 1] + 0.5) * (2.0 / h) - 1.0], -1)
    out = F.grid_sample(image[None, None], grid[None, None].to(image.dtype), mode="bilinear",
                        padding_mode="border", align_corners=False)
    return out[0, 0, 0]


def silhouette_terms(points_px: torch.Tensor, rendered_mask: torch.Tensor, target_mask: torch.Tensor,
                     target_distance: torch.Tensor, max_miss: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(E_out, E_miss) of the module docstring for one image.

    Args:
        points_px: (N, 2) projected face-region vertices, pixels. rendered_mask, target_mask: (S, S) in {0, 1}.
        target_distance: (S, S) ``distance_to_mask`` of the target, pixels. max_miss: subsample of missed pixels.
    Returns:
        two scalars, squared distances in [-1, 1] image units (2 / S per pixel).
    """
    s = target_mask.shape[-1]
    unit = 2.0 / s
    e_out = (sample_map(target_distance, points_px) * unit).square().mean()
    miss = torch.nonzero((target_mask > 0.5) & (rendered_mask < 0.5))
    if miss.shape[0] == 0:
        return e_out, points_px.new_zeros(())
    if miss.shape[0] > max_miss:
        miss = miss[torch.linspace(0, miss.shape[0] - 1, max_miss).round().long()]
    pix = miss.flip(-1).to(points_px.dtype)  # (row, col) -> (x, y)
    d2 = torch.cdist(pix, points_px).min(dim=1).values * unit
    # The share of missed pixels keeps the term on the scale of the mask error (0 when all are covered).
    return e_out, d2.square().mean() * (miss.shape[0] / max(1.0, float(target_mask.sum())))


def mean_face_start(model: MorphableModel, parts: FaceParts, target: NormalTarget, num_identity: int) -> FaceEstimate:
    """The prior mean (identity and expression 0), facing the camera, placed so that its face region's box matches
    the target mask's box (centre and larger side): the start of the optimization fit without a regressor."""
    m = target.mask[0].numpy() > 0.5
    if not m.any():
        raise UsageError("the target face mask is empty")
    rows, cols = np.nonzero(m.any(1))[0], np.nonzero(m.any(0))[0]
    centre = np.array([(cols[0] + cols[-1]) / 2.0, (rows[0] + rows[-1]) / 2.0])
    side_px = float(max(cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1))
    rot = torch.tensor(FRONTAL, dtype=torch.float32)
    verts = model.template[parts.triangles.unique()] @ rot.T  # the mean face region, turned to the camera
    lo, hi = verts.min(0).values, verts.max(0).values
    side_model = float((hi - lo)[:2].max())
    f = target.focal_px[0].double().numpy()
    c = target.principal_px[0].double().numpy()
    z = float(f.mean()) * side_model / side_px
    box_centre = (lo + hi) / 2.0  # camera-frame offset of the box centre from the model origin
    z_origin = z - float(box_centre[2])
    xy = (centre - c) / f * z - box_centre[:2].double().numpy()
    trans = torch.tensor([[xy[0], xy[1], z_origin]], dtype=torch.float32)
    ne = model.num_expression
    return FaceEstimate(torch.zeros(1, num_identity), torch.zeros(1, ne), rot[None], trans)


def turn_about(turn: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor,
               pivot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a posed head by ``turn`` (1, 3, 3) about the camera-frame position of the model point ``pivot`` (3,):
    ``R' = turn R``, ``t' = R p + t - R' p`` (the pivot stays where it was). The model origin of ICT-FaceKit lies
    ~10 cm behind the face: turning about it would also move the face across the image."""
    new = turn @ rotation
    return new, translation + ((rotation - new) @ pivot)


def coarse_pose_search(model: MorphableModel, parts: FaceParts, target: NormalTarget, start: FaceEstimate,
                       depth_factors: tuple[float, ...] = (0.75, 0.875, 1.0, 1.125, 1.25),
                       yaws_deg: tuple[float, ...] = (-40.0, -20.0, 0.0, 20.0, 40.0),
                       pitches_deg: tuple[float, ...] = (-20.0, 0.0, 20.0),
                       options: RefineOptions = RefineOptions()) -> FaceEstimate:
    """The best of a grid of poses around ``start`` by the fit's energy (no gradients): the translation scaled by
    each depth factor (the origin keeps its pixel), the rotation turned about the camera's y (yaw) and x (pitch)
    axes. For the optimization fit from the mean face, whose frontal start can be 40 degrees off."""
    face = CompactFace.of(model, parts, start.identity.shape[1])
    region = face.parts.triangles.unique()
    target_distance = target.distance_map()
    best = (math.inf, start)
    with torch.no_grad():
        for f in depth_factors:
            for yaw in yaws_deg:
                for pitch in pitches_deg:
                    turn = axis_angle_to_matrix(torch.tensor([[0.0, math.radians(yaw), 0.0]])) @ \
                        axis_angle_to_matrix(torch.tensor([[math.radians(pitch), 0.0, 0.0]]))
                    rot, trans = turn_about(turn, start.rotation, start.translation, face.pivot)
                    trans = trans * f
                    e, _ = _energy(face, region, target, target_distance, start.identity, start.expression, rot,
                                   trans, options)
                    if float(e) < best[0]:
                        best = (float(e), FaceEstimate(start.identity, start.expression, rot, trans))
    return best[1]


def _energy(face: CompactFace, region: torch.Tensor, target: NormalTarget, target_distance: torch.Tensor,
            identity: torch.Tensor, expression: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor,
            options: RefineOptions) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    verts = face.vertices(identity, expression)
    r = render_face(face.parts, verts, rot, trans, target.focal_px, target.principal_px, target.size)
    union = ((r.mask > 0.5) | (target.mask > 0.5)).to(verts.dtype)
    if target.known is not None:
        union = union * target.known
    d = cosine_distance_map(r.normals, target.normals)
    e_n = ((d * union).sum() / union.sum().clamp_min(1.0))
    cam = verts[0, region] @ rot[0].T + trans[0]
    px = cam[:, :2] / cam[:, 2:3] * target.focal_px[0] + target.principal_px[0]
    e_out, e_miss = silhouette_terms(px, r.mask[0], target.mask[0], target_distance, options.max_miss_pixels)
    e_id = identity.square().sum() / max(1, identity.shape[1])
    e_ex = expression.sum()
    terms = {"normal": e_n, "outside": e_out, "missed": e_miss, "identity": e_id, "expression": e_ex}
    total = (options.normal * e_n + options.silhouette * (e_out + e_miss) + options.identity_prior * e_id
             + options.expression_prior * e_ex)
    return total, terms


def refine(model: MorphableModel, parts: FaceParts, target: NormalTarget, start: FaceEstimate,
           options: RefineOptions = RefineOptions()) -> RefineResult:
    """Fit the face to the target normal map from ``start`` (module docstring). Runs in float32 on the CPU with the
    current torch thread count; returns the last iterate."""
    if target.normals.shape[0] != 1 or start.identity.shape[0] != 1:
        raise UsageError("refine: one face at a time (batch 1)")
    with torch.enable_grad():  # also when called under no_grad
        if options.pose_steps <= 0:
            return _refine(model, parts, target, start, options)
        first = _refine(model, parts, target, start,
                        replace(options, steps=options.pose_steps, lr_identity=0.0, lr_expression=0.0))
        second = _refine(model, parts, target, first.estimate, options)
        return RefineResult(second.estimate, first.energies + second.energies[1:], second.terms,
                            first.seconds + second.seconds)


def _refine(model: MorphableModel, parts: FaceParts, target: NormalTarget, start: FaceEstimate,
            options: RefineOptions) -> RefineResult:
    t0 = time.perf_counter()
    face = CompactFace.of(model, parts, start.identity.shape[1])
    region = face.parts.triangles.unique()
    target_distance = target.distance_map()
    identity = start.identity.detach().clone().requires_grad_(True)
    expression = start.expression.detach().clone().clamp(0.0, 1.0).requires_grad_(True)
    w = torch.zeros(1, 3, requires_grad=True)
    pivot = face.pivot
    rot0 = start.rotation.detach()
    t = start.translation.detach() + rot0 @ pivot  # camera-frame position of the pivot
    xy0, logz0 = t[:, :2] / t[:, 2:3], torch.log(t[:, 2:3])
    xy = xy0.clone().requires_grad_(True)
    logz = logz0.clone().requires_grad_(True)
    opt = torch.optim.Adam([
        {"params": [identity], "lr": options.lr_identity}, {"params": [expression], "lr": options.lr_expression},
        {"params": [w], "lr": options.lr_rotation}, {"params": [xy], "lr": options.lr_position},
        {"params": [logz], "lr": options.lr_depth},
    ])
    base = [g["lr"] for g in opt.param_groups]

    def pose() -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.exp(logz)
        rot = axis_angle_to_matrix(w) @ rot0
        return rot, torch.cat([xy * z, z], dim=1) - rot @ pivot

    energies: list[float] = []
    terms: dict[str, torch.Tensor] = {}
    for step in range(options.steps + 1):
        rot, trans = pose()
        total, terms = _energy(face, region, target, target_distance, identity, expression, rot, trans, options)
        if options.pose_prior > 0:
            total = total + options.pose_prior * (w.square().sum() + (xy - xy0).square().sum()
                                                   + (logz - logz0).square().sum())
        energies.append(float(total.detach()))
        if step == options.steps:
            break
        factor = 1.0 if step < options.steps // 2 else \
            0.5 * (1.0 + math.cos(math.pi * (step - options.steps // 2) / max(1, options.steps - options.steps // 2)))
        for g, lr in zip(opt.param_groups, base, strict=True):
            g["lr"] = lr * max(factor, 0.05)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        with torch.no_grad():
            expression.clamp_(0.0, 1.0)
    with torch.no_grad():
        rot, trans = pose()
    estimate = FaceEstimate(identity.detach(), expression.detach(), rot.detach(), trans.detach())
    return RefineResult(estimate, tuple(energies), {k: float(v.detach()) for k, v in terms.items()},
                        time.perf_counter() - t0)


def fit_from_mean(model: MorphableModel, parts: FaceParts, target: NormalTarget, num_identity: int,
                  options: RefineOptions = RefineOptions(), yaws_deg: tuple[float, ...] = (-30.0, 0.0, 30.0),
                  pose_steps: int = 15) -> RefineResult:
    """The optimization fit without a regressor (the analogue of Pixel3DMM's fit in seed 003 Table 3): the mean face
    placed on the mask's box (``mean_face_start``), its depth searched first (``coarse_pose_search``, frontal: the
    mask's box is too small where the image border cuts the mask), then ``pose_steps`` of pose-only ``refine``
    from each head turn of ``yaws_deg`` (the lowest end wins), then ``refine`` of everything. ``seconds`` counts
    all of it."""
    t0 = time.perf_counter()
    start = mean_face_start(model, parts, target, num_identity)
    # The mask's box underestimates the face where the crop cuts the mask: find the depth first (frontal).
    start = coarse_pose_search(model, parts, target, start, depth_factors=(0.55, 0.65, 0.75, 0.85, 1.0, 1.15),
                               yaws_deg=(0.0,), pitches_deg=(0.0,), options=options)
    # Then a short pose-only descent from each of a few head turns; keep the one that ends lowest.
    pose_only = replace(options, steps=pose_steps, pose_steps=0, lr_identity=0.0, lr_expression=0.0)
    face = CompactFace.of(model, parts, num_identity)
    best = (math.inf, start)
    for yaw in yaws_deg:
        turn = axis_angle_to_matrix(torch.tensor([[0.0, math.radians(yaw), 0.0]]))
        rot, trans = turn_about(turn, start.rotation, start.translation, face.pivot)
        trial = refine(model, parts, target, replace(start, rotation=rot, translation=trans), pose_only)
        if trial.energies[-1] < best[0]:
            best = (trial.energies[-1], trial.estimate)
    start = best[1]
    result = refine(model, parts, target, start, replace(options, pose_steps=0))
    return RefineResult(result.estimate, result.energies, result.terms, time.perf_counter() - t0)
