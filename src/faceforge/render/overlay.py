"""Draw a fitted mesh over a photo (for checking a fit by eye).

Only a square around the projected mesh is rasterized (at most ``max_side`` pixels, then resized), so overlays of
large photos stay cheap.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from faceforge.camera.build import crop_camera
from faceforge.camera.projection import project
from faceforge.errors import UsageError
from faceforge.render.encode import linear_to_srgb, to_uint8
from faceforge.render.gbuffers import render_mask, render_normals
from faceforge.render.rasterize import rasterize
from faceforge.render.shade import sh_from_directional_light, shade_lambertian
from faceforge.structures import Camera, Mesh

_ALBEDO = (0.80, 0.80, 0.82)


def overlay_mesh(
    image: np.ndarray, mesh: Mesh, camera: Camera, alpha: float = 0.6, max_side: int = 1024
) -> np.ndarray:
    """The image with the shaded mesh blended over it.

    Args:
        image: (H, W, 3) uint8 RGB photo; H, W must equal the camera's image size.
        mesh: batch-1 mesh in the camera's world frame (hide helper geometry first, e.g. with ``select_faces``).
        camera: batch-1 camera of the photo.
        alpha: opacity of the mesh in [0, 1].
        max_side: largest side of the rasterized square (larger regions are rendered smaller, then resized).
    Returns:
        (H, W, 3) uint8 RGB image.
    """
    h, w = image.shape[:2]
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UsageError(f"image: expected (H, W, 3) uint8, got {image.shape} {image.dtype}")
    if (w, h) != (camera.width, camera.height):
        raise UsageError(f"image is {w}x{h} but the camera is {camera.width}x{camera.height}")
    if not 0.0 <= alpha <= 1.0:
        raise UsageError(f"alpha must be in [0, 1], got {alpha}")
    with torch.no_grad():
        px = project(mesh.vertices.to(torch.float32), camera)[0].numpy()
        lo = np.floor(px.min(0)) - 2
        hi = np.ceil(px.max(0)) + 2
        x0, y0 = max(int(lo[0]), 0), max(int(lo[1]), 0)
        x1, y1 = min(int(hi[0]), w - 1), min(int(hi[1]), h - 1)
        if x1 <= x0 or y1 <= y0:
            return image.copy()
        side = max(x1 - x0 + 1, y1 - y0 + 1)
        out = min(side, max_side)
        cam = crop_camera(camera, torch.tensor([float(x0), float(y0), float(side)]), out)
        frags = rasterize(mesh, cam)
        normals = render_normals(mesh, cam, frags, frame="camera")
        # Light from the camera, a little from above: in the camera frame the surface faces -z.
        sh = sh_from_directional_light(torch.tensor([[0.3, -0.5, -1.0]]), torch.full((1, 3), 0.8),
                                       torch.full((1, 3), 0.25))
        albedo = torch.tensor(_ALBEDO).expand(*normals.shape[:3], 3)
        mask = render_mask(frags)
        shaded = to_uint8(linear_to_srgb(shade_lambertian(albedo, normals, sh, mask).clamp(0, 1)))[0]
        m = mask[0].numpy().astype(np.float32)
    if out != side:
        shaded = cv2.resize(shaded, (side, side), interpolation=cv2.INTER_LINEAR)
        m = cv2.resize(m, (side, side), interpolation=cv2.INTER_LINEAR)
    ch, cw = min(side, h - y0), min(side, w - x0)
    result = image.copy()
    region = result[y0 : y0 + ch, x0 : x0 + cw].astype(np.float32)
    a = (alpha * m[:ch, :cw])[..., None]
    result[y0 : y0 + ch, x0 : x0 + cw] = np.clip(region * (1 - a) + shaded[:ch, :cw] * a, 0, 255).astype(np.uint8)
    return result
