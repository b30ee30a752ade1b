"""Video -> animated head: streaming face tracking with a shared identity and temporal regularization.

One call::

    track = track_video("clip.mp4", FaceFitter(load_model()))   # Track: params (T, ...), timestamps_ms, valid, ...

The parts: :class:`Tracker` (push frames, get :class:`TrackedFrame` s), :mod:`faceforge.track.landmarks` (detector /
tracking mode / cuts), :mod:`faceforge.track.identity` (the shared identity), :mod:`faceforge.track.solver` (per-frame
pose + expression fit), :mod:`faceforge.track.smooth` (Laplacian fixed-lag smoother, One-Euro filter).
"""

from faceforge.track.identity import IdentityOptions, SharedIdentity, estimate_shared_identity
from faceforge.track.landmarks import LandmarkTracker, LandmarkTrackOptions
from faceforge.track.smooth import LaplacianSmoother, OneEuroFilter
from faceforge.track.solver import FrameFitOptions, FrameState, fit_frame
from faceforge.track.tracker import (
    SmoothingOptions,
    Track,
    TrackBuilder,
    TrackedFrame,
    Tracker,
    TrackOptions,
    track_video,
)

__all__ = [
    "FrameFitOptions",
    "FrameState",
    "IdentityOptions",
    "LandmarkTrackOptions",
    "LandmarkTracker",
    "LaplacianSmoother",
    "OneEuroFilter",
    "SharedIdentity",
    "SmoothingOptions",
    "Track",
    "TrackBuilder",
    "TrackOptions",
    "TrackedFrame",
    "Tracker",
    "estimate_shared_identity",
    "fit_frame",
    "track_video",
]
