"""Render a posed face the way N2FNet sees it: face-masked camera-frame normals, the face mask, 2D landmarks.

Used for the rendering loss (eq. 5) on predicted parameters. Definitions follow the synthetic data
(``faceforge.datasets.synthetic``): the face mask S_face is the drawn triangles of the model's ``face`` region, the
landmarks are the iBUG-68 surface points the fitter outputs (the shipped 300-W calibration for ICT-FaceKit). The head
is placed directly in the OpenCV camera frame (``X_cam = R @ X_model + t``): the rasterized camera is
``rotation = I, translation = 0`` with the crop intrinsics, so its "camera" normals are the OpenCV camera frame's.
Only the face triangles are rasterized (the data renders the whole head and keeps the face pixels; they differ where
the ears or the eyelashes would hide face pixels, which the poses of the data rarely show).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from faceforge.morphable.evaluate import evaluate
from faceforge.morphable.model import MorphableModel
from faceforge.render.gbuffers import render_normals
from faceforge.render.interpolate import differentiable_barycentrics
from faceforge.render.parts import visible_face_indices
from faceforge.render.rasterize import rasterize
from faceforge.structures import Camera, FaceParams, Mesh


@dataclass(frozen=True)
class FaceRender:
    """A batch of face renders at S x S.

    Attributes:
        normals: (B, S, S, 3) unit camera-frame normals on the face mask, 0 elsewhere.
        mask: (B, S, S) float32 face mask in {0, 1} (no gradient).
        landmarks_px: (B, 68, 2) projected iBUG-68 landmarks, pixels (differentiable).
    """

    normals: torch.Tensor
    mask: torch.Tensor
    landmarks_px: torch.Tensor


@dataclass(frozen=True)
class FaceParts:
    """What to render of a model: the face triangles and the landmark surface points.

    Attributes:
        triangles: (F', 3) int64 vertex indices of the drawn triangles of the ``face`` region.
        landmark_corners: (68, 3) int64 vertex indices of the triangle holding each landmark.
        landmark_bary: (68, 3) float32 barycentric weights of those corners.
    """

    triangles: torch.Tensor
    landmark_corners: torch.Tensor
    landmark_bary: torch.Tensor

    @staticmethod
    def of(model: MorphableModel) -> FaceParts:
        from faceforge.fit.correspondence import load_ibug68
        from faceforge.fit.surface import SurfacePoints

        drawn = model.faces[visible_face_indices(model)]
        inside = torch.zeros(model.num_vertices, dtype=torch.bool)
        inside[model.region("face")] = True
        tris = drawn[inside[drawn].all(1)]
        ib = load_ibug68(model) or SurfacePoints.at_vertices(model, model.landmark_indices.numpy())
        corners = model.faces[torch.as_tensor(ib.face_index, dtype=torch.int64)]
        return FaceParts(tris, corners, torch.as_tensor(ib.bary, dtype=torch.float32))

    def landmarks(self, vertices: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) -> (B, 68, 3) landmark positions in the same frame."""
        return (vertices[:, self.landmark_corners] * self.landmark_bary[None, :, :, None]).sum(2)


def model_vertices(model: MorphableModel, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
    """(B, V, 3) unposed model-frame vertices for the first K identity modes (the rest 0) and the expressions."""
    b, k = identity.shape
    full = torch.cat([identity, identity.new_zeros(b, model.num_identity - k)], dim=1)
    zero = identity.new_zeros(b, 3)
    return evaluate(model, FaceParams(full, expression, zero, zero)).vertices


def render_face(
    parts: FaceParts,
    vertices_model: torch.Tensor,
    rotation: torch.Tensor,
    translation: torch.Tensor,
    focal_px: torch.Tensor,
    principal_px: torch.Tensor,
    size: int,
    differentiable: bool = True,
) -> FaceRender:
    """Pose the head in the camera frame and render what N2FNet sees.

    Args:
        parts: ``FaceParts.of(model)``.
        vertices_model: (B, V, 3) unposed vertices (``model_vertices``), model units.
        rotation: (B, 3, 3) model -> OpenCV camera frame. translation: (B, 3) camera frame, model units.
        focal_px, principal_px: (B, 2) intrinsics of the S x S image.
        differentiable: recompute barycentrics in torch so gradients reach the pose (else constant).
    """
    verts = vertices_model @ rotation.transpose(1, 2) + translation[:, None]
    b = verts.shape[0]
    cam = Camera(focal_px, principal_px, torch.eye(3, dtype=verts.dtype).expand(b, 3, 3),
                 verts.new_zeros(b, 3), size, size)
    mesh = Mesh(verts, parts.triangles)
    frags = rasterize(Mesh(verts.detach(), parts.triangles), cam)
    bary = differentiable_barycentrics(mesh, cam, frags) if differentiable else None
    normals = render_normals(mesh, cam, frags, frame="camera", bary=bary)
    lm = parts.landmarks(verts)
    landmarks = focal_px[:, None] * lm[..., :2] / lm[..., 2:3] + principal_px[:, None]
    return FaceRender(normals, frags.mask.to(torch.float32), landmarks)
