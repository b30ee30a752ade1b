"""3D reconstruction errors against a ground-truth mesh: CD (NoW protocol), MNE, CR@2mm, per region.

Definitions (seed 003, section IV.3; NoW: Sanyal et al., "Learning to Regress 3D Face Shape and Expression from an
Image without 3D Supervision", CVPR 2019):

* **Alignment**: the reconstruction is moved onto the ground truth by a rigid transform (no scale unless
  ``MeshErrorOptions.with_scale``): first from paired landmarks (``rigid_align``, Kabsch/Umeyama), then refined by
  point-to-surface ICP (``icp_align``) of the ground-truth points against the reconstruction's surface. Alignment
  removes the camera from the comparison: CD measures shape (identity + expression) only.
* **CD** ("chamfer distance" as NoW reports it; one-directional): the mean, over the ground-truth points, of the
  Euclidean distance from each point to the closest point of the aligned reconstruction's *surface* (NoW measures
  scan-to-mesh the same way). Millimetres: model units times ``unit_to_mm`` (ICT-FaceKit is in centimetres: x10).
  Seed 003 words it as a vertex-to-vertex mean after rigid alignment; with a shared topology the point-to-surface
  distance is never larger than the vertex-to-vertex one and does not depend on the correspondence.
* **MNE**: the mean angle, in degrees, between each ground-truth vertex normal and the reconstruction's normal at
  that vertex's closest surface point (smooth normals: area-weighted vertex normals interpolated with the closest
  point's barycentric coordinates, renormalized, rotated by the alignment).
* **CR@2mm**: the share (0..1) of ground-truth points whose distance is at most 2 mm.

All arrays are float64 NumPy; the ground truth and the reconstruction may be in different frames (the alignment
relates them) but must be in the same unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from faceforge.errors import UsageError
from faceforge.metrics.alignment import RigidTransform, check_points, icp_align, rigid_align
from faceforge.metrics.surface import MeshSurface, vertex_normals_np

ALIGNMENTS = ("landmarks+icp", "icp", "landmarks", "none")


@dataclass(frozen=True)
class MeshErrorOptions:
    """Options of ``compare_meshes``.

    Attributes:
        unit_to_mm: millimetres per model unit (10 for ICT-FaceKit's centimetres, 1000 for FLAME's metres).
        alignment: "landmarks+icp" (NoW), "icp" (ICP from the identity), "landmarks" (paired landmarks only) or
            "none" (the meshes are already in one frame).
        icp_iterations: maximum ICP rounds (point-to-point ICP converges linearly: on ICT faces fitted to within
            ~2 mm, 20 rounds get within 0.01 mm of the CD after 40).
        icp_points: ground-truth points used by ICP (an evenly strided subset, for speed; 0 = all). The errors are
            always measured on every point.
        icp_tolerance: ICP stops when no point moves by more than this fraction of the ground truth's bounding-box
            diagonal between rounds.
        with_scale: allow a uniform scale in the alignment (a similarity transform; NoW-style for reconstructions
            of unknown scale). Off by default: metric reconstructions are compared rigidly (seed 003).
        completeness_threshold_mm: the CR distance threshold.
    """

    unit_to_mm: float = 10.0
    alignment: str = "landmarks+icp"
    icp_iterations: int = 20
    icp_points: int = 2000
    icp_tolerance: float = 1e-5
    with_scale: bool = False
    completeness_threshold_mm: float = 2.0

    def __post_init__(self) -> None:
        if self.alignment not in ALIGNMENTS:
            raise UsageError(f"alignment: expected one of {', '.join(ALIGNMENTS)}, got {self.alignment!r}")
        if not self.unit_to_mm > 0 or self.icp_iterations < 0 or self.icp_points < 0:
            raise UsageError("MeshErrorOptions: unit_to_mm must be > 0, icp_iterations and icp_points >= 0")
        if not self.completeness_threshold_mm > 0:
            raise UsageError(f"completeness_threshold_mm must be > 0, got {self.completeness_threshold_mm}")


@dataclass(frozen=True)
class MeshErrors:
    """Errors of one reconstruction against its ground truth.

    Attributes:
        distances_mm: (N,) distance of each ground-truth point to the aligned reconstruction's surface, mm.
        normal_errors_deg: (N,) angle between each ground-truth normal and the reconstruction's normal at the closest
            point, degrees; None when no ground-truth normals were given.
        closest_face: (N,) int64 reconstruction triangle holding each closest point.
        transform: reconstruction frame -> ground-truth frame.
        chamfer_mm: mean of ``distances_mm`` (CD).
        normal_error_deg: mean of ``normal_errors_deg`` (MNE), NaN without normals.
        completeness: share of points within the threshold (CR), 0..1.
    """

    distances_mm: np.ndarray
    normal_errors_deg: np.ndarray | None
    closest_face: np.ndarray
    transform: RigidTransform
    chamfer_mm: float
    normal_error_deg: float
    completeness: float


@dataclass(frozen=True)
class RegionErrors:
    """CD / MNE / CR over one subset of the ground-truth points (NaN when the region is empty)."""

    chamfer_mm: float
    normal_error_deg: float
    completeness: float
    count: int


def completeness_rate(distances_mm: np.ndarray, threshold_mm: float = 2.0) -> float:
    """CR: share of distances at most ``threshold_mm``.

    Args:
        distances_mm: (N,) non-negative distances, N >= 1.
    Returns:
        a fraction in [0, 1].
    """
    d = _check_vector("distances_mm", distances_mm)
    if not threshold_mm > 0:
        raise UsageError(f"threshold_mm must be > 0, got {threshold_mm}")
    return float(np.mean(d <= threshold_mm))


def normal_angles_deg(normals_a: np.ndarray, normals_b: np.ndarray) -> np.ndarray:
    """Angle between paired directions, degrees (``atan2(|a x b|, a . b)``: accurate near 0 and 180).

    Args:
        normals_a, normals_b: (N, 3) non-zero vectors (need not be unit length).
    Returns:
        (N,) angles in [0, 180].
    """
    a = check_points("normals_a", normals_a)
    b = check_points("normals_b", normals_b)
    if a.shape != b.shape:
        raise UsageError(f"normals_a {a.shape} and normals_b {b.shape} must have the same shape")
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=1), (a * b).sum(1)))


def mean_normal_error_deg(gt_normals: np.ndarray, reconstructed_normals: np.ndarray) -> float:
    """MNE of paired normals: the mean of ``normal_angles_deg``, degrees."""
    return float(normal_angles_deg(gt_normals, reconstructed_normals).mean())


def _check_vector(name: str, values: object) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise UsageError(f"{name}: expected a non-empty (N,) array, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise UsageError(f"{name}: contains NaN or infinite values")
    return a


def _initial_transform(
    gt_landmarks: np.ndarray | None, recon_landmarks: np.ndarray | None, with_scale: bool
) -> RigidTransform:
    if gt_landmarks is None or recon_landmarks is None:
        raise UsageError("landmark alignment needs both gt_landmarks and recon_landmarks (L, 3)")
    gl = check_points("gt_landmarks", gt_landmarks, 3)
    rl = check_points("recon_landmarks", recon_landmarks, 3)
    if gl.shape != rl.shape:
        raise UsageError(f"gt_landmarks {gl.shape} and recon_landmarks {rl.shape} must have the same shape")
    return rigid_align(rl, gl, with_scale=with_scale)


def compare_meshes(
    gt_points: np.ndarray,
    recon_vertices: np.ndarray,
    recon_faces: np.ndarray,
    gt_normals: np.ndarray | None = None,
    gt_landmarks: np.ndarray | None = None,
    recon_landmarks: np.ndarray | None = None,
    options: MeshErrorOptions = MeshErrorOptions(),
    surface: MeshSurface | None = None,
) -> MeshErrors:
    """Align a reconstruction to the ground truth and measure CD, MNE and CR (definitions in the module docstring).

    Args:
        gt_points: (N, 3) ground-truth points (the vertices of the evaluated region), model units.
        recon_vertices: (V, 3) reconstruction vertices, model units, any frame.
        recon_faces: (F, 3) int reconstruction triangles (the surface distances are measured to).
        gt_normals: (N, 3) unit ground-truth vertex normals (``vertex_normals_np`` of the full ground-truth mesh),
            or None to skip MNE.
        gt_landmarks, recon_landmarks: (L, 3) paired 3D landmarks in each mesh's frame (L >= 3), needed by the
            "landmarks+icp" and "landmarks" alignments.
        options: units, alignment and thresholds.
        surface: a prebuilt ``MeshSurface(recon_vertices, recon_faces)`` (reused across calls).
    Returns:
        MeshErrors.
    Raises:
        UsageError: empty inputs, mismatched shapes, NaN/inf, missing landmarks for a landmark alignment.
    """
    gt = check_points("gt_points", gt_points, 1)
    rv = check_points("recon_vertices", recon_vertices, 3)
    normals = None
    if gt_normals is not None:
        normals = check_points("gt_normals", gt_normals, 1)
        if normals.shape != gt.shape:
            raise UsageError(f"gt_normals {normals.shape} must match gt_points {gt.shape}")
    surf = surface if surface is not None else MeshSurface(rv, recon_faces)
    if surface is not None and (surf.vertices.shape != rv.shape or not np.array_equal(surf.vertices, rv)):
        raise UsageError("surface: was built from other vertices than recon_vertices")
    transform = RigidTransform.identity()
    if options.alignment in ("landmarks+icp", "landmarks"):
        transform = _initial_transform(gt_landmarks, recon_landmarks, options.with_scale)
    if options.alignment in ("landmarks+icp", "icp"):
        if len(gt) < 3:
            raise UsageError(f"gt_points: ICP needs at least 3 points, got {len(gt)}")
        step = max(1, -(-len(gt) // options.icp_points)) if options.icp_points else 1
        transform = icp_align(rv, surf.faces, gt[::step], init=transform, iterations=options.icp_iterations,
                              with_scale=options.with_scale, tolerance=options.icp_tolerance,
                              surface=surf).transform
    closest = surf.closest(transform.apply_inverse(gt))
    distances_mm = closest.distances * transform.scale * options.unit_to_mm
    angles = None
    if normals is not None:
        vn = vertex_normals_np(surf.vertices, surf.faces)
        at = (closest.bary[:, :, None] * vn[surf.faces[closest.face_index]]).sum(1)
        at = transform.rotate(at)
        angles = normal_angles_deg(normals, at)
        # A zero-length interpolated normal (opposite normals across a fold) counts as 90 degrees off.
        angles[np.linalg.norm(at, axis=1) < 1e-12] = 90.0
    return MeshErrors(
        distances_mm=distances_mm,
        normal_errors_deg=angles,
        closest_face=closest.face_index,
        transform=transform,
        chamfer_mm=float(distances_mm.mean()),
        normal_error_deg=float(angles.mean()) if angles is not None else float("nan"),
        completeness=float(np.mean(distances_mm <= options.completeness_threshold_mm)),
    )


def chamfer_distance_mm(
    gt_points: np.ndarray,
    recon_vertices: np.ndarray,
    recon_faces: np.ndarray,
    gt_landmarks: np.ndarray | None = None,
    recon_landmarks: np.ndarray | None = None,
    options: MeshErrorOptions = MeshErrorOptions(),
) -> float:
    """CD in mm (NoW protocol; ``compare_meshes(...).chamfer_mm``): align, then mean ground-truth-to-surface distance.

    Args: as ``compare_meshes``.
    """
    return compare_meshes(gt_points, recon_vertices, recon_faces, None, gt_landmarks, recon_landmarks,
                          options).chamfer_mm


def region_errors(
    errors: MeshErrors, regions: Mapping[str, np.ndarray], threshold_mm: float = 2.0
) -> dict[str, RegionErrors]:
    """CD / MNE / CR restricted to named subsets of the ground-truth points (seed 003 Table 1: face, eyes, ...).

    Args:
        errors: from ``compare_meshes``.
        regions: name -> (n,) int indices into the N ground-truth points (not model vertex ids).
        threshold_mm: the CR threshold.
    Returns:
        name -> RegionErrors (NaN figures for an empty region).
    """
    n = len(errors.distances_mm)
    out = {}
    for name, idx in regions.items():
        ix = np.asarray(idx, dtype=np.int64).reshape(-1)
        if ix.size and (ix.min() < 0 or ix.max() >= n):
            raise UsageError(f"region {name!r}: indices must lie in [0, {n - 1}]")
        if not ix.size:
            out[name] = RegionErrors(float("nan"), float("nan"), float("nan"), 0)
            continue
        d = errors.distances_mm[ix]
        mne = float(errors.normal_errors_deg[ix].mean()) if errors.normal_errors_deg is not None else float("nan")
        out[name] = RegionErrors(float(d.mean()), mne, float(np.mean(d <= threshold_mm)), int(ix.size))
    return out
