"""Face detection + 478 landmarks: pure post-processing functions with exact answers, and the real MediaPipe models
on skimage's astronaut photo (loaded from scikit-image, never committed) and images built from it."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data

from faceforge.detect import (
    DetectFacesOptions,
    Detection,
    FaceDetector,
    FaceDetectorOptions,
    FaceMesh,
    FaceMeshOptions,
    Roi,
    detect_faces,
    parse_bbox,
    select_by_bbox,
)
from faceforge.detect import models as detect_models
from faceforge.detect.blazeface import box_iou, decode_detections, ssd_anchor_centers, weighted_nms
from faceforge.detect.indices import (
    IBUG_TO_MESH,
    LEFT_EYE_CORNERS,
    LEFT_EYELID,
    LEFT_IRIS,
    NUM_POINTS,
    RIGHT_EYE_CORNERS,
    RIGHT_EYELID,
    RIGHT_IRIS,
    ibug_subset,
)
from faceforge.detect.roi import crop_roi, image_to_tensor, roi_from_box, tensor_to_image
from faceforge.errors import AssetError, NoFaceError, UsageError

# Iris centres of the astronaut (x, y px), checked by eye on a 6x zoomed overlay (they sit on the pupils).
ASTRONAUT_RIGHT_IRIS = (203.2, 100.8)
ASTRONAUT_LEFT_IRIS = (246.0, 102.9)


# ---------------------------------------------------------------- pure functions


def test_anchor_counts_and_layout():
    short = ssd_anchor_centers(128, (8, 16, 16, 16), True)
    full = ssd_anchor_centers(192, (4,), False)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    # 16x16 grid with 2 anchors per cell, then 8x8 with 6 per cell; x runs fastest.
    np.testing.assert_allclose(short[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(short[1], short[0])
    np.testing.assert_allclose(short[2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(short[512], [0.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(short[512 + 6], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(full[-1], [47.5 / 48, 47.5 / 48])


def test_decode_known_answer():
    anchors = np.array([[0.25, 0.5], [0.75, 0.75]], np.float32)
    reg = np.zeros((2, 16), np.float32)
    reg[0, :4] = (2.0, -4.0, 32.0, 16.0)  # centre offset (2, -4) px, 32 x 16 px box
    reg[0, 4:6] = (-8.0, -2.0)  # first keypoint offset
    logits = np.array([0.0, -5.0], np.float32)  # scores 0.5 and 0.0067
    boxes, kps, scores = decode_detections(reg, logits, anchors, 128, 0.4)
    assert boxes.shape == (1, 4) and kps.shape == (1, 6, 2)
    np.testing.assert_allclose(boxes[0], [32 + 2 - 16, 64 - 4 - 8, 32 + 2 + 16, 64 - 4 + 8])
    np.testing.assert_allclose(kps[0, 0], [24.0, 62.0])
    np.testing.assert_allclose(kps[0, 1], [32.0, 64.0])
    np.testing.assert_allclose(scores, [0.5])


def test_weighted_nms_blends_overlaps_and_keeps_separate_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], float)
    kps = np.zeros((3, 6, 2))
    kps[1] += 3.0
    scores = np.array([0.6, 0.9, 0.7])
    b, k, s = weighted_nms(boxes, kps, scores, 0.3)
    np.testing.assert_allclose(s, [0.9, 0.7])
    np.testing.assert_allclose(b[0], (0.9 * boxes[1] + 0.6 * boxes[0]) / 1.5)
    np.testing.assert_allclose(k[0], np.full((6, 2), 0.9 * 3.0 / 1.5))
    np.testing.assert_allclose(b[1], boxes[2])
    np.testing.assert_allclose(box_iou(boxes[0], boxes[1:]), [90 / 110, 0.0])
    b, k, s = weighted_nms(np.zeros((0, 4)), np.zeros((0, 6, 2)), np.zeros(0), 0.3)
    assert b.shape == (0, 4) and k.shape == (0, 6, 2) and s.shape == (0,)


def test_roi_maps_round_trip_and_crop_is_exact():
    roi = Roi((40.0, 30.0), 64.0, 0.7)
    t = np.random.default_rng(0).uniform(0, 192, (10, 2))
    np.testing.assert_allclose(image_to_tensor(tensor_to_image(t, roi, 192), roi, 192), t, atol=1e-9)
    # Tensor centre -> ROI centre; z scales like x.
    np.testing.assert_allclose(tensor_to_image(np.array([[96.0, 96.0, 3.0]]), roi, 192), [[40.0, 30.0, 1.0]])
    # An upright ROI of 8x8 pixels on pixel-aligned edges, cropped to 8x8, copies the pixels exactly.
    img = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    block = Roi((5.5, 9.5), 8.0, 0.0)  # pixels 2..9 in x, 6..13 in y
    np.testing.assert_array_equal(crop_roi(img, block, 8), img[6:14, 2:10])
    # Rotated by +90 deg (clockwise on screen): the crop is the block turned counter-clockwise.
    turned = crop_roi(img, Roi((5.5, 9.5), 8.0, math.pi / 2), 8)
    np.testing.assert_array_equal(turned, np.rot90(img[6:14, 2:10], k=1))
    # Area pre-shrinking (ROI 4x larger than the tensor) averages 4x4 blocks.
    flat = np.kron(np.arange(16, dtype=np.uint8).reshape(4, 4) * 10, np.ones((4, 4), np.uint8))[:, :, None]
    shrunk = crop_roi(flat, Roi((7.5, 7.5), 16.0, 0.0), 4)[:, :, 0]
    np.testing.assert_array_equal(shrunk, np.arange(16).reshape(4, 4) * 10)
    # Outside the image: replicate or zero.
    out = crop_roi(img, Roi((-10.5, -10.5), 4.0, 0.0), 4, border="zero")
    assert np.all(out == 0)
    out = crop_roi(img, Roi((-10.5, -10.5), 4.0, 0.0), 4, border="replicate")
    assert np.all(out == img[0, 0])
    with pytest.raises(UsageError, match="size_px"):
        Roi((0.0, 0.0), 0.0, 0.0)


def test_roi_from_box_squares_and_scales():
    roi = roi_from_box(np.array([10.0, 20.0, 50.0, 40.0]), 0.25, 1.5)
    assert roi.center_px == (30.0, 30.0) and roi.size_px == 60.0 and roi.rotation_rad == 0.25


def test_mapping_table_is_consistent():
    assert sorted(IBUG_TO_MESH) == [8, 30, 36, 39, 42, 45, 48, 51, 54, 57]
    assert len(set(IBUG_TO_MESH.values())) == len(IBUG_TO_MESH)
    assert RIGHT_EYELID[0] == RIGHT_EYE_CORNERS[0] and RIGHT_EYELID[8] == RIGHT_EYE_CORNERS[1]
    assert LEFT_EYELID[0] == LEFT_EYE_CORNERS[1] and LEFT_EYELID[8] == LEFT_EYE_CORNERS[0]
    ib, pts = ibug_subset(np.arange(NUM_POINTS * 3).reshape(NUM_POINTS, 3))
    assert ib.tolist() == sorted(IBUG_TO_MESH) and pts[2, 0] == 3 * IBUG_TO_MESH[36]


def test_options_and_inputs_are_validated():
    with pytest.raises(UsageError, match="model must be"):
        FaceDetectorOptions(model="medium")
    with pytest.raises(UsageError, match="min_score"):
        FaceDetectorOptions(min_score=1.5)
    with pytest.raises(UsageError, match="num_threads"):
        FaceMeshOptions(num_threads=0)
    with pytest.raises(UsageError, match="needs bbox_px"):
        DetectFacesOptions(select="bbox")
    with pytest.raises(UsageError, match="x1 > x0"):
        DetectFacesOptions(select="bbox", bbox_px=(10, 10, 5, 20))
    with pytest.raises(UsageError, match=r"\(H, W, 3\) uint8"):
        detect_faces(np.zeros((10, 10), np.uint8))
    with pytest.raises(UsageError, match=r"\(H, W, 3\) uint8"):
        detect_faces(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(UsageError, match=r"bbox \(4,\)"):
        Detection(np.zeros(3), np.zeros((6, 2)), 0.5)
    assert parse_bbox(" 1, 2.5,30,40 ") == (1.0, 2.5, 30.0, 40.0)
    with pytest.raises(UsageError, match="four numbers"):
        parse_bbox("1,2,3")
    with pytest.raises(UsageError, match="four numbers"):
        parse_bbox("a,b,c,d")


def test_missing_or_corrupt_models_raise_asset_error(monkeypatch, tmp_path):
    monkeypatch.setattr(detect_models.importlib.util, "find_spec", lambda name: None)
    detect_models.model_path.cache_clear()
    try:
        with pytest.raises(AssetError, match="bootstrap.sh"):
            detect_models.model_path("face_landmark.tflite")
        monkeypatch.setattr(detect_models, "model_dir", lambda: tmp_path)
        (tmp_path / "iris_landmark.tflite").write_bytes(b"not a model")
        with pytest.raises(AssetError, match="differs"):
            detect_models.model_path("iris_landmark.tflite")
        with pytest.raises(AssetError, match="missing"):
            detect_models.model_path("face_landmark.tflite")
    finally:
        detect_models.model_path.cache_clear()


# ---------------------------------------------------------------- real models


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.astronaut())


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    return FaceMesh()


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    faces = detect_faces(astronaut, DetectFacesOptions(select="all"))
    assert len(faces) == 1
    return faces[0]


def test_astronaut_detection(astronaut):
    for model in ("short", "full", "auto"):
        dets = FaceDetector(FaceDetectorOptions(model=model)).detect(astronaut)
        assert len(dets) == 1, model
        d = dets[0]
        assert d.score > 0.8
        x0, y0, x1, y1 = d.bbox_px
        assert 160 < x0 < 190 and 260 < x1 < 290 and 55 < y0 < 90 and 160 < y1 < 185
        # Keypoint 0 is the subject's right eye: smaller x in this (non-mirrored) photo; nose below the eyes.
        assert d.keypoints_px[0, 0] < d.keypoints_px[1, 0]
        assert d.keypoints_px[2, 1] > d.keypoints_px[:2, 1].max()


def test_astronaut_landmarks(astronaut_face):
    f = astronaut_face
    pts = f.points_px
    assert pts.shape == (478, 3) and pts.dtype == np.float32 and np.all(np.isfinite(pts))
    assert f.presence > 0.9
    assert not pts.flags.writeable
    # Everything inside the detector's box grown by a quarter of its size on each side.
    x0, y0, x1, y1 = f.detection.bbox_px
    m = 0.25 * (x1 - x0)
    assert np.all((pts[:, 0] > x0 - m) & (pts[:, 0] < x1 + m) & (pts[:, 1] > y0 - m) & (pts[:, 1] < y1 + m))
    # Subject's right eye (mesh 33/133, iris 468-472) at smaller x than the left eye (362/263, 473-477).
    right, left = pts[list(RIGHT_EYE_CORNERS)], pts[list(LEFT_EYE_CORNERS)]
    assert right[:, 0].max() < left[:, 0].min()
    assert pts[RIGHT_EYE_CORNERS[0], 0] < pts[RIGHT_EYE_CORNERS[1], 0]  # outer corner further out
    assert pts[LEFT_EYE_CORNERS[0], 0] < pts[LEFT_EYE_CORNERS[1], 0]
    for iris, corners in ((RIGHT_IRIS, RIGHT_EYE_CORNERS), (LEFT_IRIS, LEFT_EYE_CORNERS)):
        cx = pts[iris[0], 0]
        assert pts[list(corners), 0].min() < cx < pts[list(corners), 0].max()
    np.testing.assert_allclose(pts[RIGHT_IRIS[0], :2], ASTRONAUT_RIGHT_IRIS, atol=2.0)
    np.testing.assert_allclose(pts[LEFT_IRIS[0], :2], ASTRONAUT_LEFT_IRIS, atol=2.0)
    # Iris edges: nasal, top, temporal, bottom (mirrored between the eyes).
    assert pts[469, 0] > pts[471, 0] and pts[474, 0] < pts[476, 0]
    assert pts[470, 1] < pts[468, 1] < pts[472, 1] and pts[475, 1] < pts[473, 1] < pts[477, 1]
    # Vertical order: eyes above the nose tip above the mouth above the chin; the nose tip is nearest the camera.
    assert pts[33, 1] < pts[4, 1] < pts[0, 1] < pts[17, 1] < pts[152, 1]
    assert pts[4, 2] < pts[[33, 263, 61, 291, 152], 2].min()
    # Iris z is the mean z of its eyelid.
    assert pts[468, 2] == pytest.approx(pts[list(RIGHT_EYELID), 2].mean(), abs=1e-4)
    # The landmark box is the box of the 468 mesh points.
    np.testing.assert_allclose(f.bbox_px, np.r_[pts[:468, :2].min(0), pts[:468, :2].max(0)])


def test_eye_mirroring_matches_the_mesh(astronaut, astronaut_face, mesh):
    """The iris model's eyelid contour lands on the mesh eyelid only with the left eye mirrored (and not the right)."""
    pts = mesh.mesh_in_roi(astronaut, astronaut_face.roi).points_px  # eyelids not yet refined by the iris model
    for corners, lid, mirror_ok in ((RIGHT_EYE_CORNERS, RIGHT_EYELID, False), (LEFT_EYE_CORNERS, LEFT_EYELID, True)):
        errs = {}
        for mirror in (False, True):
            eye = mesh.run_eye(astronaut, pts[corners[0], :2], pts[corners[1], :2], mirror)
            errs[mirror] = np.linalg.norm(eye.contour_px[:16, :2] - pts[list(lid), :2], axis=1).mean()
        assert errs[mirror_ok] < 1.5 and errs[not mirror_ok] > 5.0


