"""The normal-map fit of the hybrid (``faceforge.fit.n2fnet.refine``) on exact synthetic faces (ICT-FaceKit)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from faceforge.errors import UsageError
from faceforge.fit.n2fnet.refine import (
    CompactFace,
    FaceEstimate,
    NormalTarget,
    RefineOptions,
    distance_to_mask,
    refine,
    sample_map,
    turn_about,
)
from faceforge.fit.n2fnet.rendering import FaceParts, model_vertices
from faceforge.geometry import axis_angle_to_matrix
from faceforge.morphable import MorphableModel

pytestmark = pytest.mark.ict


def _angle_deg(a: torch.Tensor, b: torch.Tensor) -> float:
    rel = a[0] @ b[0].T
    return math.degrees(math.acos(max(-1.0, min(1.0, (float(rel.trace()) - 1) / 2))))


@pytest.fixture(scope="module")
def parts(ict_model: MorphableModel) -> FaceParts:
    return FaceParts.of(ict_model)


def test_compact_face_matches_the_model(ict_model: MorphableModel, parts: FaceParts) -> None:
    g = torch.Generator().manual_seed(0)
    ident, expr = torch.randn(1, 30, generator=g), torch.rand(1, ict_model.num_expression, generator=g) * 0.5
    face = CompactFace.of(ict_model, parts, 30)
    full = model_vertices(ict_model, ident, expr)[0, face.vertex_index]
    drawn = face.parts.triangles.unique()
    torch.testing.assert_close(face.vertices(ident, expr)[0, drawn], full[drawn], atol=1e-4, rtol=0)
    # Turning about the pivot keeps the pivot in place.
    rot, t = axis_angle_to_matrix(torch.tensor([[0.1, 0.4, 0.0]])), torch.tensor([[1.0, 2.0, 90.0]])
    turn = axis_angle_to_matrix(torch.tensor([[0.0, 0.3, 0.2]]))
    rot2, t2 = turn_about(turn, rot, t, face.pivot)
    torch.testing.assert_close(rot2 @ face.pivot + t2, rot @ face.pivot + t)


def test_distance_map_and_sampling() -> None:
    mask = np.zeros((8, 8), dtype=bool)
    mask[2:4, 2:4] = True
    d = distance_to_mask(mask)
    assert d[2, 2] == 0 and d[2, 6] == 3.0
    pts = torch.tensor([[6.0, 2.0], [4.5, 2.0]], requires_grad=True)  # (x, y) pixels
    v = sample_map(torch.from_numpy(d), pts)
    torch.testing.assert_close(v.detach(), torch.tensor([3.0, 1.5]))
    v.sum().backward()
    assert float(pts.grad[0, 0]) > 0  # farther right = farther from the mask
    with pytest.raises(UsageError, match="empty"):
        distance_to_mask(np.zeros((4, 4), dtype=bool))


def test_refine_recovers_a_synthetic_face_better_than_its_start(ict_model: MorphableModel, parts: FaceParts) -> None:
    """Exact synthetic data (test face 3): from the truth moved by 8 degrees, 2 % in depth, a few pixels, and
    identity and expression noise, the fit comes closer to the truth: rotation, expression, the projected vertices
    and the camera-frame surface up to a scale about the camera centre (what a normal map determines: scaling the
    scene about the camera changes neither its normals nor its silhouette)."""
    from faceforge.datasets.synthetic import SyntheticFaces, SyntheticOptions
    from faceforge.fit.n2fnet.data import batch_from_samples

    b = batch_from_samples([SyntheticFaces(ict_model, SyntheticOptions(image_size=96)).sample(3, "test")])
    target = NormalTarget(b.normals, b.mask, b.focal, b.principal)
    g = torch.Generator().manual_seed(1)
    truth = FaceEstimate(b.identity[:, :30], b.expression, b.rotation, b.translation)
    turn = axis_angle_to_matrix(torch.tensor([[0.06, 0.11, -0.04]]))  # ~8 degrees
    start = FaceEstimate(
        identity=truth.identity + 0.5 * torch.randn(1, 30, generator=g),
        expression=(truth.expression + 0.15 * torch.rand(1, ict_model.num_expression, generator=g)).clamp(0, 1),
        rotation=turn @ truth.rotation,
        translation=truth.translation * torch.tensor([[1.0, 1.0, 1.02]]) + torch.tensor([[0.4, -0.3, 0.0]]),
    )
    face = CompactFace.of(ict_model, parts, 30)
    drawn = face.parts.triangles.unique()
    full_truth = model_vertices(ict_model, b.identity, b.expression)[0, face.vertex_index][drawn]

    def errors(e: FaceEstimate) -> tuple[float, float, float]:
        posed = face.vertices(e.identity, e.expression)[0, drawn] @ e.rotation[0].T + e.translation[0]
        gt = full_truth @ truth.rotation[0].T + truth.translation[0]
        scale = float((posed * gt).sum() / posed.square().sum())  # the best scale about the camera centre
        px = posed[:, :2] / posed[:, 2:] * b.focal[0]
        gt_px = gt[:, :2] / gt[:, 2:] * b.focal[0]
        return (float((scale * posed - gt).norm(dim=-1).mean()), float((px - gt_px).norm(dim=-1).mean()),
                _angle_deg(e.rotation, truth.rotation))

    result = refine(ict_model, parts, target, start, RefineOptions(steps=30))
    (v0, p0, r0), (v1, p1, r1) = errors(start), errors(result.estimate)
    assert result.energies[-1] < 0.5 * result.energies[0]
    assert r1 < 0.5 * r0 and v1 < 0.7 * v0 and p1 < 0.5 * p0, (r0, r1, v0, v1, p0, p1)
    e0 = float((start.expression - truth.expression).abs().mean())
    e1 = float((result.estimate.expression - truth.expression).abs().mean())
    assert e1 < e0
    assert float(result.estimate.expression.min()) >= 0 and float(result.estimate.expression.max()) <= 1
    with pytest.raises(UsageError, match="steps"):
        RefineOptions(steps=-1)
