"""Rasterization: the Numba z-buffer against the per-pixel reference, and exact answers on hand-made triangles."""

from __future__ import annotations

import pytest
import torch

from faceforge.camera import front_camera, look_at_face_camera, unproject
from faceforge.errors import UsageError
from faceforge.morphable import MorphableModel, evaluate
from faceforge.render import (
    Fragments,
    RasterOptions,
    rasterize,
    rasterize_reference,
    region_face_indices,
    select_faces,
    visible_face_indices,
)
from faceforge.structures import Camera, FaceParams, Mesh


def _ortho_camera(width: int, height: int) -> Camera:
    """Orthographic camera with 1 px per unit, world x -> image x, world y -> image y, principal point (0, 0)."""
    return Camera(torch.ones(1, 2), torch.zeros(1, 2), torch.eye(3)[None], torch.tensor([[0.0, 0.0, 10.0]]),
                  width, height, orthographic=True)


def _posed(model: MorphableModel, batch: int, seed: int) -> Mesh:
    g = torch.Generator().manual_seed(seed)
    params = FaceParams(
        identity=torch.randn(batch, model.num_identity, generator=g),
        expression=torch.rand(batch, model.num_expression, generator=g),
        rotation=(torch.rand(batch, 3, generator=g) - 0.5) * torch.tensor([0.6, 2.0, 0.4]),
        translation=torch.randn(batch, 3, generator=g),
    )
    return evaluate(model, params)


def assert_same_fragments(fast: Fragments, ref: Fragments) -> None:
    """Face index equal except on exact depth ties; barycentrics to 1e-5; depth to 1e-6 relative."""
    differ = fast.face_index != ref.face_index
    both = fast.mask & ref.mask
    # A differing pixel must be covered by both and hold (numerically) the same depth: a tie between triangles.
    assert bool((both | ~differ).all()), "coverage differs"
    assert torch.allclose(fast.depth[differ], ref.depth[differ], rtol=1e-6, atol=0)
    assert int(differ.sum()) <= max(2, int(0.002 * int(both.sum())))
    same = both & ~differ
    torch.testing.assert_close(fast.bary[same], ref.bary[same], rtol=0, atol=1e-5)
    torch.testing.assert_close(fast.depth[both], ref.depth[both], rtol=1e-6, atol=0)
    assert bool(torch.isinf(fast.depth[~fast.mask]).all()) and bool((fast.bary[~fast.mask] == 0).all())


@pytest.mark.parametrize("orthographic", [False, True])
@pytest.mark.parametrize("cull", [False, True])
def test_fast_matches_reference_on_synthetic_heads(synthetic_model: MorphableModel, orthographic: bool,
                                                   cull: bool) -> None:
    mesh = _posed(synthetic_model, 3, seed=1)
    cam = look_at_face_camera(mesh.vertices, 40, 32)
    if orthographic:
        cam = Camera(cam.focal / 40.0, cam.principal, cam.rotation, cam.translation, 40, 32, True)
    opts = RasterOptions(cull_backfaces=cull)
    fast, ref = rasterize(mesh, cam, opts), rasterize_reference(mesh, cam, opts)
    assert fast.face_index.shape == (3, 32, 40) and fast.bary.shape == (3, 32, 40, 3)
    assert fast.face_index.dtype == torch.int64 and fast.bary.dtype == torch.float32
    assert int(fast.mask.sum()) > 300
    assert_same_fragments(fast, ref)


@pytest.mark.ict
def test_fast_matches_reference_on_ict_face(ict_model: MorphableModel) -> None:
    mesh = select_faces(_posed(ict_model, 1, seed=2), region_face_indices(ict_model, ["face"]))
    cam = look_at_face_camera(mesh.vertices[:, ict_model.region("face")], 48, 48)
    assert_same_fragments(rasterize(mesh, cam), rasterize_reference(mesh, cam))


def test_single_triangle_exact_coverage_barycentrics_and_depth() -> None:
    # Seen by the orthographic camera the triangle covers pixel centres (i, j) with j >= 1, i >= 1, i + j <= 5:
    # the edges pass exactly through pixel centres, which count as covered.
    verts = torch.tensor([[[1.0, 1.0, 2.0], [1.0, 4.0, 2.0], [4.0, 1.0, 2.0]]])
    frags = rasterize(Mesh(verts, torch.tensor([[0, 1, 2]])), _ortho_camera(6, 6))
    ii, jj = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    expect = (ii >= 1) & (jj >= 1) & (ii + jj <= 5)
    assert torch.equal(frags.mask[0], expect)
    assert torch.equal(frags.face_index[0], torch.where(expect, 0, -1))
    assert frags.bary[0, 1, 1].tolist() == [1.0, 0.0, 0.0]
    assert frags.bary[0, 4, 1].tolist() == [0.0, 1.0, 0.0]
    torch.testing.assert_close(frags.bary[0, 2, 2], torch.tensor([1 / 3, 1 / 3, 1 / 3]))
    assert bool((frags.depth[0][expect] == 12.0).all())  # z_cam = 2 + 10


