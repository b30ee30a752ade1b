"""Pure geometric functions on torch tensors (rotations, normals). No state, no I/O.

Rotations: axis-angle vectors in radians (right-hand rule), matrices act on column vectors (``x' = R @ x``).
Euler angles: intrinsic yaw (about +y), pitch (about +x), roll (about +z) of the model frame, composed as
``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)``; see docs/conventions.md.
"""

from __future__ import annotations

import torch

from faceforge.errors import UsageError


def _skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrices."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, differentiable everywhere including zero.

    Args:
        axis_angle: (..., 3) rotation vectors in radians.
    Returns:
        (..., 3, 3) rotation matrices.
    """
    if axis_angle.shape[-1] != 3:
        raise UsageError(f"axis_angle: expected (..., 3), got {tuple(axis_angle.shape)}")
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = theta2 < 1e-8
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = torch.sqrt(safe2)
    # Taylor expansions near zero keep gradients finite.
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / safe2)
    k = _skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of ``axis_angle_to_matrix`` for angles in [0, pi).

    Args:
        matrix: (..., 3, 3) rotation matrices.
    Returns:
        (..., 3) rotation vectors in radians.
    """
    if matrix.shape[-2:] != (3, 3):
        raise UsageError(f"matrix: expected (..., 3, 3), got {tuple(matrix.shape)}")
    m = matrix.double()
    cos = ((m.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0).clamp(-1.0, 1.0)
    theta = torch.acos(cos)
    w = torch.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    sin = torch.sin(theta)
    scale = torch.where(sin.abs() < 1e-7, 0.5 + theta**2 / 12.0, theta / (2.0 * sin.clamp_min(1e-12)))
    out = w * scale[..., None]
    # Near pi the antisymmetric part vanishes; recover the axis from the symmetric part.
    near_pi = theta > 3.14159 - 1e-3
    if near_pi.any():
        sym = (m + torch.eye(3, dtype=m.dtype)) / 2.0
        diag = sym.diagonal(dim1=-2, dim2=-1).clamp_min(0.0)
        axis = torch.sqrt(diag)
        col = sym.diagonal(dim1=-2, dim2=-1).argmax(-1)
        ref = torch.gather(sym, -1, col[..., None, None].expand(*col.shape, 3, 1)).squeeze(-1)
        axis = ref / ref.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        out = torch.where(near_pi[..., None], axis * theta[..., None], out)
    return out.to(matrix.dtype)


def euler_to_matrix(yaw_pitch_roll: torch.Tensor) -> torch.Tensor:
    """(..., 3) yaw, pitch, roll in radians -> (..., 3, 3) ``Ry(yaw) @ Rx(pitch) @ Rz(roll)``."""
    if yaw_pitch_roll.shape[-1] != 3:
        raise UsageError(f"yaw_pitch_roll: expected (..., 3), got {tuple(yaw_pitch_roll.shape)}")
    yaw, pitch, roll = yaw_pitch_roll.unbind(-1)
    one, zero = torch.ones_like(yaw), torch.zeros_like(yaw)
    cy, sy, cp, sp, cr, sr = yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin()
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).reshape(*yaw.shape, 3, 3)
    rx = torch.stack([one, zero, zero, zero, cp, -sp, zero, sp, cp], -1).reshape(*yaw.shape, 3, 3)
    rz = torch.stack([cr, -sr, zero, sr, cr, zero, zero, zero, one], -1).reshape(*yaw.shape, 3, 3)
    return ry @ rx @ rz


def matrix_to_euler(matrix: torch.Tensor) -> torch.Tensor:
    """Inverse of ``euler_to_matrix`` for |pitch| < 90 degrees: (..., 3, 3) -> (..., 3) yaw, pitch, roll (rad)."""
    pitch = torch.asin((-matrix[..., 1, 2]).clamp(-1.0, 1.0))
    yaw = torch.atan2(matrix[..., 0, 2], matrix[..., 2, 2])
    roll = torch.atan2(matrix[..., 1, 0], matrix[..., 1, 1])
    return torch.stack([yaw, pitch, roll], -1)


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted unit vertex normals (differentiable).

    Args:
        vertices: (B, V, 3) float positions.
        faces: (F, 3) int64 counter-clockwise triangles.
    Returns:
        (B, V, 3) unit normals, same frame as ``vertices``; zero-area isolated vertices get (0, 0, 0).
    """
    v0, v1, v2 = (vertices[:, faces[:, k]] for k in range(3))
    fn = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)  # (B, F, 3), length = 2 * area
    out = torch.zeros_like(vertices)
    for k in range(3):
        out = out.index_add(1, faces[:, k], fn)
    return out / out.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def face_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """(B, V, 3), (F, 3) -> (B, F, 3) unit triangle normals (counter-clockwise = outward)."""
    v0, v1, v2 = (vertices[:, faces[:, k]] for k in range(3))
    fn = torch.linalg.cross(v1 - v0, v2 - v0, dim=-1)
    return fn / fn.norm(dim=-1, keepdim=True).clamp_min(1e-12)
