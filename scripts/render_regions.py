"""Picture of ICT-FaceKit's face sub-regions (faceforge/morphable/regions.py), frontal and three-quarter views.

    python scripts/render_regions.py [-o docs/images/regions.png] [--size 512]

Each region is drawn in its palette colour modulated by simple shading (so the shape stays readable); surface in
no sub-region is grey. The picture is derived from ICT-FaceKit data: do not commit it without the lead's decision.
"""

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from faceforge.assets import load_model
from faceforge.io.atomic import write_bytes_atomically
from faceforge.morphable import evaluate
from faceforge.morphable.regions import FACE_SUBREGIONS
from faceforge.render import (
    face_labels,
    rasterize,
    render_mask,
    render_normals,
    render_segmentation,
    select_faces,
    sh_from_directional_light,
    sh_shading,
    vertex_region_labels,
    visible_face_indices,
)
from faceforge.render.encode import label_palette
from faceforge.render.pipeline import default_camera
from faceforge.structures import FaceParams

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "regions.png"


def render_regions(size: int, yaws_deg: tuple[float, ...]) -> np.ndarray:
    """(H, len(yaws) * W + legend, 3) uint8 picture of the face sub-regions."""
    model = load_model()
    params = FaceParams.zeros(1, model.num_identity, model.num_expression)
    mesh = select_faces(evaluate(model, params), visible_face_indices(model))
    base = default_camera(model, mesh, size, size)
    names = ("background", "other", *FACE_SUBREGIONS)
    palette = label_palette(len(names)).astype(np.float32) / 255.0
    labels = face_labels(vertex_region_labels(model.regions, FACE_SUBREGIONS, model.num_vertices), mesh.faces)
    panels = []
    for yaw in yaws_deg:
        # Turn the head (not the camera) so that the framing stays that of the front view.
        p = FaceParams(params.identity, params.expression, torch.tensor([[0.0, math.radians(yaw), 0.0]]),
                       params.translation)
        posed = select_faces(evaluate(model, p), visible_face_indices(model))
        with torch.no_grad():
            frags = rasterize(posed, base)
            seg = render_segmentation(labels, frags)[0].numpy()
            normals = render_normals(posed, base, frags, frame="world")
            light = sh_from_directional_light(torch.tensor([[-0.3, 0.4, 1.0]]), torch.ones(1, 1) * 0.6,
                                              torch.ones(1, 1) * 0.45)
            shade = (sh_shading(normals, light)[0, ..., 0] * render_mask(frags)[0]).clamp(0, 1).numpy()
        panels.append((palette[seg] * shade[..., None] * 255).astype(np.uint8))
    legend = Image.new("RGB", (170, size), (0, 0, 0))
    draw = ImageDraw.Draw(legend)
    for k, name in enumerate(names[1:], start=1):
        y = 12 + 22 * (k - 1)
        draw.rectangle([10, y, 26, y + 14], fill=tuple(int(c * 255) for c in palette[k]))
        draw.text((34, y + 1), name, fill=(255, 255, 255))
    return np.concatenate([*panels, np.asarray(legend)], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", type=Path, default=OUT)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    picture = render_regions(args.size, (0.0, 40.0, -40.0))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG")
    write_bytes_atomically(args.output, buf.getvalue())
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
