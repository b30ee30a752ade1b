"""Landmark errors (NME) for the iBUG 68-point scheme."""

from __future__ import annotations

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
