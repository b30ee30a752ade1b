"""One call from an image to the landmarks of its faces: detect, run the mesh on each face, select.

``detect_faces(image, options)`` keeps one detector and one mesh per options value and thread, so repeated calls do
not reload the models.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from faceforge.detect.blazeface import box_iou
from faceforge.detect.detector import Detection, FaceDetector, FaceDetectorOptions, check_rgb_image
from faceforge.detect.mesh import FaceLandmarks, FaceMesh, FaceMeshOptions, roi_from_detection
from faceforge.errors import NoFaceError, UsageError

log = logging.getLogger(__name__)

FaceSelection = Literal["largest", "all", "bbox"]

# Two meshes whose boxes overlap more than this are the same face (seen by both detector models, say).
_DUPLICATE_IOU = 0.5


@dataclass(frozen=True)
class DetectFacesOptions:
    """Settings of :func:`detect_faces`.

    Attributes:
        detector: face detector settings.
        mesh: face mesh settings.
        select: ``"largest"`` (default: the face with the largest landmark box), ``"all"`` (every face, largest
            first; with ``detector.max_faces`` the largest that many) or ``"bbox"`` (the face overlapping ``bbox_px``
            the most).
        bbox_px: x0, y0, x1, y1 in image pixels, required by ``select="bbox"``.
        min_presence: faces whose mesh presence score is below this are dropped (false detections).
    """

    detector: FaceDetectorOptions = field(default_factory=FaceDetectorOptions)
    mesh: FaceMeshOptions = field(default_factory=FaceMeshOptions)
    select: FaceSelection = "largest"
    bbox_px: tuple[float, float, float, float] | None = None
    min_presence: float = 0.5

    def __post_init__(self) -> None:
        if self.select not in ("largest", "all", "bbox"):
            raise UsageError(f"DetectFacesOptions.select must be 'largest', 'all' or 'bbox', got {self.select!r}")
        if self.select == "bbox":
            if self.bbox_px is None:
                raise UsageError("DetectFacesOptions: select='bbox' needs bbox_px (x0, y0, x1, y1)")
            _check_box(self.bbox_px)
        if not 0.0 <= self.min_presence <= 1.0:
            raise UsageError(f"DetectFacesOptions.min_presence must be in [0, 1], got {self.min_presence}")


def _check_box(box: tuple[float, ...] | np.ndarray) -> np.ndarray:
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= b[0] or b[3] <= b[1]:
        raise UsageError(f"face box: expected x0, y0, x1, y1 with x1 > x0 and y1 > y0, got {tuple(np.ravel(box))}")
    return b


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Parse ``"x0,y0,x1,y1"`` (image pixels) as given on a command line."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise UsageError(f"face box {text!r}: expected four numbers x0,y0,x1,y1") from None
    if len(values) != 4:
        raise UsageError(f"face box {text!r}: expected four numbers x0,y0,x1,y1, got {len(values)}")
    _check_box(values)
    return values  # type: ignore[return-value]


_local = threading.local()


def _models(options: DetectFacesOptions) -> tuple[FaceDetector, FaceMesh]:
    cache: dict = getattr(_local, "cache", None) or {}
    _local.cache = cache
    key = (options.detector, options.mesh)
    if key not in cache:
        if len(cache) >= 4:
            cache.clear()
        cache[key] = (FaceDetector(options.detector), FaceMesh(options.mesh))
    return cache[key]


def detect_faces(image: np.ndarray, options: DetectFacesOptions | None = None) -> list[FaceLandmarks]:
    """Detect faces and their 478 landmarks.

    Args:
        image: (H, W, 3) uint8 RGB (e.g. from ``faceforge.io.image.read_image``).
        options: detection, mesh and selection settings (defaults: auto detector, largest face).
    Returns:
        Faces sorted by landmark-box area, largest first: one face for ``select="largest"`` and ``"bbox"``, all
        faces for ``"all"``.
    Raises:
        NoFaceError: no face found (or none overlaps ``bbox_px``).
        UsageError: bad image array or options.
    """
    options = options or DetectFacesOptions()
    check_rgb_image(image)
    detector, mesh = _models(options)
    # Detections of all passes, grouped by box overlap; the mesh runs on the best-scored detection of each group and
    # falls back to the others only when it finds no face there: a loose short-range box can otherwise hide a good
    # full-range box of the same face. Faces that still coincide are resolved on the landmarks.
    candidates: list[FaceLandmarks] = []
    for group in _group_overlapping(detector.candidates(image), options.detector.nms_iou):
        for det in group:
            face = mesh.mesh_in_roi(image, roi_from_detection(det, options.mesh.roi_scale), det)
            if face.presence >= options.min_presence:
                candidates.append(face)
                break
            log.debug("no face in a detection (score %.2f): mesh presence %.2f", det.score, face.presence)
    faces = sorted(_drop_duplicates(candidates), key=lambda f: -f.area_px)
    if options.detector.max_faces:
        faces = faces[: options.detector.max_faces]
    h, w = image.shape[:2]
    if not faces:
        raise NoFaceError(f"no face found in the image ({w}x{h} pixels)")
    log.info("found %d face(s)", len(faces))
    if options.select == "bbox":
        assert options.bbox_px is not None  # checked by DetectFacesOptions
        faces = [select_by_bbox(faces, options.bbox_px)]
    elif options.select == "largest":
        faces = faces[:1]
    # The iris model runs on the returned faces only.
    return [mesh.add_irises(image, f) for f in faces]


def _group_overlapping(detections: list[Detection], iou: float) -> list[list[Detection]]:
    """Groups of detections whose boxes overlap the group's best-scored box by IoU > ``iou``, best first."""
    groups: list[list[Detection]] = []
    for d in sorted(detections, key=lambda d: -d.score):
        box = d.bbox_px.astype(np.float64)
        for g in groups:
            if box_iou(box, g[0].bbox_px[None].astype(np.float64))[0] > iou:
                g.append(d)
                break
        else:
            groups.append([d])
    return groups


