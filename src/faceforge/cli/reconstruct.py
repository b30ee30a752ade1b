"""``faceforge reconstruct INPUT... -o OUTDIR``: photo -> fitted 3D head.

For ``NAME.ext`` (one face) it writes ``OUTDIR/NAME/`` (with ``--all-faces``: ``OUTDIR/NAME/face_K/``) holding
params.json, landmarks.json, mesh.obj (+ .mtl-free, with UVs), head.glb and overlay.png. Each input's folder is
built in a temporary folder and renamed into place, so a failed input leaves nothing behind. Every input is
processed; each failure is one line naming the file, and the exit code is the first failure's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from faceforge.assets import load_model
from faceforge.detect.detector import FaceDetectorOptions
from faceforge.detect.faces import DetectFacesOptions, parse_bbox
from faceforge.errors import FaceforgeError, UsageError
from faceforge.fit.landmark_fit import LandmarkFitOptions
from faceforge.fit.reconstruct import FaceFitter, FaceReconstruction, ReconstructOptions, reconstruct_image
from faceforge.io.gltf import save_glb
from faceforge.io.image import read_image, write_image
from faceforge.io.mesh import save_obj
from faceforge.io.params import save_params_json
from faceforge.morphable import evaluate
from faceforge.morphable.model import MorphableModel
from faceforge.render.overlay import overlay_mesh
from faceforge.render.parts import select_faces, visible_face_indices
from faceforge.structures import FaceParams

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reconstruct", help="fit a 3D head to the face(s) of photos")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files (JPEG, PNG, TIFF, ...)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--all-faces", action="store_true", help="reconstruct every face (OUTDIR/NAME/face_K/)")
    g.add_argument("--bbox", type=str, help="x0,y0,x1,y1: reconstruct the face overlapping this box the most")
    p.add_argument("--focal", type=float, help="known focal length in pixels (default: estimated)")
    p.add_argument("--tiles", type=int, default=1,
                   help="also search N x N overlapping tiles for small faces (group photos; default 1 = off)")
    p.add_argument("--no-gaze", action="store_true", help="do not estimate the gaze from the irises")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=False,
                   help="photometric refinement after the landmark fit (SH light + albedo; about 1 s per face)")
    p.set_defaults(func=_run)


def options_from_args(args: argparse.Namespace) -> tuple[DetectFacesOptions, ReconstructOptions]:
    if args.tiles < 1:
        raise UsageError(f"--tiles must be at least 1, got {args.tiles}")
    detector = FaceDetectorOptions(tiles=args.tiles)
    if args.all_faces:
        det = DetectFacesOptions(detector=detector, select="all")
    elif args.bbox:
        det = DetectFacesOptions(detector=detector, select="bbox", bbox_px=parse_bbox(args.bbox))
    else:
        det = DetectFacesOptions(detector=detector)
    if args.focal is not None and args.focal <= 0:
        raise UsageError(f"--focal must be positive, got {args.focal}")
    return det, ReconstructOptions(landmarks=LandmarkFitOptions(), focal_px=args.focal, gaze=not args.no_gaze,
                                   refine=args.refine)


def write_face(folder: Path, model: MorphableModel, image: np.ndarray, rec: FaceReconstruction) -> None:
    """Write the five outputs of one face into an existing folder."""
    p = rec.params
    save_params_json(folder / "params.json", p, model, rec.camera)
    landmarks = {
        "fitted_68": np.round(rec.landmarks_68_px, 3).tolist(),
        "detected": np.round(rec.detected_px.astype(np.float64), 3).tolist(),
        "bbox": np.round(rec.bbox_px.astype(np.float64), 2).tolist(),
    }
    (folder / "landmarks.json").write_text(json.dumps(landmarks) + "\n")
    unposed = FaceParams(p.identity, p.expression, p.rotation * 0, p.translation * 0)
    mesh_model = evaluate(model, unposed)
    save_obj(folder / "mesh.obj", mesh_model.vertices[0].numpy(), model.faces.numpy(),
             uv=None if model.uv is None else model.uv.numpy(),
             uv_faces=None if model.uv_faces is None else model.uv_faces.numpy())
    save_glb(folder / "head.glb", model, p.identity[0], p.expression[0])
    posed = select_faces(evaluate(model, p), visible_face_indices(model))
    write_image(folder / "overlay.png", overlay_mesh(image, posed, rec.camera))


def reconstruct_to_folder(
    fitter: FaceFitter, image: np.ndarray, out: Path, det: DetectFacesOptions, opts: ReconstructOptions
) -> list[FaceReconstruction]:
    """Fit and write one image's outputs to ``out`` (created atomically: temp folder, then rename)."""
    recs = reconstruct_image(fitter, image, det, opts)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        if det.select == "all":
            for k, rec in enumerate(recs):
                (tmp / f"face_{k}").mkdir()
                write_face(tmp / f"face_{k}", fitter.model, image, rec)
        else:
            write_face(tmp, fitter.model, image, recs[0])
        os.chmod(tmp, 0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return recs


def _run(args: argparse.Namespace) -> int:
    det, opts = options_from_args(args)
    model = load_model()
    fitter = FaceFitter(model)
    first_error = 0
    for path in args.inputs:
        try:
            image = read_image(path)
            out = args.output / path.stem
            recs = reconstruct_to_folder(fitter, image, out, det, opts)
            print(f"{path}: {len(recs)} face(s) -> {out}/")
        except FaceforgeError as exc:
            msg = str(exc)
            print(f"faceforge: error: {msg if msg.startswith(str(path)) else f'{path}: {msg}'}", file=sys.stderr)
            first_error = first_error or exc.exit_code
    return first_error
