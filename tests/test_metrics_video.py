"""Landmark jitter, flow warping error, SSIM, FPS and the cumulative-error helpers."""

from __future__ import annotations

import numpy as np
import pytest

from faceforge.errors import UsageError
from faceforge.metrics.image import ssim
from faceforge.metrics.landmarks import area_under_curve, cumulative_error_curve, failure_rate, nme_on_points
from faceforge.metrics.speed import frames_per_second
from faceforge.metrics.temporal import (
    consistent_flow_mask,
    flow_warping_error,
    landmark_jitter,
    optical_flow,
    warp_with_flow,
    warping_error_with_flow,
)


def _face68() -> np.ndarray:
    rng = np.random.default_rng(1)
    pts = rng.uniform(0, 100, (68, 2))
    pts[36], pts[45] = (20.0, 40.0), (80.0, 40.0)  # outer eye corners 60 px apart
    return pts


def test_jitter_is_zero_for_constant_velocity_and_exact_for_one_kick() -> None:
    base = _face68()
    track = np.stack([base + t * np.array([2.0, -1.0]) for t in range(6)])
    assert landmark_jitter(track) == pytest.approx(0.0, abs=1e-15)
    kicked = track.copy()
    kicked[3] += np.array([3.0, 4.0])  # 5 px at frame 3: second differences 5, -10, 5 at frames 2, 3, 4
    assert landmark_jitter(kicked) == pytest.approx((5 + 10 + 5) / 4 / 60.0)
    # Against a reference the true motion cancels: a noise-free track has no jitter whatever it does.
    wobble = track + np.sin(np.arange(6))[:, None, None] * 7.0
    assert landmark_jitter(wobble, reference_px=wobble) == 0.0
    assert landmark_jitter(kicked, reference_px=track) == pytest.approx(landmark_jitter(kicked))


def test_jitter_uses_the_box_size_for_other_layouts_and_refuses_bad_tracks() -> None:
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 40.0], [0.0, 40.0]])  # sqrt(10 * 40) = 20
    track = np.stack([square, square, square + [2.0, 0.0], square + [4.0, 0.0]])
    assert landmark_jitter(track) == pytest.approx((2.0 + 0.0) / 2 / 20.0)
    with pytest.raises(UsageError, match="at least 3 frames"):
        landmark_jitter(track[:2])
    with pytest.raises(UsageError, match=r"expected shape \(T, L, 2\)"):
        landmark_jitter(np.zeros((5, 4, 3)))
    with pytest.raises(UsageError, match="must match"):
        landmark_jitter(track, reference_px=track[:, :3])
    nan = track.copy()
    nan[1, 1, 1] = np.nan
    with pytest.raises(UsageError, match="NaN"):
        landmark_jitter(nan)