def test_blank_and_noise_have_no_face():
    blank = np.full((240, 320, 3), 128, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    for img in (blank, noise):
        with pytest.raises(NoFaceError, match="no face found"):
            detect_faces(img)


@pytest.fixture(scope="module")
def two_faces(astronaut):
    """Astronaut face crop pasted twice onto grey: 320 px wide on the left, 160 px wide on the right."""
    face = astronaut[20:240, 120:340]
    canvas = np.full((420, 700, 3), 120, np.uint8)
    canvas[40:360, 20:340] = cv2.resize(face, (320, 320), interpolation=cv2.INTER_AREA)
    canvas[200:360, 480:640] = cv2.resize(face, (160, 160), interpolation=cv2.INTER_AREA)
    return canvas


def test_two_faces_largest_first_and_selection(two_faces):
    faces = detect_faces(two_faces, DetectFacesOptions(select="all"))
    assert len(faces) == 2
    big, small = faces
    assert big.area_px > 3 * small.area_px
    assert big.bbox_px[2] < 340 and small.bbox_px[0] > 480
    # The two faces are the same face at scales 320/220 and 160/220: their landmarks agree after scaling.
    to_big = (big.points_px[:468, :2] - (20, 40)) / 320
    to_small = (small.points_px[:468, :2] - (480, 200)) / 160
    assert np.abs(to_big - to_small).mean() < 0.01
    largest = detect_faces(two_faces)
    assert len(largest) == 1 and np.array_equal(largest[0].points_px, big.points_px)
    chosen = detect_faces(two_faces, DetectFacesOptions(select="bbox", bbox_px=(450, 150, 690, 400)))
    assert len(chosen) == 1 and np.array_equal(chosen[0].points_px, small.points_px)
    # A generous box around the big face picks it even though it also touches the small one's corner.
    assert select_by_bbox(faces, (0, 0, 500, 420)) is big
    with pytest.raises(NoFaceError, match="overlaps"):
        detect_faces(two_faces, DetectFacesOptions(select="bbox", bbox_px=(350, 0, 460, 100)))


def test_pixel_centre_convention_under_scaling(astronaut, astronaut_face, mesh):
    """Upsampling by 2 (pixel-centre aligned) maps every landmark p to 2 p + 0.5."""
    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_LINEAR)
    f2 = mesh.landmarks(big, astronaut_face.bbox_px * 2 + 0.5)
    want = astronaut_face.points_px[:, :2] * 2 + 0.5
    assert np.abs(f2.points_px[:, :2] - want).mean() < 1.0  # 0.5 px at the original scale
    np.testing.assert_allclose(f2.points_px[:, 2], astronaut_face.points_px[:, 2] * 2, atol=6.0)


