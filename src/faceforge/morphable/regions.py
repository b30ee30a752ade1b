"""Named vertex regions of ICT-FaceKit Light.

Two kinds:

* Geometry ranges published by the upstream README (inclusive vertex ranges): ``face`` [0, 9408],
  ``face_narrow`` [0, 6705], ``head_neck`` [9409, 11247], ``mouth_socket`` [11248, 13293], ``eye_sockets``
  [13294, 14061], ``gums_tongue`` [14062, 17038], ``teeth`` [17039, 21450], ``eyeballs`` [21451, 24590],
  ``eye_extras`` (lacrimal fluid, eye blend, eye occlusion, eyelashes) [24591, 26718].
* Face sub-regions for region-wise metrics (seed 003, Table 1 reports face/eyes/nose/mouth/ears), defined by us on
  the neutral template from its iBUG-68 landmarks (model frame: +x subject's left, +y up, +z out of the face, cm).
  Each ``face`` vertex gets at most one label, tested in this order:

  - ``ears``: |x| > |x of landmark 0/16| - 0.1 cm and z < z of landmark 0/16 - 0.4 cm (behind the jaw's top end),
    between 1 cm under the subnasale (33) and 1.5 cm above the jaw's top end;
  - ``eyes``: within the box of the eye landmarks (36-47) grown by 1.0 cm sideways, up to the brow landmarks' lower
    edge and 1.2 cm below the lower lids (lids and eye corners);
  - ``nose``: |x| <= half the alar width (31-35) + 0.5 cm, y between the nose-bridge top (27) and 0.4 cm under the
    subnasale (33), and z above the inner eye corners' z;
  - ``mouth``: within the box of the mouth landmarks (48-67) grown by 0.8 cm;
  - ``forehead``: from the brows' lowest landmark (17-26) up to 5 cm above their highest, in front of the ears
    (brows included);
  - ``cheeks``: y between the mouth box's bottom and the eye box's bottom, outside half the nose width, in front
    of the ears;
  - ``chin_jaw``: below the mouth box's top and above the jaw line (landmarks 0-16, interpolated in x) minus 1 cm, in
    front of the ears (the neck stays unlabelled).

  Vertices that match none stay unlabelled within ``face`` (temples, back of the face mesh). A picture of these
  regions is in docs/images/regions.png (``python scripts/render_regions.py``).
"""

from __future__ import annotations

import numpy as np

ICT_RANGES: dict[str, tuple[int, int]] = {
    "face": (0, 9408),
    "face_narrow": (0, 6705),
    "head_neck": (9409, 11247),
    "mouth_socket": (11248, 13293),
    "eye_sockets": (13294, 14061),
    "gums_tongue": (14062, 17038),
    "teeth": (17039, 21450),
    "eyeballs": (21451, 24590),
    "eye_extras": (24591, 26718),
}

FACE_SUBREGIONS: tuple[str, ...] = ("ears", "eyes", "nose", "mouth", "forehead", "cheeks", "chin_jaw")


def ict_regions(template: np.ndarray, landmark_indices: np.ndarray) -> dict[str, np.ndarray]:
    """Compute the named regions of ICT-FaceKit.

    Args:
        template: (V, 3) float neutral vertices, model frame, cm.
        landmark_indices: (68,) int vertex index per iBUG landmark.
    Returns:
        region name -> (n,) int64 sorted vertex indices.
    """
    regions = {name: np.arange(a, b + 1, dtype=np.int64) for name, (a, b) in ICT_RANGES.items()}
    face_idx = regions["face"]
    p = template[face_idx]
    x, y, z = p[:, 0], p[:, 1], p[:, 2]
    lm = template[landmark_indices]
    label = np.full(len(face_idx), -1, dtype=np.int64)

    def assign(k: int, mask: np.ndarray) -> None:
        label[(label < 0) & mask] = k

    jaw_top = lm[[0, 16]]
    x0, z0, y0 = np.abs(jaw_top[:, 0]).mean(), jaw_top[:, 2].mean(), jaw_top[:, 1].mean()
    front = z > z0 - 0.4
    assign(0, (np.abs(x) > x0 - 0.1) & (z < z0 - 0.4) & (y >= lm[33, 1] - 1.0) & (y <= y0 + 1.5))

    eye = lm[36:48]
    brow = lm[17:27]
    eye_x = np.abs(eye[:, 0]).max() + 1.0
    eye_top = brow[:, 1].min()
    eye_bottom = eye[:, 1].min() - 1.2
    inner_eye_x = np.abs(eye[:, 0]).min()
    assign(1, (np.abs(x) <= eye_x) & (np.abs(x) >= inner_eye_x - 0.6) & (y <= eye_top) & (y >= eye_bottom))

    nose = lm[27:36]
    nose_half = np.abs(lm[31:36, 0]).max() + 0.5
    inner_corner_z = lm[[39, 42], 2].mean()
    assign(2, (np.abs(x) <= nose_half) & (y <= lm[27, 1]) & (y >= lm[33, 1] - 0.4) & (z >= inner_corner_z))
    del nose

    mouth = lm[48:68]
    lo, hi = mouth.min(0) - 0.8, mouth.max(0) + 0.8
    assign(3, (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]))

    assign(4, (y > brow[:, 1].min()) & (y <= brow[:, 1].max() + 5.0) & front)
    assign(5, (y <= eye_bottom) & (y >= lo[1]) & (np.abs(x) > nose_half * 0.5) & front)
    jaw = lm[0:17]
    order = np.argsort(jaw[:, 0])
    jaw_line_y = np.interp(x, jaw[order, 0], jaw[order, 1])
    assign(6, (y < hi[1]) & (y >= jaw_line_y - 1.0) & front)

    for k, name in enumerate(FACE_SUBREGIONS):
        regions[name] = face_idx[label == k]
    return regions
