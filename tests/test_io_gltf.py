"""GLB export: container framing, accessors, named morph targets, UV seam splitting, round trip to ``evaluate``."""

from __future__ import annotations

import dataclasses
import io
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceforge.errors import InputError, UsageError
from faceforge.io.glb import (
    CHUNK_BIN,
    CHUNK_JSON,
    GLB_MAGIC,
    GlbFile,
    accessor_array,
    glb_node_matrix,
    parse_glb,
    read_glb,
)
from faceforge.io.gltf import (
    GlbOptions,
    glb_bytes,
    morph_target_deltas,
    save_glb,
    split_uv_seams,
)
from faceforge.morphable import MorphableModel, evaluate, shape_vertices
from faceforge.morphable.model import EyeRig
from faceforge.structures import FaceParams

_SIZES = {5121: 1, 5123: 2, 5125: 4, 5126: 4}
_COMPONENTS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def _with_uv(model: MorphableModel) -> MorphableModel:
    """The synthetic model with UVs that have a seam: the first 10 faces use their own UV copies."""
    v = model.num_vertices
    t = model.template
    uv = torch.stack([0.5 + torch.atan2(t[:, 0], t[:, 2]) / (2 * np.pi), 0.5 + t[:, 1] / 20], 1)
    uv = torch.cat([uv, torch.rand(30, 2, generator=torch.Generator().manual_seed(1))])
    uv_faces = model.faces.clone()
    uv_faces[:10] = v + torch.arange(30).reshape(10, 3)
    return dataclasses.replace(model, uv=uv, uv_faces=uv_faces)


def _with_eyes(model: MorphableModel) -> MorphableModel:
    """The synthetic model with a gaze rig on two vertex patches (shapes 0-3 left, 2-5 right)."""
    t = model.template
    left = torch.nonzero((t[:, 0] > 3) & (t[:, 2] > 6) & (t[:, 1] > 1)).flatten()
    right = torch.nonzero((t[:, 0] < -3) & (t[:, 2] > 6) & (t[:, 1] > 1)).flatten()
    assert len(left) > 3 and len(right) > 3
    rig = EyeRig(left, right, torch.tensor([0, 1, 2, 3]), torch.tensor([2, 3, 4, 5]))
    return dataclasses.replace(model, eyes=rig)


def _decode(glb: GlbFile, weights: list[float] | None = None) -> np.ndarray:
    """(V', 3) float64 positions of the first primitive with ``weights`` (default: the mesh's default weights)."""
    mesh = glb.document["meshes"][0]
    prim = mesh["primitives"][0]
    pos = accessor_array(glb, prim["attributes"]["POSITION"]).astype(np.float64)
    for w, target in zip(mesh["weights"] if weights is None else weights, prim["targets"], strict=True):
        pos += w * accessor_array(glb, target["POSITION"]).astype(np.float64)
    return pos


def _check_structure(data: bytes, num_targets: int) -> GlbFile:
    """Spec checks every GLB we write must pass (framing, views, accessors, targets, indices)."""
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert (magic, version, length) == (GLB_MAGIC, 2, len(data))
    json_len, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == CHUNK_JSON and json_len % 4 == 0
    bin_len, bin_type = struct.unpack_from("<II", data, 20 + json_len)
    assert bin_type == CHUNK_BIN and bin_len % 4 == 0 and 28 + json_len + bin_len == len(data)
    assert data[20 + json_len - 1: 20 + json_len] in (b" ", b"}")  # JSON padded with spaces
    glb = parse_glb(data)
    doc = glb.document
    assert doc["asset"]["version"] == "2.0"
    assert doc["buffers"] == [{"byteLength": bin_len}]
    for view in doc["bufferViews"]:
        assert view["byteOffset"] % 4 == 0 and view["byteOffset"] + view["byteLength"] <= bin_len
    mesh = doc["meshes"][0]
    prims = mesh["primitives"]
    n_vert = doc["accessors"][prims[0]["attributes"]["POSITION"]]["count"]
    for acc_index, acc in enumerate(doc["accessors"]):
        view = doc["bufferViews"][acc["bufferView"]]
        assert acc["count"] * _SIZES[acc["componentType"]] * _COMPONENTS[acc["type"]] == view["byteLength"]
        if "min" in acc:
            a = accessor_array(glb, acc_index)
            assert acc["min"] == a.reshape(len(a), -1).min(0).tolist()
            assert acc["max"] == a.reshape(len(a), -1).max(0).tolist()
    assert len(mesh["weights"]) == len(mesh["extras"]["targetNames"]) == num_targets
    for prim in prims:
        assert prim["mode"] == 4
        for name, acc_index in prim["attributes"].items():
            assert doc["accessors"][acc_index]["count"] == n_vert, name
        assert "min" in doc["accessors"][prim["attributes"]["POSITION"]]
        assert len(prim["targets"]) == num_targets
        for target in prim["targets"]:
            pos = doc["accessors"][target["POSITION"]]
            assert pos["count"] == n_vert and pos["type"] == "VEC3" and "min" in pos and "max" in pos
        idx = accessor_array(glb, prim["indices"])
        assert len(idx) % 3 == 0 and idx.min() >= 0 and idx.max() < n_vert
        assert doc["bufferViews"][doc["accessors"][prim["indices"]]["bufferView"]]["target"] == 34963
    return glb


