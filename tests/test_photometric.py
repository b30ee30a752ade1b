"""Photometric refinement: image helpers, known answers, and recovery of parameters from synthetic renders.

Synthetic observations are renders (albedo x SH shading, sRGB-encoded to uint8) of a model at known parameters with a
known albedo and light; the refinement starts from a perturbed fit and must move towards the truth.
"""

import numpy as np
import pytest
import torch

from faceforge.camera.build import crop_camera
from faceforge.camera.projection import project
from faceforge.errors import UsageError
from faceforge.fit.photometric import (
    SKIN_ALBEDO,
    LandmarkObservation,
    PhotometricOptions,
    crop_image,
    refine_photometric,
    render_photometric,
    skin_pixels,
    srgb_to_linear,
)
from faceforge.fit.reconstruct import implicit_camera
from faceforge.geometry import euler_to_matrix, matrix_to_axis_angle, vertex_normals
from faceforge.morphable import evaluate
from faceforge.render import interpolate, rasterize, render_normals, sh_from_directional_light, sh_shading
from faceforge.render.encode import linear_to_srgb, to_uint8
from faceforge.structures import FaceParams

SIZE = 96  # synthetic photo side, pixels
SKIN = torch.tensor(SKIN_ALBEDO)


def _pose(yaw_pitch_roll_deg: list[float]) -> torch.Tensor:
    return matrix_to_axis_angle(euler_to_matrix(torch.deg2rad(torch.tensor([yaw_pitch_roll_deg])))).float()


def _render(model, params, camera, albedo, sh, background=0.2) -> np.ndarray:
    """uint8 sRGB photo of the whole model: albedo (V, 3) x SH shading, grey background."""
    mesh = evaluate(model, params)
    frags = rasterize(mesh, camera)
    normals = render_normals(mesh, camera, frags, frame="world")
    linear = interpolate(albedo[None], model.faces, frags) * sh_shading(normals, sh)
    linear = torch.where(frags.mask[..., None], linear, torch.full_like(linear, background))
    return to_uint8(linear_to_srgb(linear))[0]


def _shading_error(model, params, vertices, sh, sh_true) -> float:
    """Relative mean error of the shading the two lights give the truth's camera-facing normals."""
    n = vertex_normals(evaluate(model, params).vertices, model.faces)[0, vertices]
    n = n[n[:, 2] > 0.2]
    a = sh_shading(n[None, None], sh[None])[0, 0]
    b = sh_shading(n[None, None], sh_true)[0, 0]
    return float((a - b).norm(dim=1).mean() / b.norm(dim=1).mean())


@pytest.fixture(scope="module")
def scene(synthetic_model):
    """Truth, camera, light, two albedos (smooth / textured), the front vertices and a perturbed start."""
    m = synthetic_model
    rng = np.random.default_rng(1)
    truth = FaceParams(torch.tensor(rng.normal(0, 0.8, (1, m.num_identity)), dtype=torch.float32),
                       torch.tensor([[0.3, 0.0, 0.6, 0.5, 0.2, 0.4]]), _pose([15.0, 5.0, -3.0]),
                       torch.tensor([[0.5, -0.5, -60.0]]))
    camera = implicit_camera(SIZE * 2.4, np.array([(SIZE - 1) / 2, (SIZE - 1) / 2]), SIZE, SIZE)
    t = m.template
    u = (t - t.min(0).values) / (t.max(0).values - t.min(0).values) * 2 - 1  # template in [-1, 1]^3
    smooth = SKIN * (1 + 0.15 * u[:, :1] - 0.1 * u[:, 1:2] ** 2 + 0.05 * u[:, 2:3])
    textured = SKIN * (1 + 0.25 * torch.sin(6 * u[:, :1]) * torch.sin(6 * u[:, 1:2]))
    sh = sh_from_directional_light(torch.tensor([[0.6, 0.4, 1.0]]), torch.tensor([[0.7, 0.65, 0.6]]),
                                   torch.tensor([[0.35, 0.35, 0.4]]))
    start = FaceParams(truth.identity + 0.5 * torch.tensor(rng.normal(size=(1, m.num_identity)), dtype=torch.float32),
                       (truth.expression + torch.tensor([[0.25, 0.2, -0.3, -0.3, 0.25, -0.25]])).clamp(0, 1),
                       truth.rotation + torch.tensor([[0.04, -0.05, 0.03]]),
                       truth.translation + torch.tensor([[0.3, -0.3, 1.0]]))
    front = torch.nonzero(u[:, 2] > 0.3)[:, 0]
    return dict(truth=truth, camera=camera, smooth=smooth, textured=textured, sh=sh, start=start, front=front)


