"""Calibrate where the iBUG-68 landmarks sit on the ICT-FaceKit surface (src/faceforge/data/ibug68_ict.json).

ICT-FaceKit ships one vertex per Multi-PIE/iBUG landmark, but 300-W annotators follow their own conventions (for
example the brow points trace the brow's middle, about 1 cm below ICT's brow vertices). This script learns the
annotation convention from annotated photos:

1. reconstruct each annotated face with faceforge (detector + landmark fit, no iBUG data involved),
2. rasterize the fitted head in the photo and read which surface point lies under each annotated landmark,
3. per landmark, take the robust medoid of those surface points in template space.

Jaw points annotated on the silhouette of a turned face hit no surface point and are skipped (the fitter slides the
far-side jaw points to the silhouette at run time). The script reports K-fold cross-validated NME (definitions
learnt on the other folds, evaluated on the held-out fold), so the published figure is out-of-sample.

Run: FACEFORGE_CACHE_DIR=... python scripts/calibrate_ibug68.py --images ../shared/data/dev/300w-afw/images
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from faceforge.assets import ict_manifest, load_model
from faceforge.camera.build import crop_camera
from faceforge.datasets.pts import read_pts
from faceforge.detect.blazeface import box_iou
from faceforge.detect.faces import DetectFacesOptions, detect_faces
from faceforge.errors import NoFaceError
from faceforge.fit.reconstruct import FaceFitter, ReconstructOptions
from faceforge.fit.surface import SurfacePoints
from faceforge.io.image import read_image
from faceforge.metrics.landmarks import nme
from faceforge.morphable import evaluate
from faceforge.render import rasterize, select_faces, visible_face_indices

OUT = Path(__file__).resolve().parents[1] / "src" / "faceforge" / "data" / "ibug68_ict.json"


def surface_hits(fitter, rec, gt: np.ndarray, faces_idx: torch.Tensor) -> list[tuple[int, np.ndarray] | None]:
    """For each annotated landmark, the (triangle, barycentric) of the fitted head under it, or None."""
    mesh = select_faces(evaluate(fitter.model, rec.params), faces_idx)
    lo = gt.min(0) - 20
    side = float(max(np.ptp(gt, axis=0)) + 40)
    out_size = int(min(512, max(64, side)))
    cam = crop_camera(rec.camera, torch.tensor([float(lo[0]), float(lo[1]), side]), out_size)
    frags = rasterize(mesh, cam)
    fid = frags.face_index[0].numpy()
    bary = frags.bary[0].numpy()
    scale = out_size / side
    hits: list[tuple[int, np.ndarray] | None] = []
    for x, y in gt:
        j = int(round((x - lo[0] + 0.5) * scale - 0.5))
        i = int(round((y - lo[1] + 0.5) * scale - 0.5))
        if 0 <= i < out_size and 0 <= j < out_size and fid[i, j] >= 0:
            hits.append((int(faces_idx[fid[i, j]]), bary[i, j].astype(np.float64)))
        else:
            hits.append(None)
    return hits


def medoids(samples: list[list[tuple[int, np.ndarray]]], tmpl: np.ndarray, faces: np.ndarray, fallback: SurfacePoints):
    fi = fallback.face_index.copy()
    ba = fallback.bary.copy()
    for k, s in enumerate(samples):
        if len(s) < 5:
            continue  # too few surface hits (e.g. far-side jaw): keep ICT's own vertex
        pos = np.array([(tmpl[faces[f]] * b[:, None]).sum(0) for f, b in s])
        centre = np.median(pos, axis=0)
        for _ in range(5):
            w = 1.0 / np.maximum(np.linalg.norm(pos - centre, axis=1), 0.05)
            centre = (pos * w[:, None]).sum(0) / w.sum()
        best = int(np.argmin(np.linalg.norm(pos - centre, axis=1)))
        fi[k], ba[k] = s[best][0], s[best][1]
    return SurfacePoints(fi, ba)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path, required=True, help="folder of NAME.jpg + NAME.pts (iBUG-68)")
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    t0 = time.time()
    model = load_model()
    ict_points = SurfacePoints.at_vertices(model, model.landmark_indices.numpy())
    fitter = FaceFitter(model, ibug68=ict_points)  # ICT's own landmark vertices
    faces_idx = visible_face_indices(model)
    tmpl = model.template.numpy().astype(np.float64)
    faces = model.faces.numpy()
    records = []
    for pts in sorted(args.images.glob("*.pts")):
        gt = read_pts(pts)
        image = read_image(pts.with_suffix(".jpg"))
        box = np.r_[gt.min(0), gt.max(0)]
        try:
            found = detect_faces(image, DetectFacesOptions(select="all"))
        except NoFaceError:
            continue
        face = max(found, key=lambda f: float(box_iou(box, np.asarray(f.bbox_px, dtype=np.float64)[None])[0]))
        if float(box_iou(box, np.asarray(face.bbox_px, dtype=np.float64)[None])[0]) < 0.3:
            continue  # the annotated face was not detected (another face would be measured)
        rec = fitter.fit_face(face, (image.shape[1], image.shape[0]))
        records.append((pts.name, gt, face, (image.shape[1], image.shape[0]), surface_hits(fitter, rec, gt, faces_idx)))
    print(f"{len(records)} faces fitted in {time.time() - t0:.0f} s")

    def definitions(rows):
        samples: list[list] = [[] for _ in range(68)]
        for _, _, _, _, hits in rows:
            for k, h in enumerate(hits):
                if h is not None:
                    samples[k].append(h)
        return medoids(samples, tmpl, faces, ict_points)

    folds = np.arange(len(records)) % args.folds
    cv, base = [], []
    for f in range(args.folds):
        defs = definitions([r for r, g in zip(records, folds, strict=True) if g != f])
        held = FaceFitter(model, ibug68=defs)
        for r, g in zip(records, folds, strict=True):
            if g == f:
                _, gt, face, size, _ = r
                cv.append(nme(held.fit_face(face, size, ReconstructOptions()).landmarks_68_px, gt))
                base.append(nme(fitter.fit_face(face, size, ReconstructOptions()).landmarks_68_px, gt))
    cv, base = np.array(cv) * 100, np.array(base) * 100
    final = definitions(records)
    quality = {
        "faces": len(records),
        "folds": args.folds,
        "nme_pct_ict_vertices": {"median": float(np.median(base)), "mean": float(base.mean())},
        "nme_pct_cross_validated": {"median": float(np.median(cv)), "mean": float(cv.mean())},
    }
    data = {
        "schema_version": 1,
        "description": "iBUG-68 (300-W convention) landmarks as ICT-FaceKit surface points (triangle + barycentric)",
        "model": "ict-facekit",
        "model_commit": ict_manifest()["commit"],
        "made_by": "python scripts/calibrate_ibug68.py --images <300-W style folder>",
        "calibrated_on": args.images.name if args.images.name != "images" else args.images.parent.name,
        "quality": quality,
        "face_index": final.face_index.tolist(),
        "barycentric": np.round(final.bary, 6).tolist(),
    }
    OUT.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(json.dumps(quality, indent=1))
    print(f"wrote {OUT} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