def test_rolled_face_follows_the_rotation(astronaut, astronaut_face):
    angle_deg = 35.0
    centre = (224.0, 120.0)
    rot = cv2.getRotationMatrix2D(centre, angle_deg, 1.0)
    rolled = cv2.warpAffine(astronaut, rot, (512, 512), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    f = detect_faces(rolled)[0]
    want = astronaut_face.points_px[:, :2] @ rot[:, :2].T + rot[:, 2]
    assert np.median(np.linalg.norm(f.points_px[:, :2] - want, axis=1)) < 1.0
    # The mesh ROI turned with the face (OpenCV's positive angle is counter-clockwise on screen).
    assert f.roi.rotation_rad == pytest.approx(astronaut_face.roi.rotation_rad - math.radians(angle_deg), abs=0.05)


def test_tracking_follows_a_shift(astronaut, astronaut_face, mesh):
    same = mesh.track(astronaut, astronaut_face)
    assert np.abs(same.points_px[:, :2] - astronaut_face.points_px[:, :2]).mean() < 0.75
    shift = np.float64([[1, 0, 12], [0, 1, -7]])
    moved = cv2.warpAffine(astronaut, shift, (512, 512), borderMode=cv2.BORDER_REFLECT)
    f = mesh.track(moved, astronaut_face)
    assert f.detection is None and f.presence > 0.9
    assert np.abs(f.points_px[:, :2] - (astronaut_face.points_px[:, :2] + (12, -7))).mean() < 0.75
    # No face where the previous one was: low presence, no exception.
    lost = mesh.track(np.full((512, 512, 3), 90, np.uint8), astronaut_face)
    assert lost.presence < 0.5


def test_landmarks_from_a_box_without_keypoints(astronaut, astronaut_face, mesh):
    f = mesh.landmarks(astronaut, np.array([175.0, 70.0, 275.0, 175.0]))
    assert f.detection is None and f.presence > 0.9
    assert np.median(np.linalg.norm(f.points_px[:, :2] - astronaut_face.points_px[:, :2], axis=1)) < 1.0
    with pytest.raises(UsageError, match="x1 > x0"):
        mesh.landmarks(astronaut, np.array([10.0, 10.0, 5.0, 20.0]))


def test_threads_option_gives_same_answer(astronaut, astronaut_face):
    opts = DetectFacesOptions(detector=FaceDetectorOptions(num_threads=2), mesh=FaceMeshOptions(num_threads=2))
    f = detect_faces(astronaut, opts)[0]
    np.testing.assert_allclose(f.points_px, astronaut_face.points_px, atol=1e-3)