def _errors(model, params, truth, camera, vertices) -> tuple[float, float, float]:
    """(mean 2D error of the vertices in pixels, rotation error in degrees, mean shape error in mm after centring)."""
    v = evaluate(model, params).vertices[0, vertices]
    vt = evaluate(model, truth).vertices[0, vertices]
    px = (project(v[None], camera) - project(vt[None], camera))[0].norm(dim=1).mean()
    rot = torch.rad2deg((params.rotation - truth.rotation).norm())
    shape = ((v - v.mean(0)) - (vt - vt.mean(0))).norm(dim=1).mean() * 10.0
    return float(px), float(rot), float(shape)


def _no_landmarks(model) -> LandmarkObservation:
    idx = model.landmark_indices.numpy()
    return LandmarkObservation.at_vertices(model, idx, np.zeros((len(idx), 2)), np.zeros(len(idx)))


# --- helpers --------------------------------------------------------------------------------------------------------


def test_srgb_to_linear_inverts_the_encoder() -> None:
    x = torch.linspace(0, 1, 101)
    np.testing.assert_allclose(srgb_to_linear(linear_to_srgb(x).numpy()), x.numpy(), atol=1e-6)


@pytest.mark.parametrize("side, out", [(40.0, 80), (60.0, 30)])
def test_crop_image_samples_where_crop_camera_maps(side, out) -> None:
    h, w = 90, 120
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    value = lambda x, y: 40.0 + 1.2 * x + 0.8 * y  # noqa: E731 - linear: bilinear sampling and blurring keep it
    image = np.repeat(value(xx, yy)[..., None], 3, 2).round().astype(np.uint8)
    x0, y0 = 30.0, 20.0
    crop, valid = crop_image(image, np.array([x0, y0, side]), out)
    assert crop.shape == (out, out, 3) and valid.all()
    s = out / side
    ii, jj = np.mgrid[3 : out - 3, 3 : out - 3]  # away from the blur's border
    want = value((jj + 0.5) / s + x0 - 0.5, (ii + 0.5) / s + y0 - 0.5) / 255.0
    np.testing.assert_allclose(crop[3 : out - 3, 3 : out - 3, 0], srgb_to_linear(want), atol=0.006)
    # The crop camera of the same box sends a pixel of the photo to the same crop coordinates.
    cam = implicit_camera(100.0, np.array([(w - 1) / 2, (h - 1) / 2]), w, h)

    cc = crop_camera(cam, torch.tensor([x0, y0, side]), out)
    p = torch.tensor([[[1.5, -0.7, -10.0]]])
    u, u_crop = project(p, cam)[0, 0].numpy(), project(p, cc)[0, 0].numpy()
    np.testing.assert_allclose(u_crop, (u - [x0, y0] + 0.5) * s - 0.5, atol=1e-4)


def test_crop_image_marks_pixels_outside_the_photo() -> None:
    image = np.full((50, 50, 3), 128, np.uint8)
    _, valid = crop_image(image, np.array([-10.0, 0.0, 40.0]), 40)
    assert not valid[:, :9].any() and valid[:, 11:].all()
    crop, valid = crop_image(image, np.array([80.0, 80.0, 20.0]), 10)  # wholly outside
    assert not valid.any() and crop.shape == (10, 10, 3)


def test_skin_pixels_keeps_shaded_skin_and_drops_hair_and_lips() -> None:
    shade = np.linspace(0.4, 1.0, 40)[None, :, None]
    skin = np.broadcast_to(np.array([0.6, 0.4, 0.3]) * shade, (30, 40, 3))
    hair, lips = np.full((10, 40, 3), [0.02, 0.015, 0.012]), np.full((10, 40, 3), [0.6, 0.15, 0.15])
    img = np.concatenate([skin, hair, lips])
    ref = np.zeros(img.shape[:2], bool)
    ref[:30] = True
    mask = skin_pixels(img.astype(np.float32), ref, 3.5)
    assert mask[:30].all()
    assert not mask[30:].any()


