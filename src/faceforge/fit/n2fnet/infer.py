"""Use a trained N2FNet: a normal map (or a depth map) of a face -> FaceParams in the params.json convention.

Steps of ``N2FNetRegressor.regress``:

1. the face mask's bounding box gives the square crop the network was trained on: the training crops are DECA
   boxes around the 68 landmarks (``faceforge.datasets.synthetic``), which a normal map does not come with, so the
   box is predicted from the mask's box by a fixed ratio and offset measured on synthetic faces at the end of
   training (``crop_calibration``; stored with the weights);
2. the masked normals are cut out (zeros outside the image), area-resampled to S x S and renormalized;
3. the network predicts identity, expression, the head rotation and where the model origin projects with what
   scale; with the given (or assumed) intrinsics of the *input* image that gives the translation
   ``t_z = f / scale``;
4. optionally (``RegressOptions.fit``, ``faceforge regress --refine``) the hybrid of seed 003: the prediction starts
   the normal-map fit of ``refine.py`` on the last crop;
5. the pose is moved from the OpenCV camera frame into the params.json world (the camera at the origin looking
   down -z: ``R_world = F R``, ``t_world = F t`` with ``F = diag(1, -1, -1)``, docs/conventions.md).
"""

from __future__ import annotations

import json
import logging
import math
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from faceforge.errors import AssetError, InputError, UsageError
from faceforge.fit.n2fnet.network import N2FNet, N2FNetConfig, translation_from_origin
from faceforge.fit.n2fnet.refine import RefineOptions
from faceforge.geometry import matrix_to_axis_angle
from faceforge.morphable.model import MorphableModel
from faceforge.structures import Camera, FaceParams

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = "n2fnet_ict_v1.npz"
_FLIP = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
# Used when the weights carry no calibration (an untrained or a test network): the synthetic data's face-region
# masks (padding 1.4 around the landmarks) measured once.
_DEFAULT_CALIBRATION = {"side_ratio": 1.25, "offset_x": 0.0, "offset_y": 0.0}


@dataclass(frozen=True)
class RegressOptions:
    """Options of ``N2FNetRegressor.regress``.

    Attributes:
        focal_px: (fx, fy) of the input image in pixels, or None: ``default_focal_factor`` x the larger image side.
        principal_px: (cx, cy) in pixels, or None: the image centre ((W - 1) / 2, (H - 1) / 2).
        default_focal_factor: see ``focal_px`` (2.0 ~ a 28 degree field of view, between the synthetic set's
            typical 38 degrees and ``faceforge render``'s 20 degrees; only the translation depends on it).
        min_mask_pixels: fewer face pixels than this is refused as "no face".
        refine_steps: after the first pass (crop from the mask's box), re-crop around the predicted 68 landmarks
            the way the training crops were made (DECA box x the training padding) and regress again, this many
            times. The mask's box alone misplaces the crop by up to ~15 % of its side (the face region's neck and
            scalp vary with the pose), which the network was never trained on.
        align_to_mask: after each pass, move the translation so that the predicted face region spans the face mask
            (``translation_to_extent``): the network's own 2D placement is loose (~11 % NME on training crops). Only
            for true face-region masks (off in ``faceforge regress`` without ``--mask``).
        fit: the hybrid (seed 003 Table 3): refine the prediction with the normal-map fit
            (``refine.refine``) on the last crop, at the network's resolution; None = the network alone.
    """

    focal_px: tuple[float, float] | None = None
    principal_px: tuple[float, float] | None = None
    default_focal_factor: float = 2.0
    min_mask_pixels: int = 64
    refine_steps: int = 2
    align_to_mask: bool = True
    fit: RefineOptions | None = None


@dataclass(frozen=True)
class Regression:
    """One regressed face.

    Attributes:
        params: FaceParams, batch 1, params.json world (head translation z < 0).
        camera: the implicit camera of params.json for the input image (rotation diag(1, -1, -1), t = 0).
        crop_box: (3,) x0, y0, side of the network crop in input pixels (``crop_camera`` convention).
        landmarks_68_px: (68, 2) float64 predicted iBUG-68 landmarks in the input image (pixels).
    """

    params: FaceParams
    camera: Camera
    crop_box: np.ndarray
    landmarks_68_px: np.ndarray


