import pytest
import torch

from faceforge.errors import UsageError
from faceforge.geometry import axis_angle_to_matrix
from faceforge.morphable import evaluate, evaluate_landmarks
from faceforge.structures import FaceParams


def _zeros(model, batch):
    return FaceParams.zeros(batch, model.num_identity, model.num_expression)


@pytest.mark.parametrize("batch", [1, 3])
def test_zero_parameters_give_the_template(synthetic_model, batch) -> None:
    mesh = evaluate(synthetic_model, _zeros(synthetic_model, batch))
    assert mesh.vertices.shape == (batch, synthetic_model.num_vertices, 3)
    assert torch.equal(mesh.vertices, synthetic_model.template.expand(batch, -1, -1))


def test_one_unit_of_a_blendshape_adds_exactly_its_delta(synthetic_model) -> None:
    m = synthetic_model
    p = _zeros(m, 2)
    k = m.expression_index("jawOpen")
    expr = p.expression.clone()
    expr[1, k] = 1.0
    ident = p.identity.clone()
    ident[0, 3] = 1.0
    mesh = evaluate(m, FaceParams(ident, expr, p.rotation, p.translation))
    torch.testing.assert_close(mesh.vertices[1], m.template + m.expression_basis[k], rtol=0, atol=1e-6)
    torch.testing.assert_close(mesh.vertices[0], m.template + m.identity_basis[3], rtol=0, atol=1e-6)


def test_pose_is_rotation_about_origin_then_translation(synthetic_model) -> None:
    m = synthetic_model
    p = _zeros(m, 1)
    rot = torch.tensor([[0.1, -0.4, 0.2]])
    t = torch.tensor([[1.0, 2.0, 50.0]])
    mesh = evaluate(m, FaceParams(p.identity, p.expression, rot, t))
    want = m.template @ axis_angle_to_matrix(rot)[0].T + t
    torch.testing.assert_close(mesh.vertices[0], want, rtol=0, atol=1e-5)
    lm = evaluate_landmarks(m, FaceParams(p.identity, p.expression, rot, t))
    torch.testing.assert_close(lm[0], want[m.landmark_indices])


def test_evaluate_is_differentiable(synthetic_model) -> None:
    m = synthetic_model
    p = _zeros(m, 1)
    expr = p.expression.clone().requires_grad_()
    rot = torch.tensor([[0.0, 0.2, 0.0]], requires_grad=True)
    evaluate(m, FaceParams(p.identity, expr, rot, p.translation)).vertices.sum().backward()
    assert expr.grad is not None and expr.grad.abs().sum() > 0
    assert rot.grad is not None and torch.isfinite(rot.grad).all()


def test_wrong_component_count_is_refused(synthetic_model) -> None:
    p = FaceParams.zeros(1, synthetic_model.num_identity + 1, synthetic_model.num_expression)
    with pytest.raises(UsageError, match=r"identity: synthetic has 8 components, got 9"):
        evaluate(synthetic_model, p)


def test_unknown_expression_and_region_names(synthetic_model) -> None:
    with pytest.raises(UsageError, match="unknown expression 'smile'"):
        synthetic_model.expression_index("smile")
    with pytest.raises(UsageError, match="unknown region 'ears'"):
        synthetic_model.region("ears")


@pytest.mark.ict
def test_ict_model_facts(ict_model) -> None:
    m = ict_model
    assert (m.num_vertices, m.num_identity, m.num_expression) == (26719, 100, 53)
    assert m.expression_names[0] == "browDown_L" and m.expression_names[-1] == "noseSneer_R"
    assert "eyeBlink_L" in m.expression_names and "jawOpen" in m.expression_names
    assert m.landmark_indices.tolist()[:3] == [1225, 1888, 1052]
    assert m.units == "cm" and int(m.faces.max()) == m.num_vertices - 1
    # Every face sub-region is non-empty, inside the face range, and the sub-regions do not overlap.
    subs = ["ears", "eyes", "nose", "mouth", "forehead", "cheeks", "chin_jaw"]
    seen: set[int] = set()
    for name in subs:
        idx = set(m.region(name).tolist())
        assert idx and max(idx) <= 9408 and not (idx & seen), name
        seen |= idx
    # Landmarks sit in the expected sub-regions (nose tip 30, outer eye corner 36, mouth corner 48).
    assert int(m.landmark_indices[30]) in set(m.region("nose").tolist())
    assert int(m.landmark_indices[36]) in set(m.region("eyes").tolist())
    assert int(m.landmark_indices[48]) in set(m.region("mouth").tolist())


@pytest.mark.ict
@pytest.mark.parametrize("batch", [1, 3])
def test_ict_exact_answers(ict_model, batch) -> None:
    m = ict_model
    p = FaceParams.zeros(batch, m.num_identity, m.num_expression)
    assert torch.equal(evaluate(m, p).vertices[0], m.template)
    k = m.expression_index("eyeBlink_L")
    expr = p.expression.clone()
    expr[:, k] = 1.0
    out = evaluate(m, FaceParams(p.identity, expr, p.rotation, p.translation)).vertices
    torch.testing.assert_close(out[-1], m.template + m.expression_basis[k], rtol=0, atol=1e-5)


@pytest.mark.ict
def test_ict_eyes_follow_eye_look_shapes(ict_model) -> None:
    m = ict_model
    p = FaceParams.zeros(3, m.num_identity, m.num_expression)
    expr = p.expression.clone()
    expr[1, m.expression_index("eyeLookUp_L")] = 1.0
    expr[2, m.expression_index("eyeLookOut_L")] = 1.0
    v = evaluate(m, FaceParams(p.identity, expr, p.rotation, p.translation)).vertices
    left, right = m.region("eyeball_left"), m.region("eyeball_right")

    pupil = int(v[0, left, 2].argmax())  # the eyeball vertex furthest forward at rest

    def gaze(verts, idx):
        # Direction from the eyeball centroid to the (same) pupil vertex.
        e = verts[idx]
        d = e[pupil] - e.mean(0)
        return d / d.norm()

    g0, g_up, g_out = gaze(v[0], left), gaze(v[1], left), gaze(v[2], left)
    up_deg = torch.rad2deg(torch.atan2(g_up[1], g_up[2]) - torch.atan2(g0[1], g0[2]))
    out_deg = torch.rad2deg(torch.atan2(g_out[0], g_out[2]) - torch.atan2(g0[0], g0[2]))
    assert abs(float(up_deg) - 30.0) < 3.0  # looks up by the rig's 30 degrees
    assert abs(float(out_deg) - 35.0) < 3.0  # the left eye looks out towards +x
    # The other eye and the eye centroid stay put.
    torch.testing.assert_close(v[1, right], v[0, right])
    torch.testing.assert_close(v[1, left].mean(0), v[0, left].mean(0), atol=1e-5, rtol=0)
