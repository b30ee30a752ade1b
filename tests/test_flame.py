"""FLAME bring-your-own: safe loading of FLAME-format pickles, the mapping into MorphableModel, and evaluate() against
an independent reference implementation of FLAME's linear blend skinning (per-vertex loops, 4x4 transforms)."""

from __future__ import annotations

import io
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from flame_fixture import (
    EYE_LEFT,
    JAW,
    dump_with_fake_chumpy,
    make_embedding,
    make_flame_arrays,
    write_flame_pickle,
)
from scipy.spatial.transform import Rotation

from faceforge.assets import load_model
from faceforge.cli import main
from faceforge.errors import InputError, UsageError
from faceforge.morphable import evaluate, evaluate_landmarks
from faceforge.morphable.flame import (
    FLAME_JOINT_NAMES,
    flame_root_joint,
    load_flame,
    load_landmark_embedding,
    read_flame_pickle,
)
from faceforge.structures import FaceParams


@pytest.fixture(scope="module")
def flame_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("flame") / "generic_model.pkl"
    return path, write_flame_pickle(path)


@pytest.fixture(scope="module")
def flame(flame_file):
    return load_flame(flame_file[0])


@pytest.fixture()
def no_chumpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import chumpy`` fail for the duration of a test (proves loading never needs it)."""
    monkeypatch.setitem(sys.modules, "chumpy", None)
    monkeypatch.setitem(sys.modules, "chumpy.ch", None)


def _params(model, batch: int, seed: int = 0, scale: float = 1.0) -> FaceParams:
    g = torch.Generator().manual_seed(seed)
    return FaceParams(
        identity=torch.randn(batch, model.num_identity, generator=g),
        expression=torch.randn(batch, model.num_expression, generator=g),
        rotation=0.4 * scale * torch.randn(batch, 3, generator=g),
        translation=0.05 * torch.randn(batch, 3, generator=g),
        joint_rotations=0.3 * scale * torch.randn(batch, model.num_joints, 3, generator=g),
    )


def reference_flame(arrays: dict, shape: np.ndarray, pose: np.ndarray, transl: np.ndarray) -> np.ndarray:
    """FLAME as its authors define it, written plainly in float64 (not sharing code with faceforge).

    shape: (400,) shapedirs weights (identity then expression); pose: (5, 3) axis-angle per joint, root first;
    transl: (3,). Joints come from the shaped mesh before pose correctives; correctives are
    posedirs . concat_j (R_j - I).ravel() over joints 1-4; each joint's world transform is its parent's times
    [R_j | j_j - j_parent]; a vertex moves by sum_j w_vj G_j [I | -j_j].
    """
    v_shaped = arrays["v_template"] + arrays["shapedirs"].dot(shape)
    reg = arrays["J_regressor"].toarray()
    joints = reg @ v_shaped
    rots = [Rotation.from_rotvec(p).as_matrix() for p in pose]
    feature = np.concatenate([(r - np.eye(3)).ravel() for r in rots[1:]])
    v_posed = v_shaped + arrays["posedirs"].dot(feature)
    parents = [-1, 0, 1, 1, 1]
    world = []
    for j in range(5):
        local = np.eye(4)
        local[:3, :3] = rots[j]
        local[:3, 3] = joints[j] - (joints[parents[j]] if parents[j] >= 0 else 0.0)
        world.append(local if parents[j] < 0 else world[parents[j]] @ local)
    out = np.zeros_like(v_posed)
    for i in range(v_posed.shape[0]):
        blend = np.zeros((4, 4))
        for j in range(5):
            unpose = np.eye(4)
            unpose[:3, 3] = -joints[j]
            blend += arrays["weights"][i, j] * (world[j] @ unpose)
        out[i] = (blend @ np.append(v_posed[i], 1.0))[:3]
    return out + transl


def _shape_vector(model, p: FaceParams, row: int) -> np.ndarray:
    s = np.zeros(400)
    s[: model.num_identity] = p.identity[row].double().numpy()
    s[300: 300 + model.num_expression] = p.expression[row].double().numpy()
    return s


# ---- loading -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["py2", "py3", "proto0"])
def test_loads_without_chumpy_and_maps_every_array(tmp_path, no_chumpy, style) -> None:
    path = tmp_path / "model.pkl"
    arrays = write_flame_pickle(path, style=style)
    m = load_flame(path)
    assert sys.modules["chumpy"] is None  # nothing imported (or replaced) the blocked chumpy
    assert (m.name, m.units, m.expression_bounds) == ("flame", "m", None)
    assert (m.num_vertices, m.num_faces, m.num_identity, m.num_expression, m.num_joints) == (42, 80, 300, 100, 4)
    assert m.expression_names[:2] == ("exp000", "exp001") and m.expression_names[-1] == "exp099"
    f32 = torch.float32
    torch.testing.assert_close(m.template, torch.from_numpy(arrays["v_template"]).to(f32), rtol=0, atol=0)
    assert torch.equal(m.faces, torch.from_numpy(arrays["f"].astype(np.int64)))
    sd = torch.from_numpy(arrays["shapedirs"]).to(f32)
    assert torch.equal(m.identity_basis[7], sd[:, :, 7]) and torch.equal(m.expression_basis[5], sd[:, :, 305])
    sk = m.skeleton
    assert sk is not None and sk.joint_names == FLAME_JOINT_NAMES
    assert sk.parents.tolist() == [-1, 0, 1, 1, 1]
    assert torch.equal(sk.joint_regressor, torch.from_numpy(arrays["J_regressor"].toarray()).to(f32))
    assert torch.equal(sk.skinning_weights, torch.from_numpy(arrays["weights"]).to(f32))
    # pose_basis[p, v, c] = posedirs[v, c, p]
    assert sk.pose_basis.shape == (36, 42, 3)
    assert torch.equal(sk.pose_basis[13, 20], torch.from_numpy(arrays["posedirs"][20, :, 13]).to(f32))
    assert m.landmark_indices.shape == (0,) and m.landmark_faces is None


def test_plain_numpy_resave_and_other_sparse_formats_load(tmp_path, flame) -> None:
    """Python 3 re-saves without chumpy (protocol 4), J_regressor dense, csr or coo."""
    arrays = make_flame_arrays()
    for i, reg in enumerate([arrays["J_regressor"].toarray(), arrays["J_regressor"].tocsr(),
                             arrays["J_regressor"].tocoo()]):
        path = tmp_path / f"resave{i}.pkl"
        path.write_bytes(pickle.dumps({**arrays, "J_regressor": reg}, protocol=4))
        m = load_flame(path)
        assert torch.equal(m.skeleton.joint_regressor, flame.skeleton.joint_regressor)
        assert torch.equal(m.expression_basis, flame.expression_basis)


def test_component_counts_can_be_reduced(flame_file, flame) -> None:
    m = load_flame(flame_file[0], num_identity=100, num_expression=50)
    assert (m.num_identity, m.num_expression) == (100, 50)
    assert torch.equal(m.identity_basis, flame.identity_basis[:100])
    assert torch.equal(m.expression_basis, flame.expression_basis[:50])
    with pytest.raises(UsageError, match=r"num_expression must be in 1\.\.100 for this file, got 101"):
        load_flame(flame_file[0], num_expression=101)
    with pytest.raises(UsageError, match=r"num_identity must be in 1\.\.300, got 0"):
        load_flame(flame_file[0], num_identity=0)


def test_inward_faces_are_flipped_to_counter_clockwise_with_their_landmarks(tmp_path, flame_file, flame) -> None:
    arrays = make_flame_arrays()
    emb = make_embedding(arrays)
    _save_deca_npy(tmp_path / "e.npy", emb)
    arrays["f"] = arrays["f"][:, ::-1].copy()
    write_flame_pickle(tmp_path / "m.pkl", arrays)
    m = load_flame(tmp_path / "m.pkl", landmark_embedding=tmp_path / "e.npy")
    assert torch.equal(m.faces, flame.faces)  # the clockwise file comes back counter-clockwise
    # the embedding was made for the clockwise file: its landmarks must still be the same surface points
    ref = load_flame(flame_file[0], landmark_embedding=tmp_path / "e.npy")
    zero = FaceParams.zeros(1, m.num_identity, m.num_expression, m.num_joints)
    tri = arrays["v_template"][arrays["f"][emb["full_lmk_faces_idx"][0]].astype(np.int64)]
    want = (tri * emb["full_lmk_bary_coords"][0][..., None]).sum(1)
    np.testing.assert_allclose(evaluate_landmarks(m, zero)[0].numpy(), want, rtol=0, atol=1e-6)
    # without reversing the weights with the corners the points would move (the test can fail)
    assert not np.allclose(evaluate_landmarks(ref, zero)[0].numpy(), want, atol=1e-4)


# ---- evaluation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 3])
def test_zero_parameters_give_v_template(flame, batch) -> None:
    p = FaceParams.zeros(batch, flame.num_identity, flame.num_expression, flame.num_joints)
    mesh = evaluate(flame, p)
    assert mesh.vertices.shape == (batch, 42, 3)
    # Skinning with identity rotations re-adds joint offsets along the chain: float32 round-off only.
    torch.testing.assert_close(mesh.vertices, flame.template.expand(batch, -1, -1), rtol=0, atol=1e-7)
    rest = FaceParams.zeros(batch, flame.num_identity, flame.num_expression)  # no joint rotations: no skinning
    assert torch.equal(evaluate(flame, rest).vertices, flame.template.expand(batch, -1, -1))


def test_one_unit_of_shape_k_adds_exactly_its_delta(flame_file, flame) -> None:
    arrays = flame_file[1]
    p = FaceParams.zeros(2, flame.num_identity, flame.num_expression, flame.num_joints)
    ident, expr = p.identity.clone(), p.expression.clone()
    ident[0, 17] = 1.0
    expr[1, 42] = 1.0
    mesh = evaluate(flame, FaceParams(ident, expr, p.rotation, p.translation, p.joint_rotations))
    want0 = torch.from_numpy(arrays["v_template"] + arrays["shapedirs"][:, :, 17]).float()
    want1 = torch.from_numpy(arrays["v_template"] + arrays["shapedirs"][:, :, 342]).float()
    torch.testing.assert_close(mesh.vertices[0], want0, rtol=0, atol=1e-7)
    torch.testing.assert_close(mesh.vertices[1], want1, rtol=0, atol=1e-7)


@pytest.mark.parametrize("joint", [JAW, EYE_LEFT])
def test_a_joint_rotation_moves_only_the_vertices_it_skins(flame_file, flame, joint) -> None:
    weights = flame_file[1]["weights"][:, joint]
    p = FaceParams.zeros(1, flame.num_identity, flame.num_expression, flame.num_joints)
    rots = p.joint_rotations.clone()
    rots[0, joint - 1] = torch.tensor([0.35, 0.05, -0.1])
    moved = evaluate(flame, FaceParams(p.identity, p.expression, p.rotation, p.translation, rots)).vertices[0]
    shift = (moved - flame.template).norm(dim=1)
    skinned = torch.from_numpy(weights > 0)
    assert shift[~skinned].max() < 1e-7  # float32 round-off only
    assert shift[skinned].min() > 1e-3  # at least a millimetre


@pytest.mark.parametrize("batch", [1, 3])
def test_evaluate_matches_reference_flame_lbs(flame_file, flame, batch) -> None:
    """Full FLAME: shape, expression, all joints, global rotation about j0 and transl, vs the reference loops."""
    arrays = flame_file[1]
    p = _params(flame, batch)
    j0 = flame_root_joint(flame, p.identity, p.expression)  # (B, 3)
    rot = torch.from_numpy(Rotation.from_rotvec(p.rotation.double().numpy()).as_matrix()).float()
    # faceforge rotates about the origin; FLAME about j0: same mesh with translation t + (I - R) j0.
    shifted = p.translation + j0 - (rot @ j0.unsqueeze(-1)).squeeze(-1)
    got = evaluate(flame, FaceParams(p.identity, p.expression, p.rotation, shifted, p.joint_rotations)).vertices
    for b in range(batch):
        pose = np.concatenate([p.rotation[b:b + 1], p.joint_rotations[b]]).astype(np.float64)
        want = reference_flame(arrays, _shape_vector(flame, p, b), pose, p.translation[b].double().numpy())
        np.testing.assert_allclose(got[b].double().numpy(), want, rtol=0, atol=2e-6)
    # The pose correctives matter at this tolerance (they are millimetres, the tolerance microns).
    no_corr = {**arrays, "posedirs": np.zeros_like(arrays["posedirs"])}
    pose = np.concatenate([p.rotation[:1], p.joint_rotations[0]]).astype(np.float64)
    s = _shape_vector(flame, p, 0)
    t0 = p.translation[0].double().numpy()
    assert np.abs(reference_flame(arrays, s, pose, t0) - reference_flame(no_corr, s, pose, t0)).max() > 1e-3


def test_root_rotation_about_origin_differs_from_flame_by_i_minus_r_j0(flame_file, flame) -> None:
    arrays = flame_file[1]
    p = _params(flame, 1, seed=3)
    zero_t = torch.zeros(1, 3)
    got = evaluate(flame, FaceParams(p.identity, p.expression, p.rotation, zero_t, p.joint_rotations)).vertices[0]
    pose = np.concatenate([p.rotation, p.joint_rotations[0]]).astype(np.float64)
    s = _shape_vector(flame, p, 0)
    want = reference_flame(arrays, s, pose, np.zeros(3))
    j0 = arrays["J_regressor"].toarray()[0] @ (arrays["v_template"] + arrays["shapedirs"].dot(s))
    r = Rotation.from_rotvec(pose[0]).as_matrix()
    diff = want - got.double().numpy()  # the same (I - R) j0 for every vertex: a pure translation
    np.testing.assert_allclose(diff, np.broadcast_to((np.eye(3) - r) @ j0, diff.shape), rtol=0, atol=2e-6)
    assert np.linalg.norm((np.eye(3) - r) @ j0) > 1e-3
    np.testing.assert_allclose(flame_root_joint(flame, p.identity, p.expression)[0].numpy(), j0, atol=1e-6)


def test_joint_positions_ignore_pose_correctives(flame_file, flame) -> None:
    """A vertex skinned only by the jaw turns rigidly about the jaw joint of the *unposed* shaped mesh."""
    arrays = flame_file[1]
    w = arrays["weights"]
    i = int(np.nonzero(w[:, JAW] == 1.0)[0][0])
    p = FaceParams.zeros(1, flame.num_identity, flame.num_expression, flame.num_joints)
    rots = p.joint_rotations.clone()
    rots[0, JAW - 1, 0] = 0.5
    got = evaluate(flame, FaceParams(p.identity, p.expression, p.rotation, p.translation, rots)).vertices[0, i]
    r = Rotation.from_rotvec([0.5, 0, 0]).as_matrix()
    feat = np.zeros(36)
    feat[9:18] = (r - np.eye(3)).ravel()
    jaw = arrays["J_regressor"].toarray()[JAW] @ arrays["v_template"]
    want = r @ (arrays["v_template"][i] + arrays["posedirs"][i].dot(feat) - jaw) + jaw
    np.testing.assert_allclose(got.double().numpy(), want, rtol=0, atol=1e-6)


def test_flame_evaluation_is_differentiable_in_every_parameter(flame) -> None:
    p = _params(flame, 2, seed=7)
    leaves = [t.clone().requires_grad_() for t in (p.identity, p.expression, p.rotation, p.joint_rotations)]
    q = FaceParams(leaves[0], leaves[1], leaves[2], p.translation, leaves[3])
    evaluate(flame, q).vertices.square().sum().backward()
    for t in leaves:
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


# ---- safety and bad input -------------------------------------------------------------------------------------


class _Evil:
    def __init__(self, func, arg) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("func", [os.system, eval, __import__])
def test_a_pickle_that_would_run_code_is_refused(tmp_path, func) -> None:
    marker = tmp_path / "ran"
    arrays = make_flame_arrays()
    arrays["bs_style"] = _Evil(func, f"open({str(marker)!r}, 'w')" if func is eval else f"touch {marker}")
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    name = {os.system: r"(posix|os)\.system", eval: r"__builtin__\.eval", __import__: r"__builtin__\.__import__"}[func]
    with pytest.raises(InputError, match=rf"refusing to load: the pickle references {name}"):
        load_flame(path)
    assert not marker.exists()


def test_chumpy_expressions_other_than_plain_arrays_are_refused(tmp_path) -> None:
    class Add:  # a chumpy operator node (chumpy.ch_ops.add) cannot be evaluated without chumpy
        def __init__(self) -> None:
            self.a = 1

    Add.__module__, Add.__qualname__ = "chumpy.ch_ops", "add"
    sys.modules["chumpy.ch_ops"] = type(sys)("chumpy.ch_ops")
    sys.modules["chumpy.ch_ops"].add = Add
    try:
        arrays = make_flame_arrays()
        arrays["posedirs"] = Add()
        dump_with_fake_chumpy(arrays, tmp_path / "m.pkl", style="py3")
    finally:
        del sys.modules["chumpy.ch_ops"]
    with pytest.raises(InputError, match=r"references chumpy\.ch_ops\.add"):
        load_flame(tmp_path / "m.pkl")


def test_missing_or_unreadable_files_give_one_clear_error(tmp_path, flame_file) -> None:
    with pytest.raises(InputError, match=r"nope\.pkl: no such file"):
        load_flame(tmp_path / "nope.pkl")
    with pytest.raises(InputError, match=r"not a file"):
        load_flame(tmp_path)
    (tmp_path / "text.pkl").write_text("hello, I am not a pickle\n")
    with pytest.raises(InputError, match=r"text\.pkl: not a pickle file"):
        load_flame(tmp_path / "text.pkl")
    (tmp_path / "cut.pkl").write_bytes(flame_file[0].read_bytes()[:5000])
    with pytest.raises(InputError, match=r"cut\.pkl: not a readable FLAME model file"):
        load_flame(tmp_path / "cut.pkl")
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(InputError, match=r"expected a FLAME model dict, the pickle holds a list"):
        load_flame(tmp_path / "list.pkl")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.pop("J_regressor"), r"not a FLAME model: missing J_regressor"),
        (lambda a: a.update(posedirs=a["posedirs"][:, :, :27]),
         r"posedirs has shape \(42, 3, 27\), expected \(42, 3, 36\)"),
        (lambda a: a.update(shapedirs=a["shapedirs"][:, :, :300]), r"shapedirs has 300 components"),
        (lambda a: a.update(weights=a["weights"][:, :4]), r"weights has shape \(42, 4\), expected \(42, 5\)"),
        (lambda a: a.update(f=a["f"] + 100), r"f must be \(F, 3\) triangles indexing 42 vertices"),
        (lambda a: a.update(kintree_table=a["kintree_table"][:, [1, 0, 2, 3, 4]]),
         r"kintree_table must list the root first"),
    ],
)
def test_inconsistent_arrays_are_refused(tmp_path, change, message) -> None:
    arrays = make_flame_arrays()
    change(arrays)
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=2))
    with pytest.raises(InputError, match=message):
        load_flame(path)


# ---- landmarks ------------------------------------------------------------------------------------------------


def _save_deca_npy(path: Path, emb: dict, torch_dynamic: bool = True) -> None:
    """DECA's landmark_embedding.npy: np.save of a dict, the dynamic tables as torch tensors."""
    d = dict(emb)
    if torch_dynamic:
        d["dynamic_lmk_faces_idx"] = torch.from_numpy(d["dynamic_lmk_faces_idx"])
        d["dynamic_lmk_bary_coords"] = torch.from_numpy(d["dynamic_lmk_bary_coords"]).float()
    np.save(path, np.array(d, dtype=object), allow_pickle=True)


