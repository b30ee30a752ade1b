"""Differentiable sampling of an image at projected mesh vertices, with z-buffer visibility (photometric fitting).

A vertex is *visible* when (1) it projects inside the image (between the first and last pixel centres), (2) the
four pixels its bilinear sample reads are all covered by the mesh (so no background leaks into its colour at
silhouettes), (3) its camera depth is within ``depth_tolerance`` (relative) of the z-buffer depth at the nearest
pixel, i.e. nothing lies in front of it, and (4) it faces the camera: ``-n . r > facing_threshold`` for its unit
vertex normal ``n`` and the unit ray ``r`` from the camera to it (camera frame; ``r = +z`` for an orthographic
camera). Visibility is discrete (no gradient); the colours are bilinear samples that are differentiable wrt the
image, the vertex positions and the camera parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from faceforge.camera.projection import camera_to_pixels, world_to_camera
from faceforge.errors import UsageError
from faceforge.geometry import vertex_normals
from faceforge.render.fragments import Fragments, check_mesh_camera
from faceforge.structures import Camera, Mesh


@dataclass(frozen=True)
class SampleOptions:
    """Options of ``sample_vertex_colors``.

    Attributes:
        depth_tolerance: a vertex counts as unoccluded when ``z_vertex - z_buffer <= depth_tolerance * z_vertex``
            (relative, so unit-free: 0.01 = 5 mm at 50 cm). It absorbs the depth change across half a pixel.
        facing_threshold: minimum ``-n . r`` (cosine between the normal and the direction to the camera); 0 keeps
            every vertex turned towards the camera, larger values drop grazing ones.
    """

    depth_tolerance: float = 0.01
    facing_threshold: float = 0.0


@dataclass(frozen=True)
class VertexSamples:
    """Image values at the projected vertices.

    Attributes:
        colors: (B, V, C) bilinear samples in the image's dtype; 0 for invisible vertices.
        visible: (B, V) bool visibility (see the module docstring).
        pixels: (B, V, 2) projected pixel coordinates (differentiable).
    """

    colors: torch.Tensor
    visible: torch.Tensor
    pixels: torch.Tensor


def sample_image(image: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of an image at pixel coordinates (pixel (i, j) centred at (j, i)); border-clamped.

    Args:
        image: (B, H, W, C) float. pixels: (B, N, 2) float (x, y).
    Returns:
        (B, N, C), differentiable wrt both inputs.
    """
    if image.ndim != 4:
        raise UsageError(f"image: expected shape (B, H, W, C), got {tuple(image.shape)}")
    if pixels.ndim != 3 or pixels.shape[-1] != 2 or pixels.shape[0] != image.shape[0]:
        raise UsageError(f"pixels: expected shape ({image.shape[0]}, N, 2), got {tuple(pixels.shape)}")
    _, h, w, _ = image.shape
    # align_corners=True maps -1 / +1 to the centres of the first / last pixel, matching the pixel-centre convention.
    scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], dtype=image.dtype)
    grid = (pixels.to(image.dtype) * scale - 1.0)[:, :, None, :]  # (B, N, 1, 2)
    out = F.grid_sample(image.permute(0, 3, 1, 2), grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[..., 0].permute(0, 2, 1)


def sample_vertex_colors(
    image: torch.Tensor,
    mesh: Mesh,
    camera: Camera,
    fragments: Fragments,
    options: SampleOptions = SampleOptions(),
) -> VertexSamples:
    """Sample ``image`` at every projected vertex of ``mesh`` and decide which vertices it actually shows.

    Args:
        image: (B, H, W, C) float, same size as the camera's image.
        mesh: vertices (B or 1, V, 3) world frame.
        camera: the camera ``fragments`` were rasterized with.
        fragments: ``rasterize(mesh, camera)`` (its z-buffer decides occlusion).
        options: tolerances.
    Returns:
        VertexSamples with colors (B, V, C), visible (B, V), pixels (B, V, 2).
    """
    batch = check_mesh_camera(mesh, camera)
    shape = (batch, camera.height, camera.width)
    if tuple(fragments.face_index.shape) != shape:
        raise UsageError(f"fragments: expected shape {shape}, got {tuple(fragments.face_index.shape)}")
    if image.ndim != 4 or tuple(image.shape[:3]) != shape:
        raise UsageError(
            f"image: expected shape ({batch}, {camera.height}, {camera.width}, C), got {tuple(image.shape)}"
        )
    points_cam = world_to_camera(mesh.vertices, camera)  # (B, V, 3)
    pixels = camera_to_pixels(points_cam, camera)
    colors = sample_image(image, pixels)

    with torch.no_grad():
        cam = points_cam.detach()
        px = pixels.detach()
        h, w = camera.height, camera.width
        inside = (px[..., 0] >= 0) & (px[..., 0] <= w - 1) & (px[..., 1] >= 0) & (px[..., 1] <= h - 1)
        rows = torch.arange(batch)[:, None] * h
        cover = fragments.face_index.reshape(-1) >= 0
        covered = inside
        for col, row in ((px[..., 0].floor(), px[..., 1].floor()), (px[..., 0].ceil(), px[..., 1].floor()),
                         (px[..., 0].floor(), px[..., 1].ceil()), (px[..., 0].ceil(), px[..., 1].ceil())):
            flat = (rows + row.clamp(0, h - 1).long()) * w + col.clamp(0, w - 1).long()
            covered = covered & cover[flat]
        nearest = (rows + px[..., 1].round().clamp(0, h - 1).long()) * w + px[..., 0].round().clamp(0, w - 1).long()
        zbuf = fragments.depth.reshape(-1)[nearest].to(cam.dtype)
        z = cam[..., 2]
        unoccluded = (z - zbuf) <= options.depth_tolerance * z
        normals = vertex_normals(mesh.vertices.detach(), mesh.faces) @ camera.rotation.to(cam.dtype).transpose(1, 2)
        ray = torch.tensor([0.0, 0.0, 1.0], dtype=cam.dtype).expand_as(cam) if camera.orthographic else cam
        ray = ray / ray.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        facing = -(normals * ray).sum(-1) > options.facing_threshold
        visible = inside & covered & unoccluded & facing & (z > 0)
    colors = torch.where(visible[..., None], colors, torch.zeros_like(colors))
    return VertexSamples(colors=colors, visible=visible, pixels=pixels)
