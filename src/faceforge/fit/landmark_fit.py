"""Fast landmark fitting: pose, focal length, identity and expression from 2D landmarks (Gauss-Newton).

Camera model (the implicit camera of ``params.json``, see docs/conventions.md): the camera sits at the world origin
looking down the world's -z axis with +y up (OpenGL-style world; OpenCV extrinsics ``R = diag(1, -1, -1)``,
``t = 0``), principal point at the image centre unless given, square pixels. A head in front of the camera has a
negative world z. Points project as ``u = f * x / (-z) + cx``, ``v = f * (-y) / (-z) + cy``.

The solver is a damped Gauss-Newton (Levenberg-Marquardt) on
``sum_l w_l * rho(|proj_l - obs_l| / s)^2 + lambda_id |identity|^2 + lambda_expr |expression|^2
+ lambda_f (log f - log f0)^2`` with ``s`` the face size in pixels, ``rho`` a Huber reweighting, expression weights
kept in their bounds by projection with an active set. Rotation updates are left-multiplicative (``R <- exp(d) R``).
All arrays are float64 NumPy; one face at a time (the work per face is tiny).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceforge.errors import UsageError
from faceforge.fit.surface import PointBasis

_FLIP = np.diag([1.0, -1.0, -1.0])  # world (OpenGL-style) -> OpenCV camera axes


@dataclass(frozen=True)
class LandmarkFitOptions:
    """Options of ``fit_landmarks`` (defaults tuned on the 300-W dev set; see docs/BENCHMARKS.md).

    Attributes:
        iterations: Gauss-Newton iterations after the PnP initialization.
        identity_prior: weight of |identity|^2 (identity ~ N(0, 1) a priori), relative to residuals normalized by
            the face size.
        expression_prior: weight of |expression|^2.
        focal_prior: weight of (log f - log f0)^2; large = focal fixed at its initial value.
        fit_focal: estimate the focal length (else it stays at the given/initial value).
        huber: Huber threshold on a landmark's residual, as a fraction of the face size.
        num_identity: how many leading identity components to fit (the rest stay 0). 2D landmarks hardly
            constrain the later ones: on the 300-W dev faces 30 and 100 give the same NME, at half the cost.
        damping: initial Levenberg-Marquardt damping.
        tolerance: stop when an iteration lowers the cost by less than this fraction.
    """

    iterations: int = 5
    identity_prior: float = 2e-4
    expression_prior: float = 1e-4
    focal_prior: float = 1e-2
    fit_focal: bool = True
    huber: float = 0.03
    num_identity: int = 30
    damping: float = 1e-3
    tolerance: float = 1e-5


@dataclass(frozen=True)
class LandmarkFitResult:
    """Result of one landmark fit.

    Attributes:
        rotation: (3, 3) model-to-world rotation.
        translation: (3,) world translation, model units (z < 0: in front of the camera).
        identity: (Ni,) identity weights.
        expression: (Ne,) expression weights.
        focal_px: focal length in pixels.
        principal_px: (2,) principal point (cx, cy) in pixels.
        projected_px: (L, 2) the fitted surface points projected into the image.
        rms_px: root-mean-square landmark residual in pixels (unweighted).
        iterations: iterations run.
    """

    rotation: np.ndarray
    translation: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    focal_px: float
    principal_px: np.ndarray
    projected_px: np.ndarray
    rms_px: float
    iterations: int


def project_points(points_world: np.ndarray, focal_px: float, principal_px: np.ndarray) -> np.ndarray:
    """Project world points with the implicit camera.

    Args:
        points_world: (L, 3) world-frame points (camera at the origin looking down -z), model units.
        focal_px: focal length in pixels.
        principal_px: (2,) principal point.
    Returns:
        (L, 2) pixel coordinates (x right, y down, pixel-centre origin).
    """
    depth = -points_world[:, 2]
    return np.stack([points_world[:, 0], -points_world[:, 1]], 1) * (focal_px / depth)[:, None] + principal_px


def skew(v: np.ndarray) -> np.ndarray:
    """(L, 3) -> (L, 3, 3) cross-product matrices."""
    o = np.zeros(len(v))
    x, y, z = v.T
    return np.stack([o, -z, y, z, o, -x, -y, x, o], 1).reshape(-1, 3, 3)


def rotvec_to_matrix(v: np.ndarray) -> np.ndarray:
    """(3,) axis-angle, radians -> (3, 3) rotation."""
    return cv2.Rodrigues(np.asarray(v, dtype=np.float64).reshape(3, 1))[0]


def matrix_to_rotvec(r: np.ndarray) -> np.ndarray:
    """(3, 3) rotation -> (3,) axis-angle, radians."""
    return cv2.Rodrigues(np.asarray(r, dtype=np.float64))[0].ravel()


def projection_jacobian(world: np.ndarray, focal_px: float) -> np.ndarray:
    """(L, 3) world points (camera at the origin looking down -z) -> (L, 2, 3) d(u, v)/d(world).

    ``u = f x / (-z) + cx``, ``v = -f y / (-z) + cy`` (``project_points``).
    """
    depth = -world[:, 2]
    a = np.zeros((len(world), 2, 3))
    a[:, 0, 0] = focal_px / depth
    a[:, 0, 2] = focal_px * world[:, 0] / depth**2
    a[:, 1, 1] = -focal_px / depth
    a[:, 1, 2] = -focal_px * world[:, 1] / depth**2
    return a


def damped_step(h: np.ndarray, g: np.ndarray, diag: np.ndarray, damping: float, free: np.ndarray) -> np.ndarray | None:
    """Levenberg-Marquardt step ``-(H + damping diag(H)) \\ g`` for the free parameters, zeros for the held ones.

    Args:
        h: (F, F) normal matrix of the free parameters; g: (F,) their gradient; diag: (F,) the damping scale.
        free: (P,) bool mask of the free parameters (F of them).
    Returns:
        (P,) step, or None when the damped system is singular in floating point.
    """
    step = np.zeros(len(free))
    try:
        step[free] = -np.linalg.solve(h + np.diag(damping * diag), g)
    except np.linalg.LinAlgError:
        return None
    return step


# Shapes that pull the same features in opposite directions: with both on, their motions cancel and what is left is
# a spurious deformation a landmark fit exploits (measured on the dev videos and the astronaut: eyeLookIn and
# eyeLookOut both at 1 to fake a lid shape, jawLeft + jawRight both ~0.8). At most one of each pair may be non-zero.
OPPOSITE_SHAPES = (
    ("eyeLookIn_L", "eyeLookOut_L"), ("eyeLookUp_L", "eyeLookDown_L"),
    ("eyeLookIn_R", "eyeLookOut_R"), ("eyeLookUp_R", "eyeLookDown_R"),
    ("eyeBlink_L", "eyeWide_L"), ("eyeBlink_R", "eyeWide_R"),
    ("jawLeft", "jawRight"), ("mouthLeft", "mouthRight"),
)


def opposite_pairs(expression_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """(P, 2) expression indices of the ``OPPOSITE_SHAPES`` pairs present in the model."""
    names = list(expression_names)
    pairs = [(names.index(a), names.index(b)) for a, b in OPPOSITE_SHAPES if a in names and b in names]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def drop_weaker_of_pairs(coef: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """A copy of ``coef`` where, of each pair with both members non-zero, the smaller is set to 0."""
    coef = coef.copy()
    for a, b in pairs:
        if coef[a] > 0 and coef[b] > 0:
            coef[a if coef[a] < coef[b] else b] = 0.0
    return coef


def hold_one_of_pairs(coef: np.ndarray, grad: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(K,) bool: the members of exclusive pairs to hold at 0 in this Gauss-Newton step.

    Of each pair (a, b) only one is free: the non-zero one, or, with both at 0, the one whose gradient lowers the
    cost more (the more negative ``grad``).
    """
    held = np.zeros(len(coef), bool)
    for a, b in pairs:
        if coef[a] > 0:
            held[b] = True
        elif coef[b] > 0:
            held[a] = True
        else:
            held[b if grad[a] < grad[b] else a] = True
    return held


