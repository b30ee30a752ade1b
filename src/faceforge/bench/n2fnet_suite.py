"""Benchmark suite "n2fnet": the N2FNet regressor against the landmark fit on held-out synthetic faces (seed 003,
Table 3 style).

Faces: the synthetic benchmark's test split (``faceforge.datasets.synthetic``, seed 0), faces 0..N-1 (N = 50; 5 with
``--quick``), the same faces the "synthetic" suite scores. Rows:

* ``n2fnet, training crop``: the network on the data engine's own 128x128 crop of the face (the DECA box around the
  true 68 landmarks, eqs. 6-9) and its face-region mask: the regressor's accuracy on its training distribution.
* ``n2fnet, faceforge regress``: the whole ``N2FNetRegressor.regress`` path on a camera-frame normal map and face
  mask of the same faces framed wider (landmark box x 3.5, 384x384, so that the face mask is whole: the crop is
  predicted from the mask's box), resampling, true intrinsics given.
* ``mean face in the n2fnet pose``: identity and expression 0 (the prior mean) with the network's pose: what the
  shape part of the regressor adds over knowing nothing.
* ``hybrid``: the network's training-crop prediction refined by the normal-map fit (``fit.n2fnet.refine``, default
  ``RefineOptions``: 40 steps) against the same crop's normals and face mask: seed 003's hybrid (Table 3).
* ``normal fit from the mean face``: the same fit without the network (``refine.fit_from_mean``: depth and head-turn
  search, then the same 40 steps): the analogue of seed 003's optimization baseline (Pixel3DMM's fit).
* ``landmark fit, true 478 points`` / ``landmark fit, detector``: ``FaceFitter.fit_face`` as in the "synthetic"
  suite (``faceforge.evaluation.synthetic``; the detector row only without ``--quick``).

Figures as in ``faceforge.evaluation.synthetic``: CD / MNE / CR@2mm after landmark + ICP rigid alignment (mm,
degrees, share), per region, and the 68-point NME (inter-ocular) of the predicted landmarks. Time columns: the
network forward pass at batch 1 (median over repeated runs, one thread), ``regress`` end to end on one face, and the
fitter's median ``fit_face`` time (detection excluded), the hybrid's and the normal fit's median time per face
(network + fit; search + fit). FPS = 1000 / that median.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from faceforge.bench.registry import BenchOptions, BenchRow, register_suite, time_case

log = logging.getLogger(__name__)

# The "regress" row's inputs: the whole face region in view (the 256 benchmark crop cuts the scalp and the neck,
# and the regressor predicts its crop from the mask's box), the face about as many pixels across as in that crop.
WIDE_PADDING = 3.5
WIDE_SIZE = 384


@dataclass(frozen=True)
class FaceScore:
    """One method on one face: region -> CD (mm), MNE (deg), CR@2mm; NME (fraction); time (ms)."""

    chamfer_mm: dict[str, float]
    normal_error_deg: dict[str, float]
    completeness: dict[str, float]
    nme: float
    ms: float


def _mean(values: list[float]) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def summarize(scores: list[FaceScore]) -> dict[str, float]:
    """Means over faces: cd_<region>_mm, mne_face_deg, cr_face, nme_mean; ms_median."""
    from faceforge.evaluation.synthetic import REPORTED_REGIONS

    out: dict[str, float] = {"faces": len(scores)}
    for r in REPORTED_REGIONS:
        out[f"cd_{r}_mm"] = _mean([s.chamfer_mm.get(r, math.nan) for s in scores])
    out["mne_face_deg"] = _mean([s.normal_error_deg.get("face", math.nan) for s in scores])
    out["cr_face"] = _mean([s.completeness.get("face", math.nan) for s in scores])
    out["nme_mean"] = _mean([s.nme for s in scores])
    out["ms_median"] = float(np.median([s.ms for s in scores])) if scores else math.nan
    return out


def evaluate_regressor(model, regressor, count: int, mode: str, first_index: int = 0,
                       split: str = "test", refine_options=None) -> list[FaceScore]:
    """Score the regressor on synthetic faces (module docstring); ``mode`` is "crop", "prior", "regress", "hybrid"
    (the network's crop prediction refined by the normal fit, ``refine_options``) or "fit" (the normal fit from the
    mean face on the same crop)."""
    from faceforge.datasets.synthetic import SyntheticFaces, SyntheticOptions
    from faceforge.evaluation.synthetic import evaluation_regions, surface_faces
    from faceforge.fit.n2fnet.data import batch_from_samples
    from faceforge.fit.n2fnet.infer import RegressOptions
    from faceforge.fit.n2fnet.refine import FaceEstimate, NormalTarget, RefineOptions, fit_from_mean, refine
    from faceforge.fit.n2fnet.rendering import model_vertices
    from faceforge.fit.n2fnet.train import pose_from_output
    from faceforge.metrics.landmarks import nme
    from faceforge.metrics.reconstruction import MeshErrorOptions, compare_meshes, region_errors
    from faceforge.metrics.surface import vertex_normals_np
    from faceforge.morphable.evaluate import evaluate

    if mode not in ("crop", "regress", "prior", "hybrid", "fit"):
        raise ValueError(f"mode: expected 'crop', 'regress', 'prior', 'hybrid' or 'fit', got {mode!r}")
    refine_options = refine_options or RefineOptions()
    cfg = regressor.net.cfg
    full = SyntheticFaces(model, SyntheticOptions())
    small = SyntheticFaces(model, SyntheticOptions(image_size=regressor.image_size))
    wide = SyntheticFaces(model, SyntheticOptions(image_size=WIDE_SIZE, padding=WIDE_PADDING))
    ids, regions = evaluation_regions(model)
    recon_faces = surface_faces(model)
    all_faces = model.faces.numpy()
    mesh_options = replace(MeshErrorOptions(), unit_to_mm={"cm": 10.0, "m": 1000.0, "mm": 1.0}[model.units])
    net = regressor.net
    scores = []
    for k in range(count):
        index = first_index + k
        scene = full.scene(index, split)
        gt = full.mesh(scene).vertices[0].double().numpy()
        gt_normals = vertex_normals_np(gt, all_faces)[ids]
        gt_lm = full.landmarks_3d(scene)
        with torch.no_grad():
            if mode in ("crop", "prior", "hybrid", "fit"):
                sample = small.render(small.scene(index, split), uv=cfg.input_kind != "normal")
                batch = batch_from_samples([sample])
                target = NormalTarget(batch.normals, batch.mask, batch.focal, batch.principal)
                t0 = time.perf_counter()
                if mode == "fit":
                    est = fit_from_mean(model, regressor.parts, target, cfg.num_identity, refine_options).estimate
                else:
                    out = net.predict(batch.network_input(cfg.input_kind, cfg.input_masked))
                    rot, trans = pose_from_output(out, batch.focal, batch.principal)
                    est = FaceEstimate(out.identity, out.expression, rot, trans)
                    if mode == "hybrid":
                        est = refine(model, regressor.parts, target, est, refine_options).estimate
                ms = (time.perf_counter() - t0) * 1000.0
                if mode == "prior":  # the mean face (identity and expression 0) in the predicted pose
                    est = replace(est, identity=est.identity * 0, expression=est.expression * 0)
                rot, trans = est.rotation, est.translation
                verts = model_vertices(model, est.identity, est.expression)
                lm = regressor.parts.landmarks(verts @ rot.transpose(1, 2) + trans[:, None])[0]
                lm_px = (lm[:, :2] / lm[:, 2:3] * batch.focal + batch.principal).double().numpy()
                recon = verts[0].double().numpy()
            else:
                sample = wide.sample(index, split)
                cam = sample.scene.camera
                opts = RegressOptions(focal_px=tuple(float(v) for v in cam.focal[0]),
                                      principal_px=tuple(float(v) for v in cam.principal[0]))
                t0 = time.perf_counter()
                reg = regressor.regress(sample.normals_cam, sample.face_mask, opts)
                ms = (time.perf_counter() - t0) * 1000.0
                lm_px = reg.landmarks_68_px
                recon = evaluate(model, reg.params).vertices[0].double().numpy()
        errors = compare_meshes(gt[ids], recon, recon_faces, gt_normals, gt_lm, full.landmarks_from_vertices(recon),
                                mesh_options)
        per = region_errors(errors, regions, mesh_options.completeness_threshold_mm)
        scores.append(FaceScore({r: e.chamfer_mm for r, e in per.items()},
                                {r: e.normal_error_deg for r, e in per.items()},
                                {r: e.completeness for r, e in per.items()}, nme(lm_px, sample.landmarks_68_px), ms))
        log.info("n2fnet %s face %d: CD %.3f mm, NME %.2f %%", mode, index, per["face"].chamfer_mm,
                 100 * scores[-1].nme)
    return scores


def _round(x: float, digits: int = 2) -> float | str:
    return "-" if x is None or not math.isfinite(x) else round(float(x), digits)


def _row(case: str, s: dict[str, float], median_ms: float, min_ms: float, runs: int) -> BenchRow:
    from faceforge.evaluation.synthetic import REPORTED_REGIONS

    notes: dict[str, float | int | str] = {"faces": int(s["faces"])}
    for r in REPORTED_REGIONS:
        notes[f"CD {r} mm"] = _round(s.get(f"cd_{r}_mm", math.nan))
    notes["MNE face deg"] = _round(s.get("mne_face_deg", math.nan), 1)
    notes["CR@2mm face"] = _round(s.get("cr_face", math.nan), 3)
    notes["NME mean %"] = _round(100 * s.get("nme_mean", math.nan))
    notes["FPS"] = _round(1000.0 / median_ms, 1) if median_ms > 0 else "-"  # NaN > 0 is False
    return BenchRow(case, median_ms, min_ms, runs, notes)


@register_suite("n2fnet", "N2FNet regressor vs landmark fit on synthetic test faces (seed 003 Table 3 style)")
def n2fnet_suite(options: BenchOptions) -> list[BenchRow]:
    from faceforge.assets import load_model
    from faceforge.datasets.synthetic import SYNTHETIC_VERSION, SyntheticFaces, SyntheticOptions
    from faceforge.evaluation.synthetic import SyntheticEvalOptions, evaluate_synthetic
    from faceforge.fit.n2fnet.infer import N2FNetRegressor, RegressOptions
    from faceforge.fit.n2fnet.network import count_parameters

    count = 5 if options.quick else 50
    model = load_model()
    regressor = N2FNetRegressor(model)
    s = regressor.image_size
    where = f"synthetic v{SYNTHETIC_VERSION} test faces 0-{count - 1}"
    params = count_parameters(regressor.net).total
    x = torch.zeros(1, 3, s, s)
    sample = SyntheticFaces(model, SyntheticOptions(image_size=s)).sample(0, "test")
    from faceforge.fit.n2fnet.data import batch_from_samples

    x = batch_from_samples([sample]).network_input()
    with torch.no_grad():
        net_time = time_case("n2fnet forward", lambda: regressor.net(x), options)
    rows = [_row(f"n2fnet, training crop: network forward, batch 1, {s}x{s} ({params} parameters); {where}",
                 summarize(evaluate_regressor(model, regressor, count, "crop")), net_time.median_ms,
                 net_time.min_ms, net_time.repeats)]
    rows.append(_row(f"mean face in the n2fnet pose (identity, expression 0); {where}",
                     summarize(evaluate_regressor(model, regressor, count, "prior")), math.nan, math.nan, 0))
    big = SyntheticFaces(model, SyntheticOptions(image_size=WIDE_SIZE, padding=WIDE_PADDING)).sample(0, "test")
    opts = RegressOptions(focal_px=tuple(float(v) for v in big.scene.camera.focal[0]),
                          principal_px=tuple(float(v) for v in big.scene.camera.principal[0]))
    reg_time = time_case("regress", lambda: regressor.regress(big.normals_cam, big.face_mask, opts), options)
    rows.append(_row(f"n2fnet, faceforge regress: {WIDE_SIZE}x{WIDE_SIZE} normal map + face mask -> params (crop, "
                     f"resample, network); {where}", summarize(evaluate_regressor(model, regressor, count, "regress")),
                     reg_time.median_ms, reg_time.min_ms, reg_time.repeats))
    for mode, label in (("hybrid", "hybrid: n2fnet training-crop prediction + normal-map fit (40 steps)"),
                        ("fit", "normal-map fit from the mean face (depth and head-turn search + 40 steps): the "
                                "optimization fit")):
        scores = evaluate_regressor(model, regressor, count, mode)
        summ = summarize(scores)
        rows.append(_row(f"{label}, {s}x{s}; {where}", summ, summ["ms_median"], min(x.ms for x in scores), count))
    methods = ("gt-landmarks",) if options.quick else ("gt-landmarks", "detector")
    result = evaluate_synthetic(model, SyntheticEvalOptions(count=count, methods=methods))
    described = {"gt-landmarks": "landmark fit, true 478 points (fit_face)",
                 "detector": "landmark fit, detector on the shaded render (fit_face; detection excluded)"}
    for method in methods:
        faces = [f for f in result.faces if f.method == method and f.found]
        scores = [FaceScore(f.chamfer_mm, f.normal_error_deg, f.completeness, f.nme, f.fit_ms) for f in faces]
        summ = summarize(scores)
        ms = [f.fit_ms for f in faces]
        rows.append(_row(f"{described[method]}, 256x256; {where}", summ, summ["ms_median"] if ms else math.nan,
                         min(ms) if ms else math.nan, len(ms)))
    return rows
