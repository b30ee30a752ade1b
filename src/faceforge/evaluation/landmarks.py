"""68-point landmark accuracy on an annotated folder: 300-W style (``NAME.jpg`` + ``NAME.pts``, 1-based iBUG-68) or
AFLW2000-3D style (``NAME.jpg`` + ``NAME.mat``, ``pt3d_68`` rows x, y; its protocol normalizes by the box).

For each annotation: detect every face of the image (``DetectFacesOptions(select="all")``), take the detection whose
landmark box overlaps the annotation's box best (IoU >= ``min_iou``, else a detection failure), and score each method:

* ``"faceforge"``: ``FaceFitter.fit_face`` on that detection; its 68 output points (contour-aware jaw);
* ``"detector"``: the raw detector, scored on the 10 iBUG points that have a MediaPipe counterpart
  (``faceforge.detect.indices.IBUG_TO_MESH``: eye corners, nose tip, mouth corners, lip centres, chin). Its NME is
  over those points only (normalized like the others), so it is *not* comparable with a 68-point NME.

NME (``faceforge.metrics.landmarks``): inter-ocular (outer eye corners 36-45, the 300-W convention) and box
(sqrt(w h) of the annotation). Detection failures are listed and count as failures (NME = +inf) in the failure
rate and the AUC, and are left out of the mean and median.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceforge.datasets.pts import read_pts
from faceforge.errors import InputError, NoFaceError, UsageError
from faceforge.metrics.landmarks import (
    LANDMARK_GROUPS,
    area_under_curve,
    failure_rate,
    nme,
    nme_by_group,
    nme_on_points,
)

log = logging.getLogger(__name__)

LANDMARK_METHODS = ("faceforge", "detector")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class LandmarkEvalOptions:
    """Options of ``evaluate_landmark_folder``.

    Attributes:
        methods: some of ``LANDMARK_METHODS``.
        min_iou: a detection matches the annotation when their boxes overlap at least this much.
        failure_threshold: NME above this (fraction) is a failure (300-W: 0.08 or 0.1).
        auc_threshold: the cumulative-error-curve area is taken up to this NME (300-W: 0.08).
        max_images: evaluate only the first N annotations (sorted by name); 0 = all.
        tiles: detector tiles (``FaceDetectorOptions.tiles``; 2 finds small faces in group photos).
    """

    methods: tuple[str, ...] = ("faceforge",)
    min_iou: float = 0.3
    failure_threshold: float = 0.1
    auc_threshold: float = 0.08
    max_images: int = 0
    tiles: int = 1

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in LANDMARK_METHODS]
        if unknown or not self.methods:
            raise UsageError(f"methods: expected some of {', '.join(LANDMARK_METHODS)}, got {self.methods}")
        if not 0.0 < self.min_iou <= 1.0 or self.max_images < 0 or self.tiles < 1:
            raise UsageError("LandmarkEvalOptions: min_iou in (0, 1], max_images >= 0, tiles >= 1")


@dataclass(frozen=True)
class LandmarkRecord:
    """One annotated face, one method.

    Attributes:
        name: the annotation's file stem. method: the method.
        detected: a detection matched the annotation (else the NMEs are +inf).
        iou: box overlap of the matched detection (0 when none).
        nme_inter_ocular, nme_bbox: fractions.
        nme_groups: group -> inter-ocular NME (faceforge only; empty for the detector).
        ms: time of the method's own work: the fit for faceforge, ``detect_faces`` (every face of the image, the
            478-point mesh included) for the detector; faceforge's total is the sum of both.
    """

    name: str
    method: str
    detected: bool
    iou: float
    nme_inter_ocular: float
    nme_bbox: float
    nme_groups: dict[str, float] = field(default_factory=dict)
    ms: float = 0.0


@dataclass(frozen=True)
class LandmarkEvalResult:
    """Every record, the per-method summary and the failures."""

    records: list[LandmarkRecord]
    options: LandmarkEvalOptions

    def errors(self, method: str, mode: str = "inter_ocular") -> np.ndarray:
        """(n,) NME of every annotation for ``method`` (+inf for detection failures)."""
        key = "nme_inter_ocular" if mode == "inter_ocular" else "nme_bbox"
        return np.array([getattr(r, key) for r in self.records if r.method == method], dtype=np.float64)

    def failures(self, method: str) -> list[str]:
        """Names of the annotations without a matching detection."""
        return [r.name for r in self.records if r.method == method and not r.detected]

    def summary(self) -> dict[str, dict[str, float]]:
        """method -> figures (NMEs as fractions; *_pct keys in percent)."""
        out = {}
        o = self.options
        for method in o.methods:
            rows = [r for r in self.records if r.method == method]
            e = self.errors(method)
            found = e[np.isfinite(e)]
            eb = self.errors(method, "bbox")
            eb = eb[np.isfinite(eb)]
            s: dict[str, float] = {"faces": len(rows), "detected": int(found.size)}
            if found.size:
                s.update({
                    "nme_mean_pct": 100 * float(found.mean()), "nme_median_pct": 100 * float(np.median(found)),
                    "nme_bbox_mean_pct": 100 * float(eb.mean()), "nme_bbox_median_pct": 100 * float(np.median(eb)),
                    f"failure_rate_{o.failure_threshold:g}": failure_rate(e, o.failure_threshold),
                    f"auc_{o.auc_threshold:g}": area_under_curve(e, o.auc_threshold),
                })
                groups = [r.nme_groups for r in rows if r.detected and r.nme_groups]
                for g in LANDMARK_GROUPS if groups else ():
                    s[f"nme_{g}_median_pct"] = 100 * float(np.median([x[g] for x in groups]))
                ms = [r.ms for r in rows if r.detected and r.ms > 0]
                if ms:
                    s["ms_median"] = float(np.median(ms))
            out[method] = s
        return out


def list_annotations(folder: Path) -> list[tuple[Path, Path]]:
    """(image, annotation) pairs: every ``NAME.pts`` (else, when the folder has none, every ``NAME.mat``) with a
    ``NAME.jpg/.jpeg/.png`` beside it, sorted by name.

    Raises:
        InputError: not a folder, or no pair in it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder")
    pairs = []
    annotations = sorted(folder.glob("*.pts")) or sorted(folder.glob("*.mat"))
    for pts in annotations:
        image = next((pts.with_suffix(s) for s in IMAGE_SUFFIXES if pts.with_suffix(s).is_file()), None)
        if image is None:
            log.warning("%s: no image beside it, skipped", pts.name)
            continue
        pairs.append((image, pts))
    if not pairs:
        raise InputError(f"{folder}: no NAME.pts (or NAME.mat) with a NAME.jpg/.png beside it")
    return pairs


