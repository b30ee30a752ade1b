"""CD / MNE / CR (NoW-style, seed 003 IV.3) on meshes with exact answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_metrics_alignment import bumpy_grid

from faceforge.errors import UsageError
from faceforge.geometry import axis_angle_to_matrix
from faceforge.metrics.alignment import RigidTransform
from faceforge.metrics.reconstruction import (
    MeshErrorOptions,
    chamfer_distance_mm,
    compare_meshes,
    completeness_rate,
    mean_normal_error_deg,
    normal_angles_deg,
    region_errors,
)
from faceforge.metrics.surface import vertex_normals_np
from faceforge.morphable import evaluate
from faceforge.structures import FaceParams

NONE = MeshErrorOptions(alignment="none")


def flat_grid(n: int = 21, size: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    """A flat z = 0 grid (cm), n x n vertices, counter-clockwise from +z; interior vertices have 6 triangles."""
    verts, faces = bumpy_grid(n, size)
    verts[:, 2] = 0.0
    return verts, faces


def _rot(v: tuple[float, float, float]) -> np.ndarray:
    return axis_angle_to_matrix(torch.tensor(v, dtype=torch.float64)).numpy()


def test_a_mesh_against_itself_is_zero() -> None:
    verts, faces = bumpy_grid()
    normals = vertex_normals_np(verts, faces)
    e = compare_meshes(verts, verts, faces, normals, verts[:10], verts[:10])
    assert e.chamfer_mm < 1e-9 and e.completeness == 1.0
    assert e.normal_error_deg < 1e-6
    np.testing.assert_allclose(e.transform.rotation, np.eye(3), atol=1e-12)


def test_a_rigidly_moved_copy_aligns_to_zero(synthetic_model) -> None:
    p = FaceParams.zeros(1, synthetic_model.num_identity, synthetic_model.num_expression)
    p = FaceParams(torch.randn(1, synthetic_model.num_identity), torch.full((1, 6), 0.5), p.rotation, p.translation)
    verts = evaluate(synthetic_model, p).vertices[0].double().numpy()
    faces = synthetic_model.faces.numpy()
    moved = RigidTransform(_rot((0.4, -0.7, 0.2)), np.array([3.0, -20.0, 45.0]))
    recon = moved.apply(verts)  # the reconstruction lives in another frame
    lm = synthetic_model.landmark_indices.numpy()
    face = synthetic_model.regions["face"].numpy()
    e = compare_meshes(verts[face], recon, faces, vertex_normals_np(verts, faces)[face], verts[lm], recon[lm])
    assert e.chamfer_mm < 1e-6 and e.normal_error_deg < 1e-4 and e.completeness == 1.0
    np.testing.assert_allclose(e.transform.rotation, moved.rotation.T, atol=1e-9)
    assert chamfer_distance_mm(verts[face], recon, faces, verts[lm], recon[lm]) < 1e-6


def test_a_uniform_offset_gives_its_distance_and_completeness_at_2mm() -> None:
    verts, faces = flat_grid()
    gt = verts[(np.abs(verts[:, 0]) <= 3) & (np.abs(verts[:, 1]) <= 3)]  # inside the reconstruction's extent
    for offset_cm, cd_mm, cr in ((0.1, 1.0, 1.0), (0.3, 3.0, 0.0)):
        e = compare_meshes(gt, verts + [0.0, 0.0, offset_cm], faces, options=NONE)
        np.testing.assert_allclose(e.distances_mm, cd_mm, atol=1e-12)
        assert e.chamfer_mm == pytest.approx(cd_mm, abs=1e-12) and e.completeness == cr
    e = compare_meshes(gt, verts + [0.0, 0.0, 0.2], faces, options=NONE)
    assert e.completeness == 1.0  # exactly 2 mm counts as within 2 mm


def test_a_ground_truth_bump_adds_its_height_over_the_point_count() -> None:
    verts, faces = flat_grid()
    gt = verts.copy()
    apex = int(np.argmin(np.linalg.norm(verts[:, :2], axis=1)))  # the centre vertex
    h_cm = 0.4
    gt[apex, 2] = h_cm
    e = compare_meshes(gt, verts, faces, options=NONE)
    assert e.chamfer_mm == pytest.approx(10.0 * h_cm / len(gt), abs=1e-12)
    assert e.completeness == pytest.approx((len(gt) - 1) / len(gt))
    others = np.setdiff1d(np.arange(len(gt)), [apex])
    per = region_errors(e, {"bump": np.array([apex]), "rest": others, "none": np.zeros(0, np.int64)})
    assert per["bump"].chamfer_mm == pytest.approx(4.0, abs=1e-12) and per["bump"].completeness == 0.0
    assert per["rest"].chamfer_mm == 0.0 and per["rest"].count == len(others)
    assert math.isnan(per["none"].chamfer_mm) and per["none"].count == 0


def test_a_reconstructed_bump_is_measured_to_its_nearest_face() -> None:
    """GT flat, reconstruction with a pyramid of height h: the apex's GT vertex is h d / sqrt(h^2 + d^2) from it,
    d = s / sqrt(2) the distance to the nearest base edge (the ring's diagonal edges), s the grid spacing."""
    verts, faces = flat_grid(21, 10.0)
    s = 0.5
    recon = verts.copy()
    apex = int(np.argmin(np.linalg.norm(verts[:, :2], axis=1)))
    h = 0.3
    recon[apex, 2] = h
    e = compare_meshes(verts, recon, faces, vertex_normals_np(verts, faces), options=NONE)
    d = s / math.sqrt(2.0)
    assert e.distances_mm[apex] == pytest.approx(10.0 * h * d / math.hypot(h, d), abs=1e-12)
    assert e.chamfer_mm == pytest.approx(10.0 * h * d / math.hypot(h, d) / len(verts), abs=1e-12)


def test_mne_of_a_tilted_plane_is_the_tilt() -> None:
    verts, faces = flat_grid(21, 20.0)
    gt_verts, gt_faces = flat_grid(9, 4.0)
    tilt = math.radians(10.0)
    recon = verts @ _rot((tilt, 0.0, 0.0)).T
    e = compare_meshes(gt_verts, recon, faces, vertex_normals_np(gt_verts, gt_faces), options=NONE)
    np.testing.assert_allclose(e.normal_errors_deg, 10.0, atol=1e-9)
    assert e.normal_error_deg == pytest.approx(10.0, abs=1e-9)


def test_normal_angles_and_completeness_helpers() -> None:
    a = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    b = np.array([[0.0, 1.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(normal_angles_deg(a, b), [45.0, 180.0, 0.0], atol=1e-12)
    assert mean_normal_error_deg(a, b) == pytest.approx(75.0)
    assert completeness_rate(np.array([0.5, 2.0, 2.5, 10.0])) == 0.5
    assert completeness_rate(np.array([0.5, 2.0, 2.5, 10.0]), threshold_mm=3.0) == 0.75


def test_inputs_that_must_be_refused() -> None:
    verts, faces = flat_grid(5)
    with pytest.raises(UsageError, match=r"gt_points: expected at least 1 points, got 0"):
        compare_meshes(np.zeros((0, 3)), verts, faces, options=NONE)
    with pytest.raises(UsageError, match=r"gt_points: expected shape \(N, 3\)"):
        compare_meshes(verts[:, :2], verts, faces, options=NONE)
    with pytest.raises(UsageError, match=r"gt_normals \(3, 3\) must match gt_points \(25, 3\)"):
        compare_meshes(verts, verts, faces, np.ones((3, 3)), options=NONE)
    bad = verts.copy()
    bad[3, 1] = np.nan
    with pytest.raises(UsageError, match="recon_vertices: contains NaN"):
        compare_meshes(verts, bad, faces, options=NONE)
    with pytest.raises(UsageError, match="gt_points: contains NaN"):
        compare_meshes(bad, verts, faces, options=NONE)
    with pytest.raises(UsageError, match="needs both gt_landmarks and recon_landmarks"):
        compare_meshes(verts, verts, faces)
    with pytest.raises(UsageError, match="must have the same shape"):
        compare_meshes(verts, verts, faces, gt_landmarks=verts[:5], recon_landmarks=verts[:4])
    with pytest.raises(UsageError, match="faces: indices must lie"):
        compare_meshes(verts, verts, faces + 100, options=NONE)
    with pytest.raises(UsageError, match="alignment: expected one of"):
        MeshErrorOptions(alignment="magic")
    with pytest.raises(UsageError, match="non-empty"):
        completeness_rate(np.zeros(0))
    with pytest.raises(UsageError, match="NaN"):
        completeness_rate(np.array([1.0, np.nan]))
    e = compare_meshes(verts, verts, faces, options=NONE)
    with pytest.raises(UsageError, match="region 'x': indices must lie in"):
        region_errors(e, {"x": np.array([100])})


@pytest.mark.ict
def test_ict_face_against_a_moved_copy_of_itself(ict_model) -> None:
    from faceforge.evaluation.synthetic import evaluation_regions, surface_faces

    p = FaceParams.zeros(1, ict_model.num_identity, ict_model.num_expression)
    verts = evaluate(ict_model, p).vertices[0].double().numpy()
    ids, regions = evaluation_regions(ict_model)
    assert set(regions) == {"face", "eyes", "nose", "mouth", "ears"}
    moved = RigidTransform(_rot((0.1, 0.5, -0.2)), np.array([1.0, 2.0, -60.0]))
    recon = moved.apply(verts)
    lm = ict_model.landmark_indices.numpy()
    gt_normals = vertex_normals_np(verts, ict_model.faces.numpy())[ids]
    e = compare_meshes(verts[ids], recon, surface_faces(ict_model), gt_normals, verts[lm], recon[lm])
    assert e.chamfer_mm < 1e-6 and e.completeness == 1.0
    # Vertices duplicated along ICT's mesh seams may find the twin's triangle: normals agree to well below 1 degree.
    assert e.normal_error_deg < 0.5
    per = region_errors(e, regions)
    assert all(r.chamfer_mm < 1e-6 for r in per.values())
