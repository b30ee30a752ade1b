"""``faceforge export``: parameter file -> GLB / OBJ / PLY, in process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceforge.cli import main
from faceforge.io.glb import accessor_array, read_glb
from faceforge.io.mesh import load_obj, load_ply
from faceforge.io.params import save_params_json, save_params_npz
from faceforge.morphable import MorphableModel, evaluate
from faceforge.structures import FaceParams


def _params(model: MorphableModel, b: int = 1) -> FaceParams:
    g = torch.Generator().manual_seed(11)
    expression = torch.zeros(b, model.num_expression)
    expression[:, model.expression_index("jawOpen")] = 0.7
    expression[:, model.expression_index("eyeBlink_L")] = 1.0
    return FaceParams(
        identity=torch.randn(b, model.num_identity, generator=g),
        expression=expression,
        rotation=torch.tensor([[0.1, 0.4, -0.05]]).expand(b, 3).clone(),
        translation=torch.tensor([[1.0, -2.0, 50.0]]).expand(b, 3).clone(),
    )


def _unposed(params: FaceParams, neutral: bool = False) -> FaceParams:
    zeros = torch.zeros_like(params.rotation)
    expr = torch.zeros_like(params.expression) if neutral else params.expression
    return FaceParams(params.identity, expr, zeros, zeros)


@pytest.fixture()
def params_file(tmp_path: Path, synthetic_model: MorphableModel) -> Path:
    path = tmp_path / "face.json"
    save_params_json(path, _params(synthetic_model), synthetic_model)
    return path


def test_export_obj_and_ply(tmp_path: Path, params_file: Path, synthetic_model: MorphableModel) -> None:
    params = _params(synthetic_model)
    assert main(["export", str(params_file), "-o", str(tmp_path / "f.obj")]) == 0
    want = evaluate(synthetic_model, _unposed(params)).vertices[0].numpy()
    obj = load_obj(tmp_path / "f.obj")
    assert np.array_equal(obj.vertices, want) and np.array_equal(obj.faces, synthetic_model.faces.numpy())
    assert obj.normals is not None
    assert main(["export", str(params_file), "-o", str(tmp_path / "f.ply"), "--posed"]) == 0
    posed = evaluate(synthetic_model, params).vertices[0].numpy()
    assert np.array_equal(load_ply(tmp_path / "f.ply").vertices, posed)
    assert main(["export", str(params_file), "-o", str(tmp_path / "n.ply"), "--neutral"]) == 0
    neutral = evaluate(synthetic_model, _unposed(params, neutral=True)).vertices[0].numpy()
    assert np.array_equal(load_ply(tmp_path / "n.ply").vertices, neutral)


def test_export_glb(tmp_path: Path, params_file: Path, synthetic_model: MorphableModel) -> None:
    assert main(["export", str(params_file), "-o", str(tmp_path / "f.glb")]) == 0
    glb = read_glb(tmp_path / "f.glb")
    mesh = glb.document["meshes"][0]
    names = mesh["extras"]["targetNames"]
    assert names == list(synthetic_model.expression_names)
    assert mesh["weights"][names.index("jawOpen")] == 0.7 and mesh["weights"][names.index("eyeBlink_L")] == 1.0
    assert "rotation" not in glb.document["nodes"][0]
    prim = mesh["primitives"][0]
    pos = accessor_array(glb, prim["attributes"]["POSITION"]).astype(np.float64)
    for w, t in zip(mesh["weights"], prim["targets"], strict=True):
        pos += w * accessor_array(glb, t["POSITION"])
    want = evaluate(synthetic_model, _unposed(_params(synthetic_model))).vertices[0].numpy()
    np.testing.assert_allclose(pos, want, atol=1e-5, rtol=0)
    assert main(["export", str(params_file), "-o", str(tmp_path / "n.glb"), "--neutral", "--posed",
                 "--no-normal-targets"]) == 0
    doc = read_glb(tmp_path / "n.glb").document
    assert doc["meshes"][0]["weights"] == [0.0] * 6 and "rotation" in doc["nodes"][0]
    assert set(doc["meshes"][0]["primitives"][0]["targets"][0]) == {"POSITION"}


def test_export_npz_frame(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    params = _params(synthetic_model, 3)
    params.expression[2, 0] = 0.5
    save_params_npz(tmp_path / "t.npz", params, synthetic_model)
    assert main(["export", str(tmp_path / "t.npz"), "--frame", "2", "-o", str(tmp_path / "f.ply")]) == 0
    want = evaluate(synthetic_model, _unposed(params.select(2))).vertices[0].numpy()
    assert np.array_equal(load_ply(tmp_path / "f.ply").vertices, want)
    assert main(["export", str(tmp_path / "t.npz"), "--frame", "3", "-o", str(tmp_path / "g.ply")]) == 2


def test_export_errors(tmp_path: Path, params_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(params_file), "-o", str(tmp_path / "f.stl")]) == 2
    assert "unknown format .stl" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "none.json"), "-o", str(tmp_path / "f.obj")]) == 3
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(params_file.read_text().replace('"jawOpen"', '"jawOpenn"'))
    assert main(["export", str(bad), "-o", str(tmp_path / "f.obj")]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown expression names for synthetic: jawOpenn" in err
    assert main(["export", str(params_file), "-o", str(tmp_path / "f.ply"), "--texture", str(params_file)]) == 3
    assert "not a readable image" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "face.json"]


@pytest.mark.ict
def test_export_ict_glb_and_obj(tmp_path: Path, ict_model: MorphableModel) -> None:
    path = tmp_path / "ict.json"
    save_params_json(path, _params(ict_model), ict_model)
    Image.fromarray(np.full((16, 16, 3), 180, np.uint8)).save(tmp_path / "tex.png")
    assert main(["export", str(path), "-o", str(tmp_path / "ict.glb")]) == 0
    mesh = read_glb(tmp_path / "ict.glb").document["meshes"][0]
    names = mesh["extras"]["targetNames"]
    assert len(names) == 53 and mesh["weights"][names.index("jawOpen")] == 0.7
    assert mesh["weights"][names.index("eyeBlink_L")] == 1.0
    assert main(["export", str(path), "-o", str(tmp_path / "ict.obj"), "--texture", str(tmp_path / "tex.png")]) == 0
    obj = load_obj(tmp_path / "ict.obj")
    want = evaluate(ict_model, _unposed(_params(ict_model))).vertices[0].numpy()
    assert np.array_equal(obj.vertices, want) and obj.texture_path == (tmp_path / "ict.png").resolve()