def read_annotation(path: Path) -> np.ndarray:
    """(68, 2) float64 0-based pixel landmarks of a ``.pts`` (300-W) or ``.mat`` (AFLW2000-3D, as stored) file."""
    from faceforge.datasets.aflw2000 import read_aflw2000

    path = Path(path)
    gt = read_aflw2000(path).landmarks_68_px if path.suffix.lower() == ".mat" else read_pts(path)
    if gt.shape != (68, 2):
        raise InputError(f"{path}: expected 68 points, got {len(gt)}")
    return gt


def evaluate_landmark_folder(
    folder: Path,
    options: LandmarkEvalOptions = LandmarkEvalOptions(),
    progress: Callable[[int, int], None] | None = None,
) -> LandmarkEvalResult:
    """Score the methods on every annotated face of a 300-W style folder (module docstring).

    Raises:
        InputError: the folder holds no annotation pair, or a file is unreadable.
    """
    from faceforge.assets import load_model
    from faceforge.detect.blazeface import box_iou
    from faceforge.detect.detector import FaceDetectorOptions
    from faceforge.detect.faces import DetectFacesOptions, detect_faces
    from faceforge.detect.indices import ibug_subset
    from faceforge.fit.reconstruct import FaceFitter
    from faceforge.io.image import read_image

    pairs = list_annotations(folder)
    if options.max_images:
        pairs = pairs[: options.max_images]
    fitter = FaceFitter(load_model()) if "faceforge" in options.methods else None
    det_options = DetectFacesOptions(detector=FaceDetectorOptions(tiles=options.tiles), select="all")
    records: list[LandmarkRecord] = []
    for k, (image_path, pts_path) in enumerate(pairs):
        gt = read_annotation(pts_path)
        image = read_image(image_path)
        box = np.r_[gt.min(0), gt.max(0)]
        t0 = time.perf_counter()
        try:
            faces = detect_faces(image, det_options)
        except NoFaceError:
            faces = []
        detect_ms = (time.perf_counter() - t0) * 1000.0
        scored = [(float(box_iou(box, np.asarray(f.bbox_px, dtype=np.float64)[None])[0]), f) for f in faces]
        iou, best = max(scored, key=lambda t: t[0], default=(0.0, None))
        for method in options.methods:
            if best is None or iou < options.min_iou:
                records.append(LandmarkRecord(pts_path.stem, method, False, iou, math.inf, math.inf))
                continue
            if method == "faceforge":
                assert fitter is not None
                t0 = time.perf_counter()
                rec = fitter.fit_face(best, (image.shape[1], image.shape[0]))
                ms = (time.perf_counter() - t0) * 1000.0
                pred = rec.landmarks_68_px
                records.append(LandmarkRecord(
                    pts_path.stem, method, True, iou, nme(pred, gt), nme(pred, gt, "bbox"), nme_by_group(pred, gt), ms,
                ))
            else:
                idx, pts = ibug_subset(best.points_px[:, :2].astype(np.float64))
                records.append(LandmarkRecord(
                    pts_path.stem, method, True, iou, nme_on_points(pts, gt, idx), nme_on_points(pts, gt, idx, "bbox"),
                    ms=detect_ms,
                ))
        if progress is not None:
            progress(k + 1, len(pairs))
    return LandmarkEvalResult(records, options)
