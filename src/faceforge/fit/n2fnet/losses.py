"""N2FNet losses (seed 003, III.3): the parameter loss (eq. 4) and the rendering loss (eq. 5).

Parameter loss, eq. 4, ``L_param = l_beta |beta - beta*|^2 + l_theta |theta - theta*|^2 + l_psi |psi - psi*|^2
+ l_gamma |gamma - gamma*|^2`` with the paper's weights (IV.1) mapped to ICT-FaceKit:

==============================  ======================================  ========
paper (FLAME)                   here (ICT-FaceKit)                      weight
==============================  ======================================  ========
beta (shape, 300)               identity, the first K modes             10
psi (expression, 100)           the 53 expression weights in [0, 1]     100
theta (pose)                    the head rotation, 6D (two columns)     10
gamma (eyelids, 2)              eyeBlink_L/R: part of the 53 above      (100)
theta_jaw                       jawOpen/Left/Right/Forward: the 53      (100)
==============================  ======================================  ========

ICT-FaceKit moves the jaw and the eyelids with blendshapes on the same [0, 1] scale as every other expression, so
they take the expression weight; the paper's pose weight goes to the head rotation, which the model module predicts
here (see ``network.py``). Each squared norm is summed over its components and averaged over the batch.

Rendering loss, eq. 5, ``L_render = l_N d_cos(N_face, N_face*) + l_S |S_face - S_face*|^2 + l_lmk |lmk - lmk*|^2``
with ``l_N = 1``, ``l_S = 10``, ``l_lmk = 100`` (synthetic data). Normalizations (the paper does not state them):
d_cos is averaged over the pixels covered by either mask (a pixel covered by only one of them has a zero vector on
the other side and so distance 1); the mask term is the mean squared difference over all pixels; landmarks are in
coordinates normalized to [-1, 1] across the image (``2 (u + 0.5) / S - 1``), squared distance summed over x, y and
averaged over the landmarks. The hard z-buffer masks carry no gradient (see ``faceforge.render.interpolate``): the
mask term is reported but only the normal and landmark terms move the camera module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from faceforge.fit.n2fnet.network import matrix_to_rotation_6d


@dataclass(frozen=True)
class LossWeights:
    """The lambdas of eqs. 4 and 5 (seed 003, IV.1; the mapping to ICT is in the module docstring)."""

    identity: float = 10.0
    expression: float = 100.0
    rotation: float = 10.0
    normal: float = 1.0
    mask: float = 10.0
    landmarks: float = 100.0


@dataclass(frozen=True)
class LossTerms:
    """A loss and its unweighted terms (scalars; terms that do not apply are 0)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]

    def scalars(self) -> dict[str, float]:
        return {"total": float(self.total.detach()), **{k: float(v.detach()) for k, v in self.terms.items()}}


def param_loss(
    identity: torch.Tensor,
    expression: torch.Tensor,
    rotation: torch.Tensor,
    identity_gt: torch.Tensor,
    expression_gt: torch.Tensor,
    rotation_gt: torch.Tensor,
    weights: LossWeights = LossWeights(),
) -> LossTerms:
    """Eq. 4.

    Args:
        identity, identity_gt: (B, K) identity weights.
        expression, expression_gt: (B, Ne) expression weights.
        rotation, rotation_gt: (B, 3, 3) head rotations (model -> camera frame); compared as 6D vectors.
    Returns:
        LossTerms with terms "identity", "expression", "rotation" (each the batch mean of a squared norm).
    """
    t_id = (identity - identity_gt).square().sum(-1).mean()
    t_ex = (expression - expression_gt).square().sum(-1).mean()
    t_rot = (matrix_to_rotation_6d(rotation) - matrix_to_rotation_6d(rotation_gt)).square().sum(-1).mean()
    total = weights.identity * t_id + weights.expression * t_ex + weights.rotation * t_rot
    return LossTerms(total, {"identity": t_id, "expression": t_ex, "rotation": t_rot})


def cosine_distance_map(normals: torch.Tensor, normals_gt: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``d_cos(x, y) = 1 - x.y / (|x| |y|)`` per pixel; a zero vector on either side gives 1.

    Args:
        normals, normals_gt: (B, H, W, 3).
    Returns:
        (B, H, W) distances in [0, 2].
    """
    dot = (normals * normals_gt).sum(-1)
    return 1.0 - dot / (normals.norm(dim=-1) * normals_gt.norm(dim=-1)).clamp_min(eps)


def normalize_pixels(points_px: torch.Tensor, size: int) -> torch.Tensor:
    """(…, 2) pixel coordinates (pixel-centre convention) in an image of ``size`` pixels -> [-1, 1] at the edges."""
    return (points_px + 0.5) * (2.0 / size) - 1.0


def render_loss(
    normals: torch.Tensor,
    mask: torch.Tensor,
    landmarks_px: torch.Tensor,
    normals_gt: torch.Tensor,
    mask_gt: torch.Tensor,
    landmarks_gt_px: torch.Tensor,
    weights: LossWeights = LossWeights(),
) -> LossTerms:
    """Eq. 5.

    Args:
        normals, normals_gt: (B, S, S, 3) face-masked camera-frame normals (zero off the face).
        mask, mask_gt: (B, S, S) face masks in {0, 1}.
        landmarks_px, landmarks_gt_px: (B, L, 2) landmarks in pixels of the S x S image.
    Returns:
        LossTerms with terms "normal", "mask", "landmarks".
    """
    size = normals.shape[-2]
    union = ((mask > 0.5) | (mask_gt > 0.5)).to(normals.dtype)
    d = cosine_distance_map(normals, normals_gt)
    t_n = (d * union).sum((1, 2)) / union.sum((1, 2)).clamp_min(1.0)
    t_n = t_n.mean()
    t_s = (mask - mask_gt).square().mean()
    diff = normalize_pixels(landmarks_px, size) - normalize_pixels(landmarks_gt_px, size)
    t_l = diff.square().sum(-1).mean()
    total = weights.normal * t_n + weights.mask * t_s + weights.landmarks * t_l
    return LossTerms(total, {"normal": t_n, "mask": t_s, "landmarks": t_l})
