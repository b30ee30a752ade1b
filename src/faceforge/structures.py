"""Frozen dataclasses passed between stages.

Glossary of shape letters used in every docstring:

==  ==============================================================
B   batch (frames of a video are the batch axis of a Track)
V   vertices of the model mesh
F   triangles
T   UV (texture) vertices; UV faces index these
L   landmarks (68 for iBUG, 478 for the MediaPipe mesh)
Ni  identity components
Ne  expression components (blendshapes)
H   image height in pixels
W   image width in pixels
==  ==============================================================

Geometry is float32 torch tensors in model units (centimetres for ICT-FaceKit); see ``docs/conventions.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from faceforge.errors import UsageError


def _check(name: str, t: torch.Tensor, shape: tuple[int | None, ...]) -> None:
    if not isinstance(t, torch.Tensor):
        raise UsageError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if t.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, t.shape, strict=True)):
        want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise UsageError(f"{name}: expected shape {want}, got {tuple(t.shape)}")


@dataclass(frozen=True)
class FaceParams:
    """Parameters of one morphable-model face per batch row.

    Attributes:
        identity: (B, Ni) float32, identity weights, ~N(0, 1) a priori.
        expression: (B, Ne) float32, blendshape weights in [0, 1] (ICT/ARKit); FLAME expression weights are
            unbounded PCA coefficients.
        rotation: (B, 3) float32, axis-angle in radians, rotates model coordinates into the world frame about the
            model origin.
        translation: (B, 3) float32, world-frame translation in model units, applied after the rotation.
        joint_rotations: (B, J, 3) float32 axis-angle per skinning joint, or None for models without a skeleton
            (ICT-FaceKit). FLAME order: neck, jaw, left eye, right eye (the global joint is ``rotation``).
    """

    identity: torch.Tensor
    expression: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor
    joint_rotations: torch.Tensor | None = None

    def __post_init__(self) -> None:
        _check("identity", self.identity, (None, None))
        b = self.identity.shape[0]
        _check("expression", self.expression, (b, None))
        _check("rotation", self.rotation, (b, 3))
        _check("translation", self.translation, (b, 3))
        if self.joint_rotations is not None:
            _check("joint_rotations", self.joint_rotations, (b, None, 3))

    @property
    def batch_size(self) -> int:
        return int(self.identity.shape[0])

    @staticmethod
    def zeros(batch_size: int, num_identity: int, num_expression: int, num_joints: int = 0) -> FaceParams:
        """All-zero parameters (the template, unrotated, at the origin)."""
        z = torch.zeros
        return FaceParams(
            identity=z(batch_size, num_identity),
            expression=z(batch_size, num_expression),
            rotation=z(batch_size, 3),
            translation=z(batch_size, 3),
            joint_rotations=z(batch_size, num_joints, 3) if num_joints else None,
        )

    def select(self, index: int) -> FaceParams:
        """The batch row ``index`` as a batch of one."""
        sl = slice(index, index + 1)
        return FaceParams(
            identity=self.identity[sl],
            expression=self.expression[sl],
            rotation=self.rotation[sl],
            translation=self.translation[sl],
            joint_rotations=None if self.joint_rotations is None else self.joint_rotations[sl],
        )


@dataclass(frozen=True)
class Mesh:
    """A batch of meshes sharing one topology.

    Attributes:
        vertices: (B, V, 3) float32, positions (frame and unit given by whoever made it; ``evaluate`` returns the
            world frame in model units).
        faces: (F, 3) int64, counter-clockwise triangles (outward normals by the right-hand rule).
        uv: (T, 2) float32 texture coordinates in [0, 1], origin bottom-left (OBJ/OpenGL convention), or None.
        uv_faces: (F, 3) int64 indices into ``uv``, or None.
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    uv: torch.Tensor | None = None
    uv_faces: torch.Tensor | None = None

    def __post_init__(self) -> None:
        _check("vertices", self.vertices, (None, None, 3))
        _check("faces", self.faces, (None, 3))
        if (self.uv is None) != (self.uv_faces is None):
            raise UsageError("uv and uv_faces must be given together")
        if self.uv is not None and self.uv_faces is not None:
            _check("uv", self.uv, (None, 2))
            _check("uv_faces", self.uv_faces, (self.faces.shape[0], 3))

    @property
    def batch_size(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[1])


@dataclass(frozen=True)
class Camera:
    """A batch of pinhole (or orthographic) cameras, OpenCV frame: +x right, +y down, +z forward (into the scene).

    Projection of a world point ``X``: ``X_cam = rotation @ X + translation``; perspective
    ``u = fx * X_cam.x / X_cam.z + cx``, ``v = fy * X_cam.y / X_cam.z + cy``; orthographic ``u = fx * X_cam.x + cx``,
    ``v = fy * X_cam.y + cy`` (fx, fy then in pixels per model unit). Pixel coordinates have their origin at the
    centre of the top-left pixel: pixel (i, j) covers [j - 0.5, j + 0.5] x [i - 0.5, i + 0.5].

    Attributes:
        focal: (B, 2) float32, fx, fy in pixels (perspective) or pixels per model unit (orthographic).
        principal: (B, 2) float32, cx, cy in pixels.
        rotation: (B, 3, 3) float32, world-to-camera rotation matrix.
        translation: (B, 3) float32, world-to-camera translation in model units.
        width: image width in pixels.
        height: image height in pixels.
        orthographic: True for an orthographic (weak-perspective) camera.
    """

    focal: torch.Tensor
    principal: torch.Tensor
    rotation: torch.Tensor
    translation: torch.Tensor
    width: int
    height: int
    orthographic: bool = False

    def __post_init__(self) -> None:
        _check("focal", self.focal, (None, 2))
        b = self.focal.shape[0]
        _check("principal", self.principal, (b, 2))
        _check("rotation", self.rotation, (b, 3, 3))
        _check("translation", self.translation, (b, 3))
        if self.width <= 0 or self.height <= 0:
            raise UsageError(f"image size must be positive, got {self.width}x{self.height}")

    @property
    def batch_size(self) -> int:
        return int(self.focal.shape[0])
