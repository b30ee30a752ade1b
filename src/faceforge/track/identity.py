"""One identity (and focal length) for a whole clip, estimated from many frames' landmarks.

1. Each of up to ``max_frames`` frames (spread over the ones given) is fitted alone, like a photo (FaceFitter's
   stage 1: pose, focal, identity, expression).
2. The per-frame identities and focal lengths are combined robustly: coordinate-wise median, median focal.
3. Joint refinement (block-coordinate descent): ``rounds`` times, (a) every frame's pose and expression are refitted
   with identity and focal fixed (``fit_frame``), then (b) one damped Gauss-Newton step on the shared identity and
   log focal over all frames together, poses and expressions fixed. Many views of one face constrain identity and
   focal far better than one photo (a single view confuses face depth with perspective).

The identity prior is scaled by the number of frames, so the regularization matches a single-photo fit while the
landmark noise averages out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from faceforge.errors import NoFaceError
from faceforge.fit.landmark_fit import LandmarkFitOptions, fit_landmarks, project_points
from faceforge.fit.reconstruct import FaceFitter
from faceforge.fit.surface import PointBasis
from faceforge.track.solver import FrameFitOptions, FrameState, fit_frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IdentityOptions:
    """Options of ``estimate_shared_identity``.

    Attributes:
        max_frames: at most this many frames are used (evenly spread over those given).
        num_identity: identity components estimated (the rest stay 0).
        rounds: joint refinement rounds after the median (0 = the median alone).
        landmarks: options of the per-frame photo fits (step 1).
    """

    max_frames: int = 20
    num_identity: int = 40
    rounds: int = 3
    landmarks: LandmarkFitOptions = field(default_factory=LandmarkFitOptions)


@dataclass(frozen=True)
class SharedIdentity:
    """The clip's identity.

    Attributes:
        identity: (Ni,) identity weights (model's full Ni, components past ``num_identity`` are 0).
        focal_px: focal length in pixels.
        frames_used: how many frames it was estimated from.
        rms_px: RMS landmark residual over those frames after the joint refinement, pixels.
    """

    identity: np.ndarray
    focal_px: float
    frames_used: int
    rms_px: float


def fixed_identity_basis(basis: PointBasis, identity: np.ndarray) -> PointBasis:
    """``basis`` with the identity folded into the mean: num_identity 0, expression columns only."""
    ni = basis.num_identity
    mean = basis.mean + basis.shape[:, :, :ni] @ identity[:ni]
    return PointBasis(mean, np.ascontiguousarray(basis.shape[:, :, ni:]), 0, basis.num_expression)


def estimate_shared_identity(
    fitter: FaceFitter,
    basis: PointBasis,
    observations: list[np.ndarray],
    weights: list[np.ndarray],
    image_size: tuple[int, int],
    options: IdentityOptions | None = None,
    frame_options: FrameFitOptions | None = None,
    exclusive_pairs: np.ndarray | None = None,
) -> SharedIdentity:
    """Estimate one identity and focal length from several frames of the same face.

    Args:
        fitter: model data (the model, its gaze shapes and the correspondence weights).
        basis: the model at the 478 detector points (iris rows on the eye rig, e.g. ``tracking_basis``).
        observations: F arrays (478, 2) of detector landmarks in pixels, one per frame.
        weights: F arrays (478,) of landmark weights per frame (face points: the correspondence reliability; iris
            points: the gaze weight, 0 on closed eyes).
        image_size: (width, height) pixels.
        exclusive_pairs: opposite gaze shapes for ``fit_frame``.
    Raises:
        NoFaceError: no observations.
    """
    if not observations:
        raise NoFaceError("no face found to estimate the identity from")
    options = options or IdentityOptions()
    frame_options = frame_options or FrameFitOptions()
    m = fitter.model
    idx = np.unique(np.linspace(0, len(observations) - 1, min(options.max_frames, len(observations))).round())
    obs = [np.asarray(observations[int(i)], dtype=np.float64) for i in idx]
    wts = [np.asarray(weights[int(i)], dtype=np.float64) for i in idx]
    width, height = image_size
    principal = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
    ni = min(options.num_identity, basis.num_identity)
    lm_opts = replace(options.landmarks, num_identity=ni)
    face_w = fitter.correspondence.weight
    fits = [
        fit_landmarks(basis, o, image_size, weights=face_w, options=lm_opts,
                      expression_bounds=m.expression_bounds, free_expression=~fitter.gaze_shapes)
        for o in obs
    ]
    identity = np.median(np.stack([f.identity for f in fits]), axis=0)
    log_f = float(np.median([np.log(f.focal_px) for f in fits]))
    states = [FrameState(f.rotation, f.translation, f.expression) for f in fits]
    prior = options.landmarks.identity_prior * len(obs)
    bounds = m.expression_bounds
    rms = 0.0
    for _ in range(options.rounds + 1):
        fixed = fixed_identity_basis(basis, identity)
        frame_fits = [
            fit_frame(fixed, o, w, float(np.exp(log_f)), principal, s, frame_options,
                      iterations=frame_options.first_iterations, expression_bounds=bounds,
                      exclusive_pairs=exclusive_pairs)
            for o, w, s in zip(obs, wts, states, strict=True)
        ]
        states = [f.state for f in frame_fits]
        rms = float(np.sqrt(np.mean([f.rms_px**2 for f in frame_fits])))
        if _ == options.rounds:
            break
        identity, log_f = _joint_step(basis, obs, wts, states, identity, log_f, principal, ni, prior,
                                      options.landmarks.huber)
    log.info("shared identity from %d frames: focal %.0f px, rms %.2f px", len(obs), np.exp(log_f), rms)
    return SharedIdentity(identity, float(np.exp(log_f)), len(obs), rms)


def _joint_step(
    basis: PointBasis,
    obs: list[np.ndarray],
    weights: list[np.ndarray],
    states: list[FrameState],
    identity: np.ndarray,
    log_f: float,
    principal: np.ndarray,
    ni: int,
    prior: float,
    huber_threshold: float,
) -> tuple[np.ndarray, float]:
    """One damped Gauss-Newton step on (identity[:ni], log f) with every frame's pose and expression fixed."""
    s_id = basis.shape[:, :, :ni]
    s_e = basis.shape[:, :, basis.num_identity:]
    n_par = ni + 1

    def frame_terms(ident, lf, s, o, wt, with_jac, rw=None):
        model_pts = basis.mean + s_id @ ident[:ni] + s_e @ s.expression
        rotated = model_pts @ s.rotation.T
        world = rotated + s.translation
        f = float(np.exp(lf))
        proj = project_points(world, f, principal)
        scale = max(float(np.ptp(o[wt > 0], axis=0).max()), 1.0)
        if rw is None:
            err = np.linalg.norm(proj - o, axis=1) / scale
            rw = wt * np.where(err <= huber_threshold, 1.0, huber_threshold / np.maximum(err, 1e-12))
        sw = np.sqrt(rw)[:, None] / scale
        res = ((proj - o) * sw).reshape(-1)
        if not with_jac:
            return res, rw
        depth = -world[:, 2]
        a = np.zeros((len(o), 2, 3))
        a[:, 0, 0] = f / depth
        a[:, 0, 2] = f * world[:, 0] / depth**2
        a[:, 1, 1] = -f / depth
        a[:, 1, 2] = -f * world[:, 1] / depth**2
        jac = np.empty((len(o), 2, n_par))
        jac[:, :, :ni] = np.matmul(a @ s.rotation, s_id)
        jac[:, :, ni] = proj - principal
        return res, rw, (jac * sw[:, :, None]).reshape(-1, n_par)

    h = np.zeros((n_par, n_par))
    g = np.zeros(n_par)
    c0 = prior * float((identity[:ni] ** 2).sum())
    rws = []
    for s, o, wt in zip(states, obs, weights, strict=True):
        res, rw, j = frame_terms(identity, log_f, s, o, wt, True)
        rws.append(rw)
        h += j.T @ j
        g += j.T @ res
        c0 += float(res @ res)
    h[:ni, :ni] += prior * np.eye(ni)
    g[:ni] += prior * identity[:ni]
    damping = 1e-3
    for _ in range(6):
        step = -np.linalg.solve(h + damping * np.diag(np.diag(h) + 1e-9), g)
        new_id = identity.copy()
        new_id[:ni] += step[:ni]
        new_lf = log_f + step[ni]
        c1 = prior * float((new_id[:ni] ** 2).sum())
        for s, o, wt, rw in zip(states, obs, weights, rws, strict=True):
            res, _ = frame_terms(new_id, new_lf, s, o, wt, False, rw)
            c1 += float(res @ res)
        if c1 < c0:
            return new_id, new_lf
        damping *= 10.0
    return identity, log_f