def test_landmark_embedding_gives_barycentric_landmarks(tmp_path, flame_file) -> None:
    path, arrays = flame_file
    emb = make_embedding(arrays)
    _save_deca_npy(tmp_path / "landmark_embedding.npy", emb)
    m = load_flame(path, landmark_embedding=tmp_path / "landmark_embedding.npy")
    assert torch.equal(m.landmark_faces, torch.from_numpy(emb["full_lmk_faces_idx"][0]))
    torch.testing.assert_close(m.landmark_barycentric, torch.from_numpy(emb["full_lmk_bary_coords"][0]).float())
    tri = arrays["v_template"][arrays["f"][emb["full_lmk_faces_idx"][0]].astype(np.int64)]
    points = (tri * emb["full_lmk_bary_coords"][0][..., None]).sum(1)  # (68, 3) on the template
    nearest = ((points[:, None] - arrays["v_template"][None]) ** 2).sum(-1).argmin(1)
    assert m.landmark_indices.tolist() == nearest.tolist()
    # contour candidates: the nearest vertices of every dynamic contour point
    dyn_tri = arrays["v_template"][arrays["f"][emb["dynamic_lmk_faces_idx"]].astype(np.int64)]
    dyn = (dyn_tri * emb["dynamic_lmk_bary_coords"][..., None]).sum(-2).reshape(-1, 3)
    want = np.unique(((dyn[:, None] - arrays["v_template"][None]) ** 2).sum(-1).argmin(1))
    assert m.contour_candidates.tolist() == want.tolist()
    # evaluate_landmarks interpolates the posed surface
    p = _params(m, 2, seed=5)
    verts = evaluate(m, p).vertices
    lm = evaluate_landmarks(m, p)
    manual = (verts[:, m.faces[m.landmark_faces]] * m.landmark_barycentric[None, :, :, None]).sum(2)
    torch.testing.assert_close(lm, manual, rtol=0, atol=1e-7)
    zero = FaceParams.zeros(1, m.num_identity, m.num_expression, m.num_joints)
    np.testing.assert_allclose(evaluate_landmarks(m, zero)[0].numpy(), points, rtol=0, atol=1e-6)


