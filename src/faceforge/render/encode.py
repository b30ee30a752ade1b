"""Turn render buffers into displayable 8-bit images (pure functions; no file I/O).

Colour conventions written here once:

* Normal maps: ``rgb = (1 + m) / 2`` with ``m`` the normal in "viewer" axes, red = right, green = up, blue =
  towards the viewer. World-frame normals are used as they are (model frame: +x the subject's left, which is image
  right in a front view, +y up, +z out of the face); OpenCV camera-frame normals are mapped ``m = (x, -y, -z)``.
  Either way a surface facing the viewer is light blue (128, 128, 255) and the background is black.
* Depth: near = bright, far = dark, normalized per image over the covered pixels; background black.
* Labels: ``label_palette`` colours; label 0 (background) is black, label 1 (unlabelled surface) grey.
* Shaded images are linear radiance; ``linear_to_srgb`` applies the sRGB transfer curve before quantizing.
"""

from __future__ import annotations

import numpy as np
import torch

from faceforge.errors import UsageError

# Distinct, colour-blind-friendlier colours for region labels 2, 3, ... (Okabe-Ito first, then extras).
_REGION_COLOURS = (
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0), (204, 121, 167),
    (140, 86, 75), (148, 103, 189), (188, 189, 34), (23, 190, 207), (255, 152, 150), (197, 176, 213), (44, 160, 44),
)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(…, C) float in [0, 1] -> uint8 NumPy array (clamped, rounded to nearest)."""
    return (image.detach().to(torch.float32).clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8).numpy()


def normals_to_rgb(normals: torch.Tensor, frame: str) -> torch.Tensor:
    """(B, H, W, 3) unit normals in ``frame`` ("camera" = OpenCV, or "world") -> (B, H, W, 3) colours in [0, 1]."""
    if frame not in ("camera", "world"):
        raise UsageError(f"frame: expected 'camera' or 'world', got {frame!r}")
    m = normals * torch.tensor([1.0, -1.0, -1.0], dtype=normals.dtype) if frame == "camera" else normals
    covered = normals.norm(dim=-1, keepdim=True) > 0.5
    return torch.where(covered, (1.0 + m) / 2.0, torch.zeros_like(m))


def depth_to_gray(depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, H, W) depth and coverage -> (B, H, W, 1) in [0, 1]: nearest covered pixel 1, farthest 0.1, background 0."""
    m = mask.bool()
    out = torch.zeros_like(depth, dtype=torch.float32)
    for b in range(depth.shape[0]):
        if m[b].any():
            d = depth[b][m[b]].to(torch.float32)
            lo, hi = d.min(), d.max()
            out[b][m[b]] = 1.0 - 0.9 * (d - lo) / (hi - lo).clamp_min(1e-12)
    return out[..., None]


def label_palette(num_labels: int) -> np.ndarray:
    """(num_labels, 3) uint8 colours: 0 black (background), 1 grey (unlabelled surface), then distinct colours."""
    if num_labels < 1:
        raise UsageError(f"num_labels: expected >= 1, got {num_labels}")
    colours = [(0, 0, 0), (128, 128, 128)]
    k = 0
    while len(colours) < num_labels:
        base = _REGION_COLOURS[k % len(_REGION_COLOURS)]
        shade = 1.0 - 0.35 * (k // len(_REGION_COLOURS) % 3)  # darker repeats once the list runs out
        colours.append(tuple(int(c * shade) for c in base))
        k += 1
    return np.array(colours[:num_labels], dtype=np.uint8)


def labels_to_rgb(labels: torch.Tensor, palette: np.ndarray) -> np.ndarray:
    """(…) int64 label image -> (…, 3) uint8 colours from ``palette`` (K, 3)."""
    if int(labels.min()) < 0 or int(labels.max()) >= palette.shape[0]:
        raise UsageError(f"labels: values must lie in [0, {palette.shape[0] - 1}] for this palette")
    return palette[labels.numpy()]


def linear_to_srgb(image: torch.Tensor) -> torch.Tensor:
    """Linear values in [0, 1] -> sRGB-encoded values (IEC 61966-2-1 transfer curve), clamped to [0, 1]."""
    x = image.clamp(0.0, 1.0)
    return torch.where(x <= 0.0031308, 12.92 * x, 1.055 * x.clamp_min(1e-12) ** (1.0 / 2.4) - 0.055)
