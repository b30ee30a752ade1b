"""300-W / iBUG ``.pts`` landmark files.

Format: ``version: 1`` / ``n_points: N`` / ``{`` / N lines ``x y`` / ``}``; coordinates are 1-based pixels (the
centre of the top-left pixel is (1, 1)). ``read_pts`` returns 0-based coordinates (pixel-centre origin, as
everywhere in faceforge; docs/conventions.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceforge.errors import InputError


def read_pts(path: Path) -> np.ndarray:
    """Read a ``.pts`` file.

    Returns:
        (N, 2) float64 0-based pixel coordinates (x right, y down).
    Raises:
        InputError: unreadable file, malformed header or point count mismatch.
    """
    path = Path(path)
    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read landmark file ({exc})") from None
    try:
        header = {k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[: lines.index("{")])}
        n = int(header["n_points"])
        body = lines[lines.index("{") + 1 : lines.index("}")]
        pts = np.array([[float(t) for t in ln.split()] for ln in body], dtype=np.float64)
    except (ValueError, KeyError) as exc:
        raise InputError(f"{path}: not a valid .pts file ({exc})") from None
    if pts.shape != (n, 2):
        raise InputError(f"{path}: header says {n} points, found {pts.shape[0]}")
    return pts - 1.0


def write_pts(path: Path, points_px: np.ndarray) -> None:
    """Write 0-based (N, 2) pixel coordinates as a 1-based ``.pts`` file."""
    pts = np.asarray(points_px, dtype=np.float64) + 1.0
    body = "\n".join(f"{x:.3f} {y:.3f}" for x, y in pts)
    Path(path).write_text(f"version: 1\nn_points: {len(pts)}\n{{\n{body}\n}}\n")
