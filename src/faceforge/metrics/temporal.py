"""Video metrics: temporal landmark jitter and optical-flow warping error.

**Landmark jitter** (the smoothness of a landmark track): the second difference (discrete acceleration) of every
landmark, ``a_t = x_{t+1} - 2 x_t + x_{t-1}`` for t = 1 .. T-2, its Euclidean norm divided by the face size of
frame t, averaged over landmarks and frames. A track moving at constant velocity has zero jitter; frame-to-frame
noise of standard deviation s per coordinate (i.i.d.) gives a mean |a| of about ``sqrt(6) * s * 1.25`` (the
norm of a 2D Gaussian of variance 6 s^2 per axis has mean ``sqrt(6 s^2) * sqrt(pi / 2)``). With a ``reference``
track (ground truth) the second difference of the *error* ``x - reference`` is used instead, so true motion of the
face does not count as jitter. Face size: the outer-eye-corner distance (iBUG-68 36-45) for 68 points, else
``sqrt(w * h)`` of the landmarks' box, of the reference track when given.

**Flow warping error** (Lai et al., "Learning Blind Video Temporal Consistency", ECCV 2018, eq. 8): for each pair
of consecutive frames (t, t + 1), the optical flow from frame t + 1 back to frame t is estimated on the *guide*
frames (the input video; by default the evaluated frames themselves), frame t of the evaluated video is warped
to t + 1 with it (``warped(p) = frame_t(p + flow(p))``, bilinear), and the squared colour difference
``|frame_{t+1}(p) - warped(p)|^2`` (RGB in [0, 1], summed over channels) is averaged over the valid pixels. Valid
pixels: the flow target lies inside the image, forward-backward consistency holds (Sundaram et al. 2010:
``|f_b(p) + f_f(p + f_b(p))|^2 <= 0.01 (|f_b|^2 + |f_f(p + f_b)|^2) + 0.5``, which drops occluded pixels) and,
when given, the mask of frame t + 1 is set. The video's error is the mean over pairs. Flow: OpenCV's DIS optical
flow (preset "medium") on grey frames, or Farneback.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceforge.errors import UsageError
from faceforge.metrics.landmarks import OUTER_EYE_CORNERS

FLOW_METHODS = ("dis", "farneback")


def _face_sizes(track: np.ndarray) -> np.ndarray:
    """(T, L, 2) -> (T,) face size per frame (inter-ocular for 68 points, else sqrt of the box area)."""
    if track.shape[1] == 68:
        return np.linalg.norm(track[:, OUTER_EYE_CORNERS[0]] - track[:, OUTER_EYE_CORNERS[1]], axis=1)
    w, h = np.ptp(track[..., 0], axis=1), np.ptp(track[..., 1], axis=1)
    return np.sqrt(w * h)


def _check_track(name: str, track: object) -> np.ndarray:
    a = np.asarray(track, dtype=np.float64)
    if a.ndim != 3 or a.shape[2] != 2 or a.shape[1] < 2:
        raise UsageError(f"{name}: expected shape (T, L, 2) with L >= 2, got {a.shape}")
    if a.shape[0] < 3:
        raise UsageError(f"{name}: jitter needs at least 3 frames, got {a.shape[0]}")
    if not np.isfinite(a).all():
        raise UsageError(f"{name}: contains NaN or infinite values")
    return a


def landmark_jitter(landmarks_px: np.ndarray, reference_px: np.ndarray | None = None) -> float:
    """Mean normalized second difference of a landmark track (definition in the module docstring).

    Args:
        landmarks_px: (T, L, 2) landmarks per frame, pixels, T >= 3.
        reference_px: (T, L, 2) ground-truth track, or None.
    Returns:
        jitter as a fraction of the face size per frame (x100 for %).
    """
    x = _check_track("landmarks_px", landmarks_px)
    size_from = x
    if reference_px is not None:
        ref = _check_track("reference_px", reference_px)
        if ref.shape != x.shape:
            raise UsageError(f"reference_px {ref.shape} must match landmarks_px {x.shape}")
        x, size_from = x - ref, ref
    sizes = _face_sizes(size_from)[1:-1]
    if (sizes <= 0).any():
        raise UsageError("landmarks: a frame has a face size of 0 (degenerate landmarks)")
    accel = np.linalg.norm(x[2:] - 2.0 * x[1:-1] + x[:-2], axis=2)  # (T-2, L)
    return float((accel / sizes[:, None]).mean())


def _gray(frame: np.ndarray) -> np.ndarray:
    g = frame if frame.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(g)


def optical_flow(frame_from: np.ndarray, frame_to: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense optical flow such that ``frame_from(p) ~ frame_to(p + flow(p))``.

    Args:
        frame_from, frame_to: (H, W, 3) or (H, W) uint8 frames of one size.
        method: "dis" (OpenCV DIS, preset medium) or "farneback".
    Returns:
        (H, W, 2) float32 displacement (dx, dy) in pixels.
    """
    if method not in FLOW_METHODS:
        raise UsageError(f"flow method: expected one of {', '.join(FLOW_METHODS)}, got {method!r}")
    a, b = _gray(frame_from), _gray(frame_to)
    if a.shape != b.shape or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise UsageError(f"frames: expected two uint8 images of one size, got {a.shape} {a.dtype}, {b.shape} {b.dtype}")
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(a, b, None)
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 4, 15, 3, 5, 1.2, 0)