def test_split_uv_seams_keeps_vertex_order() -> None:
    # Square of 4 vertices, two triangles; vertex 2 has a second UV in the second triangle.
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    uv_faces = np.array([[0, 1, 2], [0, 4, 3]])
    uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1], [0.5, 0.5]], np.float32)
    s = split_uv_seams(faces, uv_faces, uv, num_vertices=5)  # vertex 4 is unused
    assert s.source_vertex.tolist() == [0, 1, 2, 3, 4, 2]
    assert s.faces.tolist() == [[0, 1, 2], [0, 5, 3]]
    assert s.uv.tolist() == [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0], [0.5, 0.5]]


def test_synthetic_glb_structure_and_defaults(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    identity = torch.randn(8)
    weights = torch.tensor([0.0, 1.0, 0.7, 0.25, 0.0, 0.5])
    save_glb(tmp_path / "s.glb", synthetic_model, identity, weights)
    glb = _check_structure((tmp_path / "s.glb").read_bytes(), 6)
    assert read_glb(tmp_path / "s.glb") == glb
    doc = glb.document
    mesh = doc["meshes"][0]
    assert mesh["extras"]["targetNames"] == list(synthetic_model.expression_names)
    assert mesh["weights"] == [0.0, 1.0, 0.7, 0.25, 0.0, 0.5]
    assert doc["nodes"][0]["scale"] == [0.01, 0.01, 0.01]  # cm -> m
    assert mesh["extras"]["faceforge"]["num_model_vertices"] == synthetic_model.num_vertices
    assert mesh["extras"]["faceforge"]["seam_source_vertex"] == []  # no UVs, no seams
    assert len(mesh["primitives"]) == 1 and len(doc["materials"]) == 1
    prim = mesh["primitives"][0]
    assert set(prim["attributes"]) == {"POSITION", "NORMAL"}
    assert set(prim["targets"][0]) == {"POSITION", "NORMAL"}
    base = shape_vertices(synthetic_model, identity[None], torch.zeros(1, 6))[0].numpy()
    assert np.array_equal(accessor_array(glb, prim["attributes"]["POSITION"]), base)
    assert np.array_equal(accessor_array(glb, prim["indices"]).reshape(-1, 3), synthetic_model.faces.numpy())
    for k, target in enumerate(prim["targets"]):
        assert np.array_equal(accessor_array(glb, target["POSITION"]), synthetic_model.expression_basis[k].numpy())
    normals = accessor_array(glb, prim["attributes"]["NORMAL"])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)


def test_glb_round_trip_matches_evaluate(synthetic_model: MorphableModel) -> None:
    g = torch.Generator().manual_seed(5)
    identity, weights = torch.randn(8, generator=g), torch.rand(6, generator=g)
    glb = parse_glb(glb_bytes(synthetic_model, identity, weights))
    params = FaceParams(identity[None], weights[None], torch.zeros(1, 3), torch.zeros(1, 3))
    want = evaluate(synthetic_model, params).vertices[0].numpy()
    np.testing.assert_allclose(_decode(glb), want, atol=1e-5, rtol=0)


def test_glb_node_pose_matches_posed_evaluate(synthetic_model: MorphableModel) -> None:
    identity, weights = torch.randn(8), torch.rand(6)
    rot, trans = torch.tensor([0.2, -0.5, 0.1]), torch.tensor([1.0, -2.0, 30.0])
    glb = parse_glb(glb_bytes(synthetic_model, identity, weights, node_rotation=rot, node_translation=trans))
    m = glb_node_matrix(glb.document["nodes"][0])
    world_m = _decode(glb) @ m[:3, :3].T + m[:3, 3]
    params = FaceParams(identity[None], weights[None], rot[None], trans[None])
    want_m = evaluate(synthetic_model, params).vertices[0].numpy() * 0.01
    np.testing.assert_allclose(world_m, want_m, atol=1e-6, rtol=0)


