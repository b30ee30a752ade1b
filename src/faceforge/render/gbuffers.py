"""Geometry buffers: per-pixel depth, normals, mask, UV, NCC/PNCC and region labels (torch, differentiable).

Every function takes the ``Fragments`` of ``rasterize(mesh, camera)`` and an optional ``bary`` (B, H, W, 3): None
uses the rasterizer's constant barycentrics (gradients reach the blended attributes only); pass
``differentiable_barycentrics(mesh, camera, fragments)`` for gradients wrt vertex positions too (compute it once and
share it between buffers). Images are channels-last (B, H, W, C); background pixels hold ``background`` (0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from faceforge.camera.projection import world_to_camera
from faceforge.errors import UsageError
from faceforge.geometry import vertex_normals
from faceforge.render.fragments import Fragments
from faceforge.render.interpolate import Coverage, gather_pixels, interpolate, packed_interpolate, scatter_pixels
from faceforge.structures import Camera, Mesh

NORMAL_FRAMES = ("camera", "world")
LABEL_BACKGROUND = 0  # no surface
LABEL_OTHER = 1  # surface outside every listed region


def render_mask(fragments: Fragments) -> torch.Tensor:
    """(B, H, W) float32 silhouette: 1 where a triangle covers the pixel centre, else 0 (no gradient)."""
    return fragments.mask.to(torch.float32)


def render_depth(
    mesh: Mesh, camera: Camera, fragments: Fragments, bary: torch.Tensor | None = None, background: float = 0.0
) -> torch.Tensor:
    """Camera-frame depth z (model units) at each pixel centre.

    Interpolating vertex z with perspective-correct barycentrics gives the exact depth of the planar triangle.

    Returns:
        (B, H, W) in the dtype of ``mesh.vertices``; ``background`` (default 0) where uncovered (``fragments.depth``
        holds +inf there instead).
    """
    z = world_to_camera(mesh.vertices, camera)[..., 2:3]
    return interpolate(z, mesh.faces, fragments, bary, background)[..., 0]


def render_normals(
    mesh: Mesh, camera: Camera, fragments: Fragments, frame: str = "camera", bary: torch.Tensor | None = None
) -> torch.Tensor:
    """Unit surface normals from smooth (area-weighted) vertex normals, interpolated then renormalized.

    Args:
        frame: "camera" = the OpenCV camera frame (+x right, +y down, +z forward: a surface facing the camera has
            n_z < 0); "world" = the world frame (the model frame for an unposed head: +x the subject's left, +y up,
            +z out of the face). ``faceforge.render.encode.normals_to_rgb`` turns either into the usual colours.
    Returns:
        (B, H, W, 3) unit vectors in the dtype of ``mesh.vertices``; zero vectors on the background.
    """
    if frame not in NORMAL_FRAMES:
        raise UsageError(f"frame: expected one of {', '.join(NORMAL_FRAMES)}, got {frame!r}")
    if bary is not None and bary.shape != (*fragments.face_index.shape, 3):
        raise UsageError(f"bary: expected shape {(*fragments.face_index.shape, 3)}, got {tuple(bary.shape)}")
    normals = vertex_normals(mesh.vertices, mesh.faces)  # (B, V, 3) world frame
    if frame == "camera":
        normals = normals @ camera.rotation.to(normals.dtype).transpose(1, 2)
    coverage = Coverage.of(fragments)
    weights = gather_pixels(fragments.bary if bary is None else bary, coverage)
    n = packed_interpolate(normals, mesh.faces, coverage, weights)  # (3, P)
    return scatter_pixels(n / n.norm(dim=0, keepdim=True).clamp_min(1e-12), coverage, fragments, 0.0)


def render_uv(mesh: Mesh, fragments: Fragments, bary: torch.Tensor | None = None) -> torch.Tensor:
    """Texture coordinates at each pixel (origin bottom-left, v up; docs/conventions.md).

    Returns:
        (B, H, W, 2) float32 (u, v); zeros on the background. ICT-FaceKit lays its materials out on UDIM-like tiles:
        the face skin is in u in [0, 1], the other materials in [1, 7].
    """
    if mesh.uv is None or mesh.uv_faces is None:
        raise UsageError("render_uv: the mesh has no UV coordinates (mesh.uv is None)")
    return interpolate(mesh.uv[None], mesh.uv_faces, fragments, bary)


def ncc_colors(template: torch.Tensor) -> torch.Tensor:
    """Normalized Canonical Coordinates (seed 004): the neutral template normalized to [0, 1] per axis.

    ``ncc = (template - min) / (max - min)`` over the template's axis-aligned bounding box, so the colour of a
    vertex names the same point of the face whatever the identity, expression or pose.

    Args:
        template: (V, 3) float model-frame neutral vertices.
    Returns:
        (V, 3) float32 in [0, 1]: red = x (the subject's left), green = y (up), blue = z (towards the face front).
    """
    if template.ndim != 2 or template.shape[1] != 3:
        raise UsageError(f"template: expected shape (V, 3), got {tuple(template.shape)}")
    t = template.detach().to(torch.float32)
    lo, hi = t.min(0).values, t.max(0).values
    return (t - lo) / (hi - lo).clamp_min(1e-12)


def render_pncc(
    mesh: Mesh, ncc: torch.Tensor, fragments: Fragments, bary: torch.Tensor | None = None
) -> torch.Tensor:
    """Projected NCC (seed 004: ``PNCC = Z-Buffer(Vertex3D(i, e), NCC)``): the posed mesh coloured by its NCC.

    Args:
        mesh: the rasterized mesh (its vertex count must match ``ncc``).
        ncc: (V, 3) from ``ncc_colors(model.template)``.
    Returns:
        (B, H, W, 3) float32 in [0, 1]; black background.
    """
    if ncc.ndim != 2 or ncc.shape != (mesh.num_vertices, 3):
        raise UsageError(f"ncc: expected shape ({mesh.num_vertices}, 3), got {tuple(ncc.shape)}")
    return interpolate(ncc[None].to(torch.float32), mesh.faces, fragments, bary)


def vertex_region_labels(regions: Mapping[str, torch.Tensor], names: Sequence[str], num_vertices: int) -> torch.Tensor:
    """Integer label per vertex from named vertex regions.

    Labels: ``LABEL_BACKGROUND`` (0) is reserved for pixels without surface, ``LABEL_OTHER`` (1) marks vertices in
    none of ``names``, and ``names[k]`` gets label ``k + 2``. When regions overlap the first listed name wins.

    Args:
        regions: region name -> (n,) int64 vertex indices (``MorphableModel.regions``).
        names: the regions to label, in priority order.
        num_vertices: V.
    Returns:
        (V,) int64 labels.
    """
    labels = torch.full((num_vertices,), LABEL_OTHER, dtype=torch.int64)
    for k in range(len(names) - 1, -1, -1):  # reverse, so that earlier names overwrite later ones
        if names[k] not in regions:
            raise UsageError(f"unknown region {names[k]!r}; available: {', '.join(sorted(regions))}")
        labels[regions[names[k]]] = k + 2
    return labels


def face_labels(vertex_labels: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Label per triangle from its vertices' labels: the label two or three corners share, else the first corner's.

    Args:
        vertex_labels: (V,) int64. faces: (F, 3) int64.
    Returns:
        (F,) int64.
    """
    lab = vertex_labels[faces]  # (F, 3)
    return torch.where(lab[:, 1] == lab[:, 2], lab[:, 1], lab[:, 0])


def render_segmentation(triangle_labels: torch.Tensor, fragments: Fragments) -> torch.Tensor:
    """Label image: the label of the visible triangle at each pixel.

    Args:
        triangle_labels: (F,) int64 per rasterized triangle (``face_labels``); must not use 0 (the background).
    Returns:
        (B, H, W) int64, ``LABEL_BACKGROUND`` (0) where uncovered.
    """
    if triangle_labels.ndim != 1:
        raise UsageError(f"triangle_labels: expected shape (F,), got {tuple(triangle_labels.shape)}")
    fi = fragments.face_index
    if fi.numel() and int(fi.max()) >= triangle_labels.shape[0]:
        raise UsageError(f"triangle_labels: {triangle_labels.shape[0]} labels, but triangle {int(fi.max())} is visible")
    out = triangle_labels[fi.clamp_min(0)]
    return torch.where(fi >= 0, out, torch.full_like(out, LABEL_BACKGROUND))
