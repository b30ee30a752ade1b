"""Camera maps and constructors: exact answers, round trips, broadcasting, errors."""

from __future__ import annotations

import math

import pytest
import torch

from faceforge.camera import (
    camera_centers,
    camera_to_world,
    crop_camera,
    front_camera,
    look_at_camera,
    look_at_face_camera,
    project,
    project_with_depth,
    unproject,
    world_to_camera,
)
from faceforge.errors import UsageError
from faceforge.structures import Camera


def _random_camera(batch: int, orthographic: bool = False, dtype: torch.dtype = torch.float64) -> Camera:
    g = torch.Generator().manual_seed(batch)
    yaw = torch.rand(batch, generator=g, dtype=dtype) - 0.5
    eye = torch.stack([30 * yaw.sin(), 5 * torch.rand(batch, generator=g, dtype=dtype), 40 * yaw.cos()], -1)
    cam = look_at_camera(eye, torch.zeros(batch, 3, dtype=dtype), 300.0, 64, 48, orthographic=orthographic)
    if orthographic:
        cam = Camera(cam.focal / 40.0, cam.principal, cam.rotation, cam.translation, 64, 48, True)
    return Camera(cam.focal.to(dtype), cam.principal.to(dtype) + 1.5, cam.rotation.to(dtype),
                  cam.translation.to(dtype), cam.width, cam.height, cam.orthographic)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("orthographic", [False, True])
def test_point_on_optical_axis_lands_on_principal_point(batch: int, orthographic: bool) -> None:
    cam = _random_camera(batch, orthographic)
    on_axis = camera_to_world(torch.tensor([[[0.0, 0.0, 25.0]]], dtype=torch.float64).expand(batch, 1, 3), cam)
    px = project(on_axis, cam)
    assert px.shape == (batch, 1, 2)
    torch.testing.assert_close(px[:, 0], cam.principal, rtol=0, atol=1e-9)


def test_front_camera_matches_conventions() -> None:
    cam = front_camera(50.0, 500.0, 101, 81)
    assert torch.equal(cam.rotation[0], torch.diag(torch.tensor([1.0, -1.0, -1.0])))
    assert torch.equal(cam.translation[0], torch.tensor([0.0, 0.0, 50.0]))
    assert cam.principal[0].tolist() == [50.0, 40.0]  # image centre under the pixel-centre convention
    # The subject's left (+x) is on the image right, up (+y) is image up, the face (+z) is nearer than the origin.
    pts = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 10.0]]])
    uvz = project_with_depth(pts, cam)[0]
    assert uvz[0, 0] > 50.0 and uvz[1, 1] < 40.0 and uvz[2, 2] == pytest.approx(40.0)
    assert uvz[0].tolist() == pytest.approx([60.0, 40.0, 50.0])  # 500 px * 1 cm / 50 cm = 10 px
    torch.testing.assert_close(camera_centers(cam), torch.tensor([[0.0, 0.0, 50.0]]))


@pytest.mark.parametrize("orthographic", [False, True])
def test_project_unproject_round_trip(orthographic: bool) -> None:
    cam = _random_camera(3, orthographic)
    pts = torch.randn(3, 50, 3, dtype=torch.float64) * 5.0
    uvz = project_with_depth(pts, cam)
    back = unproject(uvz[..., :2], uvz[..., 2], cam)
    torch.testing.assert_close(back, pts, rtol=0, atol=1e-9)
    torch.testing.assert_close(camera_to_world(world_to_camera(pts, cam), cam), pts, rtol=0, atol=1e-12)
    torch.testing.assert_close(uvz[..., :2], project(pts, cam), rtol=0, atol=0)
    torch.testing.assert_close(uvz[..., 2], world_to_camera(pts, cam)[..., 2], rtol=0, atol=0)


def test_batch_broadcasting_and_errors() -> None:
    cams = _random_camera(3)
    one_point_set = torch.randn(1, 4, 3, dtype=torch.float64)
    out = project(one_point_set, cams)
    assert out.shape == (3, 4, 2)
    for b in range(3):
        single = Camera(cams.focal[b:b + 1], cams.principal[b:b + 1], cams.rotation[b:b + 1],
                        cams.translation[b:b + 1], cams.width, cams.height)
        torch.testing.assert_close(out[b:b + 1], project(one_point_set, single), rtol=0, atol=0)
    with pytest.raises(UsageError, match=r"points_world: batch 2 does not match the camera batch 3"):
        project(torch.zeros(2, 4, 3), cams)
    with pytest.raises(UsageError, match=r"points_world: expected shape \(B, N, 3\), got \(4, 3\)"):
        project(torch.zeros(4, 3), cams)
    with pytest.raises(UsageError, match=r"depth: expected shape \(3, 4\), got \(3, 5\)"):
        unproject(torch.zeros(3, 4, 2), torch.zeros(3, 5), cams)