def test_static_plus_dynamic_and_plain_68_layouts_agree(tmp_path, flame_file) -> None:
    emb = make_embedding(flame_file[1])
    full = load_landmark_embedding(_write(tmp_path / "a.npy", emb), num_faces=80)
    split = {k: v for k, v in emb.items() if not k.startswith("full")}
    from_split = load_landmark_embedding(_write(tmp_path / "b.npy", split), num_faces=80)
    plain = {"lmk_face_idx": emb["full_lmk_faces_idx"][0], "lmk_b_coords": emb["full_lmk_bary_coords"][0]}
    (tmp_path / "c.pkl").write_bytes(pickle.dumps(plain, protocol=2))
    np.savez(tmp_path / "d.npz", **plain)
    for other in (from_split, load_landmark_embedding(tmp_path / "c.pkl"), load_landmark_embedding(tmp_path / "d.npz")):
        assert np.array_equal(other.faces, full.faces)
        np.testing.assert_allclose(other.barycentric, full.barycentric, rtol=0, atol=1e-7)
    assert full.contour_faces.shape == (79, 17) and from_split.contour_faces is not None


def _write(path: Path, d: dict) -> Path:
    _save_deca_npy(path, d)
    return path


def test_bad_landmark_embeddings_are_refused(tmp_path, flame_file) -> None:
    emb = make_embedding(flame_file[1])
    static_only = {"lmk_face_idx": emb["static_lmk_faces_idx"], "lmk_b_coords": emb["static_lmk_bary_coords"]}
    (tmp_path / "s.pkl").write_bytes(pickle.dumps(static_only))
    with pytest.raises(InputError, match=r"only the 51 static landmarks \(iBUG 17-67\) and no jaw contour"):
        load_landmark_embedding(tmp_path / "s.pkl")
    with pytest.raises(InputError, match=r"landmark triangle index \d+ out of range for 10 triangles"):
        load_landmark_embedding(_write(tmp_path / "e.npy", emb), num_faces=10)
    np.save(tmp_path / "plain.npy", np.zeros((68, 3)))
    with pytest.raises(InputError, match=r"holds a plain float64 array \(68, 3\)"):
        load_landmark_embedding(tmp_path / "plain.npy")
    buf = io.BytesIO()
    np.save(buf, np.array({"x": _Evil(os.system, "true")}, dtype=object), allow_pickle=True)
    (tmp_path / "evil.npy").write_bytes(buf.getvalue())
    with pytest.raises(InputError, match=r"refusing to load: the pickle references (posix|os)\.system"):
        load_landmark_embedding(tmp_path / "evil.npy")


