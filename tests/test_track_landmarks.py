"""Landmarks over time: cut measures, eye openness, and detector/tracking/cut/loss handling on real frames."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DEV_DATA

from faceforge.detect.eyes import eye_openness, iris_visibility
from faceforge.detect.indices import LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS
from faceforge.errors import UsageError
from faceforge.io.video import read_video_frames
from faceforge.track.landmarks import (
    LandmarkTracker,
    LandmarkTrackOptions,
    frame_histogram,
    histogram_distance,
    landmark_jump,
)

VIDEOS = DEV_DATA / "video"


def test_histogram_distance() -> None:
    black = np.zeros((64, 64, 3), np.uint8)
    white = np.full((64, 64, 3), 255, np.uint8)
    h = frame_histogram(black)
    assert h.shape == (512,) and h.sum() == pytest.approx(1.0) and h[0] == 1.0
    assert frame_histogram(white)[-1] == 1.0
    assert histogram_distance(h, h) == 0.0
    assert histogram_distance(h, frame_histogram(white)) == 1.0
    half = black.copy()
    half[:32] = 255
    assert histogram_distance(h, frame_histogram(half)) == pytest.approx(0.5)


def test_landmark_jump_and_eye_openness() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(100, 300, (478, 2))
    assert landmark_jump(pts, pts) == 0.0
    size = float(np.linalg.norm(np.ptp(pts[:468], axis=0)))
    assert landmark_jump(pts, pts + [3.0, 4.0]) == pytest.approx(5.0 / size)
    eye = np.zeros((478, 2))
    for outer, inner in (RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS):
        eye[outer], eye[inner] = (0.0, 0.0), (10.0, 0.0)
    for up, lo in ((160, 144), (159, 145), (158, 153), (387, 373), (386, 374), (385, 380)):
        eye[up], eye[lo] = (5.0, -1.5), (5.0, 1.5)
    np.testing.assert_allclose(eye_openness(eye), [0.3, 0.3])
    np.testing.assert_allclose(iris_visibility(eye, 0.1, 0.2), [1.0, 1.0])
    np.testing.assert_allclose(iris_visibility(eye, 0.2, 0.4), [0.5, 0.5])
    np.testing.assert_allclose(iris_visibility(eye, 0.35, 0.5), [0.0, 0.0])


def test_options_are_checked() -> None:
    with pytest.raises(UsageError, match="cut_threshold"):
        LandmarkTrackOptions(cut_threshold=0.0)
    with pytest.raises(UsageError, match="redetect_every"):
        LandmarkTrackOptions(redetect_every=0)


@pytest.mark.skipif(not VIDEOS.is_dir(), reason="development videos not available")
def test_cut_and_loss_are_detected_and_recovered() -> None:
    a = [f.image for f in read_video_frames(VIDEOS / "liveportrait_d3.mp4", max_frames=6)]
    b = [f.image for f in read_video_frames(VIDEOS / "sadtalker_WDA_KatieHill_000.mp4", max_frames=6)]
    grey = np.full_like(a[0], 128)
    frames = a + b + [grey, grey] + b[:3]  # 0-5 shot A, 6-11 shot B (a cut), 12-13 no face, 14-16 face again
    tracker = LandmarkTracker()
    steps = [tracker.step(f) for f in frames]
    has_face = [s.face is not None for s in steps]
    assert has_face == [True] * 12 + [False, False] + [True] * 3
    assert [i for i, s in enumerate(steps) if s.new_segment] == [0, 6, 14]
    assert [i for i, s in enumerate(steps) if s.cut] == [6, 12, 14]
    assert tracker.cuts == 3
    # tracking mode between detector runs: 17 frames, detector on 0, 6, 12, 13, 14
    assert tracker.detector_runs == 5
    # the tracked face of shot B is the one in B (its landmark box overlaps the detector's on B's first frame)
    box_b = steps[6].face.bbox_px
    assert np.abs(steps[11].face.bbox_px - box_b).max() < 0.1 * (box_b[2] - box_b[0])
