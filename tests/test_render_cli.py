"""``faceforge render``: every kind of output, turntables, camera files, errors; and the real ICT head's orientation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceforge.camera import front_camera, project
from faceforge.cli import main
from faceforge.io.params import save_params_json
from faceforge.morphable import MorphableModel, evaluate
from faceforge.render import ncc_colors
from faceforge.render.pipeline import RenderOptions, default_camera, render_model
from faceforge.structures import FaceParams


@pytest.fixture()
def params_file(synthetic_model: MorphableModel, tmp_path: Path) -> Path:
    path = tmp_path / "face.json"
    params = FaceParams.zeros(1, synthetic_model.num_identity, synthetic_model.num_expression)
    save_params_json(path, params, synthetic_model)
    return path


@pytest.mark.parametrize("what", ["shaded", "normal", "depth", "mask", "segmentation", "uv", "pncc"])
def test_render_writes_each_kind(params_file: Path, tmp_path: Path, what: str) -> None:
    out = tmp_path / f"{what}.png"
    code = main(["render", str(params_file), "--what", what, "--size", "40", "30", "-o", str(out)])
    if what == "uv":  # the synthetic model has no UVs
        assert code == 2 and not out.exists()
        return
    assert code == 0
    image = np.asarray(Image.open(out))
    assert image.shape[:2] == (30, 40) and image.dtype == np.uint8
    npy = out.with_suffix(".npy")
    assert npy.exists() == (what in ("normal", "depth", "segmentation"))
    if what == "normal":
        n = np.load(npy)
        covered = np.linalg.norm(n, axis=-1) > 0
        assert n.shape == (30, 40, 3) and n.dtype == np.float32 and covered.sum() > 100
        np.testing.assert_allclose(np.linalg.norm(n[covered], axis=-1), 1.0, atol=1e-5)
        assert n[15, 20, 2] < -0.9  # camera frame: the surface at the image centre faces the camera (-z)
        assert np.abs(image[15, 20].astype(int) - [128, 128, 255]).max() <= 16  # light blue in the PNG
    if what == "depth":
        d = np.load(npy)
        assert np.isinf(d[0, 0]) and 40.0 < d[15, 20] < 60.0
    if what == "segmentation":
        legend = json.loads(out.with_suffix(".labels.json").read_text())
        assert legend["0"] == "background" and legend["1"] == "other" and "eyes" in legend.values()
        labels = np.load(npy)
        assert labels.dtype == np.uint8 and labels[0, 0] == 0 and set(np.unique(labels)) <= {0, 1, 2}
    if what == "mask":
        assert set(np.unique(image)) == {0, 255}


def test_turntable_and_file_camera(params_file: Path, synthetic_model: MorphableModel, tmp_path: Path) -> None:
    out = tmp_path / "spin.png"
    assert main(["render", str(params_file), "--what", "mask", "--size", "24", "24", "--turntable", "3",
                 "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.glob("spin_*.png")) == ["spin_000.png", "spin_001.png", "spin_002.png"]
    # A file with a camera: the head 60 cm in front of an identity camera, turned to face it.
    with_cam = tmp_path / "cam.json"
    params = FaceParams(torch.zeros(1, synthetic_model.num_identity), torch.zeros(1, synthetic_model.num_expression),
                        torch.tensor([[np.pi, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 60.0]]))
    cam = front_camera(60.0, 100.0, 32, 32)
    cam = type(cam)(cam.focal, cam.principal, torch.eye(3)[None], torch.zeros(1, 3), 32, 32)
    save_params_json(with_cam, params, synthetic_model, camera=cam)
    assert main(["render", str(with_cam), "--what", "mask", "-o", str(tmp_path / "a.png")]) == 0
    assert main(["render", str(with_cam), "--what", "mask", "--size", "64", "64", "-o", str(tmp_path / "b.png")]) == 0
    a, b = np.asarray(Image.open(tmp_path / "a.png")), np.asarray(Image.open(tmp_path / "b.png"))
    assert a.shape[:2] == (32, 32) and b.shape[:2] == (64, 64)
    assert abs((a > 0).mean() - (b > 0).mean()) < 0.03  # the same view at twice the resolution


def test_render_errors(params_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(params_file), "-o", str(tmp_path / "x.jpg")]) == 2
    assert "expected a .png file name" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "missing.json"), "-o", str(tmp_path / "x.png")]) == 3
    assert main(["render", str(params_file), "--size", "0", "10", "-o", str(tmp_path / "x.png")]) == 2
    assert main(["render", str(params_file), "-o", str(tmp_path / "no" / "x.png")]) == 2
    texture_on_mask = ["--what", "mask", "--texture", "t.png", "-o", str(tmp_path / "x.png")]
    assert main(["render", str(params_file), *texture_on_mask]) == 2
    texture = tmp_path / "skin.png"
    Image.fromarray(np.full((8, 8, 3), 200, np.uint8)).save(texture)
    assert main(["render", str(params_file), "--texture", str(texture), "-o", str(tmp_path / "x.png")]) == 2
    assert "a texture needs a model with UV coordinates" in capsys.readouterr().err
    assert not list(tmp_path.glob("x*"))


@pytest.mark.ict
def test_ict_renders_face_the_camera_upright(ict_model: MorphableModel) -> None:
    params = FaceParams.zeros(1, ict_model.num_identity, ict_model.num_expression)
    mesh = evaluate(ict_model, params)
    cam = default_camera(ict_model, mesh, 96, 96)
    lm = project(mesh.vertices[:, ict_model.landmark_indices], cam)[0]
    assert lm[8, 1] > lm[30, 1] > lm[27, 1]  # chin below the nose tip below the nose bridge: upright
    assert lm[45, 0] > lm[36, 0]  # the subject's left eye corner (45) is on the image right in a front view
    nose = lm[30].round().long()
    normal = render_model(ict_model, params, cam, RenderOptions(what="normal"))
    n = normal.data[0, nose[1], nose[0]]
    assert float(n[2]) < -0.8 and tuple(normal.image[0, nose[1], nose[0]])[2] > 220  # faces the camera, blue
    pncc = render_model(ict_model, params, cam, RenderOptions(what="pncc")).image[0]
    tip = ncc_colors(ict_model.template)[ict_model.landmark_indices[30]]
    np.testing.assert_allclose(pncc[nose[1], nose[0]] / 255.0, tip.numpy(), atol=0.03)
    seg = render_model(ict_model, params, cam, RenderOptions(what="segmentation"))
    assert seg.label_names[int(seg.data[0, nose[1], nose[0]])] == "nose"
    mouth = lm[51].round().long()  # the upper lip's top middle
    assert seg.label_names[int(seg.data[0, mouth[1], mouth[0]])] == "mouth"
