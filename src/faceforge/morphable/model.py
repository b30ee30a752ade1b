"""The morphable model: data a model file holds, in one frozen object.

A ``MorphableModel`` only owns loaded data. The math that uses it lives in pure functions
(``faceforge.morphable.evaluate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from faceforge.errors import UsageError


@dataclass(frozen=True)
class Skeleton:
    """Linear-blend-skinning data for skinned models (FLAME). None for ICT-FaceKit.

    Attributes:
        joint_regressor: (J, V) float32, rest joint positions = joint_regressor @ shaped vertices.
        parents: (J,) int64, parent joint index, -1 for the root.
        skinning_weights: (V, J) float32, rows sum to 1.
        pose_basis: (P, V, 3) float32 pose-corrective blendshapes, P = 9 * (J - 1), driven by
            (R_j - I) flattened for the non-root joints.
        joint_names: names of the J joints, root first.
    """

    joint_regressor: torch.Tensor
    parents: torch.Tensor
    skinning_weights: torch.Tensor
    pose_basis: torch.Tensor
    joint_names: tuple[str, ...]


@dataclass(frozen=True)
class EyeRig:
    """Eyeballs rotated by the gaze blendshapes (ICT's eyeLook* shapes move only the lids, not the eyeballs).

    Each eye rotates rigidly about the centroid of its (shaped) eyeball vertices. Yaw (about +y) =
    ``max_yaw_rad * (lookOut - lookIn)`` for the left eye (+x side) and its mirror for the right eye; pitch makes
    the gaze rise with ``lookUp`` and fall with ``lookDown`` (``max_up_rad``, ``max_down_rad`` at weight 1).

    Attributes:
        left_vertices / right_vertices: (n,) int64 eyeball vertices of the subject's left (+x) / right (-x) eye.
        left_shapes / right_shapes: (4,) int64 expression indices of lookIn, lookOut, lookUp, lookDown.
    """

    left_vertices: torch.Tensor
    right_vertices: torch.Tensor
    left_shapes: torch.Tensor
    right_shapes: torch.Tensor
    max_yaw_rad: float = 0.61  # 35 degrees
    max_up_rad: float = 0.52  # 30 degrees
    max_down_rad: float = 0.61  # 35 degrees


@dataclass(frozen=True)
class MorphableModel:
    """A linear morphable face model (identity modes + expression blendshapes), optionally skinned.

    Attributes:
        name: model identifier written into parameter files ("ict-facekit", "flame", "synthetic").
        template: (V, 3) float32 neutral mean shape, model frame, ``units``.
        identity_basis: (Ni, V, 3) float32 identity offsets per unit weight (weights ~ N(0, 1)).
        expression_basis: (Ne, V, 3) float32 expression offsets per unit weight.
        expression_names: Ne names in model order (ARKit names for ICT-FaceKit).
        faces: (F, 3) int64 triangles, counter-clockwise seen from outside.
        uv: (T, 2) float32 UV coordinates (origin bottom-left) or None.
        uv_faces: (F, 3) int64 or None.
        landmark_indices: (68,) int64 vertex per iBUG-68 landmark (fixed scheme, frontal contour). When the model
            defines its landmarks as surface points (``landmark_faces``), the template vertex nearest to each. (0,)
            when the model file defines no landmarks (FLAME loaded without a landmark embedding).
        contour_candidates: (C,) int64 vertices the jaw contour landmarks (iBUG 0-16) may slide to on turned faces.
        regions: region name -> (n,) int64 sorted vertex indices.
        face_groups: (F,) int64 material/group index per triangle.
        group_names: names of the groups ``face_groups`` index.
        units: length unit of the geometry ("cm" for ICT-FaceKit, "m" for FLAME).
        skeleton: skinning data or None.
        expression_bounds: (lower, upper) bounds per expression weight, None if unbounded (FLAME PCA).
        eyes: gaze rig turning the eyeballs with the eyeLook* weights, or None.
        landmark_faces: (L,) int64 triangle holding each landmark, or None for vertex landmarks (ICT-FaceKit).
        landmark_barycentric: (L, 3) float32 weights of that triangle's corners (``faces[landmark_faces]`` order,
            rows sum to 1), given together with ``landmark_faces``; L = len(landmark_indices).
    """

    name: str
    template: torch.Tensor
    identity_basis: torch.Tensor
    expression_basis: torch.Tensor
    expression_names: tuple[str, ...]
    faces: torch.Tensor
    landmark_indices: torch.Tensor
    units: str
    uv: torch.Tensor | None = None
    uv_faces: torch.Tensor | None = None
    contour_candidates: torch.Tensor | None = None
    regions: dict[str, torch.Tensor] = field(default_factory=dict)
    face_groups: torch.Tensor | None = None
    group_names: tuple[str, ...] = ()
    skeleton: Skeleton | None = None
    expression_bounds: tuple[float, float] | None = (0.0, 1.0)
    eyes: EyeRig | None = None
    landmark_faces: torch.Tensor | None = None
    landmark_barycentric: torch.Tensor | None = None

    def __post_init__(self) -> None:
        v = self.template.shape[0]
        if self.template.shape != (v, 3):
            raise UsageError(f"template: expected (V, 3), got {tuple(self.template.shape)}")
        if self.identity_basis.ndim != 3 or self.identity_basis.shape[1:] != (v, 3):
            raise UsageError(f"identity_basis: expected (Ni, {v}, 3), got {tuple(self.identity_basis.shape)}")
        if self.expression_basis.ndim != 3 or self.expression_basis.shape[1:] != (v, 3):
            raise UsageError(f"expression_basis: expected (Ne, {v}, 3), got {tuple(self.expression_basis.shape)}")
        if len(self.expression_names) != self.expression_basis.shape[0]:
            raise UsageError(
                f"expression_names: {len(self.expression_names)} names for {self.expression_basis.shape[0]} shapes"
            )
        if (self.landmark_faces is None) != (self.landmark_barycentric is None):
            raise UsageError("landmark_faces and landmark_barycentric must be given together")
        if self.landmark_faces is not None and self.landmark_barycentric is not None:
            n = self.landmark_indices.shape[0]
            if self.landmark_faces.shape != (n,) or self.landmark_barycentric.shape != (n, 3):
                raise UsageError(
                    f"landmark_faces/landmark_barycentric: expected ({n},) and ({n}, 3), got "
                    f"{tuple(self.landmark_faces.shape)} and {tuple(self.landmark_barycentric.shape)}"
                )

    @property
    def num_vertices(self) -> int:
        return int(self.template.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def num_identity(self) -> int:
        return int(self.identity_basis.shape[0])

    @property
    def num_expression(self) -> int:
        return int(self.expression_basis.shape[0])

    @property
    def num_joints(self) -> int:
        """Skinning joints besides the global one (0 for unskinned models)."""
        return 0 if self.skeleton is None else len(self.skeleton.joint_names) - 1

    def expression_index(self, name: str) -> int:
        """Index of the expression called ``name``; raises UsageError naming the valid ones otherwise."""
        try:
            return self.expression_names.index(name)
        except ValueError:
            raise UsageError(
                f"unknown expression {name!r}; {self.name} has: {', '.join(self.expression_names)}"
            ) from None

    def region(self, name: str) -> torch.Tensor:
        """(n,) int64 vertex indices of the named region."""
        if name not in self.regions:
            raise UsageError(f"unknown region {name!r}; {self.name} has: {', '.join(sorted(self.regions))}")
        return self.regions[name]


def as_tensor(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """NumPy array -> contiguous torch tensor of ``dtype`` (shares memory when the dtype already matches)."""
    return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)
