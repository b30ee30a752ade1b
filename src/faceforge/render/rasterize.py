"""Fast z-buffer rasterization on the CPU (Numba, one thread).

``rasterize`` projects the mesh (``faceforge.camera.project_with_depth``, float64), runs a per-triangle z-buffer
pass over each triangle's pixel bounding box, then a resolve pass that computes the perspective-correct barycentrics
of the winning triangle at every covered pixel. The depth test compares 1/z (perspective), which is affine in
screen space, so no division happens per pixel. Coverage, tie-breaking and depth conventions are documented in
``faceforge.render.fragments``; ``faceforge.render.reference`` is the slow, per-pixel statement of the same rules
that the tests hold this one against.

Visibility is discrete and carries no gradient: differentiable quantities are interpolated afterwards in torch
(``faceforge.render.interpolate``), which recomputes the barycentrics from the projected vertices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numba import njit

from faceforge.render.fragments import Fragments, check_mesh_camera, empty_buffers, screen_vertices
from faceforge.structures import Camera, Mesh


@dataclass(frozen=True)
class RasterOptions:
    """Options of ``rasterize``.

    Attributes:
        cull_backfaces: drop triangles whose front (counter-clockwise, outward normal) side faces away from the
            camera. Off by default so that open meshes (the inside of the mouth) still render.
        near_z: triangles with any vertex at camera z < near_z (model units) are dropped whole (no clipping); a
            perspective camera needs z > 0.
    """

    cull_backfaces: bool = False
    near_z: float = 1e-3


# Projected coordinates beyond this (in pixels) are treated as invalid (inf/NaN or a vertex almost at the camera).
_MAX_COORD = 1e12


@njit(cache=True, nogil=True, error_model="numpy")
def _zbuffer_pass(xy, z, inv_z, faces, cull, perspective, near, face_out, key_out):  # pragma: no cover - compiled
    """Fill ``face_out`` (B, H, W) with the nearest triangle covering each pixel centre.

    The depth test runs on ``key_out`` = 1/z (perspective; affine in screen space, larger = nearer, no division per
    pixel) or -z (orthographic), initialized to -inf; a strict ``>`` keeps the lowest triangle index on exact ties.
    """
    nb, height, width = face_out.shape
    for b in range(nb):
        for f in range(faces.shape[0]):
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            z0, z1, z2 = z[b, i0], z[b, i1], z[b, i2]
            if not (z0 >= near and z1 >= near and z2 >= near):
                continue
            x0, y0 = xy[b, i0, 0], xy[b, i0, 1]
            x1, y1 = xy[b, i1, 0], xy[b, i1, 1]
            x2, y2 = xy[b, i2, 0], xy[b, i2, 1]
            xmin, xmax = min(x0, x1, x2), max(x0, x1, x2)
            ymin, ymax = min(y0, y1, y2), max(y0, y1, y2)
            if not (xmin > -_MAX_COORD and xmax < _MAX_COORD and ymin > -_MAX_COORD and ymax < _MAX_COORD):
                continue
            jmin, jmax = max(int(math.ceil(xmin)), 0), min(int(math.floor(xmax)), width - 1)
            imin, imax = max(int(math.ceil(ymin)), 0), min(int(math.floor(ymax)), height - 1)
            if jmin > jmax or imin > imax:
                continue  # no pixel centre inside the bounding box (many small triangles)
            area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
            # area < 0: counter-clockwise in the world = clockwise in y-down pixels = facing the camera.
            if area == 0.0 or not (area == area) or (cull and area > 0.0):
                continue
            inv_area = 1.0 / area
            if perspective:
                k0, k1, k2 = inv_z[b, i0], inv_z[b, i1], inv_z[b, i2]
            else:
                k0, k1, k2 = -z0, -z1, -z2
            for i in range(imin, imax + 1):
                py = float(i)
                for j in range(jmin, jmax + 1):
                    px = float(j)
                    l0 = ((x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)) * inv_area
                    l1 = ((x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)) * inv_area
                    l2 = ((x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)) * inv_area
                    if l0 < 0.0 or l1 < 0.0 or l2 < 0.0:
                        continue
                    key = l0 * k0 + l1 * k1 + l2 * k2
                    if key > key_out[b, i, j]:
                        key_out[b, i, j] = key
                        face_out[b, i, j] = f


@njit(cache=True, nogil=True, error_model="numpy")
def _resolve_pass(xy, inv_z, faces, perspective, face_out, key_out, bary_out, depth_out):  # pragma: no cover
    """Perspective-correct barycentrics (B, H, W, 3) and depth (B, H, W) of the winner at each covered pixel."""
    nb, height, width = face_out.shape
    for b in range(nb):
        for i in range(height):
            py = float(i)
            for j in range(width):
                f = face_out[b, i, j]
                if f < 0:
                    continue
                i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
                x0, y0 = xy[b, i0, 0], xy[b, i0, 1]
                x1, y1 = xy[b, i1, 0], xy[b, i1, 1]
                x2, y2 = xy[b, i2, 0], xy[b, i2, 1]
                px = float(j)
                inv_area = 1.0 / ((x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0))
                l0 = ((x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)) * inv_area
                l1 = ((x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)) * inv_area
                l2 = ((x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)) * inv_area
                if perspective:
                    # Screen-space weights l_k become perspective-correct b_k = (l_k / z_k) / sum_j (l_j / z_j).
                    l0, l1, l2 = l0 * inv_z[b, i0], l1 * inv_z[b, i1], l2 * inv_z[b, i2]
                    depth_out[b, i, j] = 1.0 / key_out[b, i, j]
                else:
                    depth_out[b, i, j] = -key_out[b, i, j]
                s = l0 + l1 + l2
                bary_out[b, i, j, 0] = l0 / s
                bary_out[b, i, j, 1] = l1 / s
                bary_out[b, i, j, 2] = l2 / s


def rasterize(mesh: Mesh, camera: Camera, options: RasterOptions = RasterOptions()) -> Fragments:
    """Z-buffer rasterization of a triangle mesh.

    Args:
        mesh: vertices (B, V, 3) world frame, model units; faces (F, 3) counter-clockwise seen from outside.
        camera: batch 1 or B (a mesh batch of 1 seen by B cameras is fine); image size ``camera.height`` x ``width``.
        options: backface culling and the near plane.
    Returns:
        Fragments of shape (B', H, W) with B' the broadcast batch; ``face_index`` indexes ``mesh.faces``.
    """
    batch = check_mesh_camera(mesh, camera)
    xy, z = screen_vertices(mesh, camera)
    faces = np.ascontiguousarray(mesh.faces.detach().cpu().numpy().astype(np.int64, copy=False))
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_z = 1.0 / z  # per vertex once; triangles with z < near_z are skipped before it is used
    face_out, key_out = empty_buffers(batch, camera.height, camera.width)
    perspective = not camera.orthographic
    cull, near = bool(options.cull_backfaces), float(options.near_z)
    _zbuffer_pass(xy, z, inv_z, faces, cull, perspective, near, face_out, key_out)
    bary = np.zeros((*face_out.shape, 3), dtype=np.float32)
    depth = np.full(face_out.shape, np.inf, dtype=np.float32)
    _resolve_pass(xy, inv_z, faces, perspective, face_out, key_out, bary, depth)
    return Fragments(face_index=torch.from_numpy(face_out), bary=torch.from_numpy(bary), depth=torch.from_numpy(depth))
