"""Camera constructors: a front view, look-at, a view framing a set of points, and crop/resize of intrinsics.

All return ``faceforge.structures.Camera`` (OpenCV frame, see docs/conventions.md). The default principal point is
the image centre ``((W - 1) / 2, (H - 1) / 2)`` under the pixel-centre convention (pixel (i, j) centred at (j, i)).
"""

from __future__ import annotations

import math

import torch

from faceforge.errors import UsageError
from faceforge.structures import Camera


def _image_centre(width: int, height: int) -> tuple[float, float]:
    return (width - 1) / 2.0, (height - 1) / 2.0


def _check_size(width: int, height: int) -> None:
    if int(width) != width or int(height) != height or width <= 0 or height <= 0:
        raise UsageError(f"image size: expected positive integers, got {width}x{height}")


def front_camera(
    distance: float, focal: float, width: int, height: int, batch: int = 1, orthographic: bool = False
) -> Camera:
    """A camera on the model's +z axis looking at the origin: ``R = diag(1, -1, -1)``, ``t = (0, 0, distance)``.

    Args:
        distance: distance of the camera from the world origin along +z, model units (> 0).
        focal: fx = fy in pixels (perspective) or pixels per model unit (orthographic).
        width, height: image size in pixels; the principal point is the image centre.
        batch: number of (identical) cameras.
    """
    _check_size(width, height)
    if distance <= 0 or focal <= 0 or batch < 1:
        raise UsageError(
            f"front_camera: expected distance > 0, focal > 0, batch >= 1; got {distance}, {focal}, {batch}"
        )
    rot = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    return Camera(
        focal=torch.full((batch, 2), float(focal)),
        principal=torch.tensor([_image_centre(width, height)]).repeat(batch, 1),
        rotation=rot.expand(batch, 3, 3).clone(),
        translation=torch.tensor([[0.0, 0.0, float(distance)]]).repeat(batch, 1),
        width=int(width),
        height=int(height),
        orthographic=orthographic,
    )


def look_at_rotation(eye_world: torch.Tensor, target_world: torch.Tensor, up_world: torch.Tensor) -> torch.Tensor:
    """World-to-camera rotation of a camera at ``eye`` looking at ``target`` with ``up`` pointing up in the image.

    Rows of the result are the camera axes in world coordinates: +x right, +y down (= -up projected), +z forward.

    Args:
        eye_world, target_world, up_world: (B, 3) float.
    Returns:
        (B, 3, 3) rotation matrices.
    """
    forward = target_world - eye_world
    norm = forward.norm(dim=-1, keepdim=True)
    if bool((norm < 1e-12).any()):
        raise UsageError("look_at: the eye and the target coincide")
    forward = forward / norm
    right = torch.linalg.cross(-up_world, forward, dim=-1)
    rnorm = right.norm(dim=-1, keepdim=True)
    if bool((rnorm < 1e-9).any()):
        raise UsageError("look_at: the up vector is parallel to the viewing direction")
    right = right / rnorm
    down = torch.linalg.cross(forward, right, dim=-1)
    return torch.stack([right, down, forward], dim=-2)


def look_at_camera(
    eye_world: torch.Tensor,
    target_world: torch.Tensor,
    focal: float,
    width: int,
    height: int,
    up_world: torch.Tensor | None = None,
    orthographic: bool = False,
) -> Camera:
    """A camera at ``eye`` looking at ``target``.

    Args:
        eye_world, target_world: (B, 3) float, world frame, model units.
        focal: fx = fy in pixels (perspective) or pixels per model unit (orthographic).
        width, height: image size; the principal point is the image centre.
        up_world: (B, 3) or None for world +y (the model's up).
    Returns:
        Camera with batch B, float64 when ``eye_world`` is float64, else float32.
    """
    _check_size(width, height)
    if eye_world.ndim != 2 or eye_world.shape[-1] != 3 or target_world.shape != eye_world.shape:
        raise UsageError(
            f"look_at_camera: expected eye and target of shape (B, 3), got {tuple(eye_world.shape)} and "
            f"{tuple(target_world.shape)}"
        )
    b = eye_world.shape[0]
    dtype = eye_world.dtype if eye_world.dtype == torch.float64 else torch.float32
    eye, target = eye_world.to(dtype), target_world.to(dtype)
    up = torch.tensor([[0.0, 1.0, 0.0]], dtype=dtype).expand(b, 3) if up_world is None else up_world.to(dtype)
    rot = look_at_rotation(eye, target, up)
    return Camera(
        focal=torch.full((b, 2), float(focal), dtype=dtype),
        principal=torch.tensor([_image_centre(width, height)], dtype=dtype).repeat(b, 1),
        rotation=rot,
        translation=-(rot @ eye[..., None])[..., 0],
        width=int(width),
        height=int(height),
        orthographic=orthographic,
    )