def warp_with_flow(image: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backward warp: ``out(p) = image(p + flow(p))`` (bilinear), and where the source point lies inside the image.

    Args:
        image: (H, W, C) or (H, W) float or uint8.
        flow: (H, W, 2) displacement in pixels.
    Returns:
        warped (H, W[, C]) float32 and inside (H, W) bool.
    """
    h, w = image.shape[:2]
    if flow.shape != (h, w, 2):
        raise UsageError(f"flow: expected shape ({h}, {w}, 2), got {flow.shape}")
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0].astype(np.float32), gy + flow[..., 1].astype(np.float32)
    warped = cv2.remap(image.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    return warped, inside


def consistent_flow_mask(flow_backward: np.ndarray, flow_forward: np.ndarray) -> np.ndarray:
    """Forward-backward consistency of ``flow_backward`` (t+1 -> t) against ``flow_forward`` (t -> t+1).

    Returns:
        (H, W) bool, True where ``|f_b + f_f(p + f_b)|^2 <= 0.01 (|f_b|^2 + |f_f(p + f_b)|^2) + 0.5`` and p + f_b
        lies inside the image.
    """
    ff_at, inside = warp_with_flow(flow_forward, flow_backward)
    err = ((flow_backward + ff_at) ** 2).sum(-1)
    bound = 0.01 * ((flow_backward**2).sum(-1) + (ff_at**2).sum(-1)) + 0.5
    return inside & (err <= bound)


def warping_error_with_flow(
    frame_t: np.ndarray, frame_next: np.ndarray, flow_backward: np.ndarray, valid: np.ndarray
) -> float:
    """Warping error of one frame pair for a given flow (the core of ``flow_warping_error``).

    Args:
        frame_t, frame_next: (H, W, C) uint8 (scaled to [0, 1]) or float in [0, 1].
        flow_backward: (H, W, 2) flow from ``frame_next`` to ``frame_t``.
        valid: (H, W) bool pixels of ``frame_next`` to score.
    Returns:
        mean over valid pixels of the squared colour difference (summed over channels); NaN when none is valid.
    """
    a, b = _unit(frame_t), _unit(frame_next)
    if a.shape != b.shape:
        raise UsageError(f"frames: shapes differ, {a.shape} and {b.shape}")
    warped, inside = warp_with_flow(a, flow_backward)
    ok = np.asarray(valid, dtype=bool) & inside
    if not ok.any():
        return float("nan")
    diff = (b - warped) ** 2
    diff = diff.sum(-1) if diff.ndim == 3 else diff
    return float(diff[ok].mean())


def _unit(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame)
    return f.astype(np.float32) / 255.0 if f.dtype == np.uint8 else f.astype(np.float32)


@dataclass(frozen=True)
class WarpingError:
    """Flow warping error of a video.

    Attributes:
        mean: mean over frame pairs (NaN pairs skipped; NaN when every pair is).
        per_pair: (T - 1,) error of each pair (t, t + 1).
        valid_fraction: (T - 1,) share of the pixels scored in each pair.
    """

    mean: float
    per_pair: np.ndarray
    valid_fraction: np.ndarray


def flow_warping_error(
    frames: np.ndarray,
    guide_frames: np.ndarray | None = None,
    masks: np.ndarray | None = None,
    method: str = "dis",
) -> WarpingError:
    """Temporal consistency of a video by flow warping (definition in the module docstring).

    Args:
        frames: (T, H, W, 3) uint8 evaluated frames (e.g. renders of a tracked face), T >= 2.
        guide_frames: (T, H, W, 3) uint8 frames the flow is estimated on (the input video), default ``frames``.
        masks: (T, H, W) bool pixels to score (e.g. the rendered face), default all.
        method: optical-flow method, see ``optical_flow``.
    Returns:
        WarpingError.
    """
    v = np.asarray(frames)
    if v.ndim != 4 or v.shape[0] < 2 or v.dtype != np.uint8:
        raise UsageError(f"frames: expected a (T, H, W, C) uint8 array with T >= 2, got {v.shape} {v.dtype}")
    g = v if guide_frames is None else np.asarray(guide_frames)
    if g.shape[:3] != v.shape[:3] or g.dtype != np.uint8:
        raise UsageError(f"guide_frames: expected uint8 frames of shape {v.shape[:3]}, got {g.shape} {g.dtype}")
    if masks is not None and np.asarray(masks).shape != v.shape[:3]:
        raise UsageError(f"masks: expected shape {v.shape[:3]}, got {np.asarray(masks).shape}")
    errors, fractions = [], []
    for t in range(v.shape[0] - 1):
        back = optical_flow(g[t + 1], g[t], method)
        fwd = optical_flow(g[t], g[t + 1], method)
        valid = consistent_flow_mask(back, fwd)
        if masks is not None:
            valid &= np.asarray(masks[t + 1], dtype=bool)
        fractions.append(float(valid.mean()))
        errors.append(warping_error_with_flow(v[t], v[t + 1], back, valid))
    per_pair = np.array(errors)
    finite = per_pair[np.isfinite(per_pair)]
    return WarpingError(float(finite.mean()) if finite.size else float("nan"), per_pair, np.array(fractions))
