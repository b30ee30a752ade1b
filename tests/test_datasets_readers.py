"""AFLW2000-3D .mat reader, ground-truth mesh and 3D landmark readers (files written by the tests themselves)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from faceforge.datasets.aflw2000 import list_aflw2000, read_aflw2000
from faceforge.datasets.meshes import read_landmarks_3d, read_mesh
from faceforge.errors import InputError
from faceforge.io.mesh import save_obj, save_ply


def _mat(path, **overrides) -> dict:
    rng = np.random.default_rng(0)
    data = {
        "pt3d_68": rng.uniform(0, 450, (3, 68)),
        "Pose_Para": np.array([[0.0857, -0.0956, 0.0759, 220.4, 167.4, -100.5, 0.00126]]),
        "pt2d": np.c_[rng.uniform(0, 450, (2, 20)), [[-1.0], [-1.0]]],
        "Shape_Para": rng.normal(size=(199, 1)),
        "Exp_Para": rng.normal(size=(29, 1)),
    }
    data.update(overrides)
    scipy.io.savemat(str(path), {k: v for k, v in data.items() if v is not None})
    return data


def test_aflw2000_round_trip(tmp_path) -> None:
    data = _mat(tmp_path / "image00002.mat")
    a = read_aflw2000(tmp_path / "image00002.mat")
    np.testing.assert_array_equal(a.landmarks_3d, data["pt3d_68"].T)
    np.testing.assert_array_equal(a.landmarks_68_px, data["pt3d_68"][:2].T)
    assert (a.pitch_rad, a.yaw_rad, a.roll_rad) == (0.0857, -0.0956, 0.0759)
    np.testing.assert_array_equal(a.translation, [220.4, 167.4, -100.5])
    assert a.scale == 0.00126
    assert a.landmarks_21_px.shape == (21, 2) and np.isnan(a.landmarks_21_px[20]).all()
    np.testing.assert_array_equal(a.landmarks_21_px[:20], data["pt2d"][:, :20].T)
    assert a.shape_params.shape == (199,) and a.expression_params.shape == (29,)
    (tmp_path / "image00002.jpg").write_bytes(b"")
    (tmp_path / "orphan.mat").write_bytes(b"")
    assert list_aflw2000(tmp_path) == [(tmp_path / "image00002.jpg", tmp_path / "image00002.mat")]


def test_aflw2000_optional_keys_and_refusals(tmp_path) -> None:
    _mat(tmp_path / "a.mat", pt2d=None, Shape_Para=None, Exp_Para=None)
    a = read_aflw2000(tmp_path / "a.mat")
    assert a.landmarks_21_px is None and a.shape_params is None and a.expression_params is None
    _mat(tmp_path / "b.mat", Pose_Para=None)
    with pytest.raises(InputError, match="no 'Pose_Para'"):
        read_aflw2000(tmp_path / "b.mat")
    _mat(tmp_path / "c.mat", pt3d_68=np.zeros((3, 21)))
    with pytest.raises(InputError, match=r"pt3d_68 has shape \(3, 21\), expected \(3, 68\)"):
        read_aflw2000(tmp_path / "c.mat")
    _mat(tmp_path / "d.mat", pt3d_68=np.full((3, 68), np.nan))
    with pytest.raises(InputError, match="NaN"):
        read_aflw2000(tmp_path / "d.mat")
    (tmp_path / "e.mat").write_text("not matlab")
    with pytest.raises(InputError, match="cannot read MATLAB file"):
        read_aflw2000(tmp_path / "e.mat")
    with pytest.raises(InputError, match="no such file"):
        read_aflw2000(tmp_path / "missing.mat")
    with pytest.raises(InputError, match="not a folder"):
        list_aflw2000(tmp_path / "nope")


def test_mesh_and_landmark_readers(tmp_path) -> None:
    v = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    f = np.array([[0, 2, 1], [0, 1, 3]])
    save_obj(tmp_path / "m.obj", v, f)
    save_ply(tmp_path / "m.ply", v, f)
    for name in ("m.obj", "m.ply"):
        m = read_mesh(tmp_path / name)
        np.testing.assert_array_equal(m.vertices, v)
        np.testing.assert_array_equal(m.faces, f)
    with pytest.raises(InputError, match="expected a mesh file"):
        read_mesh(tmp_path / "m.stl")
    (tmp_path / "l.txt").write_text("# x y z\n0 0 0\n1, 2, 3\n4 5 6  # the chin\n")
    np.testing.assert_array_equal(read_landmarks_3d(tmp_path / "l.txt"), [[0, 0, 0], [1, 2, 3], [4, 5, 6]])
    (tmp_path / "l.json").write_text("[[0, 0, 0], [1, 2, 3], [4, 5, 6.5]]")
    assert read_landmarks_3d(tmp_path / "l.json")[2, 2] == 6.5
    (tmp_path / "bad.txt").write_text("0 0\n1 1\n2 2\n")
    with pytest.raises(InputError, match="at least 3 rows of x y z"):
        read_landmarks_3d(tmp_path / "bad.txt")
    (tmp_path / "word.txt").write_text("a b c\n")
    with pytest.raises(InputError, match="not a list of x y z rows"):
        read_landmarks_3d(tmp_path / "word.txt")
