"""``faceforge demo``: the README's main job, a reconstruction of a bundled sample photo.

The photo is scikit-image's public-domain astronaut portrait (``skimage.data.astronaut()``, Eileen Collins, NASA),
read from the installed package, never from the network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from faceforge.assets import load_model
from faceforge.cli.reconstruct import reconstruct_to_folder
from faceforge.detect.faces import DetectFacesOptions
from faceforge.fit.reconstruct import FaceFitter, ReconstructOptions


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="reconstruct the bundled sample photo (scikit-image's astronaut)")
    p.add_argument("-o", "--output", type=Path, default=Path("out"), help="output folder (default: ./out)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from skimage import data

    image = data.astronaut()
    fitter = FaceFitter(load_model())
    out = args.output / "astronaut"
    reconstruct_to_folder(fitter, image, out, DetectFacesOptions(), ReconstructOptions())
    print(f"reconstructed the astronaut photo: {out}/ (overlay.png, head.glb, mesh.obj, params.json, landmarks.json)")
    return 0
