"""Photo -> 3D head: synthetic recovery through FaceFitter, and the reconstruct CLI on real photos."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from faceforge.camera.projection import project
from faceforge.cli import main
from faceforge.detect.eyes import eye_openness
from faceforge.detect.faces import detect_faces
from faceforge.detect.indices import LEFT_EYELID, RIGHT_EYELID
from faceforge.detect.mesh import FaceLandmarks
from faceforge.detect.roi import Roi
from faceforge.fit.reconstruct import FaceFitter, ReconstructOptions, implicit_camera
from faceforge.geometry import axis_angle_to_matrix, euler_to_matrix, matrix_to_axis_angle
from faceforge.io.glb import read_glb
from faceforge.io.image import read_image
from faceforge.io.params import save_params_json
from faceforge.morphable import evaluate
from faceforge.structures import FaceParams

pytestmark = pytest.mark.ict


@pytest.fixture(scope="module")
def fitter(ict_model):
    return FaceFitter(ict_model)


def _observe(fitter, params, camera):
    """The 478 detector landmarks a perfect detector would report for ``params`` (eye rig included).

    Eyelid points follow the lid margin as a detector's do (``faceforge.fit.eyelids``): their surface points on the
    eyeball would not move at a blink.
    """
    m = fitter.model
    verts = evaluate(m, params).vertices
    pts = fitter.correspondence.points
    tri = verts[0][m.faces[torch.as_tensor(pts.face_index)]]
    p3 = (tri * torch.as_tensor(pts.bary, dtype=torch.float32)[:, :, None]).sum(1)
    lids = list(RIGHT_EYELID + LEFT_EYELID)
    following = fitter.basis.positions(params.identity[0].double().numpy(), params.expression[0].double().numpy())
    p3[lids] = torch.as_tensor(following[lids], dtype=torch.float32)
    p3[lids] = p3[lids] @ axis_angle_to_matrix(params.rotation)[0].T + params.translation[0]
    px = project(p3[None], camera)[0].numpy()  # the iris points sit on the (rig-turned) eyeballs
    pts3 = np.concatenate([px, np.zeros((478, 1))], 1)
    box = np.r_[px.min(0), px.max(0)]
    return FaceLandmarks(pts3, 1.0, box, Roi((float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2), 200.0, 0.0))


def _params(m, names_weights, yaw_deg, seed):
    rng = np.random.default_rng(seed)
    expr = torch.zeros(1, m.num_expression)
    for n, w in names_weights.items():
        expr[0, m.expression_index(n)] = w
    rot = matrix_to_axis_angle(euler_to_matrix(torch.deg2rad(torch.tensor([[yaw_deg, 5.0, -3.0]]))))
    return FaceParams(torch.tensor(rng.normal(0, 0.7, (1, m.num_identity)), dtype=torch.float32), expr,
                      rot.float(), torch.tensor([[1.0, -2.0, -55.0]]))


def test_fitter_recovers_pose_expression_and_gaze(fitter, ict_model) -> None:
    m = ict_model
    truth = _params(m, {"jawOpen": 0.5, "eyeBlink_R": 0.8, "mouthSmile_L": 0.6, "eyeLookOut_L": 0.5,
                        "eyeLookIn_R": 0.5, "eyeLookUp_L": 0.3, "eyeLookUp_R": 0.3}, 20.0, 1)
    cam = implicit_camera(900.0, np.array([319.5, 239.5]), 640, 480)
    rec = fitter.fit_face(_observe(fitter, truth, cam), (640, 480), ReconstructOptions(focal_px=900.0))
    got = rec.params
    assert rec.rms_px < 2.0  # priors and the held-out gaze shapes (which also move the lids) leave ~1 px
    torch.testing.assert_close(got.rotation, truth.rotation, atol=0.03, rtol=0)  # ~1.7 degrees
    # x, y within 5 mm; depth within 10 % (head size and distance trade off in a single view).
    torch.testing.assert_close(got.translation[0, :2], truth.translation[0, :2], atol=0.5, rtol=0)
    assert abs(float(got.translation[0, 2] / truth.translation[0, 2]) - 1.0) < 0.1
    for name in ("jawOpen", "eyeBlink_R", "mouthSmile_L"):
        k = m.expression_index(name)
        assert abs(float(got.expression[0, k] - truth.expression[0, k])) < 0.15, name
    for name in ("eyeLookOut_L", "eyeLookIn_R", "eyeLookUp_L", "eyeLookUp_R"):
        k = m.expression_index(name)
        # Gaze reads 0-35 % low (priors; the lids' part of the eyeLook motion is shared with eyeWide/eyeSquint).
        assert abs(float(got.expression[0, k] - truth.expression[0, k])) < 0.2, name
    for name in ("eyeLookIn_L", "eyeLookOut_R", "eyeLookDown_L"):
        assert float(got.expression[0, m.expression_index(name)]) < 0.12, name
    # The fitted landmarks land where the truth's landmarks project.
    pts68 = fitter.ibug68.positions(truth.identity[0].double().numpy(), truth.expression[0].double().numpy())
    rot = axis_angle_to_matrix(truth.rotation.double())[0].numpy()
    world68 = pts68 @ rot.T + truth.translation[0].double().numpy()
    truth_68 = project(torch.tensor(world68[None], dtype=torch.float32), cam)[0].numpy()
    err = np.linalg.norm(rec.landmarks_68_px[17:] - truth_68[17:], axis=1)  # jaw excluded: it slides
    assert np.median(err) < 1.5
    # With the focal length estimated (the default), depth trades against focal length but the image fit holds.
    rec2 = fitter.fit_face(_observe(fitter, truth, cam), (640, 480))
    err2 = np.linalg.norm(rec2.landmarks_68_px[17:] - truth_68[17:], axis=1)
    assert np.median(err2) < 1.5 and rec2.rms_px < 2.0


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory):
    from skimage import data

    path = tmp_path_factory.mktemp("photos") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


@pytest.mark.slow
def test_reconstruct_cli_writes_the_contract(astronaut_png, tmp_path, ict_model, capsys) -> None:
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(noise)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    out = tmp_path / "out"
    code = main(["reconstruct", str(text), str(astronaut_png), str(noise), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3  # the first failure: unreadable input
    assert len(err) == 2 and "notes.jpg" in err[0] and "noise.png" in err[1]
    assert sorted(p.name for p in out.iterdir()) == ["astronaut"]  # nothing for the failed inputs, no temp folders
    d = out / "astronaut"
    assert sorted(p.name for p in d.iterdir()) == ["head.glb", "landmarks.json", "mesh.obj", "overlay.png",
                                                   "params.json"]
    params = json.loads((d / "params.json").read_text())
    assert params["schema_version"] == 1 and params["model"] == "ict-facekit"
    assert len(params["identity"]) == 100 and list(params["expression"]) == list(ict_model.expression_names)
    assert all(0.0 <= w <= 1.0 for w in params["expression"].values())
    assert {"fx", "fy", "cx", "cy", "width", "height"} <= set(params["camera"])
    assert (params["camera"]["width"], params["camera"]["height"]) == (512, 512)
    assert params["translation"][2] < 0  # in front of the camera (docs/conventions.md)
    lm = json.loads((d / "landmarks.json").read_text())
    fitted, detected = np.array(lm["fitted_68"]), np.array(lm["detected"])
    assert fitted.shape == (68, 2) and detected.shape == (478, 3) and len(lm["bbox"]) == 4
    # The fit lines up with the photo: eye corners within 4 % of the eye distance of the detector's, mouth corners
    # within 8 % (ICT's and MediaPipe's mouth-corner points are not the same spot on a smiling mouth).
    iod = np.linalg.norm(detected[33, :2] - detected[263, :2])
    for ibug, mp, tol in ((36, 33, 0.04), (45, 263, 0.04), (48, 61, 0.08), (54, 291, 0.08)):
        assert np.linalg.norm(fitted[ibug] - detected[mp, :2]) < tol * iod, ibug
    glb = read_glb(d / "head.glb")
    mesh = glb.document["meshes"][0]
    assert mesh["extras"]["targetNames"] == list(ict_model.expression_names)
    np.testing.assert_allclose(mesh["weights"], list(params["expression"].values()), atol=1e-6)
    assert Image.open(d / "overlay.png").size == (512, 512)


@pytest.mark.slow
def test_reconstruct_all_faces_and_no_face_exit_code(astronaut_png, tmp_path, capsys) -> None:
    face = np.asarray(Image.open(astronaut_png))[0:256, 96:352]
    two = np.full((300, 700, 3), 128, np.uint8)
    two[20:276, 20:276] = face
    small = np.asarray(Image.fromarray(face).resize((180, 180)))
    two[60:240, 420:600] = small
    path = tmp_path / "two.png"
    Image.fromarray(two).save(path)
    out = tmp_path / "out"
    assert main(["reconstruct", str(path), "-o", str(out), "--all-faces"]) == 0
    assert sorted(p.name for p in (out / "two").iterdir()) == ["face_0", "face_1"]
    b0 = json.loads((out / "two" / "face_0" / "landmarks.json").read_text())["bbox"]
    b1 = json.loads((out / "two" / "face_1" / "landmarks.json").read_text())["bbox"]
    assert (b0[2] - b0[0]) > (b1[2] - b1[0])  # largest first
    assert main(["reconstruct", str(path), "-o", str(out), "--bbox", "400,40,620,260"]) == 0
    lm = json.loads((out / "two" / "landmarks.json").read_text())
    assert lm["bbox"][0] > 350  # the right-hand (smaller) face was chosen
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(blank)
    capsys.readouterr()
    assert main(["reconstruct", str(blank), "-o", str(out)]) == 4
    assert "blank.png" in capsys.readouterr().err
    assert not (out / "blank").exists()


def test_reconstruct_usage_errors(astronaut_png, tmp_path, capsys) -> None:
    assert main(["reconstruct", str(astronaut_png), "-o", str(tmp_path), "--tiles", "0"]) == 2
    assert main(["reconstruct", str(astronaut_png), "-o", str(tmp_path), "--focal", "-5"]) == 2
    assert main(["reconstruct", str(astronaut_png), "-o", str(tmp_path), "--bbox", "1,2,3"]) == 2
    assert main(["reconstruct", str(astronaut_png)]) == 2  # -o is required
    err = capsys.readouterr().err
    assert "--tiles must be at least 1" in err and "--focal must be positive" in err
    assert list(tmp_path.iterdir()) == []


def test_closed_eyes_read_as_blinks_not_gaze(fitter, ict_model, tmp_path) -> None:
    """A render of the model with both eyes shut: the iris model's guess on a closed eye must not turn into a
    downward gaze (which also lowers the lids) instead of eyeBlink."""
    m = ict_model
    params = FaceParams.zeros(1, m.num_identity, m.num_expression)
    for name in ("eyeBlink_L", "eyeBlink_R"):
        params.expression[0, m.expression_index(name)] = 1.0
    params.translation[0] = torch.tensor([0.0, 0.0, -100.0])
    save_params_json(tmp_path / "closed.json", params, m)
    assert main(["render", str(tmp_path / "closed.json"), "-o", str(tmp_path / "closed.png"), "--size", "512",
                 "512"]) == 0
    image = read_image(tmp_path / "closed.png")
    face = detect_faces(image)[0]
    assert (eye_openness(face.points_px) < 0.2).all()  # the detector sees them shut (open: ~0.35)
    rec = fitter.fit_face(face, (512, 512))
    e = dict(zip(m.expression_names, rec.params.expression[0].tolist(), strict=True))
    assert e["eyeBlink_L"] + e["eyeBlink_R"] > 0.6, e
    assert max(v for k, v in e.items() if k.startswith("eyeLook")) < 0.1, e