def test_nearest_triangle_wins_and_ties_go_to_the_lower_index() -> None:
    far = [[0.0, 0.0, 5.0], [0.0, 8.0, 5.0], [8.0, 0.0, 5.0]]
    near = [[0.0, 0.0, 1.0], [0.0, 8.0, 1.0], [8.0, 0.0, 1.0]]
    cam = _ortho_camera(4, 4)
    for order, winner in (((far, near), 1), ((near, far), 0), ((far, far), 0)):
        verts = torch.tensor([order[0] + order[1]])
        frags = rasterize(Mesh(verts, torch.tensor([[0, 1, 2], [3, 4, 5]])), cam)
        ref = rasterize_reference(Mesh(verts, torch.tensor([[0, 1, 2], [3, 4, 5]])), cam)
        assert bool((frags.face_index[0, :2, :2] == winner).all())
        assert torch.equal(frags.face_index, ref.face_index)


def test_backface_culling_and_near_plane() -> None:
    cam = front_camera(20.0, 40.0, 9, 9)
    ccw = torch.tensor([[[-1.0, -1.0, 0.0], [1.0, -1.0, 0.0], [0.0, 1.0, 0.0]]])  # counter-clockwise seen from +z
    faces = torch.tensor([[0, 1, 2]])
    assert int(rasterize(Mesh(ccw, faces), cam, RasterOptions(cull_backfaces=True)).mask.sum()) > 0
    cw = Mesh(ccw, torch.tensor([[0, 2, 1]]))
    assert int(rasterize(cw, cam).mask.sum()) > 0
    assert int(rasterize(cw, cam, RasterOptions(cull_backfaces=True)).mask.sum()) == 0
    behind = Mesh(ccw + torch.tensor([0.0, 0.0, 19.5]), faces)  # z_cam = 0.5 for every vertex
    assert int(rasterize(behind, cam, RasterOptions(near_z=1.0)).mask.sum()) == 0


def test_perspective_correct_barycentrics_interpolate_the_visible_point(synthetic_model: MorphableModel) -> None:
    mesh = _posed(synthetic_model, 2, seed=3)
    cam = look_at_face_camera(mesh.vertices, 48, 40, yaw_rad=0.7)
    frags = rasterize(mesh, cam)
    m = frags.mask
    tri = mesh.faces[frags.face_index.clamp_min(0)]  # (B, H, W, 3)
    corners = mesh.vertices[torch.arange(2)[:, None, None, None], tri]  # (B, H, W, 3, 3)
    interpolated = (frags.bary[..., None] * corners).sum(-2)
    ii, jj = torch.meshgrid(torch.arange(40.0), torch.arange(48.0), indexing="ij")
    pixels = torch.stack([jj, ii], -1).expand(2, 40, 48, 2).reshape(2, -1, 2)
    on_ray = unproject(pixels, frags.depth.reshape(2, -1).nan_to_num(posinf=1.0), cam).reshape(2, 40, 48, 3)
    torch.testing.assert_close(interpolated[m], on_ray[m], rtol=0, atol=2e-4)


def test_batches_and_camera_broadcast_equal_single_renders(synthetic_model: MorphableModel) -> None:
    mesh = _posed(synthetic_model, 3, seed=4)
    cam = look_at_face_camera(mesh.vertices[:1], 24, 24)
    batch = rasterize(mesh, cam)
    for b in range(3):
        single = rasterize(Mesh(mesh.vertices[b:b + 1], mesh.faces), cam)
        assert torch.equal(batch.face_index[b], single.face_index[0])
        assert torch.equal(batch.bary[b], single.bary[0])
    turntable = look_at_face_camera(mesh.vertices[:1], 24, 24, yaw_rad=torch.tensor([0.0, 1.0]))
    spun = rasterize(Mesh(mesh.vertices[:1], mesh.faces), turntable)
    assert spun.batch_size == 2 and not torch.equal(spun.face_index[0], spun.face_index[1])


def test_rasterize_rejects_bad_input(synthetic_model: MorphableModel) -> None:
    mesh = _posed(synthetic_model, 2, seed=5)
    with pytest.raises(UsageError, match=r"mesh.faces: indices must lie in \[0, 1489\], got \[0, 1490\]"):
        rasterize(Mesh(mesh.vertices, torch.tensor([[0, 1, 1490]])), front_camera(50.0, 100.0, 8, 8))
    with pytest.raises(UsageError, match="mesh.vertices: batch 2 does not match the camera batch 3"):
        rasterize(mesh, front_camera(50.0, 100.0, 8, 8, batch=3))
    with pytest.raises(UsageError, match="camera: expected a faceforge Camera, got str"):
        rasterize(mesh, "front")  # type: ignore[arg-type]


def test_visible_faces_hide_only_the_helper_geometry(synthetic_model: MorphableModel) -> None:
    assert torch.equal(visible_face_indices(synthetic_model), torch.arange(synthetic_model.num_faces))
    face_tris = region_face_indices(synthetic_model, ["face"])
    assert 0 < face_tris.numel() < synthetic_model.num_faces
    inside = torch.zeros(synthetic_model.num_vertices, dtype=torch.bool)
    inside[synthetic_model.region("face")] = True
    assert bool(inside[synthetic_model.faces[face_tris]].all())
