"""``faceforge eval``: accuracy on a 300-W style folder, on the synthetic benchmark, or of one mesh against another.

``faceforge eval landmarks --images DIR [--method faceforge detector]``
    68-point NME (inter-ocular and box), per group, failure rate, AUC, detection failures listed
    (``faceforge.evaluation.landmarks``).
``faceforge eval synthetic [--count N] [--split test] [--method gt-landmarks detector]``
    CD / MNE / CR@2mm per region and NME per method on the synthetic faces (``faceforge.evaluation.synthetic``).
``faceforge eval mesh --gt GT.obj --reconstruction REC.ply [--gt-landmarks L.txt --recon-landmarks L.txt]``
    CD / MNE / CR of one reconstruction (``faceforge.metrics.reconstruction``).

Each prints a table and, with ``--json``, writes every figure (with the command line and versions) atomically.
``--plot`` writes a cumulative error curve PNG; ``eval synthetic --heatmap`` a per-vertex CD heat map on the model
(derived from the model's geometry: do not commit one made from ICT-FaceKit).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from faceforge.errors import UsageError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="measure accuracy: landmarks (300-W folder), synthetic faces, or one mesh",
                       description="Accuracy figures from one rerunnable command (see docs/BENCHMARKS.md).")
    which = p.add_subparsers(dest="eval_kind", metavar="KIND", required=True)

    lm = which.add_parser("landmarks", help="68-point NME on a folder of NAME.jpg + NAME.pts (300-W) or NAME.mat "
                          "(AFLW2000-3D)")
    lm.add_argument("--images", type=Path, required=True,
                    help="folder of NAME.jpg/.png + NAME.pts (1-based) or NAME.mat (AFLW2000-3D pt3d_68)")
    lm.add_argument("--method", nargs="+", default=["faceforge"], choices=("faceforge", "detector"),
                    help="faceforge: the fitted 68 points; detector: the 10 points the raw 478-point detector has "
                    "(default faceforge)")
    lm.add_argument("--max-images", type=int, default=0, help="only the first N annotations (default all)")
    lm.add_argument("--tiles", type=int, default=1, help="detector tiles for small faces (default 1)")
    lm.add_argument("--min-iou", type=float, default=0.3, help="detection/annotation box overlap (default 0.3)")
    _outputs(lm, heatmap=False)
    lm.set_defaults(func=_run_landmarks)

    sy = which.add_parser("synthetic", help="CD/MNE/CR per region and NME on the synthetic benchmark")
    sy.add_argument("--count", type=int, default=20, help="faces (default 20)")
    sy.add_argument("--split", choices=("test", "train"), default="test", help="split (default test)")
    sy.add_argument("--first", type=int, default=0, help="first face index (default 0)")
    sy.add_argument("--seed", type=int, default=0, help="the set's seed (default 0: the published set)")
    sy.add_argument("--method", nargs="+", default=["gt-landmarks", "detector"],
                    choices=("gt-landmarks", "detector", "gt-landmarks-exact"), help="methods (default both fits)")
    sy.add_argument("--known-focal", action="store_true", help="give the fitter the true focal length")
    _outputs(sy, heatmap=True)
    sy.set_defaults(func=_run_synthetic)

    me = which.add_parser("mesh", help="CD/MNE/CR of a reconstruction against a ground-truth mesh")
    me.add_argument("--gt", type=Path, required=True, help="ground-truth mesh (.obj/.ply)")
    me.add_argument("--reconstruction", type=Path, required=True, help="reconstructed mesh (.obj/.ply)")
    me.add_argument("--gt-landmarks", type=Path, help="L x 3 landmarks on the ground truth (text or .json)")
    me.add_argument("--recon-landmarks", type=Path, help="the same L landmarks on the reconstruction")
    me.add_argument("--alignment", choices=("auto", "landmarks+icp", "icp", "landmarks", "none"), default="auto",
                    help="auto: landmarks+icp with landmarks, else icp from the identity")
    me.add_argument("--unit-mm", type=float, default=10.0, help="millimetres per file unit (default 10: cm)")
    me.add_argument("--scale", action="store_true", help="allow a uniform scale in the alignment")
    me.add_argument("--json", type=Path, help="write the figures as JSON")
    me.set_defaults(func=_run_mesh)


def _outputs(p: argparse.ArgumentParser, heatmap: bool) -> None:
    p.add_argument("--json", type=Path, help="write every figure (per face and summary) as JSON")
    p.add_argument("--plot", type=Path, help="write the cumulative error curve(s) as PNG")
    if heatmap:
        p.add_argument("--heatmap", type=Path, help="write the mean per-vertex CD of the first method as a PNG "
                       "heat map on the neutral model (ICT-derived: never commit it)")


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces the run (rebuilt from the parsed flags)."""
    parts = ["faceforge", "eval", args.eval_kind]
    for key, value in sorted(vars(args).items()):
        if key in ("func", "eval_kind", "command", "verbose", "json", "plot", "heatmap") or value in (None, False):
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return " ".join(parts)