# --- known answers and errors -----------------------------------------------------------------------------------------


def test_zero_iterations_return_the_start_and_solve_the_light(synthetic_model, scene) -> None:
    m = synthetic_model
    image = _render(m, scene["truth"], scene["camera"], SKIN.expand(m.num_vertices, 3), scene["sh"])
    opts = PhotometricOptions(region="face", crop_size=64, iterations=0, skin_mask=False)
    res = refine_photometric(m, image, scene["truth"], scene["camera"], _no_landmarks(m), opts)
    for name in ("identity", "expression", "rotation", "translation"):
        torch.testing.assert_close(getattr(res.params, name), getattr(scene["truth"], name), rtol=0, atol=0)
    torch.testing.assert_close(res.albedo, SKIN.expand(m.num_vertices, 3))
    assert res.losses.shape == (0,)
    # A uniform skin albedo and the true geometry: least squares finds the light's shading.
    assert _shading_error(m, scene["truth"], scene["front"], res.sh_coeffs, scene["sh"]) < 0.03
    assert res.crop_camera.width == 64 and res.sh_coeffs.shape == (9, 3)


def test_landmarks_alone_pull_a_perturbed_start_to_the_truth(synthetic_model, scene) -> None:
    m = synthetic_model
    truth, cam = scene["truth"], scene["camera"]
    image = _render(m, truth, cam, SKIN.expand(m.num_vertices, 3), scene["sh"])
    obs = project(evaluate(m, truth).vertices[:, m.landmark_indices], cam)[0].numpy()
    lms = LandmarkObservation.at_vertices(m, m.landmark_indices.numpy(), obs)
    opts = PhotometricOptions(region="face", crop_size=32, iterations=60, photo_weight=0.0, identity_prior=0.0,
                              expression_prior=0.0, skin_mask=False, num_identity=m.num_identity)
    res = refine_photometric(m, image, scene["start"], cam, lms, opts)
    px0, rot0, _ = _errors(m, scene["start"], truth, cam, scene["front"])
    px, rot, _ = _errors(m, res.params, truth, cam, scene["front"])
    assert res.landmark_rms_px[1] < 0.1 * res.landmark_rms_px[0]  # measured 2.96 -> 0.13 px
    # The 68 landmarks leave some shape/pose freedom that the dense error sees: 2.60 -> 0.30 px, 4.05 -> 0.61 deg.
    assert px < 0.2 * px0 and rot < 0.25 * rot0


def test_refine_rejects_bad_inputs(synthetic_model, scene) -> None:
    m, truth, cam = synthetic_model, scene["truth"], scene["camera"]
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    lms = _no_landmarks(m)
    with pytest.raises(UsageError, match="uint8"):
        refine_photometric(m, image.astype(np.float32), truth, cam, lms)
    with pytest.raises(UsageError, match="but the camera is"):
        refine_photometric(m, image[:50], truth, cam, lms)
    two = FaceParams(*(torch.cat([getattr(truth, k)] * 2) for k in ("identity", "expression", "rotation",
                                                                     "translation")))
    with pytest.raises(UsageError, match="batch 1"):
        refine_photometric(m, image, two, cam, lms)
    with pytest.raises(UsageError, match="albedo"):
        refine_photometric(m, image, truth, cam, lms, albedo=torch.zeros(5, 3))
    with pytest.raises(UsageError, match="unknown region"):
        refine_photometric(m, image, truth, cam, lms, PhotometricOptions(region="nose_tip"))
    with pytest.raises(UsageError, match="observed_px"):
        LandmarkObservation(lms.points, np.zeros((3, 2)), lms.weights)
    with pytest.raises(UsageError, match="crop_size"):
        PhotometricOptions(crop_size=4)


# --- recovery from synthetic renders ----------------------------------------------------------------------------------


