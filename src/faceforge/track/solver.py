"""Per-frame fit for tracking: head pose and expression (gaze included) with identity and focal length fixed.

The model is a ``PointBasis`` whose mean already holds the clip's shared identity (``num_identity == 0``), the same
reduction FaceFitter's gaze stage uses. The solver is a damped Gauss-Newton like ``fit.landmark_fit.fit_landmarks``
(camera at the world origin looking down -z; Huber-reweighted landmark residuals normalized by the face size;
expression weights kept in their bounds with an active set; left-multiplicative rotation updates) with two
differences: the focal length is not a parameter, and an optional quadratic pull towards a reference state (the
previous frame) can be added:

``cost = sum_l w_l rho(|proj_l - obs_l| / s)^2 + lambda_e |e|^2
+ lambda_rot |log(R R_ref^T)|^2 + lambda_trans |(t - t_ref) / d|^2 + lambda_ref |e - e_ref|^2``

with ``d`` the head distance (so the translation pull is scale-free). All arrays are float64 NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceforge.fit.landmark_fit import (
    damped_step,
    drop_weaker_of_pairs,
    hold_one_of_pairs,
    initial_pose,
    matrix_to_rotvec,
    project_points,
    projection_jacobian,
    rotvec_to_matrix,
    skew,
)
from faceforge.fit.surface import PointBasis


@dataclass(frozen=True)
class FrameFitOptions:
    """Options of ``fit_frame``.

    Attributes:
        iterations: Gauss-Newton iterations per frame (warm-started frames converge in 2-3).
        first_iterations: iterations for a frame started from PnP (first frame of a segment).
        expression_prior: weight of |e|^2 (as in ``LandmarkFitOptions``).
        huber: Huber threshold on a landmark residual, fraction of the face size.
        damping: initial Levenberg-Marquardt damping.
        tolerance: stop when an iteration lowers the cost by less than this fraction.
    """

    iterations: int = 3
    first_iterations: int = 8
    expression_prior: float = 1e-4
    huber: float = 0.03
    damping: float = 1e-3
    tolerance: float = 1e-4


@dataclass(frozen=True)
class FrameState:
    """Pose and expression of one frame.

    Attributes:
        rotation: (3, 3) model-to-world rotation.
        translation: (3,) world translation, model units (z < 0 in front of the camera).
        expression: (Ne,) expression weights.
    """

    rotation: np.ndarray
    translation: np.ndarray
    expression: np.ndarray


@dataclass(frozen=True)
class TemporalPrior:
    """Quadratic pull towards a reference state (0 weights = none).

    Attributes:
        reference: the state pulled towards (usually the previous frame's).
        rotation: weight of |log(R R_ref^T)|^2 (radians).
        translation: weight of |(t - t_ref) / distance|^2.
        expression: (Ne,) per-weight weights of (e - e_ref)^2.
    """

    reference: FrameState
    rotation: float
    translation: float
    expression: np.ndarray


@dataclass(frozen=True)
class FrameFit:
    """Result of ``fit_frame``: the state, projected points (L, 2) pixels, RMS residual (pixels), iterations run."""

    state: FrameState
    projected_px: np.ndarray
    rms_px: float
    iterations: int


def initial_state(
    basis: PointBasis, observed_px: np.ndarray, weights: np.ndarray, focal_px: float, principal_px: np.ndarray
) -> FrameState:
    """PnP pose of the neutral (identity-only) shape, expression 0: the start of a new segment."""
    rot, trans = initial_pose(basis.mean, observed_px, focal_px, principal_px, weights)
    return FrameState(rot, trans, np.zeros(basis.num_expression))


def fit_frame(
    basis: PointBasis,
    observed_px: np.ndarray,
    weights: np.ndarray,
    focal_px: float,
    principal_px: np.ndarray,
    init: FrameState,
    options: FrameFitOptions = FrameFitOptions(),
    iterations: int | None = None,
    expression_bounds: tuple[float, float] | None = (0.0, 1.0),
    prior: TemporalPrior | None = None,
    exclusive_pairs: np.ndarray | None = None,
) -> FrameFit:
    """Fit pose and expression of one frame (identity and focal fixed), warm-started from ``init``.

    Args:
        basis: (L points) the model at the landmark surface points with the identity in its mean; num_identity 0.
        observed_px: (L, 2) detector landmarks, pixels.
        weights: (L,) non-negative landmark weights.
        focal_px: the clip's focal length, pixels.
        principal_px: (2,) principal point, pixels.
        init: the starting state (the previous frame's fit, or ``initial_state``).
        iterations: overrides ``options.iterations``.
        expression_bounds: (lower, upper) of the expression weights, None for unbounded.
        prior: optional temporal pull (module docstring).
        exclusive_pairs: (P, 2) expression index pairs of which at most one may be non-zero (shapes moving the same
            features in opposite directions, e.g. eyeLookIn/eyeLookOut of one eye, jawLeft/jawRight). Without this
            the fit turns both on at once: their main motions cancel and what remains is a spurious deformation.
            Each iteration frees only one member of a pair (the non-zero one, or at 0 the one whose gradient
            lowers the cost) and holds the other at 0.
    Returns:
        FrameFit.
    """
    obs = observed_px
    n_pts = len(obs)
    ne = basis.num_expression
    shape = basis.shape[:, :, basis.num_identity:]  # (L, 3, Ne)
    mean = basis.mean
    n_par = 6 + ne
    lo = np.full(ne, -np.inf) if expression_bounds is None else np.full(ne, expression_bounds[0])
    hi = np.full(ne, np.inf) if expression_bounds is None else np.full(ne, expression_bounds[1])
    rot, trans = init.rotation.copy(), init.translation.copy()
    coef = np.clip(init.expression.astype(np.float64), lo, hi)
    pairs = np.zeros((0, 2), np.int64) if exclusive_pairs is None else np.asarray(exclusive_pairs, np.int64)
    coef = drop_weaker_of_pairs(coef, pairs)  # keep the larger of a pair that starts with both on
    use = weights > 0
    scale = max(float(np.ptp(obs[use], axis=0).max()), 1.0)
    e_prior = np.full(ne, options.expression_prior)
    if prior is not None:
        ref = prior.reference
        dist = max(float(np.linalg.norm(ref.translation)), 1e-6)
        t_w = prior.translation / dist**2
        e_ref_w = np.asarray(prior.expression, dtype=np.float64)
    w_sqrt = np.sqrt(weights)

    def cost_of(rot_, trans_, coef_, rw):
        pts = (mean + shape @ coef_) @ rot_.T + trans_
        proj_ = project_points(pts, focal_px, principal_px)
        r = ((proj_ - obs) / scale) * np.sqrt(rw)[:, None]
        c = float((r**2).sum() + (e_prior * coef_**2).sum())
        if prior is not None:
            c += prior.rotation * float((matrix_to_rotvec(rot_ @ ref.rotation.T) ** 2).sum())
            c += t_w * float(((trans_ - ref.translation) ** 2).sum())
            c += float((e_ref_w * (coef_ - ref.expression) ** 2).sum())
        return c, proj_

    damping = options.damping
    n_iter = options.iterations if iterations is None else iterations
    run = 0
    for _ in range(n_iter):
        run += 1
        rotated = (mean + shape @ coef) @ rot.T
        world = rotated + trans
        proj = project_points(world, focal_px, principal_px)
        err = np.linalg.norm(proj - obs, axis=1) / scale
        huber = np.where(err <= options.huber, 1.0, options.huber / np.maximum(err, 1e-12))
        rw = weights * huber
        sw = (np.sqrt(huber) * w_sqrt)[:, None] / scale
        a = projection_jacobian(world, focal_px) * sw[:, :, None]  # weighted, float32 below (as in fit_landmarks)
        jac = np.empty((n_pts, 2, n_par), np.float32)
        jac[:, :, 0:3] = a @ (-skew(rotated))
        jac[:, :, 3:6] = a
        jac[:, :, 6:] = np.matmul(a @ rot, shape)
        jr = jac.reshape(-1, n_par)
        res = ((proj - obs) * sw).reshape(-1)
        h = (jr.T @ jr).astype(np.float64)
        g = (jr.T @ res.astype(np.float32)).astype(np.float64)
        h[6:, 6:] += np.diag(e_prior)
        g[6:] += e_prior * coef
        if prior is not None:
            dr = matrix_to_rotvec(rot @ ref.rotation.T)  # a left update d changes this by ~d
            h[0:3, 0:3] += prior.rotation * np.eye(3)
            g[0:3] += prior.rotation * dr
            h[3:6, 3:6] += t_w * np.eye(3)
            g[3:6] += t_w * (trans - ref.translation)
            h[6:, 6:] += np.diag(e_ref_w)
            g[6:] += e_ref_w * (coef - ref.expression)
        at_lo = (coef <= lo + 1e-9) & (g[6:] > 0)
        at_hi = (coef >= hi - 1e-9) & (g[6:] < 0)
        held = at_lo | at_hi | hold_one_of_pairs(coef, g[6:], pairs)
        free = np.r_[np.ones(6, bool), ~held]
        c0, _ = cost_of(rot, trans, coef, rw)
        h_free = h[np.ix_(free, free)]
        g_free = g[free]
        diag = np.diag(h_free) + 1e-9
        for _ in range(6):
            step = damped_step(h_free, g_free, diag, damping, free)
            if step is None:  # singular in floating point: damp harder
                damping *= 10.0
                continue
            new_rot = rotvec_to_matrix(step[0:3]) @ rot
            new_trans = trans + step[3:6]
            new_coef = np.clip(coef + step[6:], lo, hi)
            c1, _ = cost_of(new_rot, new_trans, new_coef, rw)
            if c1 < c0:
                rot, trans, coef = new_rot, new_trans, new_coef
                damping = max(damping / 3.0, 1e-7)
                break
            damping *= 10.0
        else:
            break
        if c0 - c1 < options.tolerance * c0:
            break
    proj = project_points((mean + shape @ coef) @ rot.T + trans, focal_px, principal_px)
    rms = float(np.sqrt(((proj - obs)[use] ** 2).sum(1).mean()))
    return FrameFit(FrameState(rot, trans, coef), proj, rms, run)
