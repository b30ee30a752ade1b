"""Rotated square regions of interest: building them, cropping them into model inputs, mapping outputs back.

Frames (see ``docs/conventions.md``):

- ``_px``: original-image pixels, origin at the centre of the top-left pixel, x right, y down.
- tensor coordinates ``t``: a model input of ``S x S`` pixels as a continuous square ``[0, S] x [0, S]`` with the
  origin at the top-left *corner* (tensor pixel ``j`` covers ``[j, j + 1]``). MediaPipe models output landmarks in
  these units (x, y, and z on the same scale as x).

A :class:`Roi` is a square of side ``size_px`` centred at ``center_px`` whose own x axis points along
``(cos r, sin r)`` in the image (y down, so a positive ``rotation_rad`` turns it clockwise on screen). Tensor
coordinates map to image pixels by ``p = center + R(r) @ ((t / S - 0.5) * size)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from faceforge.errors import UsageError

# Downscaling by more than this factor first averages pixels (cv2.INTER_AREA), so that large photos are not aliased
# when bilinear warping samples them sparsely.
_AREA_DOWNSCALE_ABOVE = 1.5


@dataclass(frozen=True)
class Roi:
    """A rotated square in original-image pixels.

    Attributes:
        center_px: (x, y) centre in image pixels.
        size_px: side length in image pixels (> 0).
        rotation_rad: angle of the square's x axis from the image x axis, radians, clockwise on screen (y down).
    """

    center_px: tuple[float, float]
    size_px: float
    rotation_rad: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.size_px) and self.size_px > 0):
            raise UsageError(f"Roi.size_px must be a positive finite number, got {self.size_px}")
        if not all(math.isfinite(v) for v in (*self.center_px, self.rotation_rad)):
            raise UsageError(f"Roi: non-finite centre or rotation ({self.center_px}, {self.rotation_rad})")


def roi_from_box(
    box_px: np.ndarray, rotation_rad: float = 0.0, scale: float = 1.0, shift_y: float = 0.0
) -> Roi:
    """Square ROI around an axis-aligned box (MediaPipe's DetectionsToRects + RectTransformation with square_long).

    Args:
        box_px: (4,) x0, y0, x1, y1 in image pixels.
        rotation_rad: ROI rotation (see :class:`Roi`).
        scale: the square's side is ``scale * max(box width, box height)``.
        shift_y: shift of the centre along the ROI's own y axis, as a fraction of the box height.
    Returns:
        The ROI.
    """
    x0, y0, x1, y1 = (float(v) for v in box_px)
    w, h = x1 - x0, y1 - y0
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    if shift_y:
        cx -= math.sin(rotation_rad) * shift_y * h
        cy += math.cos(rotation_rad) * shift_y * h
    return Roi((cx, cy), scale * max(w, h), rotation_rad)


def rotation_from_points(start_px: np.ndarray, end_px: np.ndarray) -> float:
    """Angle (radians, image frame, y down) of the vector start -> end; 0 when it points along +x."""
    d = np.asarray(end_px, dtype=np.float64) - np.asarray(start_px, dtype=np.float64)
    return float(math.atan2(d[1], d[0]))


def tensor_to_image_affine(roi: Roi, tensor_size: int) -> np.ndarray:
    """(2, 3) float64 affine map from tensor coordinates ``t`` (see the module docstring) to image pixels."""
    c, s = math.cos(roi.rotation_rad), math.sin(roi.rotation_rad)
    k = roi.size_px / tensor_size
    a = np.array([[c * k, -s * k], [s * k, c * k]])
    offset = np.asarray(roi.center_px, dtype=np.float64) - a @ np.array([0.5 * tensor_size, 0.5 * tensor_size])
    return np.concatenate([a, offset[:, None]], axis=1)


def tensor_to_image(points_t: np.ndarray, roi: Roi, tensor_size: int) -> np.ndarray:
    """Map (N, 2) or (N, 3) tensor coordinates to image pixels; z (if present) is scaled like x: ``z * size / S``.

    Returns:
        float64 array of the input's shape.
    """
    points_t = np.asarray(points_t, dtype=np.float64)
    m = tensor_to_image_affine(roi, tensor_size)
    out = np.empty_like(points_t)
    out[:, :2] = points_t[:, :2] @ m[:, :2].T + m[:, 2]
    if points_t.shape[1] > 2:
        out[:, 2:] = points_t[:, 2:] * (roi.size_px / tensor_size)
    return out


def image_to_tensor(points_px: np.ndarray, roi: Roi, tensor_size: int) -> np.ndarray:
    """Inverse of :func:`tensor_to_image` for (N, 2) image points."""
    m = tensor_to_image_affine(roi, tensor_size)
    return (np.asarray(points_px, dtype=np.float64) - m[:, 2]) @ np.linalg.inv(m[:, :2]).T


def crop_roi(image: np.ndarray, roi: Roi, tensor_size: int, border: str = "replicate") -> np.ndarray:
    """Resample the ROI of an image into a ``tensor_size`` square (bilinear; area-averaged first when shrinking).

    Args:
        image: (H, W, C) uint8 or float image.
        roi: region to crop; may extend beyond the image.
        tensor_size: output side S in pixels.
        border: ``"replicate"`` (edge pixels repeat, as MediaPipe's landmark crops) or ``"zero"`` (black padding,
            as MediaPipe's detector letterbox).
    Returns:
        (S, S, C) array of the image's dtype; output pixel (i, j) samples the image at tensor point (j + .5, i + .5).
    """
    if border not in ("replicate", "zero"):
        raise UsageError(f"border must be 'replicate' or 'zero', got {border!r}")
    m = tensor_to_image_affine(roi, tensor_size)
    # Output pixel (j, i) sits at tensor point (j + 0.5, i + 0.5).
    m_px = m.copy()
    m_px[:, 2] += m[:, :2] @ np.array([0.5, 0.5])
    src = image
    k = roi.size_px / tensor_size
    if k > _AREA_DOWNSCALE_ABOVE:
        src, m_px = _area_shrink(image, roi, m_px, k)
    border_mode = cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT
    out = cv2.warpAffine(
        src, m_px, (tensor_size, tensor_size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=border_mode, borderValue=0,
    )
    if out.ndim == 2:
        out = out[:, :, None]
    return out


def _area_shrink(image: np.ndarray, roi: Roi, m_px: np.ndarray, k: float) -> tuple[np.ndarray, np.ndarray]:
    """Crop the ROI's bounding box (clipped to the image) and shrink it by about ``k`` with area averaging.

    Returns the smaller image and the output-pixel -> small-image affine. Wherever the ROI leaves the image the crop
    reaches the image border, so edge replication on the small image still repeats the true image edge.
    """
    h, w = image.shape[:2]
    half = 0.5 * roi.size_px * (abs(math.cos(roi.rotation_rad)) + abs(math.sin(roi.rotation_rad)))
    cx, cy = roi.center_px
    x0 = int(np.clip(math.floor(cx - half) - 1, 0, w - 1))
    y0 = int(np.clip(math.floor(cy - half) - 1, 0, h - 1))
    x1 = int(np.clip(math.ceil(cx + half) + 2, x0 + 1, w))
    y1 = int(np.clip(math.ceil(cy + half) + 2, y0 + 1, h))
    crop = image[y0:y1, x0:x1]
    cw, ch = x1 - x0, y1 - y0
    rw, rh = max(1, round(cw / k)), max(1, round(ch / k))
    small = cv2.resize(crop, (rw, rh), interpolation=cv2.INTER_AREA)
    # image pixel p -> small pixel r: r = (p - origin + 0.5) * (rw / cw) - 0.5 (pixel-centre convention, per axis).
    sx, sy = rw / cw, rh / ch
    to_small = np.array([[sx, 0.0, (0.5 - x0) * sx - 0.5], [0.0, sy, (0.5 - y0) * sy - 0.5]])
    m_small = to_small[:, :2] @ m_px
    m_small[:, 2] += to_small[:, 2]
    return small, m_small