def test_known_texture_recovers_pose_and_shape_without_landmarks(synthetic_model, scene) -> None:
    """A textured albedo (given) and an unknown light: the pixels alone pull a perturbed start to the truth."""
    m, truth, cam = synthetic_model, scene["truth"], scene["camera"]
    image = _render(m, truth, cam, scene["textured"], scene["sh"])
    opts = PhotometricOptions(region="face", crop_size=SIZE, skin_mask=False, landmark_weight=0.0,
                              num_identity=m.num_identity, fit_albedo=False)
    res = refine_photometric(m, image, scene["start"], cam, _no_landmarks(m), opts, albedo=scene["textured"])
    px0, rot0, shape0 = _errors(m, scene["start"], truth, cam, scene["front"])
    px1, rot1, shape1 = _errors(m, res.params, truth, cam, scene["front"])
    assert px1 < px0 / 3  # measured 2.60 -> 0.54 px
    assert rot1 < rot0 / 1.6  # 4.05 -> 1.92 degrees
    assert shape1 < shape0 / 1.4  # 3.52 -> 1.97 mm
    assert res.photometric_losses[-1] < res.photometric_losses[0] / 5  # / 12
    assert _shading_error(m, truth, scene["front"], res.sh_coeffs, scene["sh"]) < 0.06  # measured 0.031


def test_unknown_albedo_and_light_recover_shape_from_shading(synthetic_model, scene) -> None:
    """Smooth albedo around the skin prior and an unknown light, no landmarks: shading alone improves the shape."""
    m, truth, cam = synthetic_model, scene["truth"], scene["camera"]
    image = _render(m, truth, cam, scene["smooth"], scene["sh"])
    opts = PhotometricOptions(region="face", crop_size=SIZE, skin_mask=False, landmark_weight=0.0,
                              num_identity=m.num_identity)
    res = refine_photometric(m, image, scene["start"], cam, _no_landmarks(m), opts)
    px0, rot0, shape0 = _errors(m, scene["start"], truth, cam, scene["front"])
    px1, rot1, shape1 = _errors(m, res.params, truth, cam, scene["front"])
    assert shape1 < shape0 / 1.6  # measured 3.52 -> 1.68 mm
    assert px1 < 0.85 * px0  # 2.60 -> 2.02 px
    assert rot1 < 0.8 * rot0  # 4.05 -> 2.60 degrees
    assert _shading_error(m, truth, scene["front"], res.sh_coeffs, scene["sh"]) < 0.12  # measured 0.076
    front_albedo = res.albedo[scene["front"]]
    assert float((front_albedo - scene["smooth"][scene["front"]]).abs().mean()) < 0.05  # 0.038
    picture = render_photometric(m, res, image)
    assert picture.shape == (SIZE, 3 * SIZE, 3) and picture.dtype == np.uint8


# --- the real model ---------------------------------------------------------------------------------------------------


