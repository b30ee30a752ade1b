"""Model evaluation: parameters -> mesh. Pure, batched, differentiable functions."""

from __future__ import annotations

import torch

from faceforge.errors import UsageError
from faceforge.geometry import axis_angle_to_matrix
from faceforge.morphable.model import EyeRig, MorphableModel, Skeleton
from faceforge.structures import FaceParams, Mesh


def _check_params(model: MorphableModel, params: FaceParams) -> None:
    if params.identity.shape[1] != model.num_identity:
        raise UsageError(f"identity: {model.name} has {model.num_identity} components, got {params.identity.shape[1]}")
    if params.expression.shape[1] != model.num_expression:
        raise UsageError(
            f"expression: {model.name} has {model.num_expression} components, got {params.expression.shape[1]}"
        )
    if model.skeleton is not None and params.joint_rotations is not None:
        if params.joint_rotations.shape[1] != model.num_joints:
            raise UsageError(
                f"joint_rotations: {model.name} has {model.num_joints} joints, got {params.joint_rotations.shape[1]}"
            )


def shape_vertices(model: MorphableModel, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
    """Template + identity and expression offsets, before any posing.

    Args:
        identity: (B, Ni) weights.
        expression: (B, Ne) weights.
    Returns:
        (B, V, 3) float32 model-frame vertices in model units.
    """
    b = identity.shape[0]
    v = model.num_vertices
    offsets = identity.to(torch.float32) @ model.identity_basis.reshape(model.num_identity, -1)
    offsets = offsets + expression.to(torch.float32) @ model.expression_basis.reshape(model.num_expression, -1)
    return model.template.unsqueeze(0) + offsets.reshape(b, v, 3)


def _skin(skeleton: Skeleton, shaped: torch.Tensor, joint_rotations: torch.Tensor) -> torch.Tensor:
    """Pose correctives + linear blend skinning with an identity root (the global pose is applied afterwards).

    Args:
        shaped: (B, V, 3) rest-pose vertices.
        joint_rotations: (B, J-1, 3) axis-angle of the non-root joints.
    Returns:
        (B, V, 3) posed vertices.
    """
    b = shaped.shape[0]
    num_j = len(skeleton.joint_names)
    eye = torch.eye(3, dtype=shaped.dtype)
    rots = torch.cat([eye.expand(b, 1, 3, 3), axis_angle_to_matrix(joint_rotations)], dim=1)  # (B, J, 3, 3)
    # Rest joints come from the shaped mesh before the pose correctives (FLAME/SMPL: J = J_regressor @ v_shaped).
    joints = torch.einsum("jv,bvc->bjc", skeleton.joint_regressor, shaped)  # (B, J, 3)
    # FLAME pose correctives: features (R_j - I) of the non-root joints, flattened row-major.
    feats = (rots[:, 1:] - eye).reshape(b, -1)
    shaped = shaped + (feats @ skeleton.pose_basis.reshape(skeleton.pose_basis.shape[0], -1)).reshape(shaped.shape)
    # Forward kinematics: world transform of each joint as (R, t).
    glob_r = [rots[:, 0]]
    glob_t = [joints[:, 0]]
    parents = skeleton.parents.tolist()
    for j in range(1, num_j):
        p = parents[j]
        glob_r.append(glob_r[p] @ rots[:, j])
        glob_t.append(glob_t[p] + (glob_r[p] @ (joints[:, j] - joints[:, p]).unsqueeze(-1)).squeeze(-1))
    r = torch.stack(glob_r, 1)  # (B, J, 3, 3)
    t = torch.stack(glob_t, 1) - (r @ joints.unsqueeze(-1)).squeeze(-1)  # maps rest positions to posed
    w = skeleton.skinning_weights  # (V, J)
    r_v = torch.einsum("vj,bjkl->bvkl", w, r)
    t_v = torch.einsum("vj,bjk->bvk", w, t)
    return (r_v @ shaped.unsqueeze(-1)).squeeze(-1) + t_v


def _turn_eyes(rig: EyeRig, verts: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
    """Rotate each eyeball about its centroid by the gaze weights (see ``EyeRig``); (B, V, 3) -> (B, V, 3)."""
    out = verts
    for idx, shapes, side in ((rig.left_vertices, rig.left_shapes, 1.0), (rig.right_vertices, rig.right_shapes, -1.0)):
        w = expression[:, shapes].to(verts.dtype)  # (B, 4): in, out, up, down
        yaw = side * rig.max_yaw_rad * (w[:, 1] - w[:, 0])
        # Rotation about -x tilts +z (the gaze) towards +y: looking up.
        pitch = -(rig.max_up_rad * w[:, 2] - rig.max_down_rad * w[:, 3])
        zero = torch.zeros_like(yaw)
        r = axis_angle_to_matrix(torch.stack([zero, yaw, zero], -1)) @ axis_angle_to_matrix(
            torch.stack([pitch, zero, zero], -1)
        )
        eye = verts[:, idx]
        centre = eye.mean(1, keepdim=True)
        out = out.index_copy(1, idx, (eye - centre) @ r.transpose(1, 2) + centre)
    return out


def evaluate(model: MorphableModel, params: FaceParams) -> Mesh:
    """Evaluate the model: blendshapes, eyeball gaze (if rigged), skinning (if any), then the rigid pose.

    ``world = R(rotation) @ posed + translation`` with the rotation about the model origin.

    Args:
        model: the morphable model.
        params: FaceParams with batch B; ``joint_rotations`` is used by skinned models (None = rest pose).
    Returns:
        Mesh with vertices (B, V, 3) float32 in the world frame, model units; the model's faces and UVs.
    """
    _check_params(model, params)
    verts = shape_vertices(model, params.identity, params.expression)
    if model.eyes is not None:
        verts = _turn_eyes(model.eyes, verts, params.expression)
    if model.skeleton is not None and params.joint_rotations is not None:
        verts = _skin(model.skeleton, verts, params.joint_rotations.to(torch.float32))
    rot = axis_angle_to_matrix(params.rotation.to(torch.float32))
    verts = verts @ rot.transpose(1, 2) + params.translation.to(torch.float32).unsqueeze(1)
    return Mesh(vertices=verts, faces=model.faces, uv=model.uv, uv_faces=model.uv_faces)


def evaluate_landmarks(model: MorphableModel, params: FaceParams) -> torch.Tensor:
    """The 68 iBUG landmarks of the evaluated model (fixed vertices or surface points, frontal jaw contour).

    Models with ``landmark_faces`` (FLAME with a landmark embedding) interpolate their triangles barycentrically;
    the others take the ``landmark_indices`` vertices.

    Returns:
        (B, 68, 3) float32 world-frame positions, model units.
    """
    if model.landmark_indices.numel() == 0:
        raise UsageError(f"{model.name} defines no landmarks (FLAME needs a landmark embedding file to have them)")
    verts = evaluate(model, params).vertices
    if model.landmark_faces is None or model.landmark_barycentric is None:
        return verts[:, model.landmark_indices]
    corners = verts[:, model.faces[model.landmark_faces]]  # (B, L, 3 corners, 3)
    return (corners * model.landmark_barycentric[None, :, :, None]).sum(2)