def test_without_an_embedding_landmarks_are_empty_and_evaluate_landmarks_says_why(flame) -> None:
    assert flame.landmark_indices.shape == (0,)
    with pytest.raises(UsageError, match=r"flame defines no landmarks"):
        evaluate_landmarks(flame, FaceParams.zeros(1, flame.num_identity, flame.num_expression, flame.num_joints))


# ---- assets / CLI -----------------------------------------------------------------------------------------------


def test_load_model_passes_the_embedding(tmp_path, flame_file) -> None:
    _save_deca_npy(tmp_path / "e.npy", make_embedding(flame_file[1]))
    m = load_model("flame", flame_file[0], landmark_embedding=tmp_path / "e.npy")
    assert m.landmark_indices.shape == (68,) and m.landmark_faces is not None
    with pytest.raises(UsageError, match=r"needs the path of your licensed FLAME \.pkl"):
        load_model("flame")
    with pytest.raises(UsageError, match=r"landmark_embedding is only for flame"):
        load_model("ict-facekit", landmark_embedding=tmp_path / "e.npy")


def test_cli_model_info_reports_the_counts(flame_file, capsys) -> None:
    code = main(["model", "info", "--model", "flame", "--model-path", str(flame_file[0]), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {k: info[k] for k in ("model", "units", "vertices", "faces", "identity_components",
                                  "expression_components", "joints", "landmarks")} == {
        "model": "flame", "units": "m", "vertices": 42, "faces": 80, "identity_components": 300,
        "expression_components": 100, "joints": 4, "landmarks": 0}


def test_cli_reports_a_bad_model_file_in_one_line(tmp_path, capsys) -> None:
    (tmp_path / "x.pkl").write_bytes(b"garbage")
    code = main(["model", "info", "--model", "flame", "--model-path", str(tmp_path / "x.pkl")])
    err = capsys.readouterr().err
    assert code == 3
    assert err.count("\n") == 1 and "x.pkl: not a pickle file" in err


def test_sparse_regressor_fixture_is_really_sparse(flame_file) -> None:
    """Guard on the fixture itself: the file must hold what FLAME files hold."""
    d = read_flame_pickle(flame_file[0])
    assert isinstance(flame_file[1]["J_regressor"], sp.csc_matrix)
    assert d["kintree_table"][0, 0] == 2**32 - 1 and d["bs_type"] == "lrotmin"