def load_network(path: Path | None = None) -> tuple[N2FNet, dict]:
    """Load weights written by ``train.save_checkpoint`` (default: the shipped ``faceforge/data`` file).

    Returns:
        (the network in eval mode, float32; its metadata dict).
    Raises:
        AssetError: missing or unreadable weights.
    """
    from faceforge.fit.n2fnet.train import CHECKPOINT_FORMAT

    if path is None:
        ref = resources.files("faceforge.data") / DEFAULT_WEIGHTS
        if not ref.is_file():
            raise AssetError(f"the shipped N2FNet weights {DEFAULT_WEIGHTS} are missing from faceforge/data")
        path = Path(str(ref))
    try:
        with np.load(Path(path), allow_pickle=False) as z:
            if "format" not in z.files or str(z["format"]) != CHECKPOINT_FORMAT:
                raise AssetError(f"{path}: not a faceforge N2FNet weights file")
            cfg = N2FNetConfig.from_dict(json.loads(str(z["config_json"])))
            meta = json.loads(str(z["meta_json"]))
            state = {k[2:]: torch.from_numpy(z[k]) for k in z.files if k.startswith("w/")}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise AssetError(f"{path}: cannot read N2FNet weights ({exc})") from None
    net = N2FNet(cfg)
    try:
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    except RuntimeError as exc:
        raise AssetError(f"{path}: the weights do not fit the network they describe ({exc})") from None
    return net.eval(), meta


def _mask_bounds(mask: np.ndarray) -> tuple[int, int, int, int]:
    """First and last column and row of a (H, W) bool mask that hold a pixel. Raises InputError when empty."""
    rows = np.nonzero(mask.any(1))[0]
    cols = np.nonzero(mask.any(0))[0]
    if rows.size == 0:
        raise InputError("the face mask is empty")
    return int(cols[0]), int(cols[-1]), int(rows[0]), int(rows[-1])


def mask_box(mask: np.ndarray) -> tuple[float, float, float]:
    """(H, W) bool -> (centre x, centre y, larger side) of the mask's pixel extent (pixel-centre convention)."""
    c0, c1, r0, r1 = _mask_bounds(mask)
    return (c0 + c1) / 2.0, (r0 + r1) / 2.0, float(max(c1 - c0 + 1, r1 - r0 + 1))


def mask_extent(mask: np.ndarray) -> np.ndarray:
    """(H, W) bool -> (4,) x0, x1, y0, y1: the outer edges of the mask's pixels (pixel i spans i - 1/2 .. i + 1/2),
    NaN for a side where the mask touches the image border (the face may go on beyond it)."""
    c0, c1, r0, r1 = _mask_bounds(mask)
    h, w = mask.shape
    ext = np.array([c0 - 0.5, c1 + 0.5, r0 - 0.5, r1 + 0.5])
    ext[[c0 == 0, c1 == w - 1, r0 == 0, r1 == h - 1]] = np.nan
    return ext


