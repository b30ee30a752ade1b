"""Rigid alignment (Kabsch/Umeyama), exact closest points on triangle meshes, point-to-surface ICP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

from faceforge.errors import UsageError
from faceforge.geometry import axis_angle_to_matrix
from faceforge.metrics.alignment import RigidTransform, icp_align, rigid_align
from faceforge.metrics.surface import MeshSurface, closest_on_triangles, vertex_normals_np


def _rotation(axis_angle: tuple[float, float, float]) -> np.ndarray:
    return axis_angle_to_matrix(torch.tensor(axis_angle, dtype=torch.float64)).numpy()


def test_rigid_align_recovers_a_known_motion_and_scale() -> None:
    rng = np.random.default_rng(0)
    src = rng.normal(size=(50, 3))
    rot = _rotation((0.3, -1.1, 0.7))
    tgt = src @ rot.T + np.array([1.0, -2.0, 3.0])
    t = rigid_align(src, tgt)
    np.testing.assert_allclose(t.rotation, rot, atol=1e-12)
    np.testing.assert_allclose(t.translation, [1.0, -2.0, 3.0], atol=1e-12)
    assert t.scale == 1.0
    np.testing.assert_allclose(t.apply(src), tgt, atol=1e-12)
    np.testing.assert_allclose(t.apply_inverse(tgt), src, atol=1e-12)
    s = rigid_align(src, 2.5 * tgt, with_scale=True)
    assert s.scale == pytest.approx(2.5, abs=1e-12)
    np.testing.assert_allclose(s.apply(src), 2.5 * tgt, atol=1e-11)


def test_rigid_align_never_returns_a_reflection() -> None:
    rng = np.random.default_rng(1)
    src = rng.normal(size=(20, 3))
    mirrored = src * np.array([-1.0, 1.0, 1.0])  # the best orthogonal fit is a reflection
    t = rigid_align(src, mirrored)
    assert np.linalg.det(t.rotation) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(t.rotation @ t.rotation.T, np.eye(3), atol=1e-12)


def test_weighted_alignment_ignores_zero_weight_outliers() -> None:
    rng = np.random.default_rng(2)
    src = rng.normal(size=(10, 3))
    tgt = src + np.array([0.0, 0.0, 1.0])
    tgt[0] += 100.0
    w = np.ones(10)
    w[0] = 0.0
    np.testing.assert_allclose(rigid_align(src, tgt, weights=w).translation, [0.0, 0.0, 1.0], atol=1e-12)


def test_rigid_align_refuses_bad_input() -> None:
    pts = np.zeros((5, 3))
    with pytest.raises(UsageError, match="same shape"):
        rigid_align(np.ones((5, 3)), np.ones((6, 3)))
    with pytest.raises(UsageError, match=r"expected shape \(N, 3\)"):
        rigid_align(np.ones((5, 2)), np.ones((5, 2)))
    with pytest.raises(UsageError, match="at least 3 points"):
        rigid_align(np.ones((2, 3)), np.ones((2, 3)))
    bad = np.random.default_rng(0).normal(size=(5, 3))
    bad[1, 1] = np.nan
    with pytest.raises(UsageError, match="NaN"):
        rigid_align(bad, np.ones((5, 3)))
    with pytest.raises(UsageError, match="coincide"):
        rigid_align(pts, np.ones((5, 3)))
    with pytest.raises(UsageError, match="weights"):
        rigid_align(np.arange(15.0).reshape(5, 3) ** 2, np.ones((5, 3)), weights=-np.ones(5))


def test_closest_point_regions_of_one_triangle() -> None:
    a, b, c = np.array([0.0, 0, 0]), np.array([2.0, 0, 0]), np.array([0.0, 2, 0])
    cases = {  # query -> expected closest point
        (0.5, 0.5, 3.0): (0.5, 0.5, 0.0),  # face interior
        (-1.0, -1.0, 0.5): (0.0, 0.0, 0.0),  # vertex a
        (4.0, -1.0, 0.0): (2.0, 0.0, 0.0),  # vertex b
        (-1.0, 5.0, 0.0): (0.0, 2.0, 0.0),  # vertex c
        (1.0, -3.0, 1.0): (1.0, 0.0, 0.0),  # edge ab
        (-2.0, 1.0, 0.0): (0.0, 1.0, 0.0),  # edge ac
        (2.0, 2.0, -1.0): (1.0, 1.0, 0.0),  # edge bc
    }
    p = np.array(list(cases))
    bary = closest_on_triangles(p, *(np.broadcast_to(x, p.shape) for x in (a, b, c)))
    got = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
    np.testing.assert_allclose(got, np.array(list(cases.values())), atol=1e-15)
    surface = MeshSurface(np.stack([a, b, c]), np.array([[0, 1, 2]]))
    res = surface.closest(p)
    np.testing.assert_allclose(res.points, np.array(list(cases.values())), atol=1e-15)
    np.testing.assert_allclose(res.distances, np.linalg.norm(p - res.points, axis=1), atol=1e-15)


def test_closest_points_match_brute_force_on_an_uneven_mesh() -> None:
    rng = np.random.default_rng(3)
    verts = rng.normal(size=(300, 3))
    verts[:10] *= 20.0  # a few huge triangles next to many small ones
    faces = rng.integers(0, 300, (400, 3))
    faces[0] = (0, 0, 5)  # a degenerate triangle (a segment)
    queries = rng.normal(size=(200, 3)) * 3.0
    res = MeshSurface(verts, faces, k=2).closest(queries)
    corners = verts[faces]
    best = np.empty(len(queries))
    for i, q in enumerate(queries):
        qq = np.broadcast_to(q, (len(faces), 3))
        bary = closest_on_triangles(qq, corners[:, 0], corners[:, 1], corners[:, 2])
        best[i] = np.linalg.norm((bary[:, :, None] * corners).sum(1) - q, axis=1).min()
    np.testing.assert_allclose(res.distances, best, atol=1e-12)
    on = (res.bary[:, :, None] * verts[faces[res.face_index]]).sum(1)
    np.testing.assert_allclose(on, res.points, atol=1e-12)
    assert (res.bary >= -1e-12).all()


def test_closest_point_is_never_farther_than_dense_surface_samples() -> None:
    rng = np.random.default_rng(4)
    a, b, c = rng.normal(size=(3, 3))
    p = rng.normal(size=(500, 3)) * 2.0
    bary = closest_on_triangles(p, *(np.broadcast_to(x, p.shape) for x in (a, b, c)))
    d = np.linalg.norm(bary @ np.stack([a, b, c]) - p, axis=1)
    samples = rng.dirichlet([1.0, 1.0, 1.0], 100_000) @ np.stack([a, b, c])
    dense, _ = cKDTree(samples).query(p)
    assert (d <= dense + 1e-12).all() and np.max(dense - d) < 0.05


def test_mesh_surface_refuses_bad_meshes() -> None:
    with pytest.raises(UsageError, match=r"faces: indices must lie in \[0, 2\]"):
        MeshSurface(np.zeros((3, 3)), np.array([[0, 1, 3]]))
    with pytest.raises(UsageError, match="F > 0"):
        MeshSurface(np.zeros((3, 3)), np.zeros((0, 3), dtype=np.int64))
    with pytest.raises(UsageError, match="NaN"):
        MeshSurface(np.full((3, 3), np.nan), np.array([[0, 1, 2]]))
    with pytest.raises(UsageError, match="NaN"):
        MeshSurface(np.eye(3), np.array([[0, 1, 2]])).closest(np.array([[np.inf, 0.0, 0.0]]))


def test_vertex_normals_of_a_tetrahedron_point_outward() -> None:
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]) - 0.25
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])  # counter-clockwise seen from outside
    n = vertex_normals_np(v, f)
    assert np.allclose(np.linalg.norm(n, axis=1), 1.0) and ((n * v).sum(1) > 0).all()


def bumpy_grid(n: int = 30, size: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """A height field with a few Gaussian bumps (no symmetry ICP could slide along) as a triangle mesh."""
    x, y = np.meshgrid(np.linspace(-size / 2, size / 2, n), np.linspace(-size / 2, size / 2, n))
    z = 1.5 * np.exp(-((x - 1) ** 2 + (y - 2) ** 2) / 4) - np.exp(-((x + 2) ** 2 + (y + 1) ** 2) / 2)
    z += 0.6 * np.exp(-((x - 3) ** 2 + (y + 3) ** 2) / 1.5)
    verts = np.stack([x.ravel(), y.ravel(), z.ravel()], 1)
    i = np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None, :]
    i = i.ravel()
    faces = np.concatenate([np.stack([i, i + 1, i + n + 1], 1), np.stack([i, i + n + 1, i + n], 1)])
    return verts, faces


def test_icp_undoes_a_small_rigid_motion_from_the_identity() -> None:
    verts, faces = bumpy_grid()
    inner = verts[(np.abs(verts[:, 0]) < 3.5) & (np.abs(verts[:, 1]) < 3.5)]  # away from the border
    motion = RigidTransform(_rotation((0.03, -0.02, 0.04)), np.array([0.2, -0.15, 0.1]))
    res = icp_align(verts, faces, motion.apply(inner), iterations=500, tolerance=1e-10)
    np.testing.assert_allclose(res.transform.rotation, motion.rotation, atol=1e-6)
    np.testing.assert_allclose(res.transform.translation, motion.translation, atol=1e-6)
    assert res.mean_distance < 1e-6 and res.converged and res.iterations < 500


def test_icp_with_zero_iterations_only_measures() -> None:
    verts, faces = bumpy_grid(8)
    res = icp_align(verts, faces, verts + np.array([0.0, 0.0, 0.5]), iterations=0)
    assert res.iterations == 0 and res.transform.scale == 1.0
    np.testing.assert_allclose(res.transform.rotation, np.eye(3))
    assert 0.0 < res.mean_distance <= 0.5
    with pytest.raises(UsageError, match="iterations"):
        icp_align(verts, faces, verts, iterations=-1)
