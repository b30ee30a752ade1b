"""Rigid (and similarity) alignment of point sets: Kabsch/Umeyama in closed form, and point-to-surface ICP.

All arrays are float64 NumPy in one caller-chosen frame and unit. A ``RigidTransform`` maps *source* points onto
*target* points: ``target ~ scale * rotation @ source + translation``. In the reconstruction metrics the source is
the reconstruction and the target the ground truth (the NoW protocol moves the prediction onto the scan).

References: W. Kabsch, "A solution for the best rotation to relate two sets of vectors" (1976); S. Umeyama,
"Least-squares estimation of transformation parameters between two point patterns", PAMI 1991 (eqs. 40-42: the
reflection-safe rotation and the scale); P. Besl, N. McKay, "A method for registration of 3-D shapes", PAMI 1992
(ICP).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from faceforge.errors import UsageError
from faceforge.metrics.surface import MeshSurface

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RigidTransform:
    """``x -> scale * rotation @ x + translation`` (a rigid motion when ``scale`` is 1).

    Attributes:
        rotation: (3, 3) float64 proper rotation (det +1).
        translation: (3,) float64, in the target's units.
        scale: uniform scale (1.0 for a rigid motion).
    """

    rotation: np.ndarray
    translation: np.ndarray
    scale: float = 1.0

    @staticmethod
    def identity() -> RigidTransform:
        return RigidTransform(np.eye(3), np.zeros(3), 1.0)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) source-frame points -> (N, 3) target-frame points."""
        return self.scale * (np.asarray(points, dtype=np.float64) @ self.rotation.T) + self.translation

    def apply_inverse(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) target-frame points -> (N, 3) source-frame points."""
        return ((np.asarray(points, dtype=np.float64) - self.translation) @ self.rotation) / self.scale

    def rotate(self, vectors: np.ndarray) -> np.ndarray:
        """(N, 3) source-frame directions (normals) -> target frame (rotation only)."""
        return np.asarray(vectors, dtype=np.float64) @ self.rotation.T


def check_points(name: str, points: object, min_count: int = 1) -> np.ndarray:
    """Validate an (N, 3) finite point array with N >= ``min_count``; returns it as float64."""
    try:
        a = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{name}: expected an (N, 3) array of numbers") from None
    if a.ndim != 2 or a.shape[1] != 3:
        raise UsageError(f"{name}: expected shape (N, 3), got {a.shape}")
    if a.shape[0] < min_count:
        raise UsageError(f"{name}: expected at least {min_count} points, got {a.shape[0]}")
    if not np.isfinite(a).all():
        raise UsageError(f"{name}: contains NaN or infinite values")
    return a


def rigid_align(
    source: np.ndarray, target: np.ndarray, with_scale: bool = False, weights: np.ndarray | None = None
) -> RigidTransform:
    """Least-squares rigid (or similarity) transform mapping paired ``source`` points onto ``target`` points.

    Minimizes ``sum_i w_i |s R source_i + t - target_i|^2`` over rotations R (det +1, never a reflection), t, and s
    (fixed at 1 unless ``with_scale``), in closed form by the SVD of the weighted cross-covariance (Umeyama 1991).

    Args:
        source: (N, 3) points, N >= 3 (not all on one line, else the rotation about that line is arbitrary).
        target: (N, 3) points paired row by row with ``source``.
        with_scale: also estimate a uniform scale (a similarity transform).
        weights: (N,) non-negative weights with a positive sum, default all 1.
    Returns:
        RigidTransform with ``target ~ apply(source)``.
    Raises:
        UsageError: shapes differ, fewer than 3 points, NaN/inf, bad weights, or all source points coincide.
    """
    src = check_points("source", source, 3)
    tgt = check_points("target", target, 3)
    if src.shape != tgt.shape:
        raise UsageError(f"source {src.shape} and target {tgt.shape} must have the same shape")
    if weights is None:
        w = np.full(len(src), 1.0 / len(src))
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(src),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise UsageError(f"weights: expected ({len(src)},) finite, non-negative, positive sum")
        w = w / w.sum()
    mu_s, mu_t = w @ src, w @ tgt
    s0, t0 = src - mu_s, tgt - mu_t
    var_s = float(w @ (s0 * s0).sum(1))
    if var_s <= 1e-300:
        raise UsageError("source: all points coincide; no rotation can be estimated")
    cov = (t0 * w[:, None]).T @ s0  # (3, 3) = sum_i w_i t_i s_i^T
    u, sigma, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2] = -1.0  # the best orthogonal matrix is a reflection: flip the weakest axis instead
    rotation = (u * d) @ vt
    scale = float((sigma * d).sum() / var_s) if with_scale else 1.0
    translation = mu_t - scale * rotation @ mu_s
    return RigidTransform(rotation, translation, scale)


@dataclass(frozen=True)
class IcpResult:
    """Outcome of ``icp_align``.

    Attributes:
        transform: source -> target.
        mean_distance: mean point-to-surface distance of the target points after the last step (input units).
        iterations: correspondence/alignment rounds run.
        converged: the last round moved the target points by less than the tolerance.
    """

    transform: RigidTransform
    mean_distance: float
    iterations: int
    converged: bool


def icp_align(
    source_vertices: np.ndarray,
    source_faces: np.ndarray,
    target_points: np.ndarray,
    init: RigidTransform | None = None,
    iterations: int = 30,
    with_scale: bool = False,
    tolerance: float = 1e-7,
    surface: MeshSurface | None = None,
) -> IcpResult:
    """Point-to-surface ICP: move a source *mesh* onto target *points*.

    Each round pairs every target point with its exact closest point on the (currently transformed) source surface
    and re-solves ``rigid_align`` on those pairs; equivalently the target points are mapped into the source frame by
    the inverse transform, so the source's spatial index is built once. Each round cannot increase the mean squared
    distance (Besl & McKay 1992), so ICP converges to the local minimum nearest ``init``: give it a landmark
    alignment (NoW does the same).

    Args:
        source_vertices: (V, 3) source mesh vertices. source_faces: (F, 3) int triangles.
        target_points: (N, 3) points to fit, N >= 3.
        init: initial source -> target transform (default identity).
        iterations: maximum rounds (>= 0; 0 only measures the distance at ``init``).
        with_scale: estimate a uniform scale too.
        tolerance: stop when no target point moves (in the source frame) by more than ``tolerance`` times the
            target's bounding-box diagonal between rounds.
        surface: a prebuilt ``MeshSurface`` of the source mesh (saves rebuilding it across calls).
    Returns:
        IcpResult.
    """
    tgt = check_points("target_points", target_points, 3)
    if iterations < 0:
        raise UsageError(f"iterations: expected >= 0, got {iterations}")
    surf = surface if surface is not None else MeshSurface(source_vertices, source_faces)
    transform = init if init is not None else RigidTransform.identity()
    diag = float(np.linalg.norm(np.ptp(tgt, axis=0))) or 1.0
    previous = None
    converged = False
    done = 0
    closest = surf.closest(transform.apply_inverse(tgt))
    for _ in range(iterations):
        done += 1
        transform = rigid_align(closest.points, tgt, with_scale=with_scale)
        moved = transform.apply_inverse(tgt)
        if previous is not None and float(np.abs(moved - previous).max()) <= tolerance * diag:
            converged = True
        previous = moved
        closest = surf.closest(moved)
        if converged:
            break
    mean = float(closest.distances.mean()) * transform.scale
    log.debug("ICP: %d rounds, mean distance %.6g, converged %s", done, mean, converged)
    return IcpResult(transform, mean, done, converged)