def look_at_face_camera(
    points_world: torch.Tensor,
    width: int,
    height: int,
    yaw_rad: torch.Tensor | float = 0.0,
    pitch_rad: torch.Tensor | float = 0.0,
    fov_deg: float = 20.0,
    padding: float = 1.1,
) -> Camera:
    """A perspective camera orbiting the centre of a point set so that the whole set fits in the image.

    The camera looks at the centre of the points' bounding box from
    ``centre + d * (sin(yaw) cos(pitch), sin(pitch), cos(yaw) cos(pitch))``: yaw 0, pitch 0 is the front view
    (world +z, the face side of an unrotated model); yaw > 0 moves the camera towards world +x (the subject's left),
    pitch > 0 moves it up. ``d`` makes the bounding sphere (times ``padding``) fill the smaller image side.

    Args:
        points_world: (B, N, 3) or (N, 3) float, world frame (e.g. mesh vertices).
        width, height: image size in pixels.
        yaw_rad, pitch_rad: scalars or (K,) tensors; K > 1 gives K cameras (points must then have batch 1 or K).
        fov_deg: field of view across the smaller image side, degrees.
        padding: margin factor (> 0) on the bounding-sphere radius.
    Returns:
        Camera with batch max(B, K).
    """
    _check_size(width, height)
    pts = points_world[None] if points_world.ndim == 2 else points_world
    if pts.ndim != 3 or pts.shape[-1] != 3 or pts.shape[1] == 0:
        raise UsageError(f"points_world: expected shape (B, N, 3) with N > 0, got {tuple(points_world.shape)}")
    if not 0.0 < fov_deg < 180.0 or padding <= 0:
        raise UsageError(f"look_at_face_camera: expected 0 < fov_deg < 180 and padding > 0, got {fov_deg}, {padding}")
    pts = pts.detach().to(torch.float32)
    yaw = torch.as_tensor(yaw_rad, dtype=torch.float32).reshape(-1)
    pitch = torch.as_tensor(pitch_rad, dtype=torch.float32).reshape(-1)
    if bool((pitch.abs() > math.radians(89.0)).any()):
        raise UsageError("look_at_face_camera: |pitch| must be below 89 degrees")
    k = max(yaw.numel(), pitch.numel())
    if {yaw.numel(), pitch.numel()} - {1, k} or (pts.shape[0] not in (1, k) and k != 1):
        raise UsageError(
            f"look_at_face_camera: cannot combine points batch {pts.shape[0]}, {yaw.numel()} yaws and "
            f"{pitch.numel()} pitches (each must be 1 or a common K)"
        )
    lo, hi = pts.min(dim=1).values, pts.max(dim=1).values
    centre = (lo + hi) / 2.0  # (B, 3)
    radius = (pts - centre[:, None]).norm(dim=-1).max(dim=1).values.clamp_min(1e-6)  # (B,)
    half = math.radians(fov_deg) / 2.0
    focal = (min(width, height) / 2.0) / math.tan(half)
    distance = radius * padding / math.sin(half)
    yaw, pitch = yaw.expand(k), pitch.expand(k)
    direction = torch.stack([yaw.sin() * pitch.cos(), pitch.sin(), yaw.cos() * pitch.cos()], dim=-1)  # (K, 3)
    b = max(pts.shape[0], k)
    eye = centre.expand(b, 3) + distance.expand(b)[:, None] * direction.expand(b, 3)
    return look_at_camera(eye, centre.expand(b, 3), focal, width, height)


def crop_camera(camera: Camera, bbox: torch.Tensor, out_size: int) -> Camera:
    """Intrinsics of a square crop of the image, resized to ``out_size`` x ``out_size`` (seed 003, eqs. 6-9).

    The crop's first pixel is the original pixel (y0, x0) and it spans ``side`` original pixels, i.e. the square
    ``[x0 - 0.5, x0 + side - 0.5] x [y0 - 0.5, y0 + side - 0.5]`` in pixel coordinates (``x0``, ``y0``, ``side`` may be
    fractional). With ``s = out_size / side`` a pixel coordinate maps as ``u' = (u - x0 + 0.5) * s - 0.5`` (the
    pixel-centre-correct form of eq. 9; OpenCV ``resize`` uses the same mapping), so ``f' = f * s`` and
    ``c' = (c - (x0, y0) + 0.5) * s - 0.5``. Rotation and translation are unchanged (eqs. 6, 7).

    Args:
        camera: batch B.
        bbox: (B, 3) or (3,) float: x0, y0, side in original pixels (side > 0).
        out_size: output width = height in pixels.
    Returns:
        Camera of size out_size x out_size.
    """
    _check_size(out_size, out_size)
    box = bbox[None] if bbox.ndim == 1 else bbox
    if box.ndim != 2 or box.shape[-1] != 3 or box.shape[0] not in (1, camera.batch_size):
        raise UsageError(f"bbox: expected shape ({camera.batch_size}, 3) or (3,), got {tuple(bbox.shape)}")
    if bool((box[:, 2] <= 0).any()):
        raise UsageError("bbox: side must be positive")
    box = box.to(camera.focal.dtype).expand(camera.batch_size, 3)
    scale = out_size / box[:, 2:3]
    return Camera(
        focal=camera.focal * scale,
        principal=(camera.principal - box[:, :2] + 0.5) * scale - 0.5,
        rotation=camera.rotation,
        translation=camera.translation,
        width=int(out_size),
        height=int(out_size),
        orthographic=camera.orthographic,
    )
