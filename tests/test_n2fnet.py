"""N2FNet network and losses: shapes, ranges, exact values on hand-made cases, errors."""

from __future__ import annotations

import math

import pytest
import torch

from faceforge.errors import UsageError
from faceforge.fit.n2fnet.losses import (
    LossWeights,
    cosine_distance_map,
    normalize_pixels,
    param_loss,
    render_loss,
)
from faceforge.fit.n2fnet.network import (
    N2FNet,
    N2FNetConfig,
    count_parameters,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
    translation_from_origin,
)
from faceforge.geometry import axis_angle_to_matrix

TINY = N2FNetConfig(image_size=32, num_identity=5, num_expression=4, dim=32, depth=1, heads=2,
                    stem_channels=(8, 8, 16), stem_convs=1, head_hidden=32)


@pytest.mark.parametrize("batch", [1, 3])
def test_network_shapes_and_ranges(batch: int) -> None:
    net = N2FNet(TINY).eval()
    x = torch.randn(batch, 3, 32, 32)
    with torch.no_grad():
        model_out, camera_out = net(x)
        out = net.predict(x)
    assert model_out.shape == (batch, 5 + 4 + 6) and camera_out.shape == (batch, 9)
    assert out.identity.shape == (batch, 5) and out.expression.shape == (batch, 4)
    assert out.rotation.shape == (batch, 3, 3) and out.origin_px.shape == (batch, 2) and out.scale_px.shape == (batch,)
    assert bool((out.expression >= 0).all()) and bool((out.expression <= 1).all())
    eye = torch.eye(3).expand(batch, 3, 3)
    torch.testing.assert_close(out.rotation @ out.rotation.transpose(1, 2), eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(out.rotation), torch.ones(batch), atol=1e-5, rtol=0)
    # The camera module starts at "no residual rotation, origin at the crop centre, the reference scale".
    torch.testing.assert_close(out.rotation, out.model_rotation)
    torch.testing.assert_close(out.origin_px, torch.full((batch, 2), 15.5))
    torch.testing.assert_close(out.scale_px, torch.full((batch,), TINY.scale_ref * 32 / 128))


def test_network_batch_rows_are_independent() -> None:
    net = N2FNet(TINY).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        whole = net.predict(x)
        row = net.predict(x[1:2])
    torch.testing.assert_close(whole.identity[1:2], row.identity, atol=1e-5, rtol=0)
    torch.testing.assert_close(whole.rotation[1:2], row.rotation, atol=1e-5, rtol=0)


def test_network_refuses_wrong_input() -> None:
    net = N2FNet(TINY)
    with pytest.raises(UsageError, match=r"expected shape \(B, 3, 32, 32\)"):
        net.predict(torch.zeros(1, 3, 64, 64))
    with pytest.raises(UsageError, match="multiple of 16"):
        N2FNetConfig(image_size=100)
    with pytest.raises(UsageError, match="not divisible"):
        N2FNetConfig(dim=30, heads=4)


def test_config_round_trip_and_parameter_count() -> None:
    assert N2FNetConfig.from_dict(TINY.to_dict()) == TINY
    c = count_parameters(N2FNet(TINY))
    assert c.total == c.backbone + c.model_module + c.camera_module == sum(p.numel() for p in N2FNet(TINY).parameters())


def test_rotation_6d_round_trip() -> None:
    rot = axis_angle_to_matrix(torch.tensor([[0.3, -1.2, 0.5], [0.0, 0.0, 0.0], [2.0, 0.1, -0.4]]))
    torch.testing.assert_close(rotation_6d_to_matrix(matrix_to_rotation_6d(rot)), rot, atol=1e-6, rtol=0)
    # Gram-Schmidt ignores the length of the first column and the part of the second along the first.
    r6 = torch.tensor([[2.0, 0.0, 0.0, 0.5, 3.0, 0.0]])
    torch.testing.assert_close(rotation_6d_to_matrix(r6)[0], torch.eye(3))


