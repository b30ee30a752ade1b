"""Temporal filters: the fixed-lag Laplacian smoother (exact least squares, delays, segments) and One-Euro."""

from __future__ import annotations

import numpy as np
import pytest

from faceforge.errors import UsageError
from faceforge.track.smooth import LaplacianSmoother, OneEuroFilter, solve_window


def _run(smoother: LaplacianSmoother, z: np.ndarray) -> np.ndarray:
    out = []
    for row in z:
        out += smoother.push(row)
    out += smoother.flush()
    return np.array(out)


def test_straight_lines_pass_unchanged() -> None:
    t = np.arange(20, dtype=np.float64)
    z = np.stack([3.0 + 0 * t, 0.5 * t - 2.0], 1)  # zero second differences: nothing to smooth
    for lag in (0, 2, 4):
        out = _run(LaplacianSmoother(np.array([5.0, 5.0]), lag=lag), z)
        np.testing.assert_allclose(out, z, atol=1e-9)


def test_output_delay_and_count() -> None:
    s = LaplacianSmoother(np.ones(3), lag=2)
    assert s.push(np.zeros(3)) == [] and s.push(np.zeros(3)) == []
    assert len(s.push(np.zeros(3))) == 1  # the first frame is final once 2 more arrived
    assert len(s.flush()) == 2 and s.flush() == []
    with pytest.raises(UsageError, match="expected \\(3,\\)"):
        s.push(np.zeros(2))
    with pytest.raises(UsageError, match="lag"):
        LaplacianSmoother(np.ones(1), lag=-1)


def test_window_solution_is_the_least_squares_minimum() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 2))
    hist = rng.normal(size=(2, 2))
    lam = np.array([0.7, 3.0])
    x = solve_window(z, hist, lam, None, 0)
    for d in range(2):  # dense normal equations of sum (x - z)^2 + lam * sum (second differences over hist + x)^2
        m = 6
        d2 = np.zeros((m - 2, m))
        for i in range(m - 2):
            d2[i, i: i + 3] = (1, -2, 1)
        a = np.eye(4) + lam[d] * d2[:, 2:].T @ d2[:, 2:]
        b = z[:, d] - lam[d] * d2[:, 2:].T @ (d2[:, :2] @ hist[:, d])
        np.testing.assert_allclose(x[:, d], np.linalg.solve(a, b), atol=1e-12)


def test_noise_is_reduced_and_steps_survive_the_robust_version() -> None:
    rng = np.random.default_rng(0)
    truth = np.where(np.arange(60) < 30, 0.0, 1.0)  # a step (a fast real change)
    z = (truth + rng.normal(0, 0.02, 60))[:, None]
    linear = _run(LaplacianSmoother(np.array([4.0]), lag=3), z)[:, 0]
    robust = _run(LaplacianSmoother(np.array([4.0]), lag=3, delta=np.array([0.03])), z)[:, 0]

    def accel(x: np.ndarray) -> float:
        return float(np.abs(x[2:] - 2 * x[1:-1] + x[:-2])[np.r_[0:26, 33:58]].mean())  # away from the step

    assert accel(linear) < 0.4 * accel(z[:, 0]) and accel(robust) < 0.6 * accel(z[:, 0])
    # the robust smoother follows the step more closely than the linear one
    step_err = lambda x: float(np.abs(x - truth)[27:33].max())  # noqa: E731
    assert step_err(robust) < step_err(linear)


def test_reset_separates_segments() -> None:
    s = LaplacianSmoother(np.array([10.0]), lag=1)
    first = _run(s, np.zeros((5, 1)))
    s.reset()
    second = _run(s, np.ones((5, 1)))
    np.testing.assert_allclose(first, 0.0, atol=1e-12)
    np.testing.assert_allclose(second, 1.0, atol=1e-12)  # no pull from the first segment


def test_one_euro() -> None:
    f = OneEuroFilter(min_cutoff_hz=1.0, beta=0.0)
    pts = np.array([[10.0, 20.0], [30.0, 40.0]])
    for k in range(5):
        np.testing.assert_allclose(f(pts, k * 40.0, 100.0), pts)  # constant input passes
    rng = np.random.default_rng(0)
    f.reset()
    noisy = [pts + rng.normal(0, 1.0, pts.shape) for _ in range(100)]
    out = np.array([f(p, k * 40.0, 100.0) for k, p in enumerate(noisy)])
    assert np.std(out[20:], axis=0).mean() < 0.5 * np.std(np.array(noisy)[20:], axis=0).mean()
    with pytest.raises(UsageError, match="cutoffs"):
        OneEuroFilter(min_cutoff_hz=0.0)
