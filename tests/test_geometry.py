import math

import pytest
import torch

from faceforge.errors import UsageError
from faceforge.geometry import (
    axis_angle_to_matrix,
    euler_to_matrix,
    face_normals,
    matrix_to_axis_angle,
    matrix_to_euler,
    vertex_normals,
)


def test_axis_angle_known_rotation() -> None:
    r = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, math.pi / 2]]))
    # +90 degrees about z maps +x to +y.
    torch.testing.assert_close(r[0] @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6, rtol=0)


def test_axis_angle_zero_is_identity_with_finite_gradient() -> None:
    aa = torch.zeros(3, 3, requires_grad=True)
    r = axis_angle_to_matrix(aa)
    torch.testing.assert_close(r, torch.eye(3).expand(3, 3, 3))
    r.sum().backward()
    assert torch.isfinite(aa.grad).all()


@pytest.mark.parametrize("batch", [1, 3])
def test_axis_angle_round_trip(batch: int) -> None:
    aa = torch.randn(batch, 3, dtype=torch.float64)
    aa = aa / aa.norm(dim=-1, keepdim=True) * torch.rand(batch, 1, dtype=torch.float64) * 3.0
    back = matrix_to_axis_angle(axis_angle_to_matrix(aa))
    torch.testing.assert_close(back, aa, atol=1e-9, rtol=0)


def test_axis_angle_gradcheck() -> None:
    aa = (torch.randn(2, 3, dtype=torch.float64) * 0.7).requires_grad_()
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (aa,))


def test_euler_round_trip_and_yaw_convention() -> None:
    ypr = torch.tensor([[0.3, -0.2, 0.1], [-0.5, 0.4, -0.7]], dtype=torch.float64)
    torch.testing.assert_close(matrix_to_euler(euler_to_matrix(ypr)), ypr)
    # Positive yaw turns the face (+z) towards +x.
    r = euler_to_matrix(torch.tensor([math.pi / 2, 0.0, 0.0]))
    torch.testing.assert_close(r @ torch.tensor([0.0, 0.0, 1.0]), torch.tensor([1.0, 0.0, 0.0]), atol=1e-6, rtol=0)


def test_rotation_shape_errors() -> None:
    with pytest.raises(UsageError, match=r"expected \(\.\.\., 3\)"):
        axis_angle_to_matrix(torch.zeros(2, 4))
    with pytest.raises(UsageError, match=r"expected \(\.\.\., 3, 3\)"):
        matrix_to_axis_angle(torch.zeros(2, 3))


def test_normals_of_a_tetrahedron_point_outward() -> None:
    v = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]])
    f = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    fn = face_normals(v, f)
    centroid = v[0].mean(0)
    face_centres = v[0][f].mean(1)
    assert ((fn[0] * (face_centres - centroid)).sum(-1) > 0).all()
    torch.testing.assert_close(fn[0, 0], torch.tensor([0.0, 0.0, -1.0]))
    vn = vertex_normals(v, f)
    torch.testing.assert_close(vn.norm(dim=-1), torch.ones(1, 4))
