"""Sampling an image at projected vertices, with z-buffer visibility."""

from __future__ import annotations

import pytest
import torch

from faceforge.camera import front_camera, look_at_face_camera, project
from faceforge.errors import UsageError
from faceforge.morphable import MorphableModel, evaluate
from faceforge.render import (
    SampleOptions,
    ncc_colors,
    rasterize,
    render_pncc,
    sample_image,
    sample_vertex_colors,
)
from faceforge.structures import FaceParams, Mesh


def _head(model: MorphableModel, batch: int = 1) -> Mesh:
    params = FaceParams.zeros(batch, model.num_identity, model.num_expression)
    rot = torch.tensor([[0.1, 0.3, 0.0], [0.0, -0.5, 0.1], [0.2, 0.0, 0.0]])[:batch]
    return evaluate(model, FaceParams(params.identity, params.expression, rot, params.translation))


def test_sample_image_at_pixel_centres_and_between() -> None:
    image = torch.arange(12.0).reshape(1, 3, 4, 1)  # value = 4 * row + column
    pixels = torch.tensor([[[0.0, 0.0], [3.0, 2.0], [1.5, 0.5], [-3.0, 1.0]]])
    out = sample_image(image, pixels)[0, :, 0]
    assert out.tolist() == [0.0, 11.0, 3.5, 4.0]  # centres, a bilinear midpoint, clamped to the border


def test_visible_vertices_read_back_their_own_colour(synthetic_model: MorphableModel) -> None:
    mesh = _head(synthetic_model, batch=2)
    cam = look_at_face_camera(mesh.vertices[:1], 96, 96)
    frags = rasterize(mesh, cam)
    ncc = ncc_colors(synthetic_model.template)
    image = render_pncc(mesh, ncc, frags)
    samples = sample_vertex_colors(image, mesh, cam, frags)
    assert samples.colors.shape == (2, mesh.num_vertices, 3) and samples.visible.shape == (2, mesh.num_vertices)
    vis = samples.visible
    # Less than half of the vertices face the camera (the poles are crowded and seen edge-on); the far side never.
    assert 0.2 < float(vis.float().mean()) < 0.5
    toward = (mesh.vertices - mesh.vertices.mean(1, keepdim=True)) @ cam.rotation[0].T
    assert not bool((vis & (toward[..., 2] > 2.0)).any())
    err = (samples.colors - ncc[None]).abs().amax(-1)
    assert float(err[vis].quantile(0.95)) < 0.01
    assert bool((samples.colors[~vis] == 0).all())
    torch.testing.assert_close(samples.pixels, project(mesh.vertices, cam))


def test_occluded_and_outside_vertices_are_not_visible(synthetic_model: MorphableModel) -> None:
    head = _head(synthetic_model)
    # A square card 2 cm in front of the face hides the middle of it.
    card = torch.tensor([[[-3.0, -3.0, 11.0], [3.0, -3.0, 11.0], [3.0, 3.0, 11.0], [-3.0, 3.0, 11.0]]])
    verts = torch.cat([head.vertices, card], 1)
    n = head.num_vertices
    faces = torch.cat([head.faces, torch.tensor([[n, n + 1, n + 2], [n, n + 2, n + 3]])])
    scene = Mesh(verts, faces)
    cam = front_camera(60.0, 200.0, 64, 64)
    frags = rasterize(scene, cam)
    image = torch.rand(1, 64, 64, 3)
    vis = sample_vertex_colors(image, scene, cam, frags).visible[0, :n]
    alone = sample_vertex_colors(image, head, cam, rasterize(head, cam)).visible[0]
    px = project(head.vertices, cam)[0]
    behind = (px - torch.tensor([31.5, 31.5])).abs().amax(-1) < 5.0  # well inside the card's image
    assert int((alone & behind).sum()) > 5 and not bool((vis & behind).any())
    narrow = front_camera(60.0, 200.0, 64, 64)
    narrow = type(narrow)(narrow.focal * 3.0, narrow.principal, narrow.rotation, narrow.translation, 64, 64)
    out = sample_vertex_colors(image, head, narrow, rasterize(head, narrow))
    px = project(head.vertices, narrow)[0]
    outside = (px < -0.5).any(-1) | (px > 63.5).any(-1)
    assert int(outside.sum()) > 0 and not bool(out.visible[0][outside].any())
    strict = sample_vertex_colors(image, head, cam, rasterize(head, cam), SampleOptions(facing_threshold=0.9))
    assert int(strict.visible.sum()) < int(alone.sum())


def test_vertex_colour_gradients(synthetic_model: MorphableModel) -> None:
    mesh = _head(synthetic_model)
    cam = look_at_face_camera(mesh.vertices, 10, 10)
    frags = rasterize(mesh, cam)
    image = torch.rand(1, 10, 10, 1, dtype=torch.float64, requires_grad=True)
    base = mesh.vertices.double()
    keep = sample_vertex_colors(image, Mesh(base, mesh.faces), cam, frags).visible[0]
    some = torch.nonzero(keep).squeeze(1)[:: max(1, int(keep.sum()) // 5)][:5]
    delta = torch.zeros(5, 3, dtype=torch.float64, requires_grad=True)

    def f(img: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        # Move only five visible vertices so that the numerical Jacobian stays small.
        verts = base.index_add(1, some, d[None])
        return sample_vertex_colors(img, Mesh(verts, mesh.faces), cam, frags).colors[:, some]

    assert torch.autograd.gradcheck(f, (image, delta))
    with pytest.raises(UsageError, match=r"image: expected shape \(1, 10, 10, C\), got \(1, 8, 10, 1\)"):
        sample_vertex_colors(image[:, :8], mesh, cam, frags)
