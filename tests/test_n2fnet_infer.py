"""N2FNet inference: input decoding (PNG, depth), the crop, the pose conversion; a tiny network, synthetic model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from faceforge.errors import InputError, NoFaceError
from faceforge.fit.n2fnet.infer import (
    N2FNetRegressor,
    RegressOptions,
    check_normals,
    export_onnx,
    mask_extent,
    normals_from_depth,
    normals_from_rgb,
    translation_to_extent,
)
from faceforge.fit.n2fnet.network import N2FNet, N2FNetConfig
from faceforge.fit.n2fnet.train import save_checkpoint
from faceforge.morphable import MorphableModel
from faceforge.render.encode import normals_to_rgb, to_uint8


def _unit(n: np.ndarray) -> np.ndarray:
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def test_png_encoding_round_trip() -> None:
    rng = np.random.default_rng(0)
    n = _unit(rng.normal(size=(6, 7, 3))).astype(np.float32)
    n[0, 0] = 0.0  # background
    rgb = to_uint8(normals_to_rgb(torch.from_numpy(n)[None], "camera"))[0]
    back, valid = normals_from_rgb(rgb)
    assert not valid[0, 0] and valid.sum() == 6 * 7 - 1
    cos = (back[valid] * n[valid]).sum(-1)
    assert float(np.degrees(np.arccos(np.clip(cos, -1, 1))).max()) < 1.0  # 8-bit quantization
    # A surface facing the camera (n_z < 0) is light blue in the picture and decodes back.
    facing = normals_from_rgb(np.array([[[128, 128, 255]]], dtype=np.uint8))[0][0, 0]
    np.testing.assert_allclose(facing, [0.0, 0.0, -1.0], atol=0.01)


def test_depth_plane_normals() -> None:
    f, c, a, z0 = 200.0, (15.5, 11.5), 0.3, 50.0
    v, u = np.mgrid[0:24, 0:32].astype(np.float64)
    depth = z0 / (1.0 - a * (u - c[0]) / f)  # the plane z = a x + z0 seen by the camera
    depth[0, 0] = np.inf
    depth[5, 5] = 0.0
    n, valid = normals_from_depth(depth, (f, f), c)
    expected = np.array([a, 0.0, -1.0]) / math.hypot(a, 1.0)
    inner = valid.copy()
    assert not valid[5, 5] and not valid[4, 5] and not valid[0, 1] and not valid[:, 0].any()
    np.testing.assert_allclose(n[inner], np.broadcast_to(expected, n[inner].shape), atol=1e-6)
    # A step in depth is an edge: no normal on either side.
    depth2 = np.full((10, 10), 100.0)
    depth2[:, 5:] = 130.0
    _, valid2 = normals_from_depth(depth2, (100.0, 100.0), (4.5, 4.5))
    assert not valid2[:, 4:6].any() and valid2[1:-1, 1:4].all()


def test_check_normals_refuses_and_cleans() -> None:
    n = np.zeros((2, 2, 3), dtype=np.float32)
    n[0, 0] = [0.0, 0.0, -1.0]
    n[0, 1] = [np.nan, 0.0, 0.0]
    n[1, 0] = [0.0, 0.5, 0.0]
    out, valid = check_normals(n)
    assert valid.tolist() == [[True, False], [False, False]] and np.isfinite(out).all()
    with pytest.raises(InputError, match=r"expected \(H, W, 3\) floats"):
        check_normals(np.zeros((2, 2), dtype=np.float32))


@pytest.fixture(scope="module")
def tiny_regressor(synthetic_model: MorphableModel, tmp_path_factory) -> N2FNetRegressor:
    cfg = N2FNetConfig(image_size=32, num_identity=5, num_expression=synthetic_model.num_expression, dim=32,
                       depth=1, heads=2, stem_channels=(8, 8, 16), stem_convs=1, head_hidden=32)
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("n2f") / "tiny.npz"
    save_checkpoint(path, N2FNet(cfg), {"model": "synthetic",
                                        "crop_calibration": {"side_ratio": 2.0, "offset_x": 0.0, "offset_y": 0.0}})
    return N2FNetRegressor(synthetic_model, path)


def test_crop_box_and_network_input(tiny_regressor: N2FNetRegressor) -> None:
    mask = np.zeros((60, 50), dtype=bool)
    mask[20:40, 10:30] = True  # side 20, centre (19.5, 29.5)
    box = tiny_regressor.crop_box(mask)
    np.testing.assert_array_equal(box, [0.0, 10.0, 40.0])  # side 2 x 20, x0 = 19.5 - 20 + 0.5
    normals = np.zeros((60, 50, 3), dtype=np.float32)
    normals[..., 2] = -1.0
    x = tiny_regressor.network_input(normals, mask, box)[0].permute(1, 2, 0)
    # The mask covers crop pixels 10..29 of 40 -> 8..23 of 32 (area resampling; half-covered edge pixels drop out).
    inside = x[9:23, 9:23]
    torch.testing.assert_close(inside, torch.tensor([0.0, 0.0, -1.0]).expand_as(inside))
    assert float(x[:7].abs().sum()) == 0.0 and float(x[25:].abs().sum()) == 0.0


def test_regress_outputs_and_conventions(tiny_regressor: N2FNetRegressor, synthetic_model: MorphableModel) -> None:
    mask = np.zeros((64, 64), dtype=bool)
    mask[16:48, 20:44] = True
    normals = np.zeros((64, 64, 3), dtype=np.float32)
    normals[mask] = [0.0, 0.0, -1.0]
    reg = tiny_regressor.regress(normals, mask, RegressOptions(focal_px=(300.0, 300.0), principal_px=(31.5, 31.5),
                                                               refine_steps=0))
    p = reg.params
    assert p.identity.shape == (1, synthetic_model.num_identity) and bool((p.identity[0, 5:] == 0).all())
    assert bool((p.expression >= 0).all()) and bool((p.expression <= 1).all())
    assert float(p.translation[0, 2]) < 0  # the params.json world: the face in front of the camera at z < 0
    torch.testing.assert_close(reg.camera.rotation[0], torch.diag(torch.tensor([1.0, -1.0, -1.0])))
    torch.testing.assert_close(reg.camera.focal, torch.tensor([[300.0, 300.0]]))
    assert reg.landmarks_68_px.shape == (68, 2) and np.isfinite(reg.landmarks_68_px).all()
    # Without intrinsics: f = 2 x the larger side, principal point at the centre; with the same crop (no
    # refinement, which re-crops around landmarks projected with the intrinsics) only the translation changes.
    plain = tiny_regressor.regress(normals, mask, RegressOptions(refine_steps=0))
    torch.testing.assert_close(plain.camera.focal, torch.tensor([[128.0, 128.0]]))
    torch.testing.assert_close(plain.params.rotation, p.rotation)


def test_refinement_recrops_around_the_predicted_landmarks(tiny_regressor: N2FNetRegressor) -> None:
    mask = np.zeros((64, 64), dtype=bool)
    mask[16:48, 20:44] = True
    normals = np.zeros((64, 64, 3), dtype=np.float32)
    normals[mask] = [0.0, 0.0, -1.0]
    first = tiny_regressor.regress(normals, mask, RegressOptions(refine_steps=0))
    second = tiny_regressor.regress(normals, mask, RegressOptions(refine_steps=1))
    np.testing.assert_array_equal(first.crop_box, tiny_regressor.crop_box(mask))
    np.testing.assert_array_equal(second.crop_box, tiny_regressor.landmark_box(first.landmarks_68_px))
    lo, hi = first.landmarks_68_px.min(0), first.landmarks_68_px.max(0)
    assert second.crop_box[2] == round(max(float(np.max(hi - lo)) * 1.4, 8.0))


def test_regress_refuses_bad_inputs(tiny_regressor: N2FNetRegressor) -> None:
    normals = np.zeros((32, 32, 3), dtype=np.float32)
    with pytest.raises(NoFaceError, match="face pixels"):
        tiny_regressor.regress(normals, np.zeros((32, 32), dtype=bool))
    with pytest.raises(InputError, match="the mask is 16x16 pixels"):
        tiny_regressor.regress(normals, np.ones((16, 16), dtype=bool))


def test_onnx_export_matches_torch(tiny_regressor: N2FNetRegressor, tmp_path) -> None:
    onnx = pytest.importorskip("onnx")
    export_onnx(tiny_regressor.net, tmp_path / "n2f.onnx")
    onnx.checker.check_model(onnx.load(tmp_path / "n2f.onnx"))
    ort = pytest.importorskip("onnxruntime")
    x = torch.randn(2, 3, 32, 32)
    sess = ort.InferenceSession(str(tmp_path / "n2f.onnx"), providers=["CPUExecutionProvider"])
    model_out, camera_out = sess.run(None, {"normals_face": x.numpy()})
    with torch.no_grad():
        a, b = tiny_regressor.net(x)
    np.testing.assert_allclose(model_out, a.numpy(), atol=1e-4)
    np.testing.assert_allclose(camera_out, b.numpy(), atol=1e-4)


def _extent(points: np.ndarray, t: np.ndarray, f: tuple[float, float], c: tuple[float, float]) -> np.ndarray:
    q = points + t
    u, v = f[0] * q[:, 0] / q[:, 2] + c[0], f[1] * q[:, 1] / q[:, 2] + c[1]
    return np.array([u.min(), u.max(), v.min(), v.max()])


def test_translation_to_extent_recovers_the_translation_that_made_the_extent() -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(size=(500, 3)) * [8.0, 10.0, 5.0]  # a head-sized blob, cm
    truth, f, c = np.array([2.0, -3.0, 60.0]), (900.0, 880.0), (250.0, 240.0)
    extent = _extent(points, truth, f, c)
    start = truth + [1.5, 1.0, 9.0]
    np.testing.assert_allclose(translation_to_extent(points, start, extent, f, c, iterations=6), truth, atol=1e-6)
    # One side unknown (the mask touches the border there): three equations still fix t.
    cut = extent.copy()
    cut[1] = np.nan
    np.testing.assert_allclose(translation_to_extent(points, start, cut, f, c, iterations=6), truth, atol=1e-6)
    # Only x known: nothing fixes y, the start comes back unchanged.
    xs = extent.copy()
    xs[2:] = np.nan
    np.testing.assert_array_equal(translation_to_extent(points, start, xs, f, c), start)


def test_mask_extent_is_the_outer_pixel_edges_and_nan_at_the_border() -> None:
    mask = np.zeros((20, 30), dtype=bool)
    mask[4:9, 10:25] = True
    np.testing.assert_array_equal(mask_extent(mask), [9.5, 24.5, 3.5, 8.5])
    mask[4:9, 10:30] = True
    ext = mask_extent(mask)
    assert np.isnan(ext[1]) and ext[0] == 9.5
    with pytest.raises(InputError, match="empty"):
        mask_extent(np.zeros((4, 4), dtype=bool))


def test_regress_aligns_the_face_region_to_the_mask(tiny_regressor: N2FNetRegressor) -> None:
    mask = np.zeros((64, 64), dtype=bool)
    mask[16:48, 20:44] = True
    normals = np.zeros((64, 64, 3), dtype=np.float32)
    normals[mask] = [0.0, 0.0, -1.0]
    f, c = (300.0, 300.0), (31.5, 31.5)
    loose = tiny_regressor.regress(normals, mask, RegressOptions(focal_px=f, principal_px=c, refine_steps=0,
                                                                          align_to_mask=False))
    aligned = tiny_regressor.regress(normals, mask, RegressOptions(focal_px=f, principal_px=c, refine_steps=0))
    torch.testing.assert_close(aligned.params.rotation, loose.params.rotation)
    # The face region of the output (its drawn triangles' vertices, evaluated by the model itself), projected with
    # the output's pose, spans the mask.
    from faceforge.fit.n2fnet.rendering import model_vertices
    from faceforge.geometry import axis_angle_to_matrix

    k = tiny_regressor.net.cfg.num_identity
    verts = model_vertices(tiny_regressor.model, aligned.params.identity[:, :k], aligned.params.expression)[0]
    face = verts[torch.unique(tiny_regressor.parts.triangles)]
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0]))

    rot = flip @ axis_angle_to_matrix(aligned.params.rotation)[0]
    t = flip @ aligned.params.translation[0]
    pts = (face @ rot.T).double().numpy()
    want = mask_extent(mask)
    err_aligned = np.abs(_extent(pts, t.double().numpy(), f, c) - want).max()
    err_loose = np.abs(_extent(pts, (flip @ loose.params.translation[0]).double().numpy(), f, c) - want).max()
    assert err_loose > 5.0 and err_aligned < 1.0  # pixels; four sides, three unknowns: least squares, not exact