def test_glb_uv_seams_and_texture(synthetic_model: MorphableModel) -> None:
    model = _with_uv(synthetic_model)
    tex = np.random.default_rng(4).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    glb = _check_structure(glb_bytes(model, torch.randn(8), torch.zeros(6), texture=tex), 6)
    doc = glb.document
    extras = doc["meshes"][0]["extras"]["faceforge"]
    v = model.num_vertices
    source = np.concatenate([np.arange(v), extras["seam_source_vertex"]])
    # One glTF vertex per distinct (vertex, uv) pair: the 30 corners of the first 10 faces have their own UVs.
    assert len(source) == 30 + len(np.unique(model.faces[10:].numpy()))
    prim = doc["meshes"][0]["primitives"][0]
    pos = accessor_array(glb, prim["attributes"]["POSITION"])
    assert np.array_equal(pos[v:], pos[source[v:]])  # seam copies duplicate their source vertex
    for target in prim["targets"]:
        d = accessor_array(glb, target["POSITION"])
        assert np.array_equal(d[v:], d[source[v:]])
    # Faces index the split vertices; each corner's glTF UV is (u, 1 - v) of the model's UV for that corner.
    faces = accessor_array(glb, prim["indices"]).reshape(-1, 3)
    assert np.array_equal(source[faces], model.faces.numpy())
    tc = accessor_array(glb, prim["attributes"]["TEXCOORD_0"])
    want = model.uv[model.uv_faces].numpy().reshape(-1, 2)
    got = tc[faces].reshape(-1, 2)
    assert np.array_equal(got[:, 0], want[:, 0]) and np.array_equal(got[:, 1], (1 - want[:, 1]))
    # The texture: an embedded PNG that decodes to the same pixels, used as base colour.
    image = doc["images"][0]
    view = doc["bufferViews"][image["bufferView"]]
    png = glb.binary[view["byteOffset"]: view["byteOffset"] + view["byteLength"]]
    assert image["mimeType"] == "image/png" and np.array_equal(np.asarray(Image.open(io.BytesIO(png))), tex)
    assert doc["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"] == {"index": 0, "texCoord": 0}


def test_eye_targets_are_the_linearized_rig(synthetic_model: MorphableModel) -> None:
    model = _with_eyes(synthetic_model)
    identity = torch.randn(8)
    glb = parse_glb(glb_bytes(model, identity, torch.zeros(6), options=GlbOptions(normals=False)))
    prim = glb.document["meshes"][0]["primitives"][0]
    assert set(prim["targets"][0]) == {"POSITION"}
    deltas = morph_target_deltas(model, identity)
    zeros3 = torch.zeros(1, 3)
    base = evaluate(model, FaceParams(identity[None], torch.zeros(1, 6), zeros3, zeros3)).vertices[0]
    for k in range(6):
        one_hot = torch.zeros(1, 6)
        one_hot[0, k] = 1.0
        turned = evaluate(model, FaceParams(identity[None], one_hot, zeros3, zeros3)).vertices[0]
        np.testing.assert_allclose(deltas[k].numpy(), (turned - base).numpy(), atol=1e-5, rtol=0)
        assert np.array_equal(accessor_array(glb, prim["targets"][k]["POSITION"]), deltas[k].numpy())
    eyes = torch.cat([model.eyes.left_vertices, model.eyes.right_vertices]).numpy()
    assert np.abs(deltas[0, eyes].numpy()).max() > 0.1  # the rig really moves the eyes
    # Weights 0/1 with one gaze shape per eye: exact. Fractional gaze: everything but the eyeballs is exact.
    for w in ([1.0, 0, 0, 0, 0, 1.0], [0.3, 0.6, 0.2, 0, 0.9, 0.4]):
        weights = torch.tensor(w)
        want = evaluate(model, FaceParams(identity[None], weights[None], zeros3, zeros3)).vertices[0].numpy()
        got = _decode(glb, w)
        rest = np.setdiff1d(np.arange(model.num_vertices), eyes)
        np.testing.assert_allclose(got[rest], want[rest], atol=1e-5, rtol=0)
        if w[0] == 1.0:
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        else:
            assert np.abs(got[eyes] - want[eyes]).max() > 1e-3  # chord vs arc: the linearization shows


