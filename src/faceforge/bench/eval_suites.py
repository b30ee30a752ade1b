"""Benchmark suites "synthetic" and "landmarks-300w": accuracy figures from ``faceforge.evaluation``.

* ``synthetic``: the synthetic benchmark (``faceforge.datasets.synthetic``, version ``SYNTHETIC_VERSION``, test
  split, faces 0..N-1; N = 10 with ``--quick``, else 50) fitted by each method of
  ``faceforge.evaluation.synthetic``; CD / MNE / CR@2mm per region (seed 003 Table 1 regions) and 68-point NME.
  The time column is ``FaceFitter.fit_face`` per face (one run per face, median over the faces; detection excluded).
* ``landmarks-300w``: ``faceforge eval landmarks`` on the 300-W AFW development faces (``$FACEFORGE_DEV_DATA`` or
  ``../shared/data/dev``; 20 faces with ``--quick``, else all; no rows without the data): NME inter-ocular and box,
  failure rate at 10 %, AUC at 8 %, for the fitted 68 points and for the raw detector's 10 iBUG counterparts. The
  time column: the fit per face for faceforge, ``detect_faces`` per photo for the detector (one run each, median).

Figures (PNG, plots of metrics): ``BenchOptions.figures_dir`` / ``synthetic_cd.png`` (cumulative CD of the face
region), ``synthetic_nme.png``, ``landmarks_300w_ced.png``. Renders of the model (ICT-derived, never committed):
``BenchOptions.renders_dir`` / ``synthetic_cd_heatmap_<method>.png`` (mean per-vertex CD on the neutral head, front
and 45 degrees, 0-4 mm).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from faceforge.bench.registry import BenchOptions, BenchRow, register_suite

log = logging.getLogger(__name__)


def _write_figure(options: BenchOptions, name: str, image: np.ndarray, render: bool = False) -> None:
    """Write a plot into ``figures_dir`` or, with ``render``, a render of the model into ``renders_dir``."""
    folder = options.renders_dir if render else options.figures_dir
    if folder is None:
        return
    from faceforge.io.image import write_image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_image(folder / name, image)
    log.info("wrote %s", folder / name)


def _round(x: float, digits: int = 3) -> float | str:
    return "-" if x is None or not math.isfinite(x) else round(float(x), digits)


@register_suite("synthetic", "Synthetic benchmark: mesh accuracy of the landmark fitter (CD / MNE / CR, seed 003)")
def synthetic_suite(options: BenchOptions) -> list[BenchRow]:
    from faceforge.assets import load_model
    from faceforge.datasets.synthetic import SYNTHETIC_VERSION
    from faceforge.evaluation.plots import plot_error_curves
    from faceforge.evaluation.synthetic import REPORTED_REGIONS, SyntheticEvalOptions, evaluate_synthetic
    from faceforge.metrics.landmarks import cumulative_error_curve

    count = 10 if options.quick else 50
    eval_options = SyntheticEvalOptions(count=count, methods=("gt-landmarks", "detector", "gt-landmarks-exact"))
    model = load_model()
    result = evaluate_synthetic(model, eval_options)
    summary = result.summary()
    described = {
        "gt-landmarks": "fit_face on the true 478 points (default options)",
        "detector": "detect_faces + fit_face on the rendered image",
        "gt-landmarks-exact": "true 478 points, all 100 identity modes, no priors, true focal (metric check)",
    }
    rows = []
    for method in eval_options.methods:
        s = summary[method]
        ms = [f.fit_ms for f in result.faces if f.method == method and f.found]
        notes: dict[str, float | int | str] = {"faces": s["faces"], "found": s["found"]}
        for r in REPORTED_REGIONS:
            notes[f"CD {r} mm"] = _round(s.get(f"cd_{r}_mm", math.nan), 2)
        notes["MNE face deg"] = _round(s.get("mne_face_deg", math.nan), 1)
        notes["CR@2mm face"] = _round(s.get("cr_face", math.nan), 3)
        notes["NME mean %"] = _round(100 * s.get("nme_mean", math.nan), 2)
        case = f"{method}: {described[method]}; synthetic v{SYNTHETIC_VERSION} test faces 0-{count - 1}, 256x256"
        rows.append(BenchRow(case, float(np.median(ms)) if ms else math.nan, float(np.min(ms)) if ms else math.nan,
                             len(ms), notes))
    cd_curves, nme_curves = {}, {}
    for method in eval_options.methods:
        faces = [f for f in result.faces if f.method == method]
        cd_curves[method] = cumulative_error_curve(
            np.array([f.chamfer_mm["face"] if f.found else math.inf for f in faces]), 4.0)
        nme_curves[method] = cumulative_error_curve(np.array([f.nme if f.found else math.inf for f in faces]), 0.1)
    _write_figure(options, "synthetic_cd.png", plot_error_curves(
        cd_curves, f"CD of the face region, {count} synthetic test faces (v{SYNTHETIC_VERSION})", "CD (mm)"))
    _write_figure(options, "synthetic_nme.png", plot_error_curves(
        nme_curves, f"68-point NME, {count} synthetic test faces (v{SYNTHETIC_VERSION})", "NME, inter-ocular (%)",
        100.0))
    if options.renders_dir is not None:
        from faceforge.evaluation.plots import render_error_heatmap
        from faceforge.evaluation.synthetic import surface_faces

        for method in ("gt-landmarks", "detector"):
            if summary[method]["found"]:
                err = result.mean_vertex_errors(method, model.num_vertices)
                _write_figure(options, f"synthetic_cd_heatmap_{method}.png", render_error_heatmap(
                    model.template.numpy(), surface_faces(model), err, 4.0, size=384), render=True)
    return rows


@register_suite("landmarks-300w", "68-point landmarks on 300-W AFW (faceforge eval landmarks)")
def landmarks_suite(options: BenchOptions) -> list[BenchRow]:
    from faceforge.bench.reconstruct_suite import dev_data_dir
    from faceforge.evaluation.landmarks import LandmarkEvalOptions, evaluate_landmark_folder
    from faceforge.evaluation.plots import plot_error_curves
    from faceforge.metrics.landmarks import cumulative_error_curve

    folder = dev_data_dir() / "300w-afw" / "images"
    if not any(folder.glob("*.pts")):
        log.warning("no 300-W development data in %s: suite skipped", folder)
        return []
    eval_options = LandmarkEvalOptions(methods=("faceforge", "detector"), max_images=20 if options.quick else 0)
    result = evaluate_landmark_folder(folder, eval_options)
    summary = result.summary()
    fr = f"failure_rate_{eval_options.failure_threshold:g}"
    auc = f"auc_{eval_options.auc_threshold:g}"
    rows = []
    for method, what in (("faceforge", "fitted 68 points (time: FaceFitter.fit_face)"),
                         ("detector", "raw detector, the 10 iBUG points with a mesh counterpart (time: detect_faces)")):
        s = summary[method]
        ms = [r.ms for r in result.records if r.method == method and r.detected and r.ms > 0]
        notes: dict[str, float | int | str] = {
            "faces": s["faces"], "detected": s["detected"],
            "NME mean %": _round(s.get("nme_mean_pct", math.nan), 2),
            "NME median %": _round(s.get("nme_median_pct", math.nan), 2),
            "NME box mean %": _round(s.get("nme_bbox_mean_pct", math.nan), 2),
            "failures >10 % (share)": _round(s.get(fr, math.nan), 3),
            "AUC@8 %": _round(s.get(auc, math.nan), 3),
        }
        rows.append(BenchRow(f"{method}: {what}, 300-W AFW dev", float(np.median(ms)) if ms else math.nan,
                             float(np.min(ms)) if ms else math.nan, len(ms), notes))
    curves = {f"{m} ({'68' if m == 'faceforge' else '10'} points)": cumulative_error_curve(result.errors(m), 0.1)
              for m in eval_options.methods}
    n = len({r.name for r in result.records})
    _write_figure(options, "landmarks_300w_ced.png", plot_error_curves(
        curves, f"Cumulative NME, {n} 300-W AFW dev faces (misses count as failures)", "NME, inter-ocular (%)",
        100.0))
    return rows
