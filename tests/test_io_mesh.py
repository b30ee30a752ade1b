"""OBJ (+ MTL + PNG) and PLY: exact round trips, polygon splitting, no vertex merging, atomic outputs."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceforge.errors import InputError, UsageError
from faceforge.geometry import vertex_normals
from faceforge.io.mesh import load_obj, load_ply, save_obj, save_ply
from faceforge.morphable import MorphableModel


def _mesh(model: MorphableModel) -> tuple[np.ndarray, np.ndarray]:
    g = torch.Generator().manual_seed(3)
    verts = model.template + 0.01 * torch.randn(model.template.shape, generator=g)
    return verts.numpy(), model.faces.numpy()


def _uv(faces: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """UVs with a seam: one UV per vertex, except the first 10 faces, which use their own copies."""
    rng = np.random.default_rng(0)
    uv = rng.random((num_vertices + 30, 2)).astype(np.float32)
    uv_faces = faces.copy()
    uv_faces[:10] = num_vertices + np.arange(30).reshape(10, 3)
    return uv, uv_faces


def test_obj_round_trip_is_exact(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    v, f = _mesh(synthetic_model)
    save_obj(tmp_path / "m.obj", v, f)
    m = load_obj(tmp_path / "m.obj")
    assert m.vertices.dtype == np.float32 and m.faces.dtype == np.int64
    assert np.array_equal(m.vertices, v) and np.array_equal(m.faces, f)
    assert m.uv is None and m.uv_faces is None and m.normals is None and m.texture_path is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.obj"]


def test_obj_with_uv_texture_and_normals(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    v, f = _mesh(synthetic_model)
    uv, uvf = _uv(f, len(v))
    normals = vertex_normals(torch.from_numpy(v)[None], torch.from_numpy(f))[0]
    tex = np.random.default_rng(1).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    save_obj(tmp_path / "face.obj", torch.from_numpy(v), f, uv=uv, uv_faces=uvf, texture=tex, normals=normals)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.mtl", "face.obj", "face.png"]
    text = (tmp_path / "face.obj").read_text()
    assert "mtllib face.mtl\n" in text and "usemtl material0\n" in text
    assert "map_Kd face.png" in (tmp_path / "face.mtl").read_text()
    m = load_obj(tmp_path / "face.obj")
    assert np.array_equal(m.vertices, v) and np.array_equal(m.faces, f)
    assert m.uv is not None and np.array_equal(m.uv, uv) and np.array_equal(m.uv_faces, uvf)
    assert m.normals is not None and np.array_equal(m.normals, normals.numpy())
    assert np.array_equal(m.normal_faces, f)
    assert m.texture_path == (tmp_path / "face.png").resolve()
    assert np.array_equal(np.asarray(Image.open(m.texture_path)), tex)
    mesh = m.to_mesh()
    assert mesh.vertices.shape == (1, len(v), 3) and torch.equal(mesh.uv_faces, torch.from_numpy(uvf))


def test_obj_polygons_negative_indices_and_no_merging(tmp_path: Path) -> None:
    # Two coincident vertices (0 and 4) must stay two vertices; a quad and a pentagon are fan-split.
    (tmp_path / "p.obj").write_text(
        "# test\no thing\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 0\nv 2 0 0 0.5 0.5 0.5\n"
        "vt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nvt 0.5 0.5\n"
        "g quad\nf 1/1 2/2 3/3 4/4\ns off\nf -2/-1 -5/-4 -4/-3 -3/-2 -1/-5\n"
    )
    m = load_obj(tmp_path / "p.obj")
    assert m.vertices.shape == (6, 3)
    assert m.faces.tolist() == [[0, 1, 2], [0, 2, 3], [4, 1, 2], [4, 2, 3], [4, 3, 5]]
    assert m.uv_faces is not None and m.uv_faces.tolist() == [[0, 1, 2], [0, 2, 3], [4, 1, 2], [4, 2, 3], [4, 3, 0]]


def test_obj_normal_only_corners(tmp_path: Path) -> None:
    (tmp_path / "n.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvn 0 0 1\nf 1//1 2//1 3//1\n")
    m = load_obj(tmp_path / "n.obj")
    assert m.uv is None and m.normal_faces is not None and m.normal_faces.tolist() == [[0, 0, 0]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n", "refers to vertex 4 but the file has 3"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2 3\n", "mixes corners with and without"),
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nf 1/1 2/1 3/1\nf 1 2 3\n", "some faces have texture/normal"),
        ("v 0 0\n", r"p.obj:1: a vertex needs 3 coordinates"),
        ("v 0 0 x\n", "malformed v line"),
        ("v 0 0 0\nf 1 a 1\n", "malformed face corner 'a'"),
    ],
)
def test_obj_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "p.obj").write_text(text)
    with pytest.raises(InputError, match=message):
        load_obj(tmp_path / "p.obj")


def test_obj_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_obj(tmp_path / "none.obj")


def test_save_obj_validation_writes_nothing(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    v, f = _mesh(synthetic_model)
    uv, uvf = _uv(f, len(v))
    with pytest.raises(UsageError, match=r"texture: expected \(H, W, 3\) or \(H, W, 4\) uint8, got float64"):
        save_obj(tmp_path / "m.obj", v, f, uv=uv, uv_faces=uvf, texture=np.zeros((4, 4, 3)))
    with pytest.raises(UsageError, match="a texture needs uv and uv_faces"):
        save_obj(tmp_path / "m.obj", v, f, texture=np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(UsageError, match=r"faces: indices must be in \[0, 3\)"):
        save_obj(tmp_path / "m.obj", v[:3], f)
    with pytest.raises(UsageError, match=r"vertices: expected shape \(\?, 3\), got \(5, 2\)"):
        save_obj(tmp_path / "m.obj", np.zeros((5, 2)), f)
    bad = v.copy()
    bad[0, 0] = np.inf
    with pytest.raises(UsageError, match="vertices: contains NaN or infinite"):
        save_obj(tmp_path / "m.obj", bad, f)
    with pytest.raises(UsageError, match="does not exist"):
        save_obj(tmp_path / "nowhere" / "m.obj", v, f)
    assert list(tmp_path.iterdir()) == []


def test_obj_overwrite_is_atomic(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    v, f = _mesh(synthetic_model)
    save_obj(tmp_path / "m.obj", v, f)
    save_obj(tmp_path / "m.obj", v * 2, f)
    assert np.array_equal(load_obj(tmp_path / "m.obj").vertices, (v * 2).astype(np.float32))
    assert [p.name for p in tmp_path.iterdir()] == ["m.obj"]  # no temporaries left


def test_ply_round_trip_is_exact(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    v, f = _mesh(synthetic_model)
    colors = np.random.default_rng(2).integers(0, 256, (len(v), 3), dtype=np.uint8)
    normals = vertex_normals(torch.from_numpy(v)[None], torch.from_numpy(f))[0].numpy()
    save_ply(tmp_path / "m.ply", v, f, colors=colors, normals=normals)
    data = (tmp_path / "m.ply").read_bytes()
    assert data.startswith(b"ply\nformat binary_little_endian 1.0\n")
    m = load_ply(tmp_path / "m.ply")
    assert np.array_equal(m.vertices, v) and np.array_equal(m.faces, f)
    assert m.colors is not None and np.array_equal(m.colors, colors)
    assert m.normals is not None and np.array_equal(m.normals, normals)
    save_ply(tmp_path / "plain.ply", torch.from_numpy(v), torch.from_numpy(f))
    m = load_ply(tmp_path / "plain.ply")
    assert np.array_equal(m.vertices, v) and m.colors is None and m.normals is None
    header_len = (tmp_path / "plain.ply").read_bytes().index(b"end_header\n") + len(b"end_header\n")
    assert (tmp_path / "plain.ply").stat().st_size == header_len + 12 * len(v) + 13 * len(f)


def test_ply_ascii_polygons(tmp_path: Path) -> None:
    (tmp_path / "a.ply").write_text(
        "ply\nformat ascii 1.0\ncomment hand made\nelement vertex 5\nproperty float x\nproperty float y\n"
        "property float z\nproperty uchar red\nproperty uchar green\nproperty uchar blue\n"
        "element face 2\nproperty list uchar int vertex_index\nend_header\n"
        "0 0 0 255 0 0\n1 0 0 0 255 0\n1 1 0 0 0 255\n0 1 0 1 2 3\n0 0 0 4 5 6\n4 0 1 2 3\n3 4 1 2\n"
    )
    m = load_ply(tmp_path / "a.ply")
    assert m.vertices.shape == (5, 3) and m.faces.tolist() == [[0, 1, 2], [0, 2, 3], [4, 1, 2]]
    assert m.colors is not None and m.colors[3].tolist() == [1, 2, 3]


def test_ply_big_endian_with_extra_properties(tmp_path: Path) -> None:
    header = (
        b"ply\nformat binary_big_endian 1.0\nelement vertex 4\nproperty double x\nproperty double y\n"
        b"property double z\nproperty float quality\nelement face 2\nproperty list uchar uint vertex_indices\n"
        b"property uchar flags\nend_header\n"
    )
    verts = [(0.5, 0, 0), (1, 0, 0), (1, 1, 0.25), (0, 1, 0)]
    body = b"".join(struct.pack(">dddf", *p, 1.0) for p in verts)
    body += struct.pack(">BIIIIB", 4, 0, 1, 2, 3, 7) + struct.pack(">BIIIB", 3, 3, 2, 1, 0)
    (tmp_path / "b.ply").write_bytes(header + body)
    m = load_ply(tmp_path / "b.ply")
    assert m.vertices.tolist() == [[0.5, 0, 0], [1, 0, 0], [1, 1, 0.25], [0, 1, 0]]
    assert m.faces.tolist() == [[0, 1, 2], [0, 2, 3], [3, 2, 1]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"solid stl", "not a PLY file"),
        (b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\n", "no end_header"),
        (b"ply\nformat binary_little_endian 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
         b"property float z\nend_header\n" + b"\0" * 30, "truncated PLY data in element 'vertex'"),
        (b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty quaternion x\nend_header\n",
         "malformed PLY header line 'property quaternion x'"),
        (b"ply\nformat binary_middle_endian 1.0\nend_header\n", "unsupported PLY format"),
        (b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float y\nend_header\n1\n", "no vertex element with x"),
        (b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\n"
         b"element face 1\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n3 0 1 2\n",
         "face indices out of range for 1 vertices"),
    ],
)
def test_ply_errors(tmp_path: Path, data: bytes, message: str) -> None:
    (tmp_path / "x.ply").write_bytes(data)
    with pytest.raises(InputError, match=message):
        load_ply(tmp_path / "x.ply")


@pytest.mark.ict
def test_ict_obj_and_ply_round_trip(tmp_path: Path, ict_model: MorphableModel) -> None:
    v, f = ict_model.template.numpy(), ict_model.faces.numpy()
    uv, uvf = ict_model.uv.numpy(), ict_model.uv_faces.numpy()
    save_obj(tmp_path / "ict.obj", v, f, uv=uv, uv_faces=uvf)
    m = load_obj(tmp_path / "ict.obj")
    assert np.array_equal(m.vertices, v) and np.array_equal(m.faces, f)
    assert np.array_equal(m.uv, uv) and np.array_equal(m.uv_faces, uvf)
    save_ply(tmp_path / "ict.ply", v, f)
    m = load_ply(tmp_path / "ict.ply")
    assert np.array_equal(m.vertices, v) and np.array_equal(m.faces, f)
