"""Video -> animated head: the streaming ``Tracker`` and ``track_video``.

Per frame (memory stays bounded: frames are not kept, only per-frame parameters):

1. **Landmarks** (``LandmarkTracker``): the detector on the first frame and after a shot cut or a lost face, the
   tracking-mode face mesh (ROI from the previous frame's landmarks) + iris model otherwise.
2. **Shared identity** (``estimate_shared_identity``): the landmarks of the first ``identity_window`` frames are
   buffered; one identity and one focal length are estimated jointly from (up to ``identity.max_frames`` of) them and
   then fixed for the whole clip (one person per clip).
3. **Per-frame fit** (``fit_frame``): head pose and the 53 expression weights (gaze included: the iris points move
   with the eyeLook weights through the linearized eye rig) with identity and focal fixed, warm-started from the
   previous frame (PnP at the start of a segment).
4. **Temporal regularization** (``SmoothingOptions``): a fixed-lag robust Laplacian smoother on the parameters
   (rotation vector, translation, expression) with ``lag`` frames of look-ahead; optionally a One-Euro filter on
   the landmarks before the fit. Segments (cut or loss) are smoothed separately.

Frames without a face are marked invalid and **hold** the parameters of the nearest earlier valid frame (frames
before the first face hold the first valid frame's), so every output array is finite; use ``Track.valid``.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from faceforge.detect.eyes import iris_visibility
from faceforge.detect.indices import LEFT_IRIS, RIGHT_IRIS
from faceforge.errors import NoFaceError, UsageError
from faceforge.fit.landmark_fit import matrix_to_rotvec, opposite_pairs, project_points, rotvec_to_matrix
from faceforge.fit.reconstruct import FaceFitter, implicit_camera
from faceforge.fit.surface import PointBasis
from faceforge.structures import Camera, FaceParams
from faceforge.track.basis import tracking_bases
from faceforge.track.identity import IdentityOptions, SharedIdentity, estimate_shared_identity, fixed_identity_basis
from faceforge.track.landmarks import LandmarkStep, LandmarkTracker, LandmarkTrackOptions
from faceforge.track.smooth import LaplacianSmoother, OneEuroFilter
from faceforge.track.solver import (
    FrameFitOptions,
    FrameState,
    TemporalPrior,
    fit_frame,
    initial_state,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmoothingOptions:
    """Temporal regularization (see ``faceforge.track.smooth``).

    Defaults measured on the development videos (docs/BENCHMARKS.md, ``track`` suite): look-ahead 3 frames, a linear
    smoother on the pose (its Huber thresholds are out of reach) and a robust one on the expression (threshold 0.03:
    blinks keep more of their depth: median eyeBlink on closed-eye frames 0.62 vs 0.56 linear on liveportrait_d0).
    Stronger pose smoothing lowered the jitter further but lagged the fast real head motion of the talking-head clip
    (its flow error rose above per-frame fitting's); the One-Euro filter on the landmarks was worse on every figure
    (jitter 0.57-1.9 % vs 0.15-0.8 %, agreement +0.3-1.2 points) and is off.

    Attributes:
        laplacian: apply the fixed-lag robust Laplacian smoother to the fitted parameters.
        lag: its look-ahead (output delay) in frames.
        rotation_strength, translation_strength, expression_strength: its lambda for the rotation vector (rad),
            the translation (model units) and the expression weights.
        rotation_delta, translation_delta, expression_delta: its Huber thresholds on the second difference (rad,
            model units, weight): larger accelerations are treated as real motion and smoothed less.
        one_euro: apply a One-Euro filter to the landmarks before the fit.
        one_euro_min_cutoff_hz, one_euro_beta, one_euro_derivative_cutoff_hz: its parameters (speeds in face sizes
            per second).
        prior_rotation, prior_translation, prior_expression: weights of a pull towards the previous frame inside
            the per-frame fit (``TemporalPrior``); 0 = off.
    """

    laplacian: bool = True
    lag: int = 3
    rotation_strength: float = 4.0
    translation_strength: float = 4.0
    expression_strength: float = 2.0
    rotation_delta: float = 1.0
    translation_delta: float = 10.0
    expression_delta: float = 0.03
    one_euro: bool = False
    one_euro_min_cutoff_hz: float = 1.5
    one_euro_beta: float = 2.0
    one_euro_derivative_cutoff_hz: float = 1.0
    prior_rotation: float = 0.0
    prior_translation: float = 0.0
    prior_expression: float = 0.0

    def __post_init__(self) -> None:
        if self.lag < 0:
            raise UsageError(f"SmoothingOptions.lag must be >= 0, got {self.lag}")
        values = (self.rotation_strength, self.translation_strength, self.expression_strength, self.prior_rotation,
                  self.prior_translation, self.prior_expression)
        if min(values) < 0:
            raise UsageError("SmoothingOptions: strengths and prior weights must be >= 0")
        if min(self.rotation_delta, self.translation_delta, self.expression_delta) <= 0:
            raise UsageError("SmoothingOptions: Huber thresholds must be > 0")


@dataclass(frozen=True)
class TrackOptions:
    """Options of ``Tracker`` / ``track_video``.

    Attributes:
        landmarks: detection, tracking, cut and loss handling.
        identity: the shared identity estimate.
        identity_window: frames buffered (landmarks only) before the identity is estimated from the faces among
            them (``identity.max_frames`` of them, evenly spread); longer if none of them holds a face.
        frame: the per-frame fit.
        smoothing: temporal regularization.
        num_points: how many of the 468 face-mesh points the per-frame fit uses (the most reliable; plus the 10
            iris points).
        iris_weight: weight of each iris point relative to the reliability-weighted face points (open eye).
        eye_closed, eye_open: lid opening / eye width (``eye_openness``) below which an eye counts as closed and
            above which as open; in between the eye's iris weight ramps from 0 to ``iris_weight`` (the iris model
            has nothing to see on a closed eye) and its gaze is held at the previous frame's with weight
            ``gaze_hold * (1 - ramp)``.
        gaze_hold: weight of that pull on the four eyeLook weights of a closing eye.
        max_frames: track at most this many frames (None: the whole video).
        keep_detections: keep the detector's 478 landmarks of every frame in the Track (``detected_px``;
            4 kB per frame, for evaluation).
    """

    landmarks: LandmarkTrackOptions = field(default_factory=LandmarkTrackOptions)
    identity: IdentityOptions = field(default_factory=IdentityOptions)
    identity_window: int = 60
    frame: FrameFitOptions = field(default_factory=FrameFitOptions)
    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)
    num_points: int = 468
    iris_weight: float = 3.0
    eye_closed: float = 0.12
    eye_open: float = 0.22
    gaze_hold: float = 1.0
    max_frames: int | None = None
    keep_detections: bool = False

    def __post_init__(self) -> None:
        if self.identity_window < 1:
            raise UsageError(f"identity_window must be >= 1, got {self.identity_window}")
        if not 10 <= self.num_points <= 468:
            raise UsageError(f"num_points must be in [10, 468], got {self.num_points}")
        if self.iris_weight < 0 or self.gaze_hold < 0:
            raise UsageError(f"iris_weight and gaze_hold must be >= 0, got {self.iris_weight}, {self.gaze_hold}")
        if not 0 <= self.eye_closed < self.eye_open:
            raise UsageError(f"need 0 <= eye_closed < eye_open, got {self.eye_closed}, {self.eye_open}")
        if self.max_frames is not None and self.max_frames < 1:
            raise UsageError(f"max_frames must be >= 1, got {self.max_frames}")


@dataclass(frozen=True, eq=False)
class TrackedFrame:
    """One frame's result, as the streaming ``Tracker`` emits it.

    Attributes:
        index: 0-based frame number.
        timestamp_ms: frame time, milliseconds.
        valid: a face was tracked in this frame (else the parameters are held from a valid frame).
        new_segment: the landmarks came from the detector (first frame, after a cut or a loss).
        rotation: (3,) float64 axis-angle, radians, model -> world (world = the implicit camera's frame).
        translation: (3,) float64 world translation, model units.
        expression: (Ne,) float64 expression weights.
        landmarks_68_px: (68, 2) float64 iBUG-68 landmarks of the fitted head projected into the frame, pixels (the
            calibrated surface points; no silhouette jaw contour, which would jump between frames).
        rms_px: RMS landmark residual of the per-frame fit before smoothing, pixels (NaN when invalid).
        detected_px: (478, 2) float32 detector landmarks (only with ``keep_detections``; NaN when invalid) or None.
    """

    index: int
    timestamp_ms: float
    valid: bool
    new_segment: bool
    rotation: np.ndarray
    translation: np.ndarray
    expression: np.ndarray
    landmarks_68_px: np.ndarray
    rms_px: float
    detected_px: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class Track:
    """A tracked video; time is the batch axis (T frames).

    Attributes:
        params: FaceParams with batch T: identity (T, Ni) the shared identity on every row, expression (T, Ne),
            rotation (T, 3), translation (T, 3) (world = the camera's OpenGL-style frame, docs/conventions.md).
            Invalid frames hold a valid frame's values (module docstring).
        camera: Camera with batch 1 shared by all frames (the implicit camera: fixed focal length, image centre).
        timestamps_ms: (T,) float64 frame times, milliseconds.
        valid: (T,) bool, a face was tracked in the frame.
        new_segment: (T,) bool, the frame starts a segment (detector run: first face, after a cut or a loss).
        landmarks_68_px: (T, 68, 2) float32 projected iBUG-68 landmarks of the fitted head, pixels.
        rms_px: (T,) float32 per-frame fit residual before smoothing, pixels (NaN when invalid).
        fps: the video's frame rate.
        identity_frames: how many frames the shared identity was estimated from.
        detected_px: (T, 478, 2) float32 detector landmarks (``keep_detections``) or None.
    """

    params: FaceParams
    camera: Camera
    timestamps_ms: np.ndarray
    valid: np.ndarray
    new_segment: np.ndarray
    landmarks_68_px: np.ndarray
    rms_px: np.ndarray
    fps: float
    identity_frames: int
    detected_px: np.ndarray | None = None

    @property
    def num_frames(self) -> int:
        return int(self.timestamps_ms.shape[0])

    @property
    def identity(self) -> torch.Tensor:
        """(Ni,) the shared identity."""
        return self.params.identity[0]


@dataclass
class _Entry:
    index: int
    timestamp_ms: float
    points: np.ndarray | None  # (478, 2) float64 or None
    new_segment: bool


class Tracker:
    """Streaming tracker: ``push`` frames in order, collect the emitted ``TrackedFrame`` s, ``finish`` at the end.

    Output is delayed: nothing is emitted until the shared identity is estimated (up to ``identity_window``
    frames), then by the smoother's ``lag``. Only landmarks of the identity buffer and a few frames of state are
    kept, never images. One Tracker per video; not thread-safe.
    """

    def __init__(self, fitter: FaceFitter, image_size: tuple[int, int], options: TrackOptions | None = None) -> None:
        """Args:
            fitter: model data (``FaceFitter(load_model())``), reusable across videos.
            image_size: (width, height) of the frames, pixels.
        """
        self.fitter = fitter
        self.options = options or TrackOptions()
        width, height = (int(v) for v in image_size)
        if width < 1 or height < 1:
            raise UsageError(f"image_size must be positive, got {image_size}")
        self.image_size = (width, height)
        self.principal = np.array([(width - 1) / 2.0, (height - 1) / 2.0])
        m = fitter.model
        o = self.options
        self._landmarks = LandmarkTracker(o.landmarks)
        face_rows = np.sort(np.argsort(-fitter.correspondence.weight[:468], kind="stable")[: o.num_points])
        self._iris = np.array(RIGHT_IRIS + LEFT_IRIS)
        self._rows = np.r_[face_rows, self._iris]
        self._all_weights = fitter.correspondence.weight.copy()
        self._all_weights[self._iris] = o.iris_weight
        self._full_basis, self._ibug_basis = tracking_bases(fitter)
        gb = self._full_basis
        self._gaze_basis = PointBasis(gb.mean[self._rows], np.ascontiguousarray(gb.shape[self._rows]),
                                      gb.num_identity, gb.num_expression)
        names = list(m.expression_names)
        self._eye_gaze = [  # per eye (subject's right, left): expression indices of its four eyeLook shapes
            np.array([names.index(f"eyeLook{d}_{side}") for d in ("In", "Out", "Up", "Down")
                      if f"eyeLook{d}_{side}" in names], dtype=np.int64)
            for side in ("R", "L")
        ]
        self._pairs = opposite_pairs(names)
        self._bounds = m.expression_bounds
        ne = m.num_expression
        s = o.smoothing
        self._smoother = None
        if s.laplacian:
            strength = np.r_[np.full(3, s.rotation_strength), np.full(3, s.translation_strength),
                             np.full(ne, s.expression_strength)]
            delta = np.r_[np.full(3, s.rotation_delta), np.full(3, s.translation_delta),
                          np.full(ne, s.expression_delta)]
            self._smoother = LaplacianSmoother(strength, s.lag, delta)
        self._one_euro = (OneEuroFilter(s.one_euro_min_cutoff_hz, s.one_euro_beta, s.one_euro_derivative_cutoff_hz)
                          if s.one_euro else None)
        self.identity: SharedIdentity | None = None
        self._basis: PointBasis | None = None
        self._ibug: PointBasis | None = None
        self._buffer: list[_Entry] = []
        self._buffered_faces = 0
        self._state: FrameState | None = None
        self._waiting: deque[tuple[_Entry, float, np.ndarray | None]] = deque()  # frames inside the smoother
        self._leading_invalid: list[_Entry] = []
        self._last_valid: TrackedFrame | None = None
        self._count = 0
        self.frames_valid = 0

    # -- public -------------------------------------------------------------------------------------------------

    @property
    def detector_runs(self) -> int:
        return self._landmarks.detector_runs

    @property
    def cuts(self) -> int:
        return self._landmarks.cuts

    def push(self, image: np.ndarray, timestamp_ms: float) -> list[TrackedFrame]:
        """Process the next frame ((H, W, 3) uint8 RGB of ``image_size``); returns the frames that became final."""
        h, w = image.shape[:2]
        if (w, h) != self.image_size:
            raise UsageError(f"frame is {w}x{h}, the tracker was made for {self.image_size[0]}x{self.image_size[1]}")
        step: LandmarkStep = self._landmarks.step(image)
        points = None if step.face is None else step.face.points_px[:, :2]
        return self.push_landmarks(points, timestamp_ms, step.new_segment)

    def push_landmarks(self, points_px: np.ndarray | None, timestamp_ms: float, new_segment: bool = False
                       ) -> list[TrackedFrame]:
        """Process the next frame given its detector landmarks instead of its image (another landmark source).

        Args:
            points_px: (478, 2) MediaPipe-478 landmarks in pixels (``faceforge.detect`` layout), or None (no face).
            timestamp_ms: frame time, milliseconds.
            new_segment: the landmarks do not continue the previous frame's (a cut): no warm start or smoothing
                across it.
        Returns:
            the frames that became final (oldest first).
        """
        if points_px is not None:
            points_px = np.asarray(points_px, dtype=np.float64)[:, :2]
            if points_px.shape != (478, 2) or not np.isfinite(points_px).all():
                raise UsageError(f"points_px: expected finite (478, 2) landmarks, got {points_px.shape}")
        entry = _Entry(self._count, float(timestamp_ms), points_px, bool(new_segment))
        self._count += 1
        if self.identity is None:
            self._buffer.append(entry)
            self._buffered_faces += points_px is not None
            if self._buffered_faces and len(self._buffer) >= self.options.identity_window:
                return self._start()
            return []
        return self._process(entry)

    def finish(self) -> list[TrackedFrame]:
        """End of the video: emit every remaining frame.

        Raises:
            NoFaceError: no frame held a face.
        """
        out: list[TrackedFrame] = []
        if self.identity is None:
            if not self._buffered_faces:
                raise NoFaceError(f"no face found in any of the {self._count} frames")
            out += self._start()
        out += self._end_segment()
        if self._leading_invalid:  # cannot happen after a valid frame; kept for safety
            raise NoFaceError("no face found")
        return out

    # -- steps --------------------------------------------------------------------------------------------------

    def _start(self) -> list[TrackedFrame]:
        obs = [e.points for e in self._buffer if e.points is not None]
        weights = [self._frame_weights(p)[0] for p in obs]
        self.identity = estimate_shared_identity(
            self.fitter, self._full_basis, obs, weights, self.image_size, self.options.identity, self.options.frame,
            self._pairs)
        self._basis = fixed_identity_basis(self._gaze_basis, self.identity.identity)
        self._ibug = fixed_identity_basis(self._ibug_basis, self.identity.identity)
        out: list[TrackedFrame] = []
        buffered, self._buffer = self._buffer, []
        for e in buffered:
            out += self._process(e)
        return out

    def _process(self, entry: _Entry) -> list[TrackedFrame]:
        out: list[TrackedFrame] = []
        if entry.points is None:
            out += self._end_segment()
            self._state = None
            if self._last_valid is None:
                self._leading_invalid.append(entry)
            else:
                out.append(self._held(entry, self._last_valid))
            return out
        if entry.new_segment:
            out += self._end_segment()
            self._state = None
            if self._one_euro is not None:
                self._one_euro.reset()
        assert self._basis is not None and self.identity is not None
        pts = entry.points
        if self._one_euro is not None:
            size = float(np.linalg.norm(np.ptp(pts[:468], axis=0)))
            pts = self._one_euro(pts, entry.timestamp_ms, size)
        obs = pts[self._rows]
        all_w, closure = self._frame_weights(pts)
        weights = all_w[self._rows]
        focal = self.identity.focal_px
        s = self.options.smoothing
        prior = None
        if self._state is None:
            init = initial_state(self._basis, obs, weights, focal, self.principal)
            iterations = self.options.frame.first_iterations
        else:
            init = self._state
            iterations = self.options.frame.iterations
            e_w = np.full(self._basis.num_expression, s.prior_expression)
            for eye, c in zip(self._eye_gaze, closure, strict=True):
                e_w[eye] += self.options.gaze_hold * c
            if s.prior_rotation or s.prior_translation or e_w.any():
                prior = TemporalPrior(self._state, s.prior_rotation, s.prior_translation, e_w)
        fit = fit_frame(self._basis, obs, weights, focal, self.principal, init, self.options.frame,
                        iterations=iterations, expression_bounds=self._bounds, prior=prior,
                        exclusive_pairs=self._pairs)
        self._state = fit.state
        st = fit.state
        vec = np.r_[matrix_to_rotvec(st.rotation), st.translation, st.expression]
        detected = entry.points.astype(np.float32) if self.options.keep_detections else None
        self._waiting.append((entry, fit.rms_px, detected))
        ready = [vec] if self._smoother is None else self._smoother.push(vec)
        for x in ready:
            out += self._emit(x)
        return out

    def _frame_weights(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(478,) landmark weights of a frame (iris weights ramped by eye openness) and (2,) closure per eye
        (0 open .. 1 closed; subject's right, left)."""
        o = self.options
        ramp = iris_visibility(points, o.eye_closed, o.eye_open)
        w = self._all_weights.copy()
        w[list(RIGHT_IRIS)] *= ramp[0]
        w[list(LEFT_IRIS)] *= ramp[1]
        return w, 1.0 - ramp

    def _end_segment(self) -> list[TrackedFrame]:
        out: list[TrackedFrame] = []
        if self._smoother is not None:
            for x in self._smoother.reset():
                out += self._emit(x)
        return out

    def _emit(self, x: np.ndarray) -> list[TrackedFrame]:
        entry, rms, detected = self._waiting.popleft()
        assert self._ibug is not None and self.identity is not None
        rotvec, trans, expr = x[:3], x[3:6], x[6:]
        if self._bounds is not None:
            expr = np.clip(expr, *self._bounds)
        rot = rotvec_to_matrix(rotvec)
        world = self._ibug.positions(np.zeros(0), expr) @ rot.T + trans
        lm68 = project_points(world, self.identity.focal_px, self.principal)
        frame = TrackedFrame(entry.index, entry.timestamp_ms, True, entry.new_segment, rotvec.copy(), trans.copy(),
                             expr.copy(), lm68, rms, detected)
        self.frames_valid += 1
        out = [self._held(e, frame) for e in self._leading_invalid]
        self._leading_invalid = []
        self._last_valid = frame
        out.append(frame)
        return out

    def _held(self, entry: _Entry, source: TrackedFrame) -> TrackedFrame:
        det = np.full((478, 2), np.nan, np.float32) if self.options.keep_detections else None
        return TrackedFrame(entry.index, entry.timestamp_ms, False, entry.new_segment, source.rotation,
                            source.translation, source.expression, source.landmarks_68_px, float("nan"), det)

    # -- result -------------------------------------------------------------------------------------------------

    def camera(self) -> Camera:
        """The shared camera (after the identity is estimated)."""
        if self.identity is None:
            raise UsageError("the camera is known once the identity is estimated")
        return implicit_camera(self.identity.focal_px, self.principal, *self.image_size)


class TrackBuilder:
    """Collects emitted frames compactly (float32 arrays grown by doubling; ~0.8 kB per frame for ICT) into a Track."""

    def __init__(self, num_expression: int, keep_detections: bool = False) -> None:
        self._n = 0
        self._cap = 0
        self._ne = num_expression
        self._keep = keep_detections
        self._arrays: dict[str, np.ndarray] = {}

    def _grow(self) -> None:
        cap = max(256, 2 * self._cap)
        shapes = {"timestamps_ms": ((), np.float64), "valid": ((), bool), "new_segment": ((), bool),
                  "rotation": ((3,), np.float32), "translation": ((3,), np.float32),
                  "expression": ((self._ne,), np.float32), "landmarks_68_px": ((68, 2), np.float32),
                  "rms_px": ((), np.float32)}
        if self._keep:
            shapes["detected_px"] = ((478, 2), np.float32)
        for name, (shape, dtype) in shapes.items():
            a = np.zeros((cap, *shape), dtype)
            if name in self._arrays:
                a[: self._n] = self._arrays[name][: self._n]
            self._arrays[name] = a
        self._cap = cap

    def add(self, frames: list[TrackedFrame]) -> None:
        for f in frames:
            if self._n == self._cap:
                self._grow()
            i = self._n
            a = self._arrays
            a["timestamps_ms"][i] = f.timestamp_ms
            a["valid"][i] = f.valid
            a["new_segment"][i] = f.new_segment
            a["rotation"][i] = f.rotation
            a["translation"][i] = f.translation
            a["expression"][i] = f.expression
            a["landmarks_68_px"][i] = f.landmarks_68_px
            a["rms_px"][i] = f.rms_px
            if self._keep and f.detected_px is not None:
                a["detected_px"][i] = f.detected_px
            self._n += 1

    @property
    def num_frames(self) -> int:
        return self._n

    def build(self, tracker: Tracker, fps: float) -> Track:
        """The Track of everything added (in order)."""
        if self._n == 0 or tracker.identity is None:
            raise NoFaceError("no face found in the video")
        n = self._n
        a = {k: v[:n].copy() for k, v in self._arrays.items()}
        ident = torch.tensor(tracker.identity.identity, dtype=torch.float32)
        params = FaceParams(
            identity=ident[None].expand(n, -1),
            expression=torch.from_numpy(a["expression"]),
            rotation=torch.from_numpy(a["rotation"]),
            translation=torch.from_numpy(a["translation"]),
        )
        return Track(
            params=params, camera=tracker.camera(), timestamps_ms=a["timestamps_ms"], valid=a["valid"],
            new_segment=a["new_segment"], landmarks_68_px=a["landmarks_68_px"], rms_px=a["rms_px"], fps=float(fps),
            identity_frames=tracker.identity.frames_used, detected_px=a.get("detected_px"),
        )


def track_video(
    path: str | os.PathLike[str],
    fitter: FaceFitter,
    options: TrackOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Track:
    """Track the face of a video file.

    Args:
        path: the video (anything the bundled ffmpeg decodes).
        fitter: model data (``FaceFitter(load_model())``).
        options: tracking options (``max_frames`` limits the frames read).
        progress: called as ``progress(frames_done, frames_estimate)`` after each frame.
    Returns:
        Track with one row per decoded frame.
    Raises:
        InputError: unreadable video or no frames.
        NoFaceError: no frame holds a face.
    """
    from faceforge.io.video import probe_video, read_video_frames

    options = options or TrackOptions()
    info = probe_video(path)
    tracker = Tracker(fitter, (info.width, info.height), options)
    builder = TrackBuilder(fitter.model.num_expression, options.keep_detections)
    estimate = info.num_frames_estimate if options.max_frames is None else min(options.max_frames,
                                                                               info.num_frames_estimate)
    for frame in read_video_frames(path, options.max_frames):
        builder.add(tracker.push(frame.image, frame.timestamp_ms))
        if progress is not None:
            progress(frame.index + 1, estimate)
    builder.add(tracker.finish())
    log.info("tracked %d frames (%d with a face, %d detector runs, %d cuts)", builder.num_frames,
             tracker.frames_valid, tracker.detector_runs, tracker.cuts)
    return builder.build(tracker, info.fps)