def _write_json(path: Path, payload: dict) -> None:
    from faceforge.io.atomic import write_bytes_atomically

    write_bytes_atomically(path, (json.dumps(payload, indent=1, sort_keys=True, default=_jsonable) + "\n").encode())


def _jsonable(x: object) -> object:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def _finite(x: float) -> float | None:
    return None if not math.isfinite(x) else x


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))


def _fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _versions() -> dict[str, str]:
    import numpy
    import torch

    from faceforge import __version__

    return {"faceforge": __version__, "numpy": numpy.__version__, "torch": torch.__version__}


def _progress(what: str):
    """A progress callback printing ``what k/n`` on stderr when it is a terminal (else nothing)."""
    import sys

    def show(done: int, total: int) -> None:
        if sys.stderr.isatty():
            sys.stderr.write(f"\r{what} {done}/{total}" + ("\n" if done == total else ""))
            sys.stderr.flush()

    return show


def _write_png(path: Path, image: np.ndarray) -> None:
    from faceforge.io.image import write_image

    write_image(path, image)
    print(f"wrote {path}")


def _check_output_paths(args: argparse.Namespace) -> None:
    for name in ("json", "plot", "heatmap"):
        path = getattr(args, name, None)
        if path is not None and not Path(path).parent.is_dir():
            raise UsageError(f"--{name} {path}: the folder {Path(path).parent} does not exist")
        if name in ("plot", "heatmap") and path is not None and Path(path).suffix.lower() != ".png":
            raise UsageError(f"--{name} {path}: expected a .png path")


def _run_landmarks(args: argparse.Namespace) -> int:
    from faceforge.evaluation.landmarks import LandmarkEvalOptions, evaluate_landmark_folder

    _check_output_paths(args)
    if args.max_images < 0:
        raise UsageError(f"--max-images must be >= 0, got {args.max_images}")
    options = LandmarkEvalOptions(methods=tuple(dict.fromkeys(args.method)), min_iou=args.min_iou,
                                  max_images=args.max_images, tiles=args.tiles)
    result = evaluate_landmark_folder(args.images, options, _progress("annotations"))
    summary = result.summary()
    fr, auc = f"failure_rate_{options.failure_threshold:g}", f"auc_{options.auc_threshold:g}"
    rows = []
    for method, s in summary.items():
        rows.append([method, str(s["faces"]), str(s["detected"]), _fmt(s.get("nme_mean_pct")),
                     _fmt(s.get("nme_median_pct")), _fmt(s.get("nme_bbox_mean_pct")),
                     _fmt(100 * s[fr] if fr in s else None, 1), _fmt(s.get(auc), 3)])
    _print_table(["method", "faces", "detected", "NME io mean %", "median %", "NME box mean %",
                  f"fail>{100 * options.failure_threshold:g}% (%)", f"AUC@{options.auc_threshold:g}"], rows)
    for method in options.methods:
        missed = result.failures(method)
        if missed:
            print(f"{method}: no matching detection for {len(missed)}: {', '.join(missed)}")
            break
    if args.json:
        _write_json(args.json, {
            "command": _command(args), "versions": _versions(), "options": asdict(options), "summary": summary,
            "records": [{**asdict(r), "nme_inter_ocular": _finite(r.nme_inter_ocular),
                         "nme_bbox": _finite(r.nme_bbox)} for r in result.records],
        })
        print(f"wrote {args.json}")
    if args.plot:
        from faceforge.evaluation.plots import plot_error_curves
        from faceforge.metrics.landmarks import cumulative_error_curve

        curves = {m: cumulative_error_curve(result.errors(m), 0.1) for m in options.methods}
        _write_png(args.plot, plot_error_curves(curves, f"Cumulative NME, {Path(args.images).name}",
                                                "NME, inter-ocular (%)", 100.0))
    return 0


