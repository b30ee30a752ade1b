"""Make the README picture docs/images/astronaut_overlay.png from `faceforge demo` output.

Crops a 256 x 256 square around the fitted face (twice the landmark box, centred on it) from OUTDIR/astronaut/
overlay.png.

Run: faceforge demo -o out && python scripts/readme_overlay.py out
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "astronaut_overlay.png"


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "out") / "astronaut"
    image = Image.open(folder / "overlay.png").convert("RGB")
    pts = np.array(json.loads((folder / "landmarks.json").read_text())["fitted_68"])
    centre = (pts.min(0) + pts.max(0)) / 2
    side = int(min(2 * np.ptp(pts, axis=0).max(), *image.size))
    x0 = int(np.clip(centre[0] - side / 2, 0, image.size[0] - side))
    y0 = int(np.clip(centre[1] - side / 2, 0, image.size[1] - side))
    image.crop((x0, y0, x0 + side, y0 + side)).resize((256, 256), Image.LANCZOS).save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
