"""Mesh accuracy on the synthetic benchmark: fit each face, then CD / MNE / CR per region and NME (seed 003 IV.3).

Methods (how the landmarks given to ``FaceFitter.fit_face`` are obtained):

* ``"detector"``: the MediaPipe detector on the rendered image (the real pipeline; a missed face is a failure);
* ``"gt-landmarks"``: the ground-truth 478 correspondence points projected with the true camera (noise-free, every
  point, including hidden ones): the fitter's own error with perfect landmarks;
* ``"gt-landmarks-exact"``: the same points fitted with every identity mode, 20 iterations, vanishing priors and the
  true focal length: a check of the metrics and the benchmark (it should come close to 0 mm).

The fitter runs with its default options except ``contour=False`` (its 68 output points are then the same surface
points the ground truth projects, so the NME compares like with like) and, with ``known_focal``, the true focal
length. Mesh errors (``faceforge.metrics.reconstruction``): the ground-truth points are the vertices of the face
sub-regions (``evaluation_regions``); the reconstruction's surface is every triangle of the model's ``face`` and
``head_neck`` regions; alignment = the 68 landmarks (Kabsch) then ICP; millimetres.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from faceforge.datasets.synthetic import SyntheticFaces, SyntheticOptions, SyntheticSample
from faceforge.errors import NoFaceError, UsageError
from faceforge.metrics.landmarks import nme
from faceforge.metrics.reconstruction import MeshErrorOptions, compare_meshes, region_errors
from faceforge.metrics.surface import vertex_normals_np
from faceforge.morphable.evaluate import evaluate
from faceforge.morphable.model import MorphableModel

log = logging.getLogger(__name__)

SYNTHETIC_METHODS = ("gt-landmarks", "detector", "gt-landmarks-exact")
# Regions reported, seed 003 Table 1; "face" = every labelled face sub-region except the ears.
REPORTED_REGIONS = ("face", "eyes", "nose", "mouth", "ears")
_FACE_PARTS = ("forehead", "eyes", "nose", "mouth", "cheeks", "chin_jaw")


@dataclass(frozen=True)
class SyntheticEvalOptions:
    """Options of ``evaluate_synthetic``.

    Attributes:
        count: faces evaluated (indices ``first_index`` ... ``first_index + count - 1`` of ``split``).
        split: "test" (default) or "train".
        first_index: first face index.
        methods: which of ``SYNTHETIC_METHODS`` to run.
        known_focal: give the fitter the true focal length (else it estimates it).
        mesh: CD/MNE/CR options (``unit_to_mm`` is set from the model's units).
        synthetic: the synthetic set's options (its seed and distributions).
    """

    count: int = 20
    split: str = "test"
    first_index: int = 0
    methods: tuple[str, ...] = ("gt-landmarks", "detector")
    known_focal: bool = False
    mesh: MeshErrorOptions = field(default_factory=MeshErrorOptions)
    synthetic: SyntheticOptions = field(default_factory=SyntheticOptions)

    def __post_init__(self) -> None:
        if self.count < 1 or self.first_index < 0:
            raise UsageError(f"count must be >= 1 and first_index >= 0, got {self.count}, {self.first_index}")
        unknown = [m for m in self.methods if m not in SYNTHETIC_METHODS]
        if unknown or not self.methods:
            raise UsageError(f"methods: expected some of {', '.join(SYNTHETIC_METHODS)}, got {self.methods}")


@dataclass(frozen=True)
class SyntheticFaceResult:
    """One method on one face.

    Attributes:
        index: the face's index in its split. method: the method.
        found: False when the method produced no fit (detector miss); the figures are then NaN.
        chamfer_mm: region -> CD (mm). normal_error_deg: region -> MNE. completeness: region -> CR@2mm (0..1).
        nme: 68-point NME (inter-ocular) of the fitted landmarks in the 256 image.
        fit_ms: time of ``fit_face`` (detection excluded).
        distances_mm: (N,) per ground-truth point distances (for heat maps), or None.
    """

    index: int
    method: str
    found: bool
    chamfer_mm: dict[str, float]
    normal_error_deg: dict[str, float]
    completeness: dict[str, float]
    nme: float
    fit_ms: float
    distances_mm: np.ndarray | None = None


@dataclass(frozen=True)
class SyntheticEvalResult:
    """All faces and methods.

    Attributes:
        faces: one result per (face, method), faces in order, methods in ``options.methods`` order.
        gt_vertex_ids: (N,) model vertex id of each ground-truth point (for heat maps).
        regions: region name -> (n,) indices into the N points.
        options: what was run.
    """

    faces: list[SyntheticFaceResult]
    gt_vertex_ids: np.ndarray
    regions: dict[str, np.ndarray]
    options: SyntheticEvalOptions

    def summary(self) -> dict[str, dict[str, float]]:
        """method -> {faces, found, cd_<region>_mm, mne_<region>_deg, cr_<region>, nme_mean, nme_median, ...}.

        Means are over the faces the method found.
        """
        out = {}
        for method in self.options.methods:
            rows = [f for f in self.faces if f.method == method]
            ok = [f for f in rows if f.found]
            s: dict[str, float] = {"faces": len(rows), "found": len(ok)}
            for r in REPORTED_REGIONS if ok and "face" in ok[0].chamfer_mm else ():
                s[f"cd_{r}_mm"] = _mean([f.chamfer_mm.get(r, math.nan) for f in ok])
            if ok:
                s["cd_face_median_mm"] = float(np.median([f.chamfer_mm["face"] for f in ok]))
                s["mne_face_deg"] = _mean([f.normal_error_deg["face"] for f in ok])
                s["cr_face"] = _mean([f.completeness["face"] for f in ok])
                s["nme_mean"] = _mean([f.nme for f in ok])
                s["nme_median"] = float(np.median([f.nme for f in ok]))
                s["fit_ms_median"] = float(np.median([f.fit_ms for f in ok]))
            out[method] = s
        return out

    def mean_vertex_errors(self, method: str, num_vertices: int) -> np.ndarray:
        """(V,) mean point-to-surface distance (mm) per model vertex over the faces ``method`` found; NaN where no
        ground-truth point is scored. Raises UsageError when the method found no face."""
        found = [f.distances_mm for f in self.faces if f.method == method and f.found and f.distances_mm is not None]
        if not found:
            raise UsageError(f"{method}: no fitted face to map")
        err = np.full(num_vertices, np.nan)
        err[self.gt_vertex_ids] = np.mean(found, axis=0)
        return err


def _mean(values: list[float]) -> float:
    v = np.array(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def evaluation_regions(model: MorphableModel) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The ground-truth vertices scored and the reported regions as indices into them.

    Returns:
        vertex_ids: (N,) sorted model vertex ids (the union of the face sub-regions incl. the ears; the model's
        ``face`` region for models without sub-regions); regions: name -> (n,) int64 indices into ``vertex_ids``
        for the names of ``REPORTED_REGIONS`` the model has ("face" = the sub-regions except the ears).
    """
    parts = [p for p in _FACE_PARTS if p in model.regions]
    if parts:
        face = np.unique(np.concatenate([model.regions[p].numpy() for p in parts]))
    elif "face" in model.regions:
        face = model.regions["face"].numpy()
    else:
        raise UsageError(f"{model.name} has no 'face' region to evaluate")
    ears = model.regions["ears"].numpy() if "ears" in model.regions else np.zeros(0, np.int64)
    ids = np.union1d(face, ears)
    position = {int(v): i for i, v in enumerate(ids)}

    def index(vs: np.ndarray) -> np.ndarray:
        return np.array([position[int(v)] for v in vs if int(v) in position], dtype=np.int64)

    regions = {"face": index(face)}
    for name in REPORTED_REGIONS[1:]:
        if name in model.regions:
            regions[name] = index(model.regions[name].numpy())
    return ids, regions


def surface_faces(model: MorphableModel) -> np.ndarray:
    """(F', 3) int64 triangles of the reconstruction surface: all corners in ``face`` or ``head_neck`` (else all)."""
    keep = torch.zeros(model.num_vertices, dtype=torch.bool)
    for name in ("face", "head_neck"):
        if name in model.regions:
            keep[model.regions[name]] = True
    if not bool(keep.any()):
        keep[:] = True
    return model.faces[keep[model.faces].all(1)].numpy()


def evaluate_synthetic(
    model: MorphableModel,
    options: SyntheticEvalOptions = SyntheticEvalOptions(),
    progress: Callable[[int, int], None] | None = None,
) -> SyntheticEvalResult:
    """Fit the synthetic faces with each method and measure them (definitions in the module docstring).

    Args:
        model: ICT-FaceKit (the fitter needs the MediaPipe correspondence).
        progress: called with (faces done, faces total) after each face.
    """
    from faceforge.detect.faces import detect_faces
    from faceforge.fit.landmark_fit import LandmarkFitOptions
    from faceforge.fit.reconstruct import FaceFitter, ReconstructOptions

    faces_set = SyntheticFaces(model, options.synthetic)
    fitter = FaceFitter(model)
    ids, regions = evaluation_regions(model)
    recon_faces = surface_faces(model)
    all_faces = model.faces.numpy()
    units_mm = {"cm": 10.0, "m": 1000.0, "mm": 1.0}
    if model.units not in units_mm:
        raise UsageError(f"model units {model.units!r} not supported (cm, m, mm)")
    mesh_options = replace(options.mesh, unit_to_mm=units_mm[model.units])
    results: list[SyntheticFaceResult] = []
    for k in range(options.count):
        index = options.first_index + k
        sample = faces_set.sample(index, options.split)
        gt_vertices = faces_set.mesh(sample.scene).vertices[0].double().numpy()
        gt_normals = vertex_normals_np(gt_vertices, all_faces)[ids]
        gt_landmarks = faces_set.landmarks_3d(sample.scene)
        true_focal = float(sample.scene.camera.focal[0, 0])
        fit_options = ReconstructOptions(focal_px=true_focal if options.known_focal else None, contour=False)
        exact = ReconstructOptions(focal_px=true_focal, contour=False, landmarks=LandmarkFitOptions(
            iterations=20, identity_prior=1e-8, expression_prior=1e-8, num_identity=model.num_identity))
        for method in options.methods:
            face = None
            if method == "detector":
                try:
                    face = detect_faces(sample.image)[0]
                except NoFaceError:
                    face = None
            else:
                face = _ground_truth_face(sample)
            if face is None:
                results.append(_missing(index, method))
                continue
            t0 = time.perf_counter()
            rec = fitter.fit_face(face, (sample.image.shape[1], sample.image.shape[0]),
                                  exact if method == "gt-landmarks-exact" else fit_options)
            fit_ms = (time.perf_counter() - t0) * 1000.0
            with torch.no_grad():
                recon = evaluate(model, rec.params).vertices[0].double().numpy()
            recon_landmarks = faces_set.landmarks_from_vertices(recon)
            errors = compare_meshes(gt_vertices[ids], recon, recon_faces, gt_normals, gt_landmarks, recon_landmarks,
                                    mesh_options)
            per = region_errors(errors, regions, options.mesh.completeness_threshold_mm)
            results.append(SyntheticFaceResult(
                index=index, method=method, found=True,
                chamfer_mm={r: e.chamfer_mm for r, e in per.items()},
                normal_error_deg={r: e.normal_error_deg for r, e in per.items()},
                completeness={r: e.completeness for r, e in per.items()},
                nme=nme(rec.landmarks_68_px, sample.landmarks_68_px),
                fit_ms=fit_ms, distances_mm=errors.distances_mm,
            ))
            log.info("face %d %s: CD %.3f mm, NME %.2f %%", index, method, per["face"].chamfer_mm,
                     100 * results[-1].nme)
        if progress is not None:
            progress(k + 1, options.count)
    return SyntheticEvalResult(results, ids, regions, options)


def _missing(index: int, method: str) -> SyntheticFaceResult:
    return SyntheticFaceResult(index, method, False, {}, {}, {}, math.nan, math.nan)


def _ground_truth_face(sample: SyntheticSample):
    """The projected 478 correspondence points as a detector output (z = 0; every point, hidden ones included)."""
    from faceforge.detect.mesh import FaceLandmarks
    from faceforge.detect.roi import roi_from_box

    if sample.landmarks_478_px is None:
        raise UsageError("gt-landmarks needs a model with a detector correspondence (ICT-FaceKit)")
    pts = np.c_[sample.landmarks_478_px, np.zeros(len(sample.landmarks_478_px))]
    box = np.r_[pts[:468, :2].min(0), pts[:468, :2].max(0)]
    return FaceLandmarks(points_px=pts, presence=1.0, bbox_px=box, roi=roi_from_box(box, scale=1.5))