def _run_synthetic(args: argparse.Namespace) -> int:
    from faceforge.assets import load_model
    from faceforge.datasets.synthetic import SYNTHETIC_VERSION, SyntheticOptions
    from faceforge.evaluation.synthetic import REPORTED_REGIONS, SyntheticEvalOptions, evaluate_synthetic

    _check_output_paths(args)
    options = SyntheticEvalOptions(count=args.count, split=args.split, first_index=args.first,
                                   methods=tuple(dict.fromkeys(args.method)), known_focal=args.known_focal,
                                   synthetic=SyntheticOptions(seed=args.seed))
    model = load_model()
    result = evaluate_synthetic(model, options, _progress("faces"))
    summary = result.summary()
    rows = []
    for method, s in summary.items():
        rows.append([method, f"{s['found']}/{s['faces']}",
                     *(_fmt(s.get(f"cd_{r}_mm")) for r in REPORTED_REGIONS),
                     _fmt(s.get("mne_face_deg"), 1), _fmt(s.get("cr_face"), 3),
                     _fmt(100 * s["nme_mean"] if "nme_mean" in s else None)])
    print(f"synthetic set v{SYNTHETIC_VERSION}, seed {args.seed}, split {args.split}, faces {args.first}.."
          f"{args.first + args.count - 1}; CD in mm (NoW-style, after landmark + ICP rigid alignment)")
    _print_table(["method", "found", *(f"CD {r}" for r in REPORTED_REGIONS), "MNE deg", "CR@2mm", "NME %"], rows)
    if args.json:
        _write_json(args.json, {
            "command": _command(args), "versions": _versions(), "synthetic_version": SYNTHETIC_VERSION,
            "options": asdict(options), "summary": summary,
            "faces": [{k: v for k, v in asdict(f).items() if k != "distances_mm"} for f in result.faces],
        })
        print(f"wrote {args.json}")
    if args.plot:
        from faceforge.evaluation.plots import plot_error_curves
        from faceforge.metrics.landmarks import cumulative_error_curve

        curves = {}
        for method in options.methods:
            cd = [f.chamfer_mm["face"] if f.found else math.inf for f in result.faces if f.method == method]
            curves[method] = cumulative_error_curve(np.array(cd), 5.0)
        _write_png(args.plot, plot_error_curves(curves, "Cumulative CD (face), synthetic test faces", "CD (mm)"))
    if args.heatmap:
        from faceforge.evaluation.plots import render_error_heatmap
        from faceforge.evaluation.synthetic import surface_faces

        err = result.mean_vertex_errors(options.methods[0], model.num_vertices)
        _write_png(args.heatmap, render_error_heatmap(model.template.numpy(), surface_faces(model), err, 4.0))
    return 0


def _run_mesh(args: argparse.Namespace) -> int:
    from faceforge.datasets.meshes import read_landmarks_3d, read_mesh
    from faceforge.metrics.reconstruction import MeshErrorOptions, compare_meshes
    from faceforge.metrics.surface import vertex_normals_np

    _check_output_paths(args)
    if (args.gt_landmarks is None) != (args.recon_landmarks is None):
        raise UsageError("--gt-landmarks and --recon-landmarks go together")
    alignment = args.alignment
    if alignment == "auto":
        alignment = "landmarks+icp" if args.gt_landmarks else "icp"
    if alignment.startswith("landmarks") and args.gt_landmarks is None:
        raise UsageError(f"--alignment {alignment} needs --gt-landmarks and --recon-landmarks")
    if not args.unit_mm > 0:
        raise UsageError(f"--unit-mm must be > 0, got {args.unit_mm}")
    gt = read_mesh(args.gt)
    rec = read_mesh(args.reconstruction)
    gl = read_landmarks_3d(args.gt_landmarks) if args.gt_landmarks else None
    rl = read_landmarks_3d(args.recon_landmarks) if args.recon_landmarks else None
    gv = gt.vertices.astype(np.float64)
    used = np.unique(gt.faces)  # ground-truth points: the vertices of its triangles
    options = MeshErrorOptions(unit_to_mm=args.unit_mm, alignment=alignment, with_scale=args.scale)
    errors = compare_meshes(gv[used], rec.vertices.astype(np.float64), rec.faces,
                            vertex_normals_np(gv, gt.faces)[used], gl, rl, options)
    _print_table(["CD mm", "MNE deg", "CR@2mm", "points", "scale"], [[
        _fmt(errors.chamfer_mm, 3), _fmt(errors.normal_error_deg, 2), _fmt(errors.completeness, 3), str(len(used)),
        _fmt(errors.transform.scale, 4)]])
    if args.json:
        _write_json(args.json, {
            "command": _command(args), "versions": _versions(), "options": asdict(options),
            "chamfer_mm": errors.chamfer_mm, "normal_error_deg": errors.normal_error_deg,
            "completeness": errors.completeness, "points": int(len(used)),
            "transform": {"rotation": errors.transform.rotation, "translation": errors.transform.translation,
                          "scale": errors.transform.scale},
        })
        print(f"wrote {args.json}")
    return 0
