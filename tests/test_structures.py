import pytest
import torch

from faceforge.errors import UsageError
from faceforge.structures import Camera, FaceParams, Mesh


def test_faceparams_zeros_and_select() -> None:
    p = FaceParams.zeros(3, 4, 5)
    assert p.batch_size == 3 and p.identity.shape == (3, 4) and p.joint_rotations is None
    assert p.select(2).batch_size == 1


def test_faceparams_rejects_mismatched_batch() -> None:
    with pytest.raises(UsageError, match=r"expression: expected shape \(2, \?\), got \(3, 5\)"):
        FaceParams(torch.zeros(2, 4), torch.zeros(3, 5), torch.zeros(2, 3), torch.zeros(2, 3))


def test_mesh_requires_uv_pairs() -> None:
    with pytest.raises(UsageError, match="uv and uv_faces must be given together"):
        Mesh(torch.zeros(1, 3, 3), torch.tensor([[0, 1, 2]]), uv=torch.zeros(3, 2))


def test_camera_validates() -> None:
    with pytest.raises(UsageError, match="image size must be positive"):
        Camera(torch.ones(1, 2), torch.zeros(1, 2), torch.eye(3)[None], torch.zeros(1, 3), 0, 10)
