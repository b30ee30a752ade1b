"""Landmark errors for the iBUG 68-point scheme: NME (inter-ocular or box-normalized), per group, on a subset of the
points, and the summaries of a set of faces (failure rate, cumulative error curve and its area, "AUC@0.08").

All functions take NumPy arrays in pixels (x right, y down) and return NMEs as fractions (x100 for %).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from faceforge.errors import UsageError

# iBUG-68 groups (0-based) for per-region errors.
LANDMARK_GROUPS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(range(0, 17)),
    "brows": tuple(range(17, 27)),
    "nose": tuple(range(27, 36)),
    "eyes": tuple(range(36, 48)),
    "mouth": tuple(range(48, 68)),
}
OUTER_EYE_CORNERS = (36, 45)  # 0-based; 37 and 46 in the 1-based 300-W numbering


def normalizer(gt_px: np.ndarray, mode: Literal["inter_ocular", "bbox"] = "inter_ocular") -> float:
    """Normalizing distance of NME: outer-eye-corner distance, or sqrt(w * h) of the ground-truth box.

    Args:
        gt_px: (68, 2) ground-truth landmarks in pixels.
    """
    if gt_px.shape != (68, 2):
        raise UsageError(f"gt_px: expected (68, 2), got {gt_px.shape}")
    if mode == "inter_ocular":
        return float(np.linalg.norm(gt_px[OUTER_EYE_CORNERS[0]] - gt_px[OUTER_EYE_CORNERS[1]]))
    if mode == "bbox":
        w, h = np.ptp(gt_px, axis=0)
        return float(np.sqrt(w * h))
    raise UsageError(f"unknown NME normalization {mode!r}; use inter_ocular or bbox")


def nme(pred_px: np.ndarray, gt_px: np.ndarray, mode: Literal["inter_ocular", "bbox"] = "inter_ocular") -> float:
    """Normalized mean error: mean point-to-point distance over the 68 points divided by ``normalizer``.

    Args:
        pred_px: (68, 2) predicted landmarks, pixels.
        gt_px: (68, 2) ground truth, pixels.
    Returns:
        NME as a fraction (multiply by 100 for %).
    """
    pred_px, gt_px = np.asarray(pred_px, dtype=np.float64), np.asarray(gt_px, dtype=np.float64)
    if pred_px.shape != gt_px.shape:
        raise UsageError(f"pred_px {pred_px.shape} and gt_px {gt_px.shape} differ")
    d = normalizer(gt_px, mode)
    if d <= 0:
        raise UsageError("degenerate ground truth: normalizing distance is 0")
    return float(np.linalg.norm(pred_px - gt_px, axis=1).mean() / d)


def nme_by_group(
    pred_px: np.ndarray, gt_px: np.ndarray, mode: Literal["inter_ocular", "bbox"] = "inter_ocular"
) -> dict[str, float]:
    """NME restricted to each landmark group (jaw, brows, nose, eyes, mouth)."""
    d = normalizer(np.asarray(gt_px, dtype=np.float64), mode)
    err = np.linalg.norm(np.asarray(pred_px) - np.asarray(gt_px), axis=1) / d
    return {name: float(err[list(idx)].mean()) for name, idx in LANDMARK_GROUPS.items()}


def nme_on_points(
    pred_px: np.ndarray, gt_px: np.ndarray, indices: np.ndarray, mode: Literal["inter_ocular", "bbox"] = "inter_ocular"
) -> float:
    """NME over a subset of the 68 points (e.g. the 10 a 478-point detector has counterparts for).

    The normalizer is still that of the full 68-point ground truth, so values are comparable with ``nme``.

    Args:
        pred_px: (K, 2) predictions of the points ``indices``, pixels.
        gt_px: (68, 2) ground truth, pixels.
        indices: (K,) 0-based iBUG-68 indices, K >= 1.
    """
    pred_px, gt_px = np.asarray(pred_px, dtype=np.float64), np.asarray(gt_px, dtype=np.float64)
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= 68:
        raise UsageError(f"indices: expected 1 to 68 indices in [0, 67], got {idx.size}")
    if pred_px.shape != (idx.size, 2):
        raise UsageError(f"pred_px: expected ({idx.size}, 2), got {pred_px.shape}")
    d = normalizer(gt_px, mode)
    if d <= 0:
        raise UsageError("degenerate ground truth: normalizing distance is 0")
    return float(np.linalg.norm(pred_px - gt_px[idx], axis=1).mean() / d)


def _check_errors(errors: np.ndarray, threshold: float) -> np.ndarray:
    e = np.asarray(errors, dtype=np.float64).reshape(-1)
    if e.size == 0:
        raise UsageError("errors: expected at least one value")
    if np.isnan(e).any() or (e < 0).any():
        raise UsageError("errors: expected non-negative values (no NaN; failures may be +inf)")
    if not threshold > 0:
        raise UsageError(f"threshold: expected > 0, got {threshold}")
    return e


def failure_rate(errors: np.ndarray, threshold: float = 0.1) -> float:
    """Share of errors above ``threshold`` (e.g. NME > 10 %); undetected faces count as +inf (failures)."""
    return float(np.mean(_check_errors(errors, threshold) > threshold))


def area_under_curve(errors: np.ndarray, threshold: float = 0.08) -> float:
    """Area under the cumulative error curve up to ``threshold``, normalized to [0, 1] (the 300-W "AUC@0.08").

    The curve F(x) = share of errors <= x is a step function, so the area is exact:
    ``(1 / T) * integral_0^T F(x) dx = mean_i max(0, T - e_i) / T``. 1 means every error is 0; 0 means none is
    below the threshold. Failures (+inf) count as errors beyond it.
    """
    e = _check_errors(errors, threshold)
    return float(np.mean(np.maximum(0.0, threshold - e)) / threshold)


@dataclass(frozen=True)
class ErrorCurve:
    """A cumulative error distribution: ``fractions[k]`` = share of errors <= ``thresholds[k]``."""

    thresholds: np.ndarray
    fractions: np.ndarray


def cumulative_error_curve(errors: np.ndarray, max_error: float, num_points: int = 201) -> ErrorCurve:
    """The cumulative error distribution (CED) sampled at ``num_points`` thresholds from 0 to ``max_error``."""
    e = _check_errors(errors, max_error)
    if num_points < 2:
        raise UsageError(f"num_points: expected >= 2, got {num_points}")
    t = np.linspace(0.0, max_error, num_points)
    return ErrorCurve(t, (e[None, :] <= t[:, None]).mean(1))
