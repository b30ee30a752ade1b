"""Throughput: frames per second from measured durations."""

from __future__ import annotations

import numpy as np

from faceforge.errors import UsageError


def frames_per_second(durations_ms: np.ndarray | list[float]) -> float:
    """FPS = frames processed / total time: ``1000 * n / sum(durations_ms)``.

    Seed 003 defines FPS as the number of faces reconstructed per second; this is the sustained rate of
    back-to-back runs (the reciprocal of the *mean* duration, not of the median, so slow outliers count).

    Args:
        durations_ms: (n,) wall-clock milliseconds per frame, each > 0, n >= 1.
    Returns:
        frames per second.
    """
    d = np.asarray(durations_ms, dtype=np.float64).reshape(-1)
    if d.size == 0:
        raise UsageError("durations_ms: expected at least one duration")
    if not np.isfinite(d).all() or (d <= 0).any():
        raise UsageError("durations_ms: every duration must be finite and > 0")
    return float(1000.0 * d.size / d.sum())