def test_translation_from_origin_exact() -> None:
    focal = torch.tensor([[500.0, 500.0]])
    principal = torch.tensor([[63.5, 63.5]])
    t = translation_from_origin(torch.tensor([[63.5, 63.5]]), torch.tensor([5.0]), focal, principal)
    torch.testing.assert_close(t, torch.tensor([[0.0, 0.0, 100.0]]))
    t = translation_from_origin(torch.tensor([[73.5, 43.5]]), torch.tensor([5.0]), focal, principal)
    torch.testing.assert_close(t, torch.tensor([[2.0, -4.0, 100.0]]))


def test_param_loss_exact() -> None:
    rot = axis_angle_to_matrix(torch.tensor([[0.1, 0.2, 0.3], [0.0, 0.5, 0.0]]))
    ident = torch.randn(2, 5)
    expr = torch.rand(2, 4)
    zero = param_loss(ident, expr, rot, ident, expr, rot)
    assert float(zero.total) == 0.0
    w = LossWeights()
    # identity off by 1 in every one of 5 modes, expression by 0.5 in one weight, the same rotation.
    loss = param_loss(ident + 1.0, expr + torch.tensor([0.5, 0.0, 0.0, 0.0]), rot, ident, expr, rot, w)
    assert float(loss.terms["identity"]) == pytest.approx(5.0)
    assert float(loss.terms["expression"]) == pytest.approx(0.25)
    assert float(loss.total) == pytest.approx(w.identity * 5.0 + w.expression * 0.25)
    # A 90 degree turn about z moves the first column (1,0,0) -> (0,1,0) and the second (0,1,0) -> (-1,0,0).
    turn = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, math.pi / 2]]))
    eye = torch.eye(3)[None]
    r = param_loss(ident[:1], expr[:1], turn, ident[:1], expr[:1], eye)
    assert float(r.terms["rotation"]) == pytest.approx(4.0, abs=1e-5)


def test_cosine_distance_cases() -> None:
    n = torch.tensor([[[[0.0, 0.0, -1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]]])
    m = torch.tensor([[[[0.0, 0.0, -2.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]]])
    torch.testing.assert_close(cosine_distance_map(n, m), torch.tensor([[[0.0, 2.0, 1.0, 1.0]]]))


def test_render_loss_exact() -> None:
    size = 8
    normals = torch.zeros(1, size, size, 3)
    normals[0, 2:6, 2:6] = torch.tensor([0.0, 0.0, -1.0])
    mask = (normals.norm(dim=-1) > 0).float()
    lm = torch.tensor([[[3.0, 4.0], [5.0, 1.0]]])
    same = render_loss(normals, mask, lm, normals, mask, lm)
    assert float(same.total) == 0.0
    # Landmarks: one of two points moved by 1 pixel in x -> (2 / S)^2 / 2 in normalized units.
    moved = lm + torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    r = render_loss(normals, mask, moved, normals, mask, lm)
    assert float(r.terms["landmarks"]) == pytest.approx((2.0 / size) ** 2 / 2)
    assert float(r.total) == pytest.approx(LossWeights().landmarks * (2.0 / size) ** 2 / 2)
    # Flipping 4 of the 16 face normals -> d_cos 2 on them: mean 0.5 over the mask.
    flipped = normals.clone()
    flipped[0, 2, 2:6] *= -1
    assert float(render_loss(flipped, mask, lm, normals, mask, lm).terms["normal"]) == pytest.approx(0.5)
    # A predicted mask one row short: 4 of 64 pixels differ (mask L2 4/64); those pixels have d_cos 1 (zero vector).
    short_n = normals.clone()
    short_n[0, 5] = 0.0
    short_m = (short_n.norm(dim=-1) > 0).float()
    r = render_loss(short_n, short_m, lm, normals, mask, lm)
    assert float(r.terms["mask"]) == pytest.approx(4 / 64)
    assert float(r.terms["normal"]) == pytest.approx(4 / 16)


def test_normalize_pixels_edges() -> None:
    torch.testing.assert_close(normalize_pixels(torch.tensor([-0.5, 127.5, 63.5]), 128), torch.tensor([-1.0, 1.0,
                                                                                                        0.0]))