def _drop_duplicates(faces: list[FaceLandmarks]) -> list[FaceLandmarks]:
    """Keep one face of any two whose landmark boxes overlap by IoU > 0.5: the higher presence (to 2 decimals),
    then the higher detector score. Result in that order."""

    def rank(f: FaceLandmarks) -> tuple[float, float]:
        return (round(f.presence, 2), f.detection.score if f.detection is not None else 0.0)

    kept: list[FaceLandmarks] = []
    for f in sorted(faces, key=rank, reverse=True):
        if kept and box_iou(f.bbox_px.astype(np.float64), np.stack([k.bbox_px for k in kept])).max() > _DUPLICATE_IOU:
            continue
        kept.append(f)
    return kept


def select_largest(faces: list[FaceLandmarks]) -> FaceLandmarks:
    """The face with the largest landmark box. Raises NoFaceError for an empty list."""
    if not faces:
        raise NoFaceError("no face found")
    return max(faces, key=lambda f: f.area_px)


def select_by_bbox(
    faces: list[FaceLandmarks], bbox_px: tuple[float, float, float, float] | np.ndarray
) -> FaceLandmarks:
    """The face that overlaps a user box the most.

    Overlap is the fraction of the face's landmark box inside ``bbox_px`` (so a generous box around a head still
    picks that head); ties are broken by IoU.

    Args:
        faces: candidate faces.
        bbox_px: x0, y0, x1, y1 in image pixels.
    Raises:
        NoFaceError: no face overlaps the box.
    """
    box = _check_box(bbox_px)
    best, best_key = None, (0.0, 0.0)
    for f in faces:
        fb = f.bbox_px.astype(np.float64)
        iw = max(0.0, min(fb[2], box[2]) - max(fb[0], box[0]))
        ih = max(0.0, min(fb[3], box[3]) - max(fb[1], box[1]))
        inside = iw * ih / max(f.area_px, 1e-9)
        key = (inside, float(box_iou(box, fb[None])[0]))
        if inside > 0 and key > best_key:
            best, best_key = f, key
    if best is None:
        raise NoFaceError(f"no detected face overlaps the box {tuple(round(float(v), 1) for v in box)}")
    return best
