"""Interpolation, G-buffers, SH shading and texture sampling: exact answers and float64 gradchecks."""

from __future__ import annotations

import math

import pytest
import torch

from faceforge.camera import front_camera, look_at_face_camera, world_to_camera
from faceforge.errors import UsageError
from faceforge.geometry import vertex_normals
from faceforge.morphable import MorphableModel, evaluate
from faceforge.render import (
    LABEL_BACKGROUND,
    LABEL_OTHER,
    differentiable_barycentrics,
    face_labels,
    interpolate,
    ncc_colors,
    rasterize,
    render_depth,
    render_mask,
    render_normals,
    render_pncc,
    render_segmentation,
    render_uv,
    sample_texture,
    sh_basis,
    sh_from_directional_light,
    sh_shading,
    shade_lambertian,
    vertex_region_labels,
)
from faceforge.structures import FaceParams, Mesh


def _tiny_mesh(dtype: torch.dtype = torch.float64) -> Mesh:
    """A small non-planar open surface (4 triangles around a raised centre), facing +z."""
    verts = torch.tensor([[[0.0, 0.0, 0.8], [-2.0, -2.0, 0.0], [2.0, -2.1, 0.2], [2.2, 2.0, -0.1], [-2.0, 1.9, 0.3]]],
                         dtype=dtype)
    faces = torch.tensor([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 1]])
    uv = torch.tensor([[0.5, 0.5], [0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    return Mesh(verts, faces, uv=uv, uv_faces=faces)


def _head(model: MorphableModel, yaw: float = 0.3) -> Mesh:
    params = FaceParams.zeros(1, model.num_identity, model.num_expression)
    params = FaceParams(params.identity, params.expression, torch.tensor([[0.1, yaw, 0.0]]), params.translation)
    return evaluate(model, params)


def test_differentiable_barycentrics_equal_the_rasterizer(synthetic_model: MorphableModel) -> None:
    mesh = _head(synthetic_model)
    mesh64 = Mesh(mesh.vertices.double(), mesh.faces)
    cam = look_at_face_camera(mesh.vertices, 40, 36)
    frags = rasterize(mesh64, cam)
    bary = differentiable_barycentrics(mesh64, cam, frags)
    assert bary.shape == (1, 36, 40, 3) and bary.dtype == torch.float64
    torch.testing.assert_close(bary.float(), frags.bary, rtol=0, atol=1e-6)
    ortho = front_camera(50.0, 2.0, 40, 36, orthographic=True)
    frags = rasterize(mesh64, ortho)
    torch.testing.assert_close(differentiable_barycentrics(mesh64, ortho, frags).float(), frags.bary, rtol=0,
                               atol=1e-6)


def test_interpolate_constants_positions_and_depth(synthetic_model: MorphableModel) -> None:
    mesh = _head(synthetic_model)
    cam = look_at_face_camera(mesh.vertices, 32, 32)
    frags = rasterize(mesh, cam)
    m = frags.mask
    const = interpolate(torch.full((1, mesh.num_vertices, 2), 3.5), mesh.faces, frags, background=-1.0)
    assert const.shape == (1, 32, 32, 2) and const.is_contiguous()
    torch.testing.assert_close(const[m], torch.full_like(const[m], 3.5))
    assert bool((const[~m] == -1.0).all())
    depth = render_depth(mesh, cam, frags)
    torch.testing.assert_close(depth[m], frags.depth[m], rtol=1e-5, atol=0)
    z_cam = interpolate(world_to_camera(mesh.vertices, cam)[..., 2:].contiguous(), mesh.faces, frags)[..., 0]
    torch.testing.assert_close(z_cam, depth, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(render_mask(frags), m.float())
    with pytest.raises(UsageError, match=r"vertex_attrs: expected batch 1 or 1, got 2"):
        interpolate(torch.zeros(2, mesh.num_vertices, 1), mesh.faces, frags)
    with pytest.raises(UsageError, match=r"vertex_attrs: expected shape \(B, V, C\), got \(1490, 3\)"):
        interpolate(torch.zeros(mesh.num_vertices, 3), mesh.faces, frags)


def test_normals_of_the_ellipsoid_match_the_analytic_normal(synthetic_model: MorphableModel) -> None:
    mesh = evaluate(synthetic_model, FaceParams.zeros(1, synthetic_model.num_identity, synthetic_model.num_expression))
    cam = front_camera(60.0, 300.0, 48, 48)
    frags = rasterize(mesh, cam)
    m = frags.mask
    world = render_normals(mesh, cam, frags, frame="world")
    camera = render_normals(mesh, cam, frags, frame="camera")
    torch.testing.assert_close(camera, world @ cam.rotation[0].T, rtol=0, atol=1e-6)
    assert torch.allclose(world[m].norm(dim=-1), torch.ones(int(m.sum())), atol=1e-5)
    assert bool((world[~m] == 0).all())
    # Point on the surface -> analytic ellipsoid normal (x / a^2, y / b^2, z / c^2); radii 8, 10, 9 cm.
    corners = mesh.vertices[0][mesh.faces[frags.face_index[m]]]
    points = (frags.bary[m][..., None] * corners).sum(1)
    analytic = points / torch.tensor([64.0, 100.0, 81.0])
    analytic = analytic / analytic.norm(dim=-1, keepdim=True)
    cos = (analytic * world[m]).sum(-1)
    assert float(cos.min()) > math.cos(math.radians(4.0))
    centre = camera[0, 24, 24]  # facing the camera: -z in the OpenCV camera frame
    assert float(centre[2]) < -0.99
    with pytest.raises(UsageError, match="frame: expected one of camera, world, got 'view'"):
        render_normals(mesh, cam, frags, frame="view")


def test_ncc_pncc_uv_and_segmentation(synthetic_model: MorphableModel) -> None:
    ncc = ncc_colors(synthetic_model.template)
    assert ncc.min(0).values.tolist() == [0.0, 0.0, 0.0] and ncc.max(0).values.tolist() == [1.0, 1.0, 1.0]
    mesh = evaluate(synthetic_model, FaceParams.zeros(1, synthetic_model.num_identity, synthetic_model.num_expression))
    cam = front_camera(60.0, 300.0, 33, 33)
    frags = rasterize(mesh, cam)
    pncc = render_pncc(mesh, ncc, frags)
    # The image centre sees the front pole of the ellipsoid: NCC (0.5, 0.5, 1).
    torch.testing.assert_close(pncc[0, 16, 16], torch.tensor([0.5, 0.5, 1.0]), rtol=0, atol=0.01)
    assert bool((pncc[~frags.mask] == 0).all())
    with pytest.raises(UsageError, match="the mesh has no UV coordinates"):
        render_uv(mesh, frags)

    labels = vertex_region_labels(synthetic_model.regions, ["eyes", "face"], synthetic_model.num_vertices)
    eyes, face = synthetic_model.region("eyes"), synthetic_model.region("face")
    assert bool((labels[eyes] == 2).all())  # "eyes" listed first wins where the regions overlap
    only_face = torch.ones(synthetic_model.num_vertices, dtype=torch.bool)
    only_face[eyes] = False
    assert bool((labels[face][only_face[face]] == 3).all())
    assert int((labels == LABEL_OTHER).sum()) > 0
    tri = face_labels(labels, mesh.faces)
    seg = render_segmentation(tri, frags)
    assert seg.dtype == torch.int64 and bool((seg[~frags.mask] == LABEL_BACKGROUND).all())
    assert torch.equal(seg[frags.mask], tri[frags.face_index[frags.mask]])
    # Corner labels (5, 6, 7): no majority -> first corner; (6, 7, 6) and (7, 6, 6): the shared label.
    tris = torch.tensor([[0, 1, 2], [1, 2, 3], [2, 1, 3]])
    assert face_labels(torch.tensor([5, 6, 7, 6]), tris).tolist() == [5, 6, 6]
    with pytest.raises(UsageError, match="unknown region 'ears'"):
        vertex_region_labels(synthetic_model.regions, ["ears"], synthetic_model.num_vertices)


def test_uv_buffer_and_texture_sampling() -> None:
    mesh = Mesh(_tiny_mesh().vertices.float(), _tiny_mesh().faces, _tiny_mesh().uv, _tiny_mesh().uv_faces)
    cam = front_camera(10.0, 36.0, 16, 16)
    frags = rasterize(mesh, cam)
    uv = render_uv(mesh, frags)
    assert uv.shape == (1, 16, 16, 2)
    # Texture whose colour encodes its own UV: sampling it at the UV buffer gives the UV back (bilinear is exact on
    # an affine texture).
    h, w = 9, 17
    cols = torch.arange(w, dtype=torch.float32) / (w - 1)
    rows = 1.0 - torch.arange(h, dtype=torch.float32) / (h - 1)  # row 0 is v = 1 (top of the image)
    tex = torch.stack(torch.meshgrid(rows, cols, indexing="ij")[::-1], -1)[None]  # (1, H, W, 2): (u, v)
    torch.testing.assert_close(sample_texture(tex, uv)[frags.mask], uv[frags.mask], rtol=0, atol=1e-6)
    corners = torch.tensor([[[[0.0, 1.0], [1.0, 0.0]]]])  # top-left and bottom-right texel centres
    torch.testing.assert_close(sample_texture(tex, corners)[0, 0], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


def test_sh_basis_is_orthonormal_and_lighting_has_known_values() -> None:
    n = 40000
    k = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = math.pi * (1.0 + math.sqrt(5.0)) * k
    dirs = torch.stack([torch.sqrt(1 - z * z) * phi.cos(), torch.sqrt(1 - z * z) * phi.sin(), z], -1)
    y = sh_basis(dirs)
    gram = y.T @ y * (4.0 * math.pi / n)
    torch.testing.assert_close(gram, torch.eye(9, dtype=torch.float64), rtol=0, atol=1e-3)

    normals = dirs[None, None, :200].float()
    uniform = torch.zeros(1, 9, 3)
    uniform[0, 0] = math.sqrt(4.0 * math.pi)
    torch.testing.assert_close(sh_shading(normals, uniform), torch.ones(1, 1, 200, 3), rtol=0, atol=1e-6)

    d = torch.tensor([[0.3, 0.4, 0.866]])
    coeffs = sh_from_directional_light(d, torch.tensor([[1.0, 2.0, 0.5]]), torch.tensor([[0.1, 0.0, 0.2]]))
    dn = d / d.norm()
    at = sh_shading(torch.cat([dn, -dn])[None, None], coeffs)[0, 0]
    torch.testing.assert_close(at[0], 1.0625 * torch.tensor([1.0, 2.0, 0.5]) + torch.tensor([0.1, 0.0, 0.2]))
    torch.testing.assert_close(at[1], 0.0625 * torch.tensor([1.0, 2.0, 0.5]) + torch.tensor([0.1, 0.0, 0.2]))
    # Band-2 SH of a clamped cosine stays within 0.11 of max(0, n.d) everywhere (channel 0: ambient 0.1, light 1).
    cosine = (dirs.float() @ dn[0]).clamp_min(0.0)
    approx = sh_shading(dirs.float()[None, None], coeffs[..., :1])[0, 0, :, 0]
    assert float((approx - cosine - 0.1).abs().max()) < 0.11

    albedo = torch.full((1, 1, 200, 3), 0.5)
    mask = torch.zeros(1, 1, 200)
    mask[..., :100] = 1
    img = shade_lambertian(albedo, normals, uniform, mask, background=0.25)
    torch.testing.assert_close(img[0, 0, :100], torch.full((100, 3), 0.5))
    assert bool((img[0, 0, 100:] == 0.25).all())


def test_gradients_reach_positions_attributes_texture_and_lighting() -> None:
    mesh = _tiny_mesh()
    cam = front_camera(10.0, 18.0, 8, 8)
    frags = rasterize(mesh, cam)
    assert int(frags.mask.sum()) > 20
    attrs = torch.randn(1, 5, 2, dtype=torch.float64)

    def blend(verts: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        m = Mesh(verts, mesh.faces)
        return interpolate(values, mesh.faces, frags, differentiable_barycentrics(m, cam, frags))

    inputs = (mesh.vertices.clone().requires_grad_(), attrs.requires_grad_())
    assert torch.autograd.gradcheck(blend, inputs)

    def normals(verts: torch.Tensor) -> torch.Tensor:
        m = Mesh(verts, mesh.faces)
        return render_normals(m, cam, frags, frame="camera", bary=differentiable_barycentrics(m, cam, frags))

    assert torch.autograd.gradcheck(normals, (mesh.vertices.clone().requires_grad_(),))

    def depth(verts: torch.Tensor) -> torch.Tensor:
        m = Mesh(verts, mesh.faces)
        return render_depth(m, cam, frags, bary=differentiable_barycentrics(m, cam, frags))

    assert torch.autograd.gradcheck(depth, (mesh.vertices.clone().requires_grad_(),))

    texture = torch.rand(1, 5, 6, 3, dtype=torch.float64, requires_grad=True)
    uv = (torch.rand(1, 3, 4, 2, dtype=torch.float64) * 0.9 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(sample_texture, (texture, uv))

    n = torch.nn.functional.normalize(torch.randn(1, 3, 4, 3, dtype=torch.float64), dim=-1).requires_grad_()
    albedo = torch.rand(1, 3, 4, 3, dtype=torch.float64, requires_grad=True)
    sh = torch.randn(1, 9, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(shade_lambertian, (albedo, n, sh))


def test_render_normals_is_the_normalized_blend_of_vertex_normals() -> None:
    mesh = _tiny_mesh()
    cam = front_camera(10.0, 18.0, 8, 8)
    frags = rasterize(mesh, cam)
    vn = vertex_normals(mesh.vertices, mesh.faces)
    blended = interpolate(vn @ cam.rotation[0].double().T, mesh.faces, frags)
    expect = blended / blended.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    torch.testing.assert_close(render_normals(mesh, cam, frags), expect, rtol=0, atol=1e-6)