def test_glb_argument_errors(synthetic_model: MorphableModel) -> None:
    with pytest.raises(UsageError, match=r"identity: expected shape \(8,\), got \(7,\)"):
        glb_bytes(synthetic_model, torch.zeros(7))
    with pytest.raises(UsageError, match="expression_weights: contains NaN"):
        glb_bytes(synthetic_model, None, torch.full((6,), float("nan")))
    with pytest.raises(UsageError, match="texture: synthetic has no UV coordinates"):
        glb_bytes(synthetic_model, texture=np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(UsageError, match="model units 'inch'"):
        glb_bytes(dataclasses.replace(synthetic_model, units="inch"))
    glb = parse_glb(glb_bytes(dataclasses.replace(synthetic_model, units="inch"),
                              options=GlbOptions(scale_to_metres=0.0254)))
    assert glb.document["nodes"][0]["scale"] == [0.0254] * 3


def test_read_glb_rejects_bad_framing(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    data = glb_bytes(synthetic_model)
    cases = {
        "bad magic": b"gltf" + data[4:],
        "GLB version 1 is not supported": data[:4] + struct.pack("<I", 1) + data[8:],
        f"header says {len(data)} bytes, the file has {len(data) - 4}": data[:-4],
        "not a multiple of 4": data[:12] + struct.pack("<I", struct.unpack_from("<I", data, 12)[0] + 1) + data[16:],
        "too short": data[:10],
    }
    for message, bad in cases.items():
        (tmp_path / "x.glb").write_bytes(bad)
        with pytest.raises(InputError, match=message):
            read_glb(tmp_path / "x.glb")
    with pytest.raises(InputError, match="no such file"):
        read_glb(tmp_path / "none.glb")


@pytest.mark.ict
def test_ict_glb(tmp_path: Path, ict_model: MorphableModel) -> None:
    m = ict_model
    identity = torch.randn(m.num_identity, generator=torch.Generator().manual_seed(2)) * 0.7
    weights = torch.zeros(m.num_expression)
    for name, w in (("jawOpen", 0.7), ("eyeBlink_L", 1.0), ("eyeLookOut_R", 1.0), ("mouthSmile_L", 0.3)):
        weights[m.expression_index(name)] = w
    save_glb(tmp_path / "ict.glb", m, identity, weights)
    glb = _check_structure((tmp_path / "ict.glb").read_bytes(), 53)
    mesh = glb.document["meshes"][0]
    names = mesh["extras"]["targetNames"]
    assert names == list(m.expression_names) and len(names) == 53 and "jawOpen" in names
    assert mesh["weights"][names.index("jawOpen")] == 0.7 and mesh["weights"][names.index("eyeBlink_L")] == 1.0
    assert sum(w != 0 for w in mesh["weights"]) == 4
    # Model vertices first and in order; seam copies after them.
    extras = mesh["extras"]["faceforge"]
    assert extras["num_model_vertices"] == m.num_vertices and extras["eye_targets"] == "linearized"
    prim = mesh["primitives"][0]
    n_out = glb.document["accessors"][prim["attributes"]["POSITION"]]["count"]
    assert n_out == m.num_vertices + len(extras["seam_source_vertex"]) == m.uv.shape[0]  # ICT: one vertex per UV
    params = FaceParams(identity[None], weights[None], torch.zeros(1, 3), torch.zeros(1, 3))
    want = evaluate(m, params).vertices[0].numpy()
    source = np.concatenate([np.arange(m.num_vertices), extras["seam_source_vertex"]])
    np.testing.assert_allclose(_decode(glb), want[source], atol=2e-4, rtol=0)  # cm; float32 sums of 53 targets
    # One primitive; the eye shells are left out of it; COLOR_0 carries the group looks.
    assert len(mesh["primitives"]) == 1 and "COLOR_0" in prim["attributes"]
    kept = len(accessor_array(glb, prim["indices"])) // 3
    shells = sum(int((m.face_groups == m.group_names.index(n)).sum())
                 for n in ("M_LacrimalFluid", "M_EyeBlend", "M_EyeOcclusion"))
    assert kept == m.num_faces - shells


@pytest.mark.ict
def test_ict_glb_split_materials(ict_model: MorphableModel) -> None:
    tex = np.full((8, 8, 3), 200, np.uint8)
    data = glb_bytes(ict_model, texture=tex, options=GlbOptions(split_materials=True, normal_targets=False))
    glb = _check_structure(data, 53)
    doc = glb.document
    prims = doc["meshes"][0]["primitives"]
    assert [doc["materials"][p["material"]]["name"] for p in prims] == list(ict_model.group_names)
    assert all(p["attributes"] == prims[0]["attributes"] and p["targets"] == prims[0]["targets"] for p in prims)
    assert sum(len(accessor_array(glb, p["indices"])) for p in prims) == 3 * ict_model.num_faces
    by_name = {mat["name"]: mat for mat in doc["materials"]}
    assert by_name["M_EyeOcclusion"]["alphaMode"] == "BLEND"
    assert "baseColorTexture" in by_name["M_Face"]["pbrMetallicRoughness"]
    assert "baseColorTexture" not in by_name["M_Teeth"]["pbrMetallicRoughness"]