def test_look_at_camera_front_view_equals_front_camera() -> None:
    cam = look_at_camera(torch.tensor([[0.0, 0.0, 60.0]]), torch.zeros(1, 3), 400.0, 32, 32)
    ref = front_camera(60.0, 400.0, 32, 32)
    torch.testing.assert_close(cam.rotation, ref.rotation, rtol=0, atol=1e-7)
    torch.testing.assert_close(cam.translation, ref.translation, rtol=0, atol=1e-6)
    with pytest.raises(UsageError, match="up vector is parallel"):
        look_at_camera(torch.tensor([[0.0, 10.0, 0.0]]), torch.zeros(1, 3), 400.0, 32, 32)


def test_look_at_camera_is_a_rotation_looking_at_the_target() -> None:
    eye = torch.tensor([[10.0, 20.0, 30.0], [-5.0, 1.0, -40.0]])
    target = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    cam = look_at_camera(eye, target, 300.0, 40, 30)
    r = cam.rotation
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3).expand(2, 3, 3), rtol=0, atol=1e-6)
    assert torch.allclose(torch.linalg.det(r), torch.ones(2))
    torch.testing.assert_close(project(target[:, None], cam)[:, 0], cam.principal, rtol=0, atol=1e-4)
    # World up (+y) stays up in the image: a point above the target has a smaller row.
    above = project((target + torch.tensor([0.0, 1.0, 0.0]))[:, None], cam)[:, 0]
    assert bool((above[:, 1] < cam.principal[:, 1]).all())


def test_look_at_face_camera_frames_the_points() -> None:
    pts = torch.randn(1, 200, 3) * torch.tensor([8.0, 10.0, 9.0])
    cam = look_at_face_camera(pts, 64, 48, yaw_rad=torch.tensor([0.0, 0.5, -1.0, math.pi]))
    assert cam.batch_size == 4 and (cam.width, cam.height) == (64, 48)
    px = project(pts, cam)
    assert bool((px[..., 0] >= -0.5).all() and (px[..., 0] <= 63.5).all())
    assert bool((px[..., 1] >= -0.5).all() and (px[..., 1] <= 47.5).all())
    # Yaw 0 looks along -z from the +z side; yaw pi from the back.
    assert camera_centers(cam)[0, 2] > 0 and camera_centers(cam)[3, 2] < 0
    with pytest.raises(UsageError, match=r"\|pitch\| must be below 89 degrees"):
        look_at_face_camera(pts, 64, 48, pitch_rad=1.56)


def test_crop_camera_shifts_and_scales_pixels() -> None:
    cam = _random_camera(2)
    pts = torch.randn(2, 30, 3, dtype=torch.float64) * 5.0
    box = torch.tensor([[10.0, 4.0, 20.0], [3.5, -2.0, 40.0]], dtype=torch.float64)
    crop = crop_camera(cam, box, 80)
    assert (crop.width, crop.height) == (80, 80)
    s = (80.0 / box[:, 2])[:, None, None]
    expect = (project(pts, cam) - box[:, None, :2] + 0.5) * s - 0.5
    torch.testing.assert_close(project(pts, crop), expect, rtol=0, atol=1e-9)
    # The crop's pixel (0, 0) covers the original square starting at pixel (y0, x0): its centre maps there at s=1.
    unit = crop_camera(cam, torch.tensor([7.0, 5.0, 16.0], dtype=torch.float64), 16)
    torch.testing.assert_close(project(pts, unit), project(pts, cam) - torch.tensor([7.0, 5.0], dtype=torch.float64))
    with pytest.raises(UsageError, match=r"bbox: expected shape \(2, 3\) or \(3,\), got \(2, 4\)"):
        crop_camera(cam, torch.zeros(2, 4), 32)


def test_projection_gradients() -> None:
    pts = torch.randn(1, 5, 3, dtype=torch.float64, requires_grad=True)
    focal = torch.tensor([[300.0, 310.0]], dtype=torch.float64, requires_grad=True)
    base = _random_camera(1)

    def f(points: torch.Tensor, fxy: torch.Tensor) -> torch.Tensor:
        cam = Camera(fxy, base.principal, base.rotation, base.translation, base.width, base.height)
        return project_with_depth(points, cam)

    assert torch.autograd.gradcheck(f, (pts, focal))
