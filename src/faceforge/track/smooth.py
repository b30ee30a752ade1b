"""Temporal filters used by the tracker: a fixed-lag Laplacian smoother on parameters, a One-Euro filter on points.

**Fixed-lag Laplacian smoother** (the L_Lap smoothness term of seed 004, solved causally with a short look-ahead).
For each parameter d, with measurements z_t (the per-frame fits) and the already emitted outputs x_{t-2}, x_{t-1},
the window x_t .. x_{t+L} minimizes

``sum_k (x_k - z_k)^2 + lambda_d sum_k w_k (x_{k-1} - 2 x_k + x_{k+1})^2``

over all second differences touching the window; x_t is emitted (L frames of delay) and becomes history. The
weights w_k make the smoothness term robust (Huber, by iteratively reweighted least squares): a second difference
larger than ``delta_d`` is penalized linearly, not quadratically, so a real fast change (a blink, a mouth opening:
large accelerations) is smoothed far less than small noise. With ``delta = inf`` it is a fixed linear filter.

**One-Euro filter** (Casiez, Roussel, Vogel 2012, "1 Euro Filter: A Simple Speed-based Low-pass Filter for Noisy
Input in Interactive Systems"): per point an exponential low-pass whose cutoff rises with the point's speed,
``fc = min_cutoff + beta * |speed|``; speeds are in face sizes per second (the points are divided by the face size
given with each frame), so the parameters do not depend on the video's resolution.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from faceforge.errors import UsageError


def _second_difference(m: int) -> np.ndarray:
    """(m - 2, m) operator of second differences."""
    d = np.zeros((max(m - 2, 0), m))
    for i in range(m - 2):
        d[i, i: i + 3] = (1.0, -2.0, 1.0)
    return d


class LaplacianSmoother:
    """Fixed-lag robust Laplacian smoother over D-dimensional vectors (module docstring). Stateful: one per track."""

    def __init__(self, strength: np.ndarray, lag: int = 2, delta: np.ndarray | None = None,
                 reweight_iterations: int = 2) -> None:
        """Args:
            strength: (D,) lambda per dimension (0 = passes the measurements through).
            lag: look-ahead in frames (the output delay), >= 0.
            delta: (D,) Huber threshold of the second difference per dimension, in the parameter's unit (None: inf,
                a linear filter).
            reweight_iterations: IRLS reweightings (ignored without ``delta``).
        """
        self.strength = np.asarray(strength, dtype=np.float64).reshape(-1)
        if (self.strength < 0).any():
            raise UsageError("LaplacianSmoother: strength must be >= 0")
        if lag < 0:
            raise UsageError(f"LaplacianSmoother: lag must be >= 0, got {lag}")
        self.lag = lag
        self.dim = len(self.strength)
        self.delta = None if delta is None else np.broadcast_to(np.asarray(delta, np.float64), (self.dim,)).copy()
        self.reweight_iterations = reweight_iterations if delta is not None else 0
        self._pending: deque[np.ndarray] = deque()
        self._history: deque[np.ndarray] = deque(maxlen=2)

    def reset(self) -> list[np.ndarray]:
        """End the segment: emit everything pending and forget the history (no smoothing across a cut)."""
        out = self.flush()
        self._history.clear()
        return out

    def push(self, z: np.ndarray) -> list[np.ndarray]:
        """Add one measurement (D,); returns the 0 or 1 outputs that became final (oldest first)."""
        z = np.asarray(z, dtype=np.float64)
        if z.shape != (self.dim,):
            raise UsageError(f"LaplacianSmoother.push: expected ({self.dim},), got {z.shape}")
        self._pending.append(z)
        if len(self._pending) > self.lag:
            return [self._emit()]
        return []

    def flush(self) -> list[np.ndarray]:
        """Emit every pending measurement (the window shrinks at the end of a segment)."""
        out = []
        while self._pending:
            out.append(self._emit())
        return out

    def _emit(self) -> np.ndarray:
        z = np.stack(self._pending)  # (n, D)
        hist = np.stack(self._history) if self._history else np.zeros((0, self.dim))
        x0 = solve_window(z, hist, self.strength, self.delta, self.reweight_iterations)[0]
        self._pending.popleft()
        self._history.append(x0)
        return x0


def solve_window(
    z: np.ndarray, history: np.ndarray, strength: np.ndarray, delta: np.ndarray | None, reweight_iterations: int
) -> np.ndarray:
    """Minimize the smoother's cost over one window.

    Args:
        z: (n, D) measurements of the window's frames.
        history: (h, D) fixed earlier outputs, h <= 2 (oldest first).
        strength: (D,) lambda.
        delta: (D,) Huber thresholds or None.
    Returns:
        (n, D) smoothed window.
    """
    n, dim = z.shape
    h = len(history)
    m = n + h
    if m < 3:
        return z.copy()
    d2 = _second_difference(m)
    d_h, d_x = d2[:, :h], d2[:, h:]
    fixed = d_h @ history if h else np.zeros((m - 2, dim))  # (m-2, D)
    eye = np.eye(n)
    w = np.ones((dim, m - 2))
    x = z
    for it in range(reweight_iterations + 1):
        # A_d = I + lambda_d D_x^T W_d D_x ; b_d = z_d - lambda_d D_x^T W_d fixed_d
        a = eye[None] + strength[:, None, None] * np.einsum("ri,dr,rj->dij", d_x, w, d_x)
        b = z.T - strength[:, None] * np.einsum("ri,dr,rd->di", d_x, w, fixed)
        x = np.linalg.solve(a, b[:, :, None])[:, :, 0].T  # (n, D)
        if it == reweight_iterations or delta is None:
            break
        lap = np.abs(d_x @ x + fixed).T  # (D, m-2)
        w = np.where(lap <= delta[:, None], 1.0, delta[:, None] / np.maximum(lap, 1e-12))
    return x


class OneEuroFilter:
    """One-Euro filter over (L, 2) point sets (module docstring). Stateful: one per track."""

    def __init__(self, min_cutoff_hz: float = 1.5, beta: float = 2.0, derivative_cutoff_hz: float = 1.0) -> None:
        """Args:
            min_cutoff_hz: cutoff at rest (lower = smoother, more lag on slow motion).
            beta: cutoff increase per (face size / s) of speed (higher = less lag on fast motion).
            derivative_cutoff_hz: low-pass of the speed estimate.
        """
        if min_cutoff_hz <= 0 or derivative_cutoff_hz <= 0 or beta < 0:
            raise UsageError("OneEuroFilter: cutoffs must be > 0 and beta >= 0")
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.derivative_cutoff_hz = derivative_cutoff_hz
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        self._x = self._dx = None
        self._t = None

    @staticmethod
    def _alpha(cutoff_hz: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz))
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, points: np.ndarray, timestamp_ms: float, scale: float) -> np.ndarray:
        """Filter one frame's points (L, 2) (pixels) at ``timestamp_ms``; ``scale`` = the face size in pixels."""
        p = np.asarray(points, dtype=np.float64) / scale
        t = timestamp_ms / 1000.0
        if self._x is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = p, np.zeros(len(p)), t
            return p * scale
        dt = t - self._t
        speed = np.linalg.norm(p - self._x, axis=1) / dt
        a_d = self._alpha(self.derivative_cutoff_hz, dt)
        self._dx = a_d * speed + (1 - a_d) * self._dx
        a = self._alpha(self.min_cutoff_hz + self.beta * self._dx, dt)[:, None]
        self._x = a * p + (1 - a) * self._x
        self._t = t
        return self._x * scale
