"""Landmarks over time: the detector on the first frame and after a loss or a shot cut, tracking mode otherwise.

Per frame (``LandmarkTracker.step``):

1. **Shot cut**: the frame's joint colour histogram (8 x 8 x 8 RGB bins of an 8x-subsampled image) is compared with
   the previous frame's; a total-variation distance ``0.5 * sum |h1 - h2|`` above ``cut_threshold`` is a cut. A cut
   ends the segment: the detector runs on the new shot. (Measured on the dev videos: at most 0.08 between
   consecutive frames of one shot, at least 0.55 between the last and first frames of two different videos; a
   grey-level histogram separated them less well: 0.06 vs 0.22.)
2. **Tracking** (no cut, a face in the previous frame): the face mesh runs in the ROI of the previous frame's
   landmarks (``FaceMesh.track``; one mesh pass, no ROI refinement) plus the iris model. The face is **lost** when the
   mesh's presence score falls below ``min_presence`` or the landmarks jump by more than ``max_jump`` face sizes
   (mean displacement of the mesh points): then the detector runs on this frame.
3. **Detection** (first frame, after a cut or a loss): ``detect_faces`` (largest face). If it finds nothing the frame
   has no face; while no face is tracked the detector is retried every ``redetect_every`` frames.

Every frame whose landmarks came from the detector starts a new **segment**: the fit and the smoothers restart there
(no warm start or smoothing across a cut or a loss).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from faceforge.detect.faces import DetectFacesOptions, detect_faces
from faceforge.detect.indices import NUM_MESH_POINTS
from faceforge.detect.mesh import FaceLandmarks, FaceMesh, FaceMeshOptions, roi_from_landmarks
from faceforge.detect.roi import Roi
from faceforge.errors import NoFaceError, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LandmarkTrackOptions:
    """Options of ``LandmarkTracker``.

    Attributes:
        detect: options of the detector runs (first frame, after a cut or a loss).
        min_presence: a tracked face whose mesh presence score is below this is lost.
        max_jump: a tracked face whose mesh points move by more than this many face sizes (mean over the points)
            from the previous frame is treated as lost (a cut the histogram missed, or a tracking failure).
        cut_threshold: histogram total-variation distance in [0, 1] above which a frame starts a new shot;
            None disables cut detection.
        redetect_every: while no face is tracked, run the detector every this many frames.
        roi_refinements: extra mesh passes per tracked frame in the ROI of the pass before (0 = MediaPipe's
            tracking mode: one pass in the previous frame's ROI).
        roi_hysteresis: keep the previous frame's ROI while the new one differs by less than this fraction of the
            ROI side (centre shift and size change; rotation: this many radians); the mesh then sees the same
            crop of a still face and its output does not pick up the ROI's own jitter. 0 = always the new ROI.
    """

    detect: DetectFacesOptions = field(default_factory=DetectFacesOptions)
    min_presence: float = 0.5
    max_jump: float = 0.25
    cut_threshold: float | None = 0.3
    redetect_every: int = 1
    roi_refinements: int = 0
    roi_hysteresis: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_presence <= 1.0:
            raise UsageError(f"min_presence must be in [0, 1], got {self.min_presence}")
        if not self.max_jump > 0:
            raise UsageError(f"max_jump must be > 0, got {self.max_jump}")
        if self.cut_threshold is not None and not 0.0 < self.cut_threshold <= 1.0:
            raise UsageError(f"cut_threshold must be in (0, 1] or None, got {self.cut_threshold}")
        if self.redetect_every < 1:
            raise UsageError(f"redetect_every must be >= 1, got {self.redetect_every}")
        if self.roi_refinements < 0 or self.roi_hysteresis < 0:
            raise UsageError("roi_refinements and roi_hysteresis must be >= 0")


@dataclass(frozen=True, eq=False)
class LandmarkStep:
    """Landmarks of one frame.

    Attributes:
        face: the face's 478 landmarks, or None (no face in this frame).
        new_segment: the landmarks came from the detector (first frame, after a cut or a loss).
        cut: a shot cut was detected at this frame.
    """

    face: FaceLandmarks | None
    new_segment: bool
    cut: bool


def frame_histogram(image: np.ndarray, bins: int = 8) -> np.ndarray:
    """Normalized joint RGB histogram (bins**3,) of an 8x-subsampled RGB uint8 image (``bins`` levels per channel)."""
    q = (image[::8, ::8].astype(np.int64) * bins) >> 8
    idx = (q[..., 0] * bins + q[..., 1]) * bins + q[..., 2]
    h = np.bincount(idx.ravel(), minlength=bins**3).astype(np.float64)
    return h / max(h.sum(), 1.0)


def histogram_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Total-variation distance 0.5 * sum |a - b| of two normalized histograms, in [0, 1]."""
    return 0.5 * float(np.abs(a - b).sum())


def landmark_jump(previous_px: np.ndarray, current_px: np.ndarray) -> float:
    """Mean displacement of the mesh points between two frames, in face sizes (the previous face's box diagonal)."""
    p = previous_px[:NUM_MESH_POINTS, :2].astype(np.float64)
    c = current_px[:NUM_MESH_POINTS, :2].astype(np.float64)
    size = float(np.linalg.norm(np.ptp(p, axis=0)))
    return float(np.linalg.norm(c - p, axis=1).mean()) / max(size, 1e-6)


class LandmarkTracker:
    """Detector + tracking-mode face mesh with cut and loss handling (module docstring). One per video."""

    def __init__(self, options: LandmarkTrackOptions | None = None) -> None:
        self.options = options or LandmarkTrackOptions()
        mesh_opts = FaceMeshOptions(
            roi_scale=self.options.detect.mesh.roi_scale, eye_roi_scale=self.options.detect.mesh.eye_roi_scale,
            refine_eyelids=self.options.detect.mesh.refine_eyelids, roi_refinements=self.options.roi_refinements,
            num_threads=self.options.detect.mesh.num_threads,
        )
        self._mesh = FaceMesh(mesh_opts)
        self._previous: FaceLandmarks | None = None
        self._roi: Roi | None = None
        self._hist: np.ndarray | None = None
        self._since_try = self.options.redetect_every  # frames since the detector last ran without a face
        self.detector_runs = 0
        self.cuts = 0
        self.losses = 0

    def _tracking_roi(self, previous: FaceLandmarks) -> Roi:
        """The ROI of the previous frame's landmarks, or the previous ROI itself while they differ little."""
        roi = roi_from_landmarks(previous.points_px, self._mesh.options.roi_scale)
        h = self.options.roi_hysteresis
        if h > 0 and self._roi is not None:
            old = self._roi
            shift = math.hypot(roi.center_px[0] - old.center_px[0], roi.center_px[1] - old.center_px[1])
            if (shift < h * old.size_px and abs(roi.size_px - old.size_px) < h * old.size_px
                    and abs(roi.rotation_rad - old.rotation_rad) < h):
                roi = old
        self._roi = roi
        return roi

    def step(self, image: np.ndarray) -> LandmarkStep:
        """Landmarks of the next frame ((H, W, 3) uint8 RGB)."""
        o = self.options
        cut = False
        if o.cut_threshold is not None:
            hist = frame_histogram(image)
            cut = self._hist is not None and histogram_distance(self._hist, hist) > o.cut_threshold
            self._hist = hist
            if cut:
                self.cuts += 1
                log.info("shot cut detected")
        if self._previous is not None and not cut:
            face = self._mesh.landmarks_in_roi(image, self._tracking_roi(self._previous))
            jump = landmark_jump(self._previous.points_px, face.points_px)
            if face.presence >= o.min_presence and jump <= o.max_jump:
                self._previous = face
                return LandmarkStep(face, False, False)
            self.losses += 1
            log.info("face lost (presence %.2f, jump %.2f face sizes)", face.presence, jump)
        elif self._previous is None and not cut and self._since_try + 1 < o.redetect_every:
            self._since_try += 1
            return LandmarkStep(None, False, False)
        self.detector_runs += 1
        try:
            face = detect_faces(image, o.detect)[0]
        except NoFaceError:
            self._previous = None
            self._since_try = 0
            return LandmarkStep(None, False, cut)
        self._previous = face
        self._roi = None
        return LandmarkStep(face, True, cut)
