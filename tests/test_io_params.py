"""Parameter files: JSON (schema 1) and NPZ round trips, validation messages."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from faceforge.errors import InputError, UsageError
from faceforge.io.params import (
    SCHEMA_VERSION,
    load_params_json,
    load_params_npz,
    params_from_dict,
    params_to_dict,
    read_model_name,
    save_params_json,
    save_params_npz,
)
from faceforge.morphable import MorphableModel
from faceforge.morphable.model import Skeleton
from faceforge.structures import Camera, FaceParams


def _random_params(model: MorphableModel, b: int, seed: int = 0) -> FaceParams:
    g = torch.Generator().manual_seed(seed)
    return FaceParams(
        identity=torch.randn(b, model.num_identity, generator=g),
        expression=torch.rand(b, model.num_expression, generator=g),
        rotation=torch.randn(b, 3, generator=g) * 0.3,
        translation=torch.randn(b, 3, generator=g) * 10,
    )


def _camera(b: int) -> Camera:
    g = torch.Generator().manual_seed(7)
    return Camera(
        focal=500 + torch.rand(b, 2, generator=g),
        principal=255.5 + torch.rand(b, 2, generator=g),
        rotation=torch.diag(torch.tensor([1.0, -1.0, -1.0])).expand(b, 3, 3).clone(),
        translation=torch.randn(b, 3, generator=g),
        width=512,
        height=480,
    )


def _skinned(model: MorphableModel) -> MorphableModel:
    v = model.num_vertices
    sk = Skeleton(
        joint_regressor=torch.full((3, v), 1.0 / v),
        parents=torch.tensor([-1, 0, 1]),
        skinning_weights=torch.tensor([1.0, 0.0, 0.0]).expand(v, 3).clone(),
        pose_basis=torch.zeros(18, v, 3),
        joint_names=("root", "neck", "jaw"),
    )
    return dataclasses.replace(model, name="skinned", skeleton=sk)


def _assert_params_equal(a: FaceParams, b: FaceParams) -> None:
    for name in ("identity", "expression", "rotation", "translation"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype == torch.float32
        assert torch.equal(x, y), name
    if a.joint_rotations is None:
        assert b.joint_rotations is None
    else:
        assert b.joint_rotations is not None and torch.equal(a.joint_rotations, b.joint_rotations)


def _assert_camera_equal(a: Camera, b: Camera) -> None:
    for name in ("focal", "principal", "rotation", "translation"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert (a.width, a.height, a.orthographic) == (b.width, b.height, b.orthographic)


def test_json_round_trip_is_exact(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    params, cam = _random_params(synthetic_model, 1), _camera(1)
    path = tmp_path / "p.json"
    save_params_json(path, params, synthetic_model, cam)
    rec = load_params_json(path, synthetic_model)
    _assert_params_equal(params, rec.params)
    assert rec.camera is not None
    _assert_camera_equal(cam, rec.camera)
    assert rec.model_name == "synthetic" and rec.timestamps_ms is None


def test_json_picks_the_batch_row(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    params, cam = _random_params(synthetic_model, 3), _camera(3)
    save_params_json(tmp_path / "p.json", params, synthetic_model, cam, index=2)
    rec = load_params_json(tmp_path / "p.json", synthetic_model)
    _assert_params_equal(params.select(2), rec.params)
    assert rec.camera is not None and torch.equal(rec.camera.focal, cam.focal[2:3])


def test_json_schema_layout(synthetic_model: MorphableModel) -> None:
    params = FaceParams.zeros(1, synthetic_model.num_identity, synthetic_model.num_expression)
    params.expression[0, synthetic_model.expression_index("jawOpen")] = 0.7
    d = params_to_dict(params, synthetic_model)
    assert list(d) == ["schema_version", "model", "identity", "expression", "rotation_axis_angle", "translation"]
    assert d["schema_version"] == SCHEMA_VERSION == 1
    assert list(d["expression"]) == list(synthetic_model.expression_names)
    # Shortest float32 decimal, not 0.699999988079071.
    assert d["expression"]["jawOpen"] == 0.7
    assert len(d["identity"]) == synthetic_model.num_identity


def test_json_reads_expressions_by_name(synthetic_model: MorphableModel) -> None:
    params = _random_params(synthetic_model, 1)
    d = params_to_dict(params, synthetic_model)
    d["expression"] = dict(reversed(list(d["expression"].items())))
    d["extra_provenance"] = {"tool": "test"}  # unknown top-level keys are ignored
    _assert_params_equal(params, params_from_dict(d, synthetic_model).params)


def test_json_float64_params_read_back_as_float32(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    p32 = _random_params(synthetic_model, 1)
    p64 = FaceParams(*(t.double() for t in (p32.identity, p32.expression, p32.rotation, p32.translation)))
    save_params_json(tmp_path / "p.json", p64, synthetic_model)
    _assert_params_equal(p32, load_params_json(tmp_path / "p.json", synthetic_model).params)


def test_json_camera_defaults(synthetic_model: MorphableModel) -> None:
    d = params_to_dict(_random_params(synthetic_model, 1), synthetic_model)
    d["camera"] = {"fx": 100, "fy": 110, "cx": 5.5, "cy": 6.5, "width": 12, "height": 14}
    cam = params_from_dict(d, synthetic_model).camera
    assert cam is not None
    assert torch.equal(cam.rotation[0], torch.eye(3)) and torch.equal(cam.translation[0], torch.zeros(3))
    assert cam.focal.tolist() == [[100.0, 110.0]] and (cam.width, cam.height, cam.orthographic) == (12, 14, False)


def test_joint_rotations_round_trip(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    model = _skinned(synthetic_model)
    p = _random_params(model, 2)
    p = FaceParams(p.identity, p.expression, p.rotation, p.translation, torch.randn(2, 2, 3))
    save_params_json(tmp_path / "p.json", p, model, index=1)
    _assert_params_equal(p.select(1), load_params_json(tmp_path / "p.json", model).params)
    save_params_npz(tmp_path / "p.npz", p, model)
    _assert_params_equal(p, load_params_npz(tmp_path / "p.npz", model).params)
    d = params_to_dict(p, model)
    d["model"] = "synthetic"
    with pytest.raises(InputError, match="joint_rotations given but synthetic has no joints"):
        params_from_dict(d, synthetic_model)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("schema_version"), "no schema_version"),
        (lambda d: d.update(schema_version=2), "schema_version 2 is not supported"),
        (lambda d: d.update(schema_version="1"), "schema_version '1' is not supported"),
        (lambda d: d.update(model="ict-facekit"), "parameters are for model 'ict-facekit', not 'synthetic'"),
        (lambda d: d["expression"].pop("jawOpen"), "missing expression names for synthetic: jawOpen"),
        (lambda d: d["expression"].update(mouthFunnel=0.1), "unknown expression names for synthetic: mouthFunnel"),
        (lambda d: d.update(identity=d["identity"][:-1]), "identity must hold 8 numbers, got shape 7"),
        (lambda d: d.update(translation=[1, 2]), "translation must hold 3 numbers, got shape 2"),
        (lambda d: d.update(rotation_axis_angle=[0, True, 0]), "rotation_axis_angle must be a list of numbers"),
        (lambda d: d.update(identity="abc"), "identity must be a list of numbers"),
        (lambda d: d.update(expression=[0.0] * 6), "expression must be an object"),
        (lambda d: d.pop("translation"), "missing key 'translation'"),
        (lambda d: d.update(camera={"fx": 1, "fy": 1, "cx": 0, "cy": 0, "width": 0, "height": 4}),
         "camera.width must be a positive integer, got 0"),
        (lambda d: d.update(camera={"fx": 1, "fy": 1, "cx": 0, "width": 4, "height": 4}), "camera: missing key 'cy'"),
    ],
)
def test_json_validation(edit, message: str, synthetic_model: MorphableModel) -> None:  # noqa: ANN001
    d = params_to_dict(_random_params(synthetic_model, 1), synthetic_model)
    edit(d)
    with pytest.raises(InputError, match=message):
        params_from_dict(d, synthetic_model, source="p.json")


def test_json_file_errors(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_params_json(tmp_path / "missing.json", synthetic_model)
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1,')
    with pytest.raises(InputError, match="invalid JSON"):
        load_params_json(bad, synthetic_model)
    d = params_to_dict(_random_params(synthetic_model, 1), synthetic_model)
    text = json.dumps(d).replace(str(d["identity"][0]), "NaN", 1)
    bad.write_text(text)
    with pytest.raises(InputError, match="non-finite number NaN"):
        load_params_json(bad, synthetic_model)


def test_save_validation(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    p = _random_params(synthetic_model, 2)
    with pytest.raises(UsageError, match="index: 2 is outside the batch of 2"):
        params_to_dict(p, synthetic_model, index=2)
    wrong = FaceParams.zeros(1, 5, synthetic_model.num_expression)
    with pytest.raises(UsageError, match="identity: synthetic has 8 components, got 5"):
        save_params_json(tmp_path / "p.json", wrong, synthetic_model)
    nan = FaceParams(p.identity, p.expression, p.rotation.clone().fill_(float("nan")), p.translation)
    with pytest.raises(UsageError, match="rotation: contains NaN"):
        save_params_npz(tmp_path / "p.npz", nan, synthetic_model)
    with pytest.raises(UsageError, match="camera: batch 3 for parameters with batch 2"):
        save_params_npz(tmp_path / "p.npz", p, synthetic_model, camera=_camera(3))
    assert sorted(x.name for x in tmp_path.iterdir()) == []  # nothing written, no temporaries left


def test_npz_round_trip_is_exact(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    p, cam = _random_params(synthetic_model, 3), _camera(3)
    ts = torch.tensor([0.0, 33.366, 66.733], dtype=torch.float64)
    save_params_npz(tmp_path / "p.npz", p, synthetic_model, camera=cam, timestamps_ms=ts)
    rec = load_params_npz(tmp_path / "p.npz", synthetic_model)
    _assert_params_equal(p, rec.params)
    assert rec.camera is not None
    _assert_camera_equal(cam, rec.camera)
    assert rec.timestamps_ms is not None and torch.equal(rec.timestamps_ms, ts)
    assert read_model_name(tmp_path / "p.npz") == "synthetic"


def test_npz_camera_batch_one_is_repeated(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    p, cam = _random_params(synthetic_model, 3), _camera(1)
    save_params_npz(tmp_path / "p.npz", p, synthetic_model, camera=cam)
    rec = load_params_npz(tmp_path / "p.npz", synthetic_model)
    assert rec.camera is not None and rec.camera.batch_size == 3
    assert torch.equal(rec.camera.focal, cam.focal.expand(3, 2)) and rec.timestamps_ms is None


def test_npz_columns_are_matched_by_name(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    p = _random_params(synthetic_model, 2)
    names = list(synthetic_model.expression_names)
    perm = [3, 0, 5, 1, 4, 2]
    np.savez(
        tmp_path / "p.npz", schema_version=np.array(1), model=np.array("synthetic"), identity=p.identity.numpy(),
        expression=p.expression.numpy()[:, perm], expression_names=np.array([names[i] for i in perm]),
        rotation=p.rotation.numpy(), translation=p.translation.numpy(),
    )
    _assert_params_equal(p, load_params_npz(tmp_path / "p.npz", synthetic_model).params)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": np.array("flame")}, "parameters are for model 'flame', not 'synthetic'"),
        ({"schema_version": np.array(3)}, "schema_version 3 is not supported"),
        ({"expression_names": np.array(["a", "b", "c", "d", "e", "f"])}, "unknown expression names"),
        ({"rotation": np.zeros((2, 4), np.float32)}, r"rotation: expected a numeric array of shape \(2, 3\)"),
        ({"identity": np.zeros((2, 7), np.float32)}, r"identity: expected a numeric array of shape \(B, 8\)"),
    ],
)
def test_npz_validation(tmp_path: Path, synthetic_model: MorphableModel, change: dict, message: str) -> None:
    p = _random_params(synthetic_model, 2)
    save_params_npz(tmp_path / "p.npz", p, synthetic_model)
    with np.load(tmp_path / "p.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(change)
    np.savez(tmp_path / "q.npz", **arrays)
    with pytest.raises(InputError, match=message):
        load_params_npz(tmp_path / "q.npz", synthetic_model)


def test_npz_unreadable(tmp_path: Path, synthetic_model: MorphableModel) -> None:
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="not a readable NPZ file"):
        load_params_npz(tmp_path / "x.npz", synthetic_model)
    np.savez(tmp_path / "y.npz", identity=np.zeros((1, 8)))
    with pytest.raises(InputError, match="missing array 'schema_version'"):
        load_params_npz(tmp_path / "y.npz", synthetic_model)


@pytest.mark.ict
def test_ict_json_round_trip(tmp_path: Path, ict_model: MorphableModel) -> None:
    p = _random_params(ict_model, 1)
    save_params_json(tmp_path / "p.json", p, ict_model, _camera(1))
    d = json.loads((tmp_path / "p.json").read_text())
    assert d["model"] == "ict-facekit" and len(d["identity"]) == 100 and len(d["expression"]) == 53
    assert list(d["expression"])[:2] == ["browDown_L", "browDown_R"]
    _assert_params_equal(p, load_params_json(tmp_path / "p.json", ict_model).params)
    with pytest.raises(InputError, match="parameters are for model 'ict-facekit', not 'synthetic'"):
        params_from_dict(d, dataclasses.replace(ict_model, name="synthetic"))