def _texture(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(6):
            f = rng.uniform(0.05, 0.25, 2)
            img[..., c] += np.sin(f[0] * x + f[1] * y + rng.uniform(0, 6))
    return np.clip((img / 6 + 0.5) * 255, 0, 255).astype(np.uint8)


def test_warping_with_an_exact_integer_flow_gives_zero_error() -> None:
    frame = _texture()
    shifted = np.roll(frame, shift=(2, -3), axis=(0, 1))  # shifted(p) = frame(p - (dx, dy)), dx = -3, dy = 2
    flow = np.zeros(frame.shape[:2] + (2,), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, -2.0  # from the shifted frame back to the original one
    warped, inside = warp_with_flow(frame, flow)
    valid = inside.copy()
    valid[:2], valid[:, -3:] = False, False  # rolled-in border rows/columns
    np.testing.assert_array_equal(warped[valid], shifted[valid].astype(np.float32))
    assert warping_error_with_flow(frame, shifted, flow, valid) == 0.0
    assert warping_error_with_flow(frame, 255 - shifted, flow, valid) > 0.1
    back = consistent_flow_mask(flow, -flow)
    assert back[10:-10, 10:-10].all() and not back[:, -1].any()  # leaving the image is not consistent


def test_flow_warping_error_separates_a_smooth_pan_from_flicker() -> None:
    frame = _texture()
    pan = np.stack([np.roll(frame, shift=(0, k), axis=(0, 1)) for k in range(4)])
    smooth = flow_warping_error(pan)
    rng = np.random.default_rng(5)
    flicker = np.clip(pan.astype(np.int16) + rng.integers(-60, 60, pan.shape), 0, 255).astype(np.uint8)
    noisy = flow_warping_error(flicker, guide_frames=pan)
    assert smooth.per_pair.shape == (3,) and smooth.valid_fraction.min() > 0.5
    assert smooth.mean < 0.002 and noisy.mean > 20 * smooth.mean
    masked = flow_warping_error(pan, masks=np.zeros(pan.shape[:3], bool))
    assert np.isnan(masked.mean) and (masked.valid_fraction == 0).all()
    flow = optical_flow(pan[1], pan[0])  # pan[1](p) = pan[0](p - 1 px in x): the flow back is -1 in x
    assert np.median(flow[20:-20, 20:-20, 0]) == pytest.approx(-1.0, abs=0.1)
    with pytest.raises(UsageError, match="flow method"):
        optical_flow(pan[0], pan[1], "magic")
    with pytest.raises(UsageError, match="T >= 2"):
        flow_warping_error(pan[:1])


def test_ssim_values_and_refusals() -> None:
    a = _texture()
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    b = np.clip(a.astype(np.int16) + 40, 0, 255).astype(np.uint8)
    s = ssim(a, b)
    assert 0.0 < s < 1.0
    mask = np.zeros(a.shape[:2], bool)
    mask[20:40, 20:40] = True
    c = a.copy()
    c[60:, 80:] = 0  # damage outside the mask
    assert ssim(a, c, mask=mask) == pytest.approx(1.0, abs=1e-12) and ssim(a, c) < 1.0
    assert ssim(a.astype(np.float64) / 255, a.astype(np.float64) / 255) == pytest.approx(1.0)
    with pytest.raises(UsageError, match="one shape and dtype"):
        ssim(a, a[:50])
    with pytest.raises(UsageError, match="H, W >= 11"):
        ssim(a[:5], a[:5])
    with pytest.raises(UsageError, match="no pixel selected"):
        ssim(a, a, mask=np.zeros(a.shape[:2], bool))


def test_frames_per_second() -> None:
    assert frames_per_second([10.0, 30.0]) == pytest.approx(50.0)
    with pytest.raises(UsageError, match="at least one"):
        frames_per_second([])
    with pytest.raises(UsageError, match="> 0"):
        frames_per_second([10.0, 0.0])


def test_cumulative_error_helpers_are_exact() -> None:
    errors = np.array([0.0, 0.02, 0.05, 0.2, np.inf])
    assert failure_rate(errors, 0.1) == 0.4
    # AUC@0.08 = mean(max(0, 0.08 - e)) / 0.08 = (0.08 + 0.06 + 0.03) / 5 / 0.08
    assert area_under_curve(errors, 0.08) == pytest.approx(0.17 / 5 / 0.08)
    curve = cumulative_error_curve(errors, 0.1, num_points=11)
    np.testing.assert_allclose(curve.thresholds, np.linspace(0, 0.1, 11))
    np.testing.assert_allclose(curve.fractions, [0.2, 0.2, 0.4, 0.4, 0.4, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6])
    with pytest.raises(UsageError, match="no NaN"):
        failure_rate(np.array([np.nan]))
    with pytest.raises(UsageError, match="at least one value"):
        area_under_curve(np.zeros(0))


def test_nme_on_a_subset_of_points_keeps_the_full_normalizer() -> None:
    gt = _face68()
    idx = np.array([8, 30, 36, 45])
    assert nme_on_points(gt[idx] + [3.0, 4.0], gt, idx) == pytest.approx(5.0 / 60.0)
    with pytest.raises(UsageError, match=r"pred_px: expected \(4, 2\)"):
        nme_on_points(gt[:3], gt, idx)
    with pytest.raises(UsageError, match="indices"):
        nme_on_points(gt[:1], gt, np.array([70]))
