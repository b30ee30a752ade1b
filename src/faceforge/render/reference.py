"""A slow, plainly written rasterizer: the executable statement of the rules ``rasterize`` must follow.

Pure NumPy, one triangle at a time, edge functions evaluated at every pixel centre of the triangle's bounding box.
Same conventions as ``faceforge.render.fragments`` (pixel centres at integer coordinates, inclusive edges, nearest
camera z wins, lower triangle index wins exact ties, perspective-correct barycentrics). Use it on small images
only (tests): it is about a thousand times slower than the Numba rasterizer.
"""

from __future__ import annotations

import numpy as np
import torch

from faceforge.render.fragments import Fragments, check_mesh_camera, empty_buffers, screen_vertices
from faceforge.render.rasterize import RasterOptions
from faceforge.structures import Camera, Mesh


def _edge(ax: float, ay: float, bx: float, by: float, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Twice the signed area of (a, b, p): positive when p is to the left of a->b in y-up axes."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def rasterize_reference(mesh: Mesh, camera: Camera, options: RasterOptions | None = None) -> Fragments:
    """Reference z-buffer; same arguments (None = default options) and output as ``faceforge.render.rasterize``."""
    options = RasterOptions() if options is None else options
    batch = check_mesh_camera(mesh, camera)
    xy, z = screen_vertices(mesh, camera)
    faces = mesh.faces.detach().cpu().numpy().astype(np.int64)
    height, width = camera.height, camera.width
    perspective = not camera.orthographic
    face_out, key_out = empty_buffers(batch, height, width)
    bary_out = np.zeros((batch, height, width, 3), dtype=np.float64)
    for b in range(batch):
        for f, (i0, i1, i2) in enumerate(faces):
            zs = z[b, [i0, i1, i2]]
            if not np.all(zs >= options.near_z):
                continue
            (x0, y0), (x1, y1), (x2, y2) = xy[b, i0], xy[b, i1], xy[b, i2]
            xs, ys = np.array([x0, x1, x2]), np.array([y0, y1, y2])
            if not (np.all(np.isfinite(xs)) and np.all(np.isfinite(ys))):
                continue
            area = _edge(x0, y0, x1, y1, np.float64(x2), np.float64(y2))
            if area == 0.0 or (options.cull_backfaces and area > 0.0):
                continue
            cols = np.arange(max(int(np.ceil(xs.min())), 0), min(int(np.floor(xs.max())), width - 1) + 1)
            rows = np.arange(max(int(np.ceil(ys.min())), 0), min(int(np.floor(ys.max())), height - 1) + 1)
            if cols.size == 0 or rows.size == 0:
                continue
            px, py = np.meshgrid(cols.astype(np.float64), rows.astype(np.float64))
            inv_area = 1.0 / area
            l0 = _edge(x1, y1, x2, y2, px, py) * inv_area  # screen-space barycentrics, (rows, cols) each
            l1 = _edge(x2, y2, x0, y0, px, py) * inv_area
            l2 = _edge(x0, y0, x1, y1, px, py) * inv_area
            inside = (l0 >= 0.0) & (l1 >= 0.0) & (l2 >= 0.0)
            # Depth-test key: larger is nearer (1/z is affine in screen space under perspective).
            k = 1.0 / zs if perspective else -zs
            key = l0 * k[0] + l1 * k[1] + l2 * k[2]
            win = inside & (key > key_out[b][np.ix_(rows, cols)])
            rr, cc = np.nonzero(win)
            key_out[b, rows[rr], cols[cc]] = key[rr, cc]
            face_out[b, rows[rr], cols[cc]] = f
            w = np.stack([l0, l1, l2], axis=-1)[rr, cc]
            if perspective:
                w = w * k  # perspective-correct: b_k proportional to l_k / z_k
            bary_out[b, rows[rr], cols[cc]] = w / w.sum(-1, keepdims=True)
    covered = face_out >= 0
    depth_out = np.full(face_out.shape, np.inf)
    depth_out[covered] = 1.0 / key_out[covered] if perspective else -key_out[covered]
    return Fragments(
        face_index=torch.from_numpy(face_out),
        bary=torch.from_numpy(bary_out.astype(np.float32)),
        depth=torch.from_numpy(depth_out.astype(np.float32)),
    )
