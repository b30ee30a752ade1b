"""Lambertian shading under second-order spherical-harmonics lighting, and differentiable texture sampling (torch).

Lighting model (Ramamoorthi & Hanrahan 2001, "An efficient representation for irradiance environment maps"):
the distant environment radiance is ``L(w) = sum_k c_k Y_k(w)`` with 9 real SH coefficients ``c_k`` per colour
channel (bands l = 0, 1, 2). A Lambertian surface with albedo ``a`` and unit normal ``n`` then reflects
``a * E(n) / pi`` with the irradiance ``E(n) = sum_k A_l c_k Y_k(n)`` and ``A_0 = pi``, ``A_1 = 2 pi / 3``,
``A_2 = pi / 4``. So ``shade = a * sum_k (A_l / pi) c_k Y_k(n)``; a uniform white environment of radiance 1
(``c_0 = sqrt(4 pi)``, others 0) gives ``shade = a``.

Basis order and constants (real SH, orthonormal on the sphere, n = (x, y, z) unit):

====  =====================  ==========================
k     Y_k(n)                 constant
====  =====================  ==========================
0     C0                     C0 = 1 / (2 sqrt(pi)) = 0.282095
1-3   C1 * (y, z, x)         C1 = sqrt(3 / (4 pi)) = 0.488603
4     C2 * x y               C2 = sqrt(15 / pi) / 2 = 1.092548
5     C2 * y z
6     C3 * (3 z^2 - 1)       C3 = sqrt(5 / pi) / 4 = 0.315392
7     C2 * x z
8     C4 * (x^2 - y^2)       C4 = sqrt(15 / pi) / 4 = 0.546274
====  =====================  ==========================

The coefficients live in the frame of the normals they are applied to; faceforge lights in the **world frame**
(normals from ``render_normals(..., frame="world")``, the model frame for an unposed head: +x the subject's left,
+y up, +z out of the face), so a light stays put when the head turns.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from faceforge.errors import UsageError

C0 = 1.0 / (2.0 * math.sqrt(math.pi))
C1 = math.sqrt(3.0 / (4.0 * math.pi))
C2 = math.sqrt(15.0 / math.pi) / 2.0
C3 = math.sqrt(5.0 / math.pi) / 4.0
C4 = math.sqrt(15.0 / math.pi) / 4.0
# A_l / pi for the 9 coefficients (bands 0, 1, 1, 1, 2, 2, 2, 2, 2).
LAMBERT_BAND_FACTORS = (1.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 0.25, 0.25, 0.25, 0.25, 0.25)
NUM_SH = 9


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """The 9 real SH basis functions at unit directions (order and constants in the module docstring).

    Args:
        normals: (..., 3) unit vectors.
    Returns:
        (..., 9) in the dtype of ``normals``.
    """
    if normals.shape[-1] != 3:
        raise UsageError(f"normals: expected shape (..., 3), got {tuple(normals.shape)}")
    x, y, z = normals.unbind(-1)
    return torch.stack([
        torch.full_like(x, C0), C1 * y, C1 * z, C1 * x,
        C2 * x * y, C2 * y * z, C3 * (3.0 * z * z - 1.0), C2 * x * z, C4 * (x * x - y * y),
    ], dim=-1)


def _check_coeffs(coeffs: torch.Tensor, batch: int) -> None:
    if coeffs.ndim != 3 or coeffs.shape[1] != NUM_SH or coeffs.shape[0] not in (1, batch):
        raise UsageError(f"sh_coeffs: expected shape ({batch} or 1, 9, C), got {tuple(coeffs.shape)}")


def sh_shading(normals: torch.Tensor, sh_coeffs: torch.Tensor) -> torch.Tensor:
    """Lambertian SH shading factor ``sum_k (A_l / pi) c_k Y_k(n)`` (the reflected radiance per unit albedo).

    Args:
        normals: (B, H, W, 3) unit normals in the lighting frame.
        sh_coeffs: (B or 1, 9, C) environment radiance coefficients per channel.
    Returns:
        (B, H, W, C) in the dtype of ``normals``.
    """
    if normals.ndim != 4:
        raise UsageError(f"normals: expected shape (B, H, W, 3), got {tuple(normals.shape)}")
    _check_coeffs(sh_coeffs, normals.shape[0])
    factors = torch.tensor(LAMBERT_BAND_FACTORS, dtype=normals.dtype)
    weighted = sh_coeffs.to(normals.dtype) * factors[None, :, None]  # (B, 9, C)
    return torch.einsum("bhwk,bkc->bhwc", sh_basis(normals), weighted.expand(normals.shape[0], -1, -1))


def shade_lambertian(
    albedo: torch.Tensor,
    normals: torch.Tensor,
    sh_coeffs: torch.Tensor,
    mask: torch.Tensor | None = None,
    background: float = 0.0,
) -> torch.Tensor:
    """Lambertian image ``albedo * sh_shading(normals, sh_coeffs)`` composited over a constant background.

    Args:
        albedo: (B, H, W, C) reflectance (e.g. ``sample_texture`` of a UV texture, or interpolated vertex colours).
        normals: (B, H, W, 3) unit normals in the frame of ``sh_coeffs`` (world frame in faceforge).
        sh_coeffs: (B or 1, 9, C).
        mask: (B, H, W) coverage (``render_mask``); None keeps every pixel.
        background: value of uncovered pixels.
    Returns:
        (B, H, W, C) linear radiance (not clamped, not gamma-encoded).
    """
    if albedo.ndim != 4 or albedo.shape[:3] != normals.shape[:3]:
        raise UsageError(f"albedo: expected shape {(*normals.shape[:3], 'C')}, got {tuple(albedo.shape)}")
    if sh_coeffs.shape[-1] != albedo.shape[-1]:
        raise UsageError(f"sh_coeffs: {sh_coeffs.shape[-1]} channels for an albedo with {albedo.shape[-1]}")
    image = albedo * sh_shading(normals, sh_coeffs).to(albedo.dtype)
    if mask is None:
        return image
    if mask.shape != albedo.shape[:3]:
        raise UsageError(f"mask: expected shape {tuple(albedo.shape[:3])}, got {tuple(mask.shape)}")
    return torch.where(mask[..., None].bool(), image, torch.full_like(image, background))


def sh_from_directional_light(
    direction: torch.Tensor, directional: torch.Tensor, ambient: torch.Tensor
) -> torch.Tensor:
    """SH coefficients of a uniform ambient plus one distant light, for ``sh_shading``.

    ``c = ambient * sqrt(4 pi) e_0 + pi * directional * Y(d)``: the shading is then ``ambient + directional *
    max(0, n.d)`` up to the band-2 truncation of the clamped cosine (which gives 1.0625 instead of 1 at n = d and
    0.0625 instead of 0 at n = -d).

    Args:
        direction: (B, 3) direction *towards* the light, in the lighting (world) frame; normalized here.
        directional: (B, C) light intensity per channel. ambient: (B, C) ambient intensity per channel.
    Returns:
        (B, 9, C) coefficients.
    """
    if direction.ndim != 2 or direction.shape[-1] != 3:
        raise UsageError(f"direction: expected shape (B, 3), got {tuple(direction.shape)}")
    if directional.shape != ambient.shape or directional.ndim != 2 or directional.shape[0] != direction.shape[0]:
        raise UsageError(
            f"directional/ambient: expected equal shapes ({direction.shape[0]}, C), got {tuple(directional.shape)} "
            f"and {tuple(ambient.shape)}"
        )
    d = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    coeffs = math.pi * sh_basis(d)[..., None] * directional[:, None, :]  # (B, 9, C)
    e0 = torch.zeros(NUM_SH, 1, dtype=coeffs.dtype)
    e0[0, 0] = math.sqrt(4.0 * math.pi)
    return coeffs + e0[None] * ambient[:, None, :]


def sample_texture(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear texture lookup by UV, differentiable wrt the texture and the UVs.

    UV origin is bottom-left with v up (docs/conventions.md): texel column ``u * (Wt - 1)``, row ``(1 - v) *
    (Ht - 1)``, i.e. u = 0 / 1 hit the centres of the first / last texel column. UVs outside [0, 1] clamp to the
    border texels (UDIM tiles are not resolved: sample each tile's texture with ``uv - (tile, 0)``).

    Args:
        texture: (B or 1, Ht, Wt, C) float image, row 0 at the top (as stored in image files).
        uv: (B, H, W, 2) float texture coordinates.
    Returns:
        (B, H, W, C) in the dtype of ``texture``.
    """
    if texture.ndim != 4 or texture.shape[0] not in (1, uv.shape[0]):
        raise UsageError(f"texture: expected shape ({uv.shape[0]} or 1, Ht, Wt, C), got {tuple(texture.shape)}")
    if uv.ndim != 4 or uv.shape[-1] != 2:
        raise UsageError(f"uv: expected shape (B, H, W, 2), got {tuple(uv.shape)}")
    grid = torch.stack([2.0 * uv[..., 0] - 1.0, 1.0 - 2.0 * uv[..., 1]], dim=-1).to(texture.dtype)
    tex = texture.permute(0, 3, 1, 2).expand(uv.shape[0], -1, -1, -1)
    out = F.grid_sample(tex, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out.permute(0, 2, 3, 1)
