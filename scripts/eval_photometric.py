"""Does the photometric refinement help the iBUG-68 landmarks? NME with and without it on 300-W-style faces.

    python scripts/eval_photometric.py --images ../shared/data/dev/300w-afw/images [--previews /tmp/photometric]

For every NAME.jpg + NAME.pts (iBUG-68) whose annotated face the detector finds (IoU >= 0.3, as in
scripts/calibrate_ibug68.py), fits the face with ``ReconstructOptions(refine=False)`` and ``refine=True`` and prints
the inter-ocular NME of both, the refinement's time (one core) and a summary. ``--previews`` writes, per face, the
crop | albedo x shading | albedo picture of ``render_photometric`` (derived from research images: not for committing).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from faceforge.assets import load_model
from faceforge.datasets.pts import read_pts
from faceforge.detect.blazeface import box_iou
from faceforge.detect.faces import DetectFacesOptions, detect_faces
from faceforge.errors import NoFaceError
from faceforge.fit.photometric import render_photometric
from faceforge.fit.reconstruct import FaceFitter, ReconstructOptions
from faceforge.io.image import read_image, write_image
from faceforge.metrics.landmarks import nme


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path, required=True, help="folder of NAME.jpg + NAME.pts (iBUG-68)")
    ap.add_argument("--previews", type=Path, help="folder for the refinement pictures")
    ap.add_argument("--limit", type=int, default=0, help="only the first N annotation files (0 = all)")
    args = ap.parse_args()
    model = load_model()
    fitter = FaceFitter(model)
    files = sorted(args.images.glob("*.pts"))
    if args.limit:
        files = files[: args.limit]
    if args.previews:
        args.previews.mkdir(parents=True, exist_ok=True)
    rows = []
    for pts in files:
        gt = read_pts(pts)
        image = read_image(pts.with_suffix(".jpg"))
        box = np.r_[gt.min(0), gt.max(0)]
        try:
            found = detect_faces(image, DetectFacesOptions(select="all"))
        except NoFaceError:
            continue
        face = max(found, key=lambda f: float(box_iou(box, np.asarray(f.bbox_px, dtype=np.float64)[None])[0]))
        if float(box_iou(box, np.asarray(face.bbox_px, dtype=np.float64)[None])[0]) < 0.3:
            continue  # the annotated face was not detected
        size = (image.shape[1], image.shape[0])
        plain = fitter.fit_face(face, size)
        start = time.perf_counter()
        refined = fitter.fit_face(face, size, ReconstructOptions(refine=True), image=image)
        seconds = time.perf_counter() - start
        rows.append((nme(plain.landmarks_68_px, gt), nme(refined.landmarks_68_px, gt), seconds))
        print(f"{pts.stem}: NME {rows[-1][0] * 100:.2f}% -> {rows[-1][1] * 100:.2f}%  ({seconds:.2f} s)", flush=True)
        if args.previews and refined.photometric is not None:
            write_image(args.previews / f"{pts.stem}.png", render_photometric(model, refined.photometric, image))
    if not rows:
        print("no annotated face was detected")
        return
    a = np.array(rows)
    d = a[:, 1] - a[:, 0]
    print(f"{len(a)} faces: NME mean {a[:, 0].mean() * 100:.3f}% -> {a[:, 1].mean() * 100:.3f}%, median "
          f"{np.median(a[:, 0]) * 100:.3f}% -> {np.median(a[:, 1]) * 100:.3f}%; better on {(d < 0).sum()}, worse on "
          f"{(d > 0).sum()}; largest loss {d.max() * 100:+.2f}, largest gain {d.min() * 100:+.2f} points; fit + "
          f"refinement median {np.median(a[:, 2]):.2f} s")


if __name__ == "__main__":
    main()