@pytest.mark.ict
@pytest.mark.slow
def test_ict_refinement_improves_a_noisy_landmark_fit(ict_model) -> None:
    """ICT render (brows, lips, skin tone variation; unknown light and albedo), landmark fit from detector points
    with 4 px noise, then the refinement: expression and shape errors drop, the light's shading is recovered."""
    from faceforge.detect.mesh import FaceLandmarks
    from faceforge.detect.roi import Roi
    from faceforge.fit.reconstruct import FaceFitter, ReconstructOptions
    from faceforge.render import select_faces, visible_face_indices
    from faceforge.render.pipeline import vertex_albedo

    m = ict_model
    fitter = FaceFitter(m)
    rng = np.random.default_rng(3)
    expr = torch.zeros(1, m.num_expression)
    for name, w in {"jawOpen": 0.35, "mouthSmile_L": 0.6, "mouthSmile_R": 0.5, "browInnerUp_L": 0.4,
                    "browInnerUp_R": 0.4, "eyeBlink_R": 0.3}.items():
        expr[0, m.expression_index(name)] = w
    ident = torch.zeros(1, m.num_identity)
    ident[0, :10] = torch.tensor(rng.normal(0, 0.8, 10), dtype=torch.float32)  # inside the refined modes
    truth = FaceParams(ident, expr, _pose([20.0, 5.0, -3.0]), torch.tensor([[1.0, -2.0, -55.0]]))
    w = h = 480
    cam = implicit_camera(700.0, np.array([(w - 1) / 2, (h - 1) / 2]), w, h)
    t = m.template
    lm, face = t[m.landmark_indices], m.regions["face"]
    albedo = vertex_albedo(m).clone()
    albedo[face[torch.cdist(t[face], lm[17:27]).min(1).values < 0.5]] *= torch.tensor([0.45, 0.4, 0.4])  # brows
    albedo[face[torch.cdist(t[face], lm[48:68]).min(1).values < 0.35]] = torch.tensor([0.70, 0.35, 0.33])  # lips
    albedo[face] *= 1 + 0.08 * torch.sin(t[face, :1] * 0.5) * torch.cos(t[face, 1:2] * 0.3)
    sh = sh_from_directional_light(torch.tensor([[0.5, 0.4, 1.0]]), torch.tensor([[0.7, 0.65, 0.6]]),
                                   torch.tensor([[0.35, 0.35, 0.4]]))
    mesh = select_faces(evaluate(m, truth), visible_face_indices(m))
    frags = rasterize(mesh, cam)
    linear = interpolate(albedo[None], mesh.faces, frags) * sh_shading(render_normals(mesh, cam, frags, "world"), sh)
    image = to_uint8(linear_to_srgb(torch.where(frags.mask[..., None], linear, torch.full_like(linear, 0.2))))[0]

    pts = fitter.correspondence.points
    verts = evaluate(m, truth).vertices[0]
    p3 = (verts[m.faces[torch.as_tensor(pts.face_index)]] * torch.as_tensor(pts.bary, dtype=torch.float32)[..., None])
    px = project(p3.sum(1)[None], cam)[0].numpy() + rng.normal(0, 4.0, (478, 2))
    box = np.r_[px.min(0), px.max(0)]
    det = FaceLandmarks(np.c_[px, np.zeros(478)], 1.0, box, Roi(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), 200.0,
                                                                 0.0))
    rec = fitter.fit_face(det, (w, h), ReconstructOptions(focal_px=700.0))
    obs = LandmarkObservation.from_correspondence(fitter.correspondence, rec.detected_px)
    res = refine_photometric(m, image, rec.params, rec.camera, obs)

    region = m.regions["face_narrow"]
    gaze = torch.tensor([n.startswith("eyeLook") for n in m.expression_names])
    e0 = float((rec.params.expression - truth.expression)[0, ~gaze].abs().mean())
    e1 = float((res.params.expression - truth.expression)[0, ~gaze].abs().mean())
    px0, _, shape0 = _errors(m, rec.params, truth, cam, region)
    px1, _, shape1 = _errors(m, res.params, truth, cam, region)
    assert e1 < 0.9 * e0  # measured 0.073 -> 0.061
    assert shape1 < 0.93 * shape0  # 1.22 -> 1.06 mm
    assert px1 < 0.85 * px0  # 1.16 -> 0.87 px
    assert res.landmark_rms_px[1] < res.landmark_rms_px[0] + 0.2  # stays anchored to the landmarks (5.56 -> 5.59)
    assert _shading_error(m, truth, region, res.sh_coeffs, sh) < 0.08  # 0.026
    assert torch.equal(res.params.expression[0, gaze], rec.params.expression[0, gaze])  # gaze is left alone

    # The same refinement through FaceFitter (ReconstructOptions.refine): refined parameters, iBUG-68 recomputed.
    refined = fitter.fit_face(det, (w, h), ReconstructOptions(focal_px=700.0, refine=True), image=image)
    assert refined.photometric is not None
    torch.testing.assert_close(refined.params.expression, res.params.expression, rtol=0, atol=1e-5)
    assert refined.rms_px == pytest.approx(res.landmark_rms_px[1], abs=1e-4)
    moved = np.linalg.norm(refined.landmarks_68_px - rec.landmarks_68_px, axis=1)
    assert 0.05 < np.median(moved) < 3.0
    with pytest.raises(UsageError, match="needs the image"):
        fitter.fit_face(det, (w, h), ReconstructOptions(refine=True))
