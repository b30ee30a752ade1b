"""Median fitted gaze on a folder of photos: the check behind ``IRIS_NASAL_DEG`` in build_correspondence.py.

Fits every photo (largest face) with faceforge and prints, per eye, the median of eyeLookIn - eyeLookOut (positive:
towards the nose) and eyeLookUp - eyeLookDown. People in portrait photos look at or near the camera, so both should
be near 0; a shared non-zero median is a bias of the iris landmarks' rest position.

Run: FACEFORGE_CACHE_DIR=... python scripts/gaze_bias.py --images ../shared/data/dev/300w-afw/images
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from faceforge.assets import load_model
from faceforge.errors import FaceforgeError
from faceforge.fit.reconstruct import FaceFitter, reconstruct_image
from faceforge.io.image import read_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=Path, required=True)
    args = ap.parse_args()
    model = load_model()
    fitter = FaceFitter(model)
    horizontal, vertical = [], []
    for path in sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
        try:
            rec = reconstruct_image(fitter, read_image(path))[0]
        except FaceforgeError:
            continue
        e = dict(zip(model.expression_names, rec.params.expression[0].tolist(), strict=True))
        horizontal.append([e[f"eyeLookIn_{s}"] - e[f"eyeLookOut_{s}"] for s in "RL"])
        vertical.append([e[f"eyeLookUp_{s}"] - e[f"eyeLookDown_{s}"] for s in "RL"])
    h, v = np.array(horizontal), np.array(vertical)
    print(f"{len(h)} faces; median In - Out (right, left eye): {np.median(h, 0).round(3).tolist()}; "
          f"median Up - Down: {np.median(v, 0).round(3).tolist()}")


if __name__ == "__main__":
    main()