def initial_pose(
    points_model: np.ndarray, observed_px: np.ndarray, focal_px: float, principal_px: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rigid pose of a fixed shape from PnP (OpenCV EPnP + iterative refinement); returns (R (3,3), t (3,)).

    Args:
        points_model: (L, 3) model-frame points.
    """
    use = np.nonzero(weights > 0)[0]
    if len(use) > 120:  # PnP needs few points; the most reliable 120 are plenty and keep it fast
        use = use[np.sort(np.argsort(-weights[use], kind="stable")[:120])]
    k = np.array([[focal_px, 0, principal_px[0]], [0, focal_px, principal_px[1]], [0, 0, 1.0]])
    obj = points_model[use].astype(np.float64)
    img = observed_px[use].astype(np.float64)
    ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(obj, img, k, None, rvec, tvec, useExtrinsicGuess=True,
                                      flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or tvec[2, 0] <= 0:
        # Fall back to a frontal pose at the distance that matches the landmark spread.
        spread = np.ptp(img, axis=0).max() + 1e-6
        size = np.ptp(obj, axis=0)[:2].max()
        r_cv, t_cv = _FLIP.copy(), np.array([0.0, 0.0, focal_px * size / spread])
    else:
        r_cv, t_cv = rotvec_to_matrix(rvec.ravel()), tvec.ravel()
    # OpenCV camera pose -> world (camera = flip): X_cv = F (R X + t)  =>  R = F r_cv, t = F t_cv.
    return _FLIP @ r_cv, _FLIP @ t_cv


def fit_landmarks(
    basis: PointBasis,
    observed_px: np.ndarray,
    image_size: tuple[int, int],
    weights: np.ndarray | None = None,
    focal_px: float | None = None,
    options: LandmarkFitOptions = LandmarkFitOptions(),
    expression_bounds: tuple[float, float] | None = (0.0, 1.0),
    free_expression: np.ndarray | None = None,
    fixed_expression: np.ndarray | None = None,
    init: LandmarkFitResult | None = None,
    exclusive_pairs: np.ndarray | None = None,
) -> LandmarkFitResult:
    """Fit pose, focal length, identity and expression to 2D landmarks.

    Args:
        basis: the model at the L landmark surface points.
        observed_px: (L, 2) observed landmark pixels (x right, y down).
        image_size: (width, height) in pixels; the principal point is the image centre.
        weights: (L,) non-negative per-landmark weights (0 = ignore), default all 1.
        focal_px: known focal length in pixels, or None to start from ``max(w, h) * 1.2`` (about 45 degrees of
            horizontal field of view) and estimate it when ``options.fit_focal``.
        options: solver options.
        expression_bounds: (lower, upper) for expression weights, None for unbounded models.
        free_expression: (Ne,) bool, the expression weights to estimate (default all); the others stay at
            ``fixed_expression``.
        fixed_expression: (Ne,) values of the weights that are not free (default 0).
        init: a previous result to start from (pose, focal, identity, free expression weights) instead of PnP on the
            mean shape (video frames, refits).
    Returns:
        LandmarkFitResult.
    """
    obs = np.asarray(observed_px, dtype=np.float64)
    n_pts = basis.mean.shape[0]
    if obs.shape != (n_pts, 2):
        raise UsageError(f"observed_px: expected ({n_pts}, 2), got {obs.shape}")
    w_l = np.ones(n_pts) if weights is None else np.asarray(weights, dtype=np.float64)
    if w_l.shape != (n_pts,) or (w_l < 0).any():
        raise UsageError(f"weights: expected ({n_pts},) non-negative, got shape {w_l.shape}")
    width, height = image_size
    principal = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    f0 = float(focal_px) if focal_px is not None else 1.2 * max(width, height)
    fit_focal = options.fit_focal and focal_px is None

    ni = min(options.num_identity, basis.num_identity)
    free_e = np.ones(basis.num_expression, bool) if free_expression is None else np.asarray(free_expression, bool)
    fixed_e = np.zeros(basis.num_expression) if fixed_expression is None else np.asarray(fixed_expression, float)
    if free_e.shape != (basis.num_expression,) or fixed_e.shape != (basis.num_expression,):
        raise UsageError(f"free_expression/fixed_expression: expected ({basis.num_expression},)")
    free_idx = np.nonzero(free_e)[0]
    ne = len(free_idx)
    cols = np.r_[np.arange(ni), basis.num_identity + free_idx]
    shape = basis.shape[:, :, cols]  # (L, 3, K)
    # Fixed expression weights become part of the mean shape.
    mean = basis.mean + basis.shape[:, :, basis.num_identity:][:, :, ~free_e] @ fixed_e[~free_e]
    k_shape = ni + ne
    n_rigid = 7 if fit_focal else 6
    n_par = n_rigid + k_shape
    coef = np.zeros(k_shape)
    lo = np.full(k_shape, -np.inf)
    hi = np.full(k_shape, np.inf)
    if expression_bounds is not None:
        lo[ni:], hi[ni:] = expression_bounds

    scale = max(np.ptp(obs[w_l > 0], axis=0).max(), 1.0)  # face size in pixels normalizes residuals
    if init is None:
        rot, trans = initial_pose(mean, obs, f0, principal, w_l)
        log_f = np.log(f0)
    else:
        rot, trans = init.rotation.copy(), init.translation.copy()
        log_f = np.log(init.focal_px if fit_focal else f0)
        if init.identity.shape[0] >= ni:
            coef = np.clip(np.r_[init.identity[:ni], init.expression[free_idx]], lo, hi)
    prior = np.r_[np.full(ni, options.identity_prior), np.full(ne, options.expression_prior)]
    # Exclusive pairs as positions in coef (identity first, then the free expression weights).
    position = np.full(basis.num_expression, -1)
    position[free_idx] = ni + np.arange(ne)
    pairs = np.zeros((0, 2), np.int64) if exclusive_pairs is None else position[np.asarray(exclusive_pairs, np.int64)]
    pairs = pairs[(pairs >= 0).all(1)] if len(pairs) else pairs
    coef = drop_weaker_of_pairs(coef, pairs)

    shape_2d = shape.reshape(n_pts * 3, k_shape)  # one matrix-vector product evaluates the points

    def residuals(rot_, trans_, log_f_, coef_):
        pts = (mean + (shape_2d @ coef_).reshape(n_pts, 3)) @ rot_.T + trans_
        return project_points(pts, np.exp(log_f_), principal), pts

    def cost(proj, coef_, log_f_, rw):
        r = ((proj - obs) / scale) * np.sqrt(rw)[:, None]
        c = float((r**2).sum() + (prior * coef_**2).sum())
        return c + (options.focal_prior * (log_f_ - np.log(f0)) ** 2 if fit_focal else 0.0)

    damping = options.damping
    proj, world = residuals(rot, trans, log_f, coef)
    iterations_run = 0
    for _ in range(options.iterations):
        iterations_run += 1
        rotated = world - trans
        f = np.exp(log_f)
        err = np.linalg.norm(proj - obs, axis=1) / scale
        huber = np.where(err <= options.huber, 1.0, options.huber / np.maximum(err, 1e-12))
        rw = w_l * huber
        sw = np.sqrt(rw)[:, None] / scale
        # Weighted Jacobian, built in float32: the normal equations only need a few digits for the step, and float32
        # halves the dominant cost.
        a = projection_jacobian(world, f) * sw[:, :, None]
        jac = np.empty((n_pts, 2, n_par), np.float32)
        jac[:, :, 0:3] = a @ (-skew(rotated))
        jac[:, :, 3:6] = a
        if fit_focal:
            jac[:, :, 6] = (proj - principal) * sw
        jac[:, :, n_rigid:] = np.matmul(a @ rot, shape)
        jr = jac.reshape(-1, n_par)
        res = ((proj - obs) * sw).reshape(-1)
        h = (jr.T @ jr).astype(np.float64)
        g = (jr.T @ res.astype(np.float32)).astype(np.float64)
        h[n_rigid:, n_rigid:] += np.diag(prior)
        g[n_rigid:] += prior * coef
        if fit_focal:
            h[6, 6] += options.focal_prior
            g[6] += options.focal_prior * (log_f - np.log(f0))
        # Active set: weights at a bound whose gradient pushes outward stay fixed this step.
        at_lo = (coef <= lo + 1e-9) & (g[n_rigid:] > 0)
        at_hi = (coef >= hi - 1e-9) & (g[n_rigid:] < 0)
        held = at_lo | at_hi | hold_one_of_pairs(coef, g[n_rigid:], pairs)
        free = np.r_[np.ones(n_rigid, bool), ~held]
        c0 = cost(proj, coef, log_f, rw)
        h_free = h if free.all() else h[np.ix_(free, free)]
        g_free = g[free]
        diag = np.diag(h_free) + 1e-9
        for _ in range(6):
            step = damped_step(h_free, g_free, diag, damping, free)
            if step is None:  # singular in floating point: damp harder
                damping *= 10.0
                continue
            new_rot = rotvec_to_matrix(step[0:3]) @ rot
            new_trans = trans + step[3:6]
            new_log_f = log_f + (step[6] if fit_focal else 0.0)
            new_coef = np.clip(coef + step[n_rigid:], lo, hi)
            new_proj, new_world = residuals(new_rot, new_trans, new_log_f, new_coef)
            c1 = cost(new_proj, new_coef, new_log_f, rw)
            if c1 < c0:
                rot, trans, log_f, coef = new_rot, new_trans, new_log_f, new_coef
                proj, world = new_proj, new_world
                damping = max(damping / 3.0, 1e-7)
                break
            damping *= 10.0
        else:
            break  # no decrease possible: converged
        if c0 - c1 < options.tolerance * c0:
            break
    identity = np.zeros(basis.num_identity)
    identity[:ni] = coef[:ni]
    expression = fixed_e.copy()
    expression[free_idx] = coef[ni:]
    rms = float(np.sqrt(((proj - obs)[w_l > 0] ** 2).sum(1).mean()))
    return LandmarkFitResult(
        rotation=rot, translation=trans, identity=identity, expression=expression, focal_px=float(np.exp(log_f)),
        principal_px=principal, projected_px=proj, rms_px=rms, iterations=iterations_run,
    )