def translation_to_extent(points: np.ndarray, translation: np.ndarray, extent: np.ndarray,
                          focal_px: tuple[float, float], principal_px: tuple[float, float],
                          iterations: int = 3) -> np.ndarray:
    """The camera translation that makes the projected extent of ``points + t`` match an observed extent.

    Given which points are extreme (leftmost, rightmost, top, bottom), ``x = fx (X + tx) / (Z + tz) + cx = x_obs``
    is linear in t: ``fx tx - (x_obs - cx) tz = (x_obs - cx) Z - fx X`` (likewise in y); the up to four equations are
    solved by least squares, and the extreme points re-chosen, ``iterations`` times. Rotation and shape are kept.

    Args:
        points: (N, 3) rotated model points in the OpenCV camera frame (x right, y down, z forward), no translation.
        translation: (3,) current translation (z > 0), the start.
        extent: (4,) x0, x1, y0, y1 observed edges in pixels; NaN = unknown side (``mask_extent``).
        focal_px, principal_px: the image's intrinsics.
    Returns:
        (3,) translation; the start unchanged when fewer than three sides are known (x and y need one each).
    """
    known = np.isfinite(extent)
    if known.sum() < 3 or not known[:2].any() or not known[2:].any():
        return np.asarray(translation, dtype=np.float64).copy()
    f = np.asarray(focal_px, dtype=np.float64)
    c = np.asarray(principal_px, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    t = np.asarray(translation, dtype=np.float64).copy()
    for _ in range(iterations):
        z = p[:, 2] + t[2]
        u = f[0] * (p[:, 0] + t[0]) / z + c[0]
        v = f[1] * (p[:, 1] + t[1]) / z + c[1]
        rows, rhs = [], []
        for side, (axis, pick) in enumerate(((0, np.argmin), (0, np.argmax), (1, np.argmin), (1, np.argmax))):
            if not known[side]:
                continue
            i = pick(u if axis == 0 else v)
            d = extent[side] - c[axis]
            row = np.zeros(3)
            row[axis], row[2] = f[axis], -d
            rows.append(row)
            rhs.append(d * p[i, 2] - f[axis] * p[i, axis])
        t_new = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
        if not (np.all(np.isfinite(t_new)) and t_new[2] + p[:, 2].min() > 0):
            break  # behind the camera: keep the last good one
        t = t_new
    return t


def crop_calibration(model: MorphableModel, seed: int, count: int = 64, padding: float = 1.4,
                     wide_padding: float = 3.5, size: int = 256) -> dict[str, float]:
    """How the training crop relates to the face mask's box, as medians over synthetic faces.

    The faces are rendered with a crop ``wide_padding / padding`` times wider than the training crop (same centre),
    so that the face mask is not cut by the image border.

    Returns:
        {"side_ratio": crop side / mask side, "offset_x", "offset_y": (crop centre - mask centre) / mask side}.
    """
    from faceforge.datasets.synthetic import SyntheticFaces, SyntheticOptions

    faces = SyntheticFaces(model, SyntheticOptions(seed=seed, image_size=size, padding=wide_padding))
    crop_side = size * padding / wide_padding
    ratios, ox, oy = [], [], []
    for i in range(count):
        m = faces.sample(i, "train").face_mask
        if m.sum() < 16 or m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any():
            continue  # too small, or cut by the border after all
        cx, cy, side = mask_box(m)
        ratios.append(crop_side / side)
        ox.append(((size - 1) / 2.0 - cx) / side)
        oy.append(((size - 1) / 2.0 - cy) / side)
    if not ratios:
        return dict(_DEFAULT_CALIBRATION)
    return {"side_ratio": float(np.median(ratios)), "offset_x": float(np.median(ox)),
            "offset_y": float(np.median(oy)), "faces": len(ratios), "padding": padding}


def normals_from_rgb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode a camera-frame normal-map picture as ``faceforge render --what normal`` writes it.

    The encoding (``faceforge.render.encode``): ``rgb = (1 + (x, -y, -z)) / 2`` of the OpenCV camera-frame normal,
    background black.

    Args:
        rgb: (H, W, 3) uint8.
    Returns:
        normals (H, W, 3) float32 unit camera-frame normals (0 where invalid), valid (H, W) bool: not black and of
        about unit length (8-bit quantization allows |n| in [0.9, 1.1]).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"normal map picture: expected (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    m = rgb.astype(np.float32) * (2.0 / 255.0) - 1.0
    n = m * np.array([1.0, -1.0, -1.0], dtype=np.float32)
    length = np.linalg.norm(n, axis=-1)
    valid = rgb.any(-1) & (length > 0.9) & (length < 1.1)
    return np.where(valid[..., None], n / np.maximum(length, 1e-6)[..., None], 0.0).astype(np.float32), valid


def check_normals(normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a float normal map: (H, W, 3), finite; returns (normals with invalid pixels zeroed, valid (H, W))
    where valid = unit length within 10 %."""
    if normals.ndim != 3 or normals.shape[2] != 3 or not np.issubdtype(normals.dtype, np.floating):
        raise InputError(f"normal map: expected (H, W, 3) floats, got {normals.shape} {normals.dtype}")
    n = np.nan_to_num(normals.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    length = np.linalg.norm(n, axis=-1)
    valid = (length > 0.9) & (length < 1.1)
    return np.where(valid[..., None], n / np.maximum(length, 1e-6)[..., None], 0.0).astype(np.float32), valid


def normals_from_depth(depth: np.ndarray, focal_px: tuple[float, float], principal_px: tuple[float, float],
                       max_jump: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame normals of a depth map (pinhole back-projection, central differences).

    Each pixel is back-projected to ``P = ((u - cx) z / fx, (v - cy) z / fy, z)``; the normal is
    ``(P(u+1) - P(u-1)) x (P(v+1) - P(v-1))``, normalized and turned towards the camera (``n . P < 0``).

    Args:
        depth: (H, W) camera-frame z (any unit, e.g. cm); the background 0, negative, +inf or NaN.
        focal_px, principal_px: (fx, fy), (cx, cy) in pixels.
        max_jump: a neighbour more than this fraction of z nearer or farther is a depth edge (no normal there).
    Returns:
        normals (H, W, 3) float32 (0 where invalid), valid (H, W) bool.
    """
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating) and not np.issubdtype(depth.dtype, np.integer):
        raise InputError(f"depth map: expected (H, W) numbers, got {depth.shape} {depth.dtype}")
    z = depth.astype(np.float64)
    ok = np.isfinite(z) & (z > 0)
    z = np.where(ok, z, 0.0)
    h, w = z.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    p = np.stack([(u - principal_px[0]) * z / focal_px[0], (v - principal_px[1]) * z / focal_px[1], z], -1)
    valid = np.zeros_like(ok)
    valid[1:-1, 1:-1] = ok[1:-1, 1:-1] & ok[1:-1, 2:] & ok[1:-1, :-2] & ok[2:, 1:-1] & ok[:-2, 1:-1]
    zc = z[1:-1, 1:-1]
    for nb in (z[1:-1, 2:], z[1:-1, :-2], z[2:, 1:-1], z[:-2, 1:-1]):
        valid[1:-1, 1:-1] &= np.abs(nb - zc) <= max_jump * np.maximum(zc, 1e-12)
    du = np.zeros_like(p)
    dv = np.zeros_like(p)
    du[:, 1:-1] = p[:, 2:] - p[:, :-2]
    dv[1:-1] = p[2:] - p[:-2]
    n = np.cross(du, dv)
    length = np.linalg.norm(n, axis=-1)
    valid &= length > 0
    n = n / np.maximum(length, 1e-300)[..., None]
    n = np.where((np.sum(n * p, -1) > 0)[..., None], -n, n)
    return np.where(valid[..., None], n, 0.0).astype(np.float32), valid


class N2FNetRegressor:
    """A loaded network and the model data it needs (loaded once, reused)."""

    def __init__(self, model: MorphableModel, weights: Path | None = None) -> None:
        from faceforge.fit.n2fnet.rendering import FaceParts

        self.model = model
        self.net, self.meta = load_network(weights)
        if self.net.cfg.num_expression != model.num_expression or self.net.cfg.num_identity > model.num_identity:
            raise AssetError(f"the N2FNet weights predict {self.net.cfg.num_identity} identity / "
                             f"{self.net.cfg.num_expression} expression weights; {model.name} has "
                             f"{model.num_identity} / {model.num_expression}")
        trained_for = self.meta.get("model")
        if trained_for is not None and trained_for != model.name:
            raise AssetError(f"the N2FNet weights were trained for {trained_for}, not {model.name}")
        self.calibration = dict(self.meta.get("crop_calibration") or _DEFAULT_CALIBRATION)
        self.parts = FaceParts.of(model)
        # For the refinement crops, the 68 landmarks as linear in the identity and expression weights: (68, 3) mean
        # and (68, 3, K + Ne) basis. Exact without gaze (eyeLook weights 0, as in all training data); a few eye
        # points lie on the eyeballs, which the eye rig turns, so the output landmarks use the full model.
        k = self.net.cfg.num_identity
        corners, bary = self.parts.landmark_corners, self.parts.landmark_bary[..., None, None]
        self._landmark_mean = (model.template[corners] * bary[..., 0]).sum(1)
        basis = torch.cat([model.identity_basis[:k], model.expression_basis]).permute(1, 2, 0)  # (V, 3, K + Ne)
        self._landmark_basis = (basis[corners] * bary).sum(1)
        # The drawn face-region vertices, as linear in the same weights, for the mask alignment.
        face_ids = torch.unique(self.parts.triangles)
        self._face_mean = model.template[face_ids]
        self._face_basis = basis[face_ids].reshape(-1, basis.shape[-1]).contiguous()  # (V' * 3, K + Ne)

    @property
    def image_size(self) -> int:
        return self.net.cfg.image_size

    def crop_box(self, mask: np.ndarray) -> np.ndarray:
        """(3,) integer x0, y0, side of the network crop for a face mask (``crop_camera`` convention)."""
        cx, cy, side = mask_box(mask)
        c = self.calibration
        crop = max(c["side_ratio"] * side, 8.0)
        centre = np.array([cx + c["offset_x"] * side, cy + c["offset_y"] * side])
        x0y0 = np.round(centre - crop / 2.0 + 0.5)
        return np.r_[x0y0, round(crop)].astype(np.float64)

    def _resample(self, normals: np.ndarray, region: np.ndarray, box: np.ndarray, uv: np.ndarray | None):
        """Cut out a crop of the pixels in ``region`` (zeros outside the image) and area-resample it to S x S:
        ((1, S, S, 3) renormalized normals, (S, S) bool coverage > 1/2, (1, S, S, 2) averaged UVs or None,
        (S, S) bool: the pixel lies mostly inside the image)."""
        import torch.nn.functional as F

        x0, y0, side = (int(v) for v in box)
        h, w = region.shape
        src = np.zeros((side, side, 7 if uv is not None else 5), dtype=np.float32)
        ys, xs = slice(max(y0, 0), min(y0 + side, h)), slice(max(x0, 0), min(x0 + side, w))
        dst_y = slice(ys.start - y0, ys.stop - y0)
        dst_x = slice(xs.start - x0, xs.stop - x0)
        m = region[ys, xs].astype(np.float32)
        src[dst_y, dst_x, :3] = normals[ys, xs] * m[..., None]
        src[dst_y, dst_x, 3] = m
        src[dst_y, dst_x, 4] = 1.0
        if uv is not None:
            src[dst_y, dst_x, 5:7] = uv[ys, xs] * m[..., None]
        t = torch.from_numpy(src).permute(2, 0, 1)[None]
        s = self.image_size
        small = F.interpolate(t, size=(s, s), mode="bilinear", antialias=side > s, align_corners=False)[0]
        n, cover = small[:3], small[3]
        keep = cover > 0.5
        n = n / n.norm(dim=0, keepdim=True).clamp_min(1e-6)
        n = torch.where(keep[None], n, torch.zeros_like(n)).permute(1, 2, 0)[None]
        uv_small = None
        if uv is not None:
            uv_small = torch.where(keep[None], small[5:7] / cover.clamp_min(1e-6), 0.0).permute(1, 2, 0)[None]
        return n, keep, uv_small, small[4] > 0.5

    def network_input(self, normals: np.ndarray, mask: np.ndarray, box: np.ndarray,
                      uv: np.ndarray | None = None) -> torch.Tensor:
        """(1, C, S, S) the network's input for a crop: cut out (zeros outside the image), area-resampled, normals
        renormalized, UVs averaged, composed as the weights expect (``network.compose_input``: face-masked, or the
        whole drawn surface for weights trained without the mask)."""
        from faceforge.fit.n2fnet.network import compose_input

        cfg = self.net.cfg
        region = mask if cfg.input_masked else np.abs(normals).sum(-1) > 0
        n, keep, uv_small, _ = self._resample(normals, region, box, uv)
        if (cfg.input_kind, cfg.input_masked) == ("normal", True):
            return n.permute(0, 3, 1, 2).contiguous()
        return compose_input(cfg.input_kind, False, n, keep[None].to(torch.float32), uv_small)

    def crop_intrinsics(self, box: np.ndarray, focal: tuple[float, float],
                        principal: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 2) focal and principal point, pixels, of the S x S crop ``box`` of an image with these intrinsics."""
        scale = self.image_size / box[2]
        f = torch.tensor([[focal[0] * scale, focal[1] * scale]], dtype=torch.float32)
        c = torch.tensor([[(principal[0] - box[0] + 0.5) * scale - 0.5, (principal[1] - box[1] + 0.5) * scale - 0.5]],
                         dtype=torch.float32)
        return f, c

    def landmark_box(self, landmarks_px: np.ndarray) -> np.ndarray:
        """(3,) integer x0, y0, side of the training-style crop around 68 landmarks (DECA box x padding)."""
        lo, hi = landmarks_px.min(0), landmarks_px.max(0)
        side = max(float(np.max(hi - lo)) * float(self.calibration.get("padding", 1.4)), 8.0)
        x0y0 = np.round((lo + hi) / 2.0 - side / 2.0 + 0.5)
        return np.r_[x0y0, round(side)].astype(np.float64)

    def _predict(self, normals: np.ndarray, mask: np.ndarray, box: np.ndarray, focal: tuple[float, float],
                 principal: tuple[float, float], uv: np.ndarray | None = None, extent: np.ndarray | None = None):
        """One network pass on one crop: (output, R_cam (1, 3, 3), t_cam (1, 3), landmarks (68, 2) input pixels).

        With ``extent`` (``mask_extent`` of the face mask) the translation is then moved so that the predicted face
        region spans the mask (``translation_to_extent``)."""
        x = self.network_input(normals, mask, box, uv)
        f, c = self.crop_intrinsics(box, focal, principal)
        with torch.no_grad():
            out = self.net.predict(x)
            t_cam = translation_from_origin(out.origin_px, out.scale_px, f, c)
            weights = torch.cat([out.identity[0], out.expression[0]])
            if extent is not None:
                t_cam = self.align_translation(out.identity, out.expression, out.rotation, t_cam, extent, focal,
                                               principal)
            lm_model = self._landmark_mean + torch.einsum("lck,k->lc", self._landmark_basis, weights)
            lm = (lm_model @ out.rotation[0].T + t_cam[0]).double().numpy()
        lm_px = lm[:, :2] / lm[:, 2:3] * np.array(focal) + np.array(principal)
        return out, out.rotation, t_cam, lm_px

    def align_translation(self, identity: torch.Tensor, expression: torch.Tensor, rotation: torch.Tensor,
                          translation: torch.Tensor, extent: np.ndarray, focal: tuple[float, float],
                          principal: tuple[float, float]) -> torch.Tensor:
        """(1, 3) camera-frame translation that makes the drawn face region of (identity (1, K), expression
        (1, Ne), rotation (1, 3, 3)) span ``extent`` (``mask_extent`` of the face mask; ``translation_to_extent``),
        starting from ``translation`` (1, 3)."""
        with torch.no_grad():
            weights = torch.cat([identity[0], expression[0]]).to(self._face_basis.dtype)
            face = (self._face_mean + (self._face_basis @ weights).reshape(-1, 3)) @ rotation[0].T.to(weights.dtype)
            t = translation_to_extent(face.double().numpy(), translation[0].double().numpy(), extent, focal,
                                      principal)
        return torch.as_tensor(t, dtype=translation.dtype)[None]

    def check_input(self, uv: np.ndarray | None) -> None:
        """Refuse an input that the weights were not trained on (``N2FNetConfig.input_kind``).

        Raises:
            InputError: a UV map missing for "uv"/"uv+normal" weights, or given to "normal" weights.
        """
        kind = self.net.cfg.input_kind
        if kind != "normal" and uv is None:
            raise InputError(f"these N2FNet weights take a {kind!r} input ({self.net.cfg.describe_input()}): a UV "
                             "map is needed")
        if kind == "normal" and uv is not None:
            raise InputError("these N2FNet weights take normal maps only; a UV map was given")

    def regress(self, normals: np.ndarray, mask: np.ndarray, options: RegressOptions = RegressOptions(),
                uv: np.ndarray | None = None) -> Regression:
        """Regress the face of a camera-frame normal map.

        Args:
            normals: (H, W, 3) float32 unit normals, OpenCV camera frame (0 where there is no surface).
            mask: (H, W) bool face mask (the pixels to use); pixels without a unit normal are dropped from it.
            uv: (H, W, 2) float32 UV map of the same pixels (the model's UV layout), only for weights trained on
                "uv" or "uv+normal" input (``check_input``).
        Raises:
            NoFaceError: fewer than ``options.min_mask_pixels`` usable face pixels.
            InputError: shapes that disagree, or an input kind the weights were not trained on.
        """
        from faceforge.errors import NoFaceError

        h, w = mask.shape
        self.check_input(uv)
        if normals.shape[:2] != (h, w):
            raise InputError(f"the mask is {w}x{h} pixels but the normal map {normals.shape[1]}x{normals.shape[0]}")
        if uv is not None and uv.shape != (h, w, 2):
            raise InputError(f"the UV map is {uv.shape}, expected ({h}, {w}, 2)")
        if int(mask.sum()) < options.min_mask_pixels:
            raise NoFaceError(f"only {int(mask.sum())} face pixels (at least {options.min_mask_pixels} needed)")
        fx, fy = options.focal_px or (options.default_focal_factor * max(w, h),) * 2
        cx, cy = options.principal_px or ((w - 1) / 2.0, (h - 1) / 2.0)
        if not (fx > 0 and fy > 0 and all(math.isfinite(v) for v in (fx, fy, cx, cy))):
            raise UsageError(f"intrinsics must be finite with positive focal lengths, got {fx}, {fy}, {cx}, {cy}")
        if options.refine_steps < 0:
            raise UsageError(f"refine_steps must be >= 0, got {options.refine_steps}")
        if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
            log.warning("the face mask touches the image border: the first crop (from the mask's box) may be off")
        box = self.crop_box(mask)
        extent = mask_extent(mask) if options.align_to_mask else None
        out, rot_cam, t_cam, lm_px = self._predict(normals, mask, box, (fx, fy), (cx, cy), uv, extent)
        for _ in range(options.refine_steps):
            box = self.landmark_box(lm_px)
            out, rot_cam, t_cam, lm_px = self._predict(normals, mask, box, (fx, fy), (cx, cy), uv, extent)
        id_k, expression = out.identity, out.expression
        if options.fit is not None:  # the hybrid: the prediction starts the normal fit on the last crop
            from faceforge.fit.n2fnet.refine import FaceEstimate, NormalTarget, refine

            n_crop, keep, _, inside = self._resample(normals, mask, box, None)
            f, c = self.crop_intrinsics(box, (fx, fy), (cx, cy))
            # The crop's camera differs from the image's by a scale and shift of the pixel grid only: the pose is
            # the same in both.
            target = NormalTarget(n_crop, keep[None].to(torch.float32), f, c, inside[None].to(torch.float32))
            fitted = refine(self.model, self.parts, target, FaceEstimate(id_k, expression, rot_cam, t_cam),
                            options.fit).estimate
            id_k, expression, rot_cam, t_cam = fitted.identity, fitted.expression, fitted.rotation, fitted.translation
        k = id_k.shape[1]
        identity = torch.cat([id_k, id_k.new_zeros(1, self.model.num_identity - k)], 1)
        from faceforge.fit.n2fnet.rendering import model_vertices

        with torch.no_grad():
            verts = model_vertices(self.model, id_k, expression)
            lm = (self.parts.landmarks(verts)[0] @ rot_cam[0].T + t_cam[0]).double().numpy()
        lm_px = lm[:, :2] / lm[:, 2:3] * np.array([fx, fy]) + np.array([cx, cy])
        params = FaceParams(identity=identity, expression=expression,
                            rotation=matrix_to_axis_angle(_FLIP @ rot_cam).to(torch.float32),
                            translation=(t_cam @ _FLIP).to(torch.float32))
        camera = Camera(torch.tensor([[fx, fy]], dtype=torch.float32),
                        torch.tensor([[cx, cy]], dtype=torch.float32), _FLIP[None].clone(), torch.zeros(1, 3), w, h)
        return Regression(params, camera, box, lm_px)


def export_onnx(net: N2FNet, path: Path, opset: int = 17) -> None:
    """Write the network as ONNX: input ``normals_face`` (B, 3, S, S) float32 -> ``model_out`` (B, K + Ne + 6) and
    ``camera_out`` (B, 9), the raw head outputs (decode them as ``N2FNet.decode`` does).

    Needs the ``onnx`` package (TorchScript-based exporter; the batch axis is dynamic).
    """
    import io

    try:
        import onnx  # noqa: F401 - the exporter needs it
    except ImportError:
        raise UsageError("ONNX export needs the 'onnx' package (pip install onnx)") from None
    from faceforge.io.atomic import write_bytes_atomically

    s = net.cfg.image_size
    buf = io.BytesIO()
    was_training = net.training
    net.eval()
    with torch.no_grad():
        torch.onnx.export(net, (torch.zeros(1, 3, s, s),), buf, input_names=["normals_face"],
                          output_names=["model_out", "camera_out"], opset_version=opset, dynamo=False,
                          dynamic_axes={"normals_face": {0: "batch"}, "model_out": {0: "batch"},
                                        "camera_out": {0: "batch"}})
    net.train(was_training)
    write_bytes_atomically(Path(path), buf.getvalue())
