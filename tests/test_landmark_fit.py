import cv2
import numpy as np
import pytest
import torch

from faceforge.errors import UsageError
from faceforge.fit.landmark_fit import LandmarkFitOptions, fit_landmarks, project_points
from faceforge.fit.surface import SurfacePoints, point_basis
from faceforge.morphable import evaluate
from faceforge.structures import FaceParams

EXACT = LandmarkFitOptions(iterations=20, identity_prior=1e-8, expression_prior=1e-8, num_identity=100)


def _truth(rng, model, expression_scale=0.6):
    ident = rng.normal(0, 0.8, model.num_identity)
    expr = np.zeros(model.num_expression)
    k = rng.choice(model.num_expression, 3, replace=False)
    expr[k] = rng.uniform(0.1, expression_scale, 3)
    for i, n in enumerate(model.expression_names):
        if n.startswith("eyeLook"):
            expr[i] = 0.0  # the gaze rig turns eyeballs; landmarks here are on the skin only
    rot = cv2.Rodrigues(np.deg2rad([rng.normal(0, 8), rng.normal(0, 20), rng.normal(0, 5)]))[0]
    trans = np.array([rng.normal(0, 2), rng.normal(0, 2), -rng.normal(60, 8)])
    return ident, expr, rot, trans


def test_point_basis_matches_evaluate(synthetic_model) -> None:
    m = synthetic_model
    pts = SurfacePoints(np.array([0, 5, 17]), np.array([[0.2, 0.3, 0.5], [1, 0, 0], [0.1, 0.1, 0.8]]))
    basis = point_basis(m, pts)
    ident, expr = np.linspace(-1, 1, m.num_identity), np.linspace(0, 1, m.num_expression)
    mesh = evaluate(m, FaceParams(torch.tensor(ident[None], dtype=torch.float32),
                                  torch.tensor(expr[None], dtype=torch.float32), torch.zeros(1, 3), torch.zeros(1, 3)))
    tri = mesh.vertices[0].numpy()[m.faces.numpy()[pts.face_index]]
    want = (tri * pts.bary[:, :, None]).sum(1)
    np.testing.assert_allclose(basis.positions(ident, expr), want, atol=1e-5)


def test_at_vertices_lands_on_the_vertex(synthetic_model) -> None:
    vid = synthetic_model.landmark_indices.numpy()
    basis = point_basis(synthetic_model, SurfacePoints.at_vertices(synthetic_model, vid))
    np.testing.assert_allclose(basis.mean, synthetic_model.template.numpy()[vid], atol=1e-6)


def test_recovers_known_parameters_on_synthetic_model(synthetic_model) -> None:
    m = synthetic_model
    rng = np.random.default_rng(3)
    front = np.nonzero(m.template.numpy()[:, 2] > 2.0)[0]
    basis = point_basis(m, SurfacePoints.at_vertices(m, front))
    ident, expr, rot, trans = _truth(rng, m)
    obs = project_points(basis.positions(ident, expr) @ rot.T + trans, 900.0, np.array([319.5, 239.5]))
    res = fit_landmarks(basis, obs, (640, 480), focal_px=900.0, options=EXACT)
    assert res.rms_px < 0.01
    np.testing.assert_allclose(res.rotation, rot, atol=1e-4)
    np.testing.assert_allclose(res.translation, trans, atol=1e-2)
    np.testing.assert_allclose(res.expression, expr, atol=3e-3)
    np.testing.assert_allclose(res.identity, ident, atol=1e-2)


def test_expression_stays_in_bounds_and_inputs_are_checked(synthetic_model) -> None:
    m = synthetic_model
    basis = point_basis(m, SurfacePoints.at_vertices(m, m.landmark_indices.numpy()))
    rng = np.random.default_rng(0)
    obs = rng.uniform(200, 400, (basis.mean.shape[0], 2))  # nonsense landmarks
    res = fit_landmarks(basis, obs, (640, 480))
    assert (res.expression >= 0).all() and (res.expression <= 1).all()
    with pytest.raises(UsageError, match=r"observed_px: expected \(68, 2\)"):
        fit_landmarks(basis, obs[:10], (640, 480))
    with pytest.raises(UsageError, match="weights"):
        fit_landmarks(basis, obs, (640, 480), weights=-np.ones(68))


@pytest.mark.ict
def test_ict_dense_landmarks_recover_the_face_within_1mm(ict_model) -> None:
    """Issue aim: noise-free dense landmarks from known parameters -> face-region mesh within 1 mm mean."""
    m = ict_model
    rng = np.random.default_rng(7)
    face = m.region("face_narrow").numpy()
    basis = point_basis(m, SurfacePoints.at_vertices(m, rng.choice(face, 478, replace=False)))
    errors = []
    for _ in range(3):
        ident, expr, rot, trans = _truth(rng, m)
        obs = project_points(basis.positions(ident, expr) @ rot.T + trans, 1000.0, np.array([399.5, 399.5]))
        res = fit_landmarks(basis, obs, (800, 800), focal_px=1000.0, options=EXACT)

        def mesh(i, e, r, t):
            p = FaceParams(torch.tensor(i[None], dtype=torch.float32), torch.tensor(e[None], dtype=torch.float32),
                           torch.tensor(cv2.Rodrigues(r)[0].T, dtype=torch.float32),
                           torch.tensor(t[None], dtype=torch.float32))
            return evaluate(m, p).vertices[0].numpy()[m.region("face").numpy()]

        truth = mesh(ident, expr, rot, trans)
        fitted = mesh(res.identity, res.expression, res.rotation, res.translation)
        errors.append(np.linalg.norm(fitted - truth, axis=1).mean() * 10.0)  # cm -> mm, no alignment needed
    assert max(errors) < 1.0, errors
