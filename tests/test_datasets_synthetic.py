"""The synthetic benchmark: determinism, splits, the seed-003 distributions, the crop (eqs. 6-9), the outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceforge.camera import project
from faceforge.datasets.synthetic import SPLIT_OFFSETS, SYNTHETIC_VERSION, SyntheticFaces, SyntheticOptions
from faceforge.errors import UsageError
from faceforge.geometry import axis_angle_to_matrix, matrix_to_euler


@pytest.fixture(scope="module")
def faces(synthetic_model) -> SyntheticFaces:
    return SyntheticFaces(synthetic_model, SyntheticOptions(image_size=96))


def test_samples_are_deterministic_and_splits_are_disjoint(synthetic_model, faces) -> None:
    assert SYNTHETIC_VERSION == 1
    a = faces.sample(3)
    b = SyntheticFaces(synthetic_model, SyntheticOptions(image_size=96)).sample(3)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.scene.params.identity, b.scene.params.identity)
    assert a.scene.seed == SPLIT_OFFSETS["test"] + 3 and faces.scene(3, "train").seed == 3
    train, test = faces.scene(0, "train"), faces.scene(0, "test")
    assert not torch.equal(train.params.identity, test.params.identity)
    other_seed = SyntheticFaces(synthetic_model, SyntheticOptions(image_size=96, seed=1)).scene(3)
    assert not torch.equal(other_seed.params.identity, a.scene.params.identity)
    with pytest.raises(UsageError, match="split: expected one of train, test"):
        faces.scene(0, "val")
    with pytest.raises(UsageError, match="index: expected an integer"):
        faces.scene(-1)


def test_the_sampling_distributions(faces) -> None:
    scenes = [faces.scene(i, "train") for i in range(300)]
    ypr = np.degrees(np.array([matrix_to_euler(axis_angle_to_matrix(s.params.rotation[0].double())).numpy()
                               for s in scenes]))
    # yaw (about +y) sigma 20, pitch (about +x) sigma 15, roll (about +z) sigma 10 degrees (seed 003 IV.1).
    np.testing.assert_allclose(ypr.std(0), [20.0, 15.0, 10.0], rtol=0.15)
    np.testing.assert_allclose(ypr.mean(0), 0.0, atol=3.0)
    t = np.array([s.params.translation[0].numpy() for s in scenes])
    np.testing.assert_allclose(t[:, :2].std(0), 2.0, rtol=0.15)
    assert -t[:, 2].mean() == pytest.approx(100.0, abs=4.0) and t[:, 2].std() == pytest.approx(20.0, rel=0.15)
    assert (-t[:, 2] >= 40.0).all()
    ident = np.array([s.params.identity[0].numpy() for s in scenes])
    assert ident.std() == pytest.approx(0.8, rel=0.05)
    expr = np.array([s.params.expression[0].numpy() for s in scenes])
    active = (expr > 0).sum(1)
    assert set(active) == {0, 1, 2, 3, 4} and expr.min() >= 0.0 and expr.max() <= 1.0
    focal = np.array([float(s.original_camera.focal[0, 0]) for s in scenes])
    assert focal.mean() == pytest.approx(1500.0, rel=0.05)


def test_landmarks_project_with_the_cropped_camera_and_fill_the_crop(synthetic_model, faces) -> None:
    s = faces.sample(5)
    lm3d = torch.tensor(faces.landmarks_3d(s.scene))[None]
    np.testing.assert_allclose(project(lm3d, s.scene.camera)[0].numpy(), s.landmarks_68_px, atol=1e-9)
    # DECA crop: the landmark box's longer side spans image_size / padding pixels, centred in the crop.
    lo, hi = s.landmarks_68_px.min(0), s.landmarks_68_px.max(0)
    assert np.max(hi - lo) == pytest.approx(96 / 1.4, rel=1e-5)
    np.testing.assert_allclose((lo + hi) / 2, [(96 - 1) / 2] * 2, atol=1e-3)
    # In the original image the crop box is max(w, h) * padding around the same box (eqs. 6-9: R, t unchanged).
    orig = project(lm3d, s.scene.original_camera)[0].numpy()
    assert s.scene.crop_box[2] == pytest.approx(np.ptp(orig, axis=0).max() * 1.4, rel=1e-6)
    assert torch.equal(s.scene.camera.rotation, s.scene.original_camera.rotation)
    assert torch.equal(s.scene.camera.translation, s.scene.original_camera.translation)
    assert s.landmarks_68_visible.dtype == bool and s.landmarks_68_visible[30]  # the nose tip is seen


def test_rendered_buffers_are_consistent(faces) -> None:
    s = faces.sample(2)
    assert s.image.shape == (96, 96, 3) and s.image.dtype == np.uint8
    n = s.normals_cam
    np.testing.assert_allclose(np.linalg.norm(n[s.mask], axis=1), 1.0, atol=1e-5)
    assert (n[~s.mask] == 0).all() and n[s.mask][:, 2].mean() < -0.5  # facing the camera: n_z < 0
    assert (s.face_mask <= s.mask).all() and s.face_mask.any()
    assert (s.segmentation[~s.mask] == 0).all() and s.label_names[:2] == ("background", "other")
    background = s.image[~s.mask]
    assert (background == background[0]).all()  # a constant background colour
    assert s.landmarks_478_px is None  # only ICT-FaceKit has the detector correspondence
    v = faces.mesh(s.scene).vertices[0].double().numpy()
    np.testing.assert_allclose(faces.landmarks_from_vertices(v), faces.landmarks_3d(s.scene), atol=1e-12)


@pytest.mark.ict
def test_ict_samples(ict_model) -> None:
    faces = SyntheticFaces(ict_model)
    s = faces.sample(0)
    assert s.image.shape == (256, 256, 3) and s.landmarks_478_px.shape == (478, 2)
    assert {"nose", "eyes", "mouth", "ears"} <= set(s.label_names)
    # The face fills the crop: landmark box longer side = 256 / 1.4.
    assert np.ptp(s.landmarks_68_px, axis=0).max() == pytest.approx(256 / 1.4, rel=1e-5)
    assert s.face_mask.mean() > 0.2
    assert s.landmarks_68_visible[27:31].all()  # the nose bridge and tip face the camera
    # The 478 ground-truth points lie on the face: inside the crop, mostly on the face mask.
    px = np.rint(s.landmarks_478_px).astype(int)
    assert ((px >= 0) & (px < 256)).all() and s.mask[px[:, 1], px[:, 0]].mean() > 0.95
