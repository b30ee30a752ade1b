"""The Tracker on synthetic landmark sequences made from known ICT-FaceKit parameters (with a blink and noise).

The landmarks are projected from the tracker's own point basis, so the model is exact and the errors measured are
the tracker's: it must recover the blink, hold invalid frames as documented, and give a steadier (lower jitter)
and more accurate landmark track than independent per-frame fitting of the same noisy landmarks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceforge.detect.mesh import FaceLandmarks
from faceforge.detect.roi import Roi
from faceforge.errors import NoFaceError, UsageError
from faceforge.fit.landmark_fit import opposite_pairs, project_points, rotvec_to_matrix
from faceforge.fit.reconstruct import FaceFitter, ReconstructOptions
from faceforge.geometry import euler_to_matrix
from faceforge.metrics.temporal import landmark_jitter
from faceforge.track import SmoothingOptions, TrackBuilder, Tracker, TrackOptions
from faceforge.track.basis import tracking_bases
from faceforge.track.solver import FrameState, fit_frame

pytestmark = pytest.mark.ict

SIZE = (512, 512)
FOCAL = 700.0
PRINCIPAL = np.array([255.5, 255.5])
T = 80
BLINK = range(40, 44)


@pytest.fixture(scope="module")
def fitter(ict_model) -> FaceFitter:
    return FaceFitter(ict_model)


@pytest.fixture(scope="module")
def clip(fitter):
    """Truth and noisy landmarks of a T-frame clip: head turning, jaw moving, both eyes blinking at BLINK."""
    m = fitter.model
    names = m.expression_names
    basis, ibug = tracking_bases(fitter)
    rng = np.random.default_rng(3)
    identity = np.zeros(m.num_identity)
    identity[:20] = rng.normal(0, 0.5, 20)
    t = np.arange(T)
    expr = np.zeros((T, m.num_expression))
    expr[:, names.index("jawOpen")] = 0.25 + 0.2 * np.sin(t / 6.0)
    expr[:, names.index("mouthSmile_L")] = 0.2
    for k, w in zip((39, 40, 41, 42, 43, 44), (0.5, 1.0, 1.0, 1.0, 1.0, 0.5), strict=True):
        expr[k, names.index("eyeBlink_L")] = expr[k, names.index("eyeBlink_R")] = w
    ypr = np.stack([0.25 * np.sin(t / 15.0), 0.05 * np.cos(t / 11.0), 0.03 * np.sin(t / 9.0)], 1)
    rot = euler_to_matrix(torch.tensor(ypr)).numpy()
    trans = np.stack([1.0 * np.sin(t / 20.0), 0.5 * np.cos(t / 17.0), -60.0 + 2.0 * np.sin(t / 25.0)], 1)
    truth, truth68 = [], []
    for i in range(T):
        world = basis.positions(identity, expr[i]) @ rot[i].T + trans[i]
        truth.append(project_points(world, FOCAL, PRINCIPAL))
        w68 = ibug.positions(identity, expr[i]) @ rot[i].T + trans[i]
        truth68.append(project_points(w68, FOCAL, PRINCIPAL))
    truth = np.array(truth)
    noisy = truth + rng.normal(0, 0.7, truth.shape)
    return {"truth": truth, "noisy": noisy, "truth68": np.array(truth68), "expr": expr}


def _track(fitter, points, options=None, segments=()):
    tracker = Tracker(fitter, SIZE, options)
    builder = TrackBuilder(fitter.model.num_expression)
    for i, p in enumerate(points):
        builder.add(tracker.push_landmarks(p, i * 40.0, new_segment=i in segments))
    builder.add(tracker.finish())
    return builder.build(tracker, 25.0)


def test_tracker_recovers_blink_and_beats_per_frame_fitting(fitter, clip) -> None:
    track = _track(fitter, clip["noisy"])
    names = fitter.model.expression_names
    assert track.num_frames == T and track.valid.all()
    np.testing.assert_array_equal(track.timestamps_ms, np.arange(T) * 40.0)
    assert track.params.identity.shape == (T, fitter.model.num_identity)
    assert track.camera.focal[0, 0].item() == pytest.approx(FOCAL, rel=0.15)  # depth/focal ambiguity: ~9 % here
    blink = track.params.expression[:, [names.index("eyeBlink_L"), names.index("eyeBlink_R")]].mean(1).numpy()
    assert blink[list(BLINK)].min() > 0.75
    assert np.median(np.delete(blink, range(36, 48))) < 0.1
    jaw = track.params.expression[:, names.index("jawOpen")].numpy()
    assert np.abs(jaw - clip["expr"][:, names.index("jawOpen")]).mean() < 0.1

    # independent per-frame fits of the same noisy landmarks (FaceFitter, fresh identity and focal each frame)
    per_frame = []
    for p in clip["noisy"]:
        pts = np.c_[p, np.zeros(478)]
        box = np.r_[p.min(0), p.max(0)]
        face = FaceLandmarks(pts, 1.0, box, Roi((float(p[:, 0].mean()), float(p[:, 1].mean())), 300.0, 0.0))
        per_frame.append(fitter.fit_face(face, SIZE, ReconstructOptions(contour=False)).landmarks_68_px)
    per_frame = np.array(per_frame)
    truth68 = clip["truth68"]
    jit_track = landmark_jitter(track.landmarks_68_px, truth68)
    jit_frame = landmark_jitter(per_frame, truth68)
    assert jit_track < 0.3 * jit_frame
    err_track = np.linalg.norm(track.landmarks_68_px - truth68, axis=2).mean()
    err_frame = np.linalg.norm(per_frame - truth68, axis=2).mean()
    assert err_track < err_frame


def test_invalid_frames_hold_and_segments_restart(fitter, clip) -> None:
    points = list(clip["noisy"][:70])
    for i in (0, 1, 30, 31):
        points[i] = None
    opts = TrackOptions(identity_window=20)
    track = _track(fitter, points, opts, segments={32})
    valid = np.ones(70, bool)
    valid[[0, 1, 30, 31]] = False
    np.testing.assert_array_equal(track.valid, valid)
    p = track.params
    # leading invalid frames hold the first valid frame, a gap holds the last frame before it
    for a, b in ((0, 2), (1, 2), (30, 29), (31, 29)):
        assert torch.equal(p.expression[a], p.expression[b]) and torch.equal(p.rotation[a], p.rotation[b])
    assert np.isnan(track.rms_px[[0, 1, 30, 31]]).all() and np.isfinite(track.rms_px[valid]).all()
    assert track.new_segment[32] and not track.new_segment[33]
    assert track.identity_frames == 18


def test_no_face_anywhere_raises(fitter) -> None:
    tracker = Tracker(fitter, SIZE, TrackOptions(identity_window=3))
    for i in range(5):
        assert tracker.push_landmarks(None, i * 40.0) == []
    with pytest.raises(NoFaceError, match="no face found in any of the 5 frames"):
        tracker.finish()
    with pytest.raises(UsageError, match="478, 2"):
        tracker.push_landmarks(np.zeros((68, 2)), 0.0)
    with pytest.raises(UsageError, match="frame is 64x64"):
        tracker.push(np.zeros((64, 64, 3), np.uint8), 0.0)


def test_no_smoothing_passes_the_fits_through(fitter, clip) -> None:
    opts = TrackOptions(identity_window=10, smoothing=SmoothingOptions(laplacian=False))
    track = _track(fitter, clip["truth"][:20], opts)
    # noise-free landmarks of an exact model: the raw per-frame fits land on the truth
    err = np.linalg.norm(track.landmarks_68_px - clip["truth68"][:20], axis=2).mean()
    assert err < 0.5  # pixels


def test_exclusive_pairs_keep_one_side(fitter, clip) -> None:
    m = fitter.model
    names = m.expression_names
    basis, _ = tracking_bases(fitter)
    pairs = opposite_pairs(names)
    assert {(names[a], names[b]) for a, b in pairs} >= {("eyeLookIn_L", "eyeLookOut_L"), ("jawLeft", "jawRight")}
    from faceforge.track.identity import fixed_identity_basis

    fixed = fixed_identity_basis(basis, np.zeros(m.num_identity))
    start = np.ones(m.num_expression) * 0.5
    init = FrameState(rotvec_to_matrix(np.zeros(3)), np.array([0.0, 0.0, -60.0]), start)
    fit = fit_frame(fixed, clip["noisy"][0], np.ones(478), FOCAL, PRINCIPAL, init, exclusive_pairs=pairs)
    e = fit.state.expression
    for a, b in pairs:
        assert min(e[a], e[b]) == 0.0
