"""Benchmark suite "track": video -> animated head on the development videos, against per-frame fitting.

For every development video (``../shared/data/dev/video/*.mp4``, or ``$FACEFORGE_DEV_DATA/video``) two methods run:

* **tracked**: ``Tracker`` with its default options (detector once, tracking-mode mesh, shared identity, fixed-lag
  Laplacian smoother);
* **per-frame**: ``detect_faces`` + ``FaceFitter.fit_face`` on every frame independently (fresh detection, own
  identity and focal length per frame; no jaw contour, so both methods report the same iBUG-68 surface points).

Figures (one run each; frames where either method found no face are left out of the comparisons):

* **jitter**: ``metrics.temporal.landmark_jitter`` of the fitted iBUG-68 landmarks (mean second difference per
  frame, in inter-ocular distances); ``jitter_ratio`` = per-frame / tracked.
* **landmark flow error**: the fitted landmarks of frame t moved by the video's optical flow (DIS, t -> t+1)
  against the fitted landmarks of frame t+1, mean distance in % of the inter-ocular distance: how well the
  landmarks follow the image motion (noise and drift both count).
* **warping error** (``metrics.temporal`` / Lai et al. 2018) of the rendered heads (shaded mesh on black, guide flow
  from the input video, scored on the rendered face) over the first ``warp_frames`` frames (x 1e3).
* **agreement**: NME (% inter-ocular) between the fitted iBUG-68 points that have an unambiguous MediaPipe
  counterpart (``detect.indices.IBUG_TO_MESH``: eye and mouth corners, lips, nose tip, chin) and those mesh points
  of a *fresh* detection in that frame (what per-frame fitting is fitted to); ``own``: against the landmarks the
  method was fitted to (for the tracker the tracking-mode mesh; for per-frame fitting the same fresh detection).
* **blinks**: eyeBlink (mean of L and R) at frames whose detected eyes are closed (lid opening / eye width < 0.12 on
  both eyes) vs at open frames (> 0.22), median of each.
* **speed**: the tracker's time per frame excluding decoding (``Tracker.push``: landmarks + fit + smoothing), one
  thread; the table's median/min are per frame, ``fps_tracked`` = 1000 / mean ms (throughput, including the
  one-off shared-identity estimate and the detector runs).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceforge.bench.registry import BenchOptions, BenchRow, register_suite

log = logging.getLogger(__name__)

WARP_FRAMES = 100


def dev_video_dir() -> Path:
    env = os.environ.get("FACEFORGE_DEV_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[3].parent / "shared" / "data" / "dev"
    return root / "video"


@dataclass
class MethodRun:
    """Per-frame outputs of one method on one video (T frames)."""

    landmarks_68_px: np.ndarray  # (T, 68, 2)
    valid: np.ndarray  # (T,)
    expression: np.ndarray  # (T, Ne)
    params: list  # T FaceParams (batch 1) or None
    cameras: list  # T Camera (batch 1) or None
    ms_per_frame: np.ndarray  # (T,)


def run_tracked(path: Path, fitter, options=None, max_frames: int | None = None) -> tuple[MethodRun, object]:
    """Track a video; returns the run and the Track (with detections kept)."""
    from dataclasses import replace

    from faceforge.io.video import probe_video, read_video_frames
    from faceforge.track import TrackBuilder, Tracker, TrackOptions

    options = replace(options or TrackOptions(), keep_detections=True, max_frames=max_frames)
    info = probe_video(path)
    tracker = Tracker(fitter, (info.width, info.height), options)
    builder = TrackBuilder(fitter.model.num_expression, True)
    times = []
    for frame in read_video_frames(path, max_frames):
        t0 = time.perf_counter()
        out = tracker.push(frame.image, frame.timestamp_ms)
        times.append((time.perf_counter() - t0) * 1000.0)
        builder.add(out)
    t0 = time.perf_counter()
    builder.add(tracker.finish())
    times[-1] += (time.perf_counter() - t0) * 1000.0
    track = builder.build(tracker, info.fps)
    p = track.params
    params = [p.select(i) for i in range(track.num_frames)]
    run = MethodRun(track.landmarks_68_px.astype(np.float64), track.valid.copy(), p.expression.numpy().copy(),
                    params, [track.camera] * track.num_frames, np.array(times))
    return run, track


def run_per_frame(path: Path, fitter, max_frames: int | None = None) -> tuple[MethodRun, np.ndarray]:
    """Fresh detection + fit_face on every frame; returns the run and the detections (T, 478, 2) (NaN: none)."""
    from faceforge.detect.faces import detect_faces
    from faceforge.errors import NoFaceError
    from faceforge.fit.reconstruct import ReconstructOptions
    from faceforge.io.video import read_video_frames

    opts = ReconstructOptions(contour=False)
    lms, valid, expr, params, cams, dets, times = [], [], [], [], [], [], []
    ne = fitter.model.num_expression
    for frame in read_video_frames(path, max_frames):
        h, w = frame.image.shape[:2]
        t0 = time.perf_counter()
        try:
            face = detect_faces(frame.image)[0]
            rec = fitter.fit_face(face, (w, h), opts)
        except NoFaceError:
            rec = None
        times.append((time.perf_counter() - t0) * 1000.0)
        if rec is None:
            lms.append(np.full((68, 2), np.nan))
            valid.append(False)
            expr.append(np.zeros(ne))
            params.append(None)
            cams.append(None)
            dets.append(np.full((478, 2), np.nan))
            continue
        lms.append(rec.landmarks_68_px)
        valid.append(True)
        expr.append(rec.params.expression[0].numpy())
        params.append(rec.params)
        cams.append(rec.camera)
        dets.append(rec.detected_px[:, :2])
    run = MethodRun(np.array(lms, dtype=np.float64), np.array(valid), np.array(expr), params, cams, np.array(times))
    return run, np.array(dets, dtype=np.float64)


def iod(lm68: np.ndarray) -> np.ndarray:
    """(T, 68, 2) -> (T,) outer-eye-corner distance."""
    return np.linalg.norm(lm68[:, 36] - lm68[:, 45], axis=1)


def agreement_nme(lm68: np.ndarray, detections: np.ndarray, valid: np.ndarray) -> float:
    """Mean NME (% inter-ocular of the detection) over IBUG_TO_MESH points and valid frames."""
    from faceforge.detect.indices import IBUG_TO_MESH

    ib = np.array(sorted(IBUG_TO_MESH))
    mesh = np.array([IBUG_TO_MESH[i] for i in ib])
    det = detections[valid][:, mesh]
    fit = lm68[valid][:, ib]
    d = np.linalg.norm(detections[valid][:, 33] - detections[valid][:, 263], axis=1)
    return float((np.linalg.norm(fit - det, axis=2).mean(1) / d).mean() * 100.0)


def eye_states(detections: np.ndarray) -> np.ndarray:
    """(T, 478, 2) -> (T, 2) lid opening / eye width (subject's right, left); NaN rows stay NaN."""
    from faceforge.detect.eyes import eye_openness

    out = np.full((len(detections), 2), np.nan)
    for i, d in enumerate(detections):
        if np.isfinite(d).all():
            out[i] = eye_openness(d)
    return out


def blink_figures(expression: np.ndarray, names: tuple[str, ...], openness: np.ndarray) -> dict[str, float]:
    blink = expression[:, [names.index("eyeBlink_L"), names.index("eyeBlink_R")]].mean(1)
    closed = np.nan_to_num(openness, nan=1.0).max(1) < 0.12
    opened = np.nan_to_num(openness, nan=0.0).min(1) > 0.22
    return {
        "closed_frames": int(closed.sum()),
        "blink_closed_median": float(np.median(blink[closed])) if closed.any() else float("nan"),
        "blink_closed_max": float(blink[closed].max()) if closed.any() else float("nan"),
        "blink_open_median": float(np.median(blink[opened])) if opened.any() else float("nan"),
    }


def flow_figures(path: Path, model, runs: dict[str, MethodRun], both: np.ndarray, max_frames: int | None,
                 warp_frames: int) -> dict[str, dict[str, float]]:
    """Landmark flow error (all frames) and the rendered warping error (first ``warp_frames``) per method."""
    from faceforge.io.video import read_video_frames
    from faceforge.metrics.temporal import consistent_flow_mask, optical_flow, warping_error_with_flow
    from faceforge.morphable import evaluate
    from faceforge.render.overlay import overlay_mesh
    from faceforge.render.parts import select_faces, visible_face_indices

    visible = visible_face_indices(model)
    lm_err: dict[str, list[float]] = {k: [] for k in runs}
    warp: dict[str, list[float]] = {k: [] for k in runs}
    prev_img = None
    prev_render: dict[str, np.ndarray] = {}

    def render(run: MethodRun, i: int, shape: tuple[int, ...]) -> np.ndarray:
        with torch.no_grad():
            mesh = select_faces(evaluate(model, run.params[i]), visible)
        return overlay_mesh(np.zeros(shape, np.uint8), mesh, run.cameras[i], alpha=1.0, max_side=256)

    for frame in read_video_frames(path, max_frames):
        i = frame.index
        img = frame.image
        if prev_img is not None and both[i - 1] and both[i]:
            fwd = optical_flow(prev_img, img)
            for k, run in runs.items():
                a = run.landmarks_68_px[i - 1]
                ix = np.clip(np.round(a).astype(int), 0, [img.shape[1] - 1, img.shape[0] - 1])
                moved = a + fwd[ix[:, 1], ix[:, 0]]
                lm_err[k].append(float(np.linalg.norm(moved - run.landmarks_68_px[i], axis=1).mean()
                                       / iod(run.landmarks_68_px[i:i + 1])[0] * 100.0))
            if i < warp_frames:
                back = optical_flow(img, prev_img)
                valid = consistent_flow_mask(back, fwd)
                for k, run in runs.items():
                    cur = render(run, i, img.shape)
                    if k in prev_render:
                        mask = valid & (cur.max(-1) > 0)
                        warp[k].append(warping_error_with_flow(prev_render[k], cur, back, mask))
                    prev_render[k] = cur
        elif i < warp_frames and both[i]:
            for k, run in runs.items():
                prev_render[k] = render(run, i, img.shape)
        prev_img = img
    return {k: {"landmark_flow_error_pct": float(np.mean(lm_err[k])) if lm_err[k] else float("nan"),
                "warping_error_x1e3": float(np.nanmean(warp[k]) * 1e3) if warp[k] else float("nan")}
            for k in runs}


def compare_on_video(path: Path, fitter, options=None, max_frames: int | None = None,
                     warp_frames: int = WARP_FRAMES) -> dict[str, dict[str, float]]:
    """All figures of the module docstring for one video: {"tracked": {...}, "per_frame": {...}}."""
    from faceforge.metrics.temporal import landmark_jitter

    tracked, track = run_tracked(path, fitter, options, max_frames)
    per_frame, detections = run_per_frame(path, fitter, max_frames)
    n = min(len(tracked.valid), len(per_frame.valid))
    both = tracked.valid[:n] & per_frame.valid[:n]
    runs = {"tracked": tracked, "per_frame": per_frame}
    openness = eye_states(detections)
    out: dict[str, dict[str, float]] = {}
    first, last = np.argmax(both), n - np.argmax(both[::-1])  # longest valid stretch is assumed contiguous
    for k, run in runs.items():
        lm = run.landmarks_68_px[:n]
        out[k] = {
            "frames": int(n),
            "jitter_pct": landmark_jitter(lm[first:last]) * 100.0,
            "agreement_nme_pct": agreement_nme(lm, detections[:n], both),
            "ms_per_frame": float(run.ms_per_frame.mean()),
            "ms_median": float(np.median(run.ms_per_frame)),
            "ms_min": float(run.ms_per_frame.min()),
        }
        out[k].update(blink_figures(run.expression[:n], fitter.model.expression_names, openness[:n]))
    # against the landmarks each method was fitted to: the tracking-mode mesh for the tracker
    own = track.detected_px[:n].astype(np.float64)
    out["tracked"]["agreement_own_nme_pct"] = agreement_nme(tracked.landmarks_68_px[:n], own, both)
    out["per_frame"]["agreement_own_nme_pct"] = out["per_frame"]["agreement_nme_pct"]
    for k, v in flow_figures(path, fitter.model, runs, both, max_frames, warp_frames).items():
        out[k].update(v)
    return out


def run_track_bench(quick: bool = False) -> dict[str, dict[str, dict[str, float]]]:
    """{video name: compare_on_video(...)} over the development videos (quick: the first 60 frames of each)."""
    from faceforge.assets import load_model
    from faceforge.fit.reconstruct import FaceFitter

    fitter = FaceFitter(load_model())
    videos = sorted(dev_video_dir().glob("*.mp4"))
    return {v.stem: compare_on_video(v, fitter, None, 60 if quick else None, 30 if quick else WARP_FRAMES)
            for v in videos}


def _r(x: float, d: int = 3) -> float:
    return round(float(x), d)


@register_suite("track", "Video -> animated head (tracking vs per-frame fitting) on the development videos")
def track_suite(options: BenchOptions) -> list[BenchRow]:
    results = run_track_bench(options.quick)
    rows = []
    for name, r in results.items():
        t, p = r["tracked"], r["per_frame"]
        notes = {
            "frames": t["frames"],
            "fps_tracked": _r(1000.0 / t["ms_per_frame"], 1),
            "jitter_tracked_pct": _r(t["jitter_pct"]), "jitter_per_frame_pct": _r(p["jitter_pct"]),
            "jitter_ratio": _r(p["jitter_pct"] / t["jitter_pct"], 2),
            "lm_flow_err_tracked_pct": _r(t["landmark_flow_error_pct"]),
            "lm_flow_err_per_frame_pct": _r(p["landmark_flow_error_pct"]),
            "warp_err_tracked_x1e3": _r(t["warping_error_x1e3"]),
            "warp_err_per_frame_x1e3": _r(p["warping_error_x1e3"]),
            "agreement_tracked_pct": _r(t["agreement_nme_pct"], 2),
            "agreement_per_frame_pct": _r(p["agreement_nme_pct"], 2),
            "agreement_tracked_own_pct": _r(t["agreement_own_nme_pct"], 2),
            "closed_eye_frames": t["closed_frames"],
            "blink_closed_median_tracked": _r(t["blink_closed_median"], 2),
            "blink_closed_median_per_frame": _r(p["blink_closed_median"], 2),
            "blink_open_median_tracked": _r(t["blink_open_median"], 2),
        }
        rows.append(BenchRow(f"{name}: Tracker.push per frame (landmarks + fit + smoothing, no decoding)",
                             t["ms_median"], t["ms_min"], int(t["frames"]), notes))
        rows.append(BenchRow(f"{name}: per-frame detect_faces + fit_face", p["ms_median"], p["ms_min"],
                             int(p["frames"]), {"fps": _r(1000.0 / p["ms_per_frame"], 1)}))
    return rows
