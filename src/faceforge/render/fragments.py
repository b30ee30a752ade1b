"""What rasterization produces (``Fragments``), its options, and the screen-space vertices both rasterizers share.

Pixel convention (docs/conventions.md): pixel (row i, column j) is centred at (x, y) = (j, i) in pixel coordinates
and covers [j - 0.5, j + 0.5] x [i - 0.5, i + 0.5]. A pixel is covered by a triangle when its *centre* lies inside
or on the boundary of the projected triangle (edge functions >= 0; no top-left rule, so pixel centres exactly on a
shared edge are claimed by both triangles and the depth test picks one). The nearest covering triangle wins; on an
exact depth tie the triangle with the lower index wins (strict depth test in triangle order). The test compares
``1/z`` for a perspective camera (affine in screen space: larger is nearer) and ``-z`` for an orthographic one.

Depth is the camera-frame z (distance along the optical axis, model units), interpolated perspective-correctly
(``1/z`` is affine in screen space for a perspective camera, ``z`` itself for an orthographic one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from faceforge.camera.projection import broadcast_batch, project_with_depth
from faceforge.errors import UsageError
from faceforge.structures import Camera, Mesh


@dataclass(frozen=True)
class Fragments:
    """The visible triangle at every pixel centre (no gradients: visibility is discrete).

    Attributes:
        face_index: (B, H, W) int64 index into the rasterized mesh's ``faces``; -1 where no triangle covers the pixel.
        bary: (B, H, W, 3) float32 perspective-correct barycentric weights of the triangle's three vertices at the
            pixel centre (sum to 1; zeros on the background).
        depth: (B, H, W) float32 camera-frame z of the surface at the pixel centre, model units; +inf on the background.
    """

    face_index: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor

    @property
    def batch_size(self) -> int:
        return int(self.face_index.shape[0])

    @property
    def height(self) -> int:
        return int(self.face_index.shape[1])

    @property
    def width(self) -> int:
        return int(self.face_index.shape[2])

    @property
    def mask(self) -> torch.Tensor:
        """(B, H, W) bool, True where a triangle covers the pixel."""
        return self.face_index >= 0


def check_mesh_camera(mesh: Mesh, camera: Camera) -> int:
    """Validate a mesh/camera pair for rendering; returns the broadcast batch size."""
    if not isinstance(mesh, Mesh):
        raise UsageError(f"mesh: expected a faceforge Mesh, got {type(mesh).__name__}")
    if not isinstance(camera, Camera):
        raise UsageError(f"camera: expected a faceforge Camera, got {type(camera).__name__}")
    faces = mesh.faces
    if faces.dtype not in (torch.int64, torch.int32):
        raise UsageError(f"mesh.faces: expected an integer tensor, got {faces.dtype}")
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= mesh.num_vertices):
        raise UsageError(
            f"mesh.faces: indices must lie in [0, {mesh.num_vertices - 1}], "
            f"got [{int(faces.min())}, {int(faces.max())}]"
        )
    return broadcast_batch("mesh.vertices", mesh.batch_size, camera)


def screen_vertices(mesh: Mesh, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Vertices in screen space for the rasterizers (float64, no gradients).

    Returns:
        xy: (B', V, 2) float64 C-contiguous pixel coordinates; z: (B', V) float64 camera-frame depth, model units.
    """
    screen = project_with_depth(mesh.vertices.detach().to(torch.float64), camera).numpy()
    return np.ascontiguousarray(screen[..., :2]), np.ascontiguousarray(screen[..., 2])


def empty_buffers(batch: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A cleared z-buffer: face index (B, H, W) int64 all -1 and depth key (B, H, W) float64 all -inf.

    The key is what the depth test maximizes: 1/z for a perspective camera, -z for an orthographic one.
    """
    return np.full((batch, height, width), -1, dtype=np.int64), np.full((batch, height, width), -np.inf)
