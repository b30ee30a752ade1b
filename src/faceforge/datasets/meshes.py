"""Ground-truth meshes and 3D landmark files for the reconstruction metrics.

Meshes: OBJ or PLY by suffix (``faceforge.io.mesh`` readers: file order kept, polygons fan-split). 3D landmarks:
a text file of L rows ``x y z`` (whitespace or comma separated, ``#`` comments), in the mesh's frame and units; or
a ``.json`` file holding a list of [x, y, z] rows (the layout ``faceforge reconstruct`` writes is not assumed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from faceforge.errors import InputError
from faceforge.io.mesh import MeshFile, load_obj, load_ply

MESH_SUFFIXES = (".obj", ".ply")


def read_mesh(path: Path) -> MeshFile:
    """Read an OBJ or PLY mesh with at least one triangle.

    Raises:
        InputError: unknown suffix, unreadable file, no triangles.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise InputError(f"{path}: expected a mesh file ({', '.join(MESH_SUFFIXES)})")
    mesh = load_obj(path) if suffix == ".obj" else load_ply(path)
    if len(mesh.faces) == 0:
        raise InputError(f"{path}: the mesh has no triangles")
    return mesh


def read_landmarks_3d(path: Path) -> np.ndarray:
    """Read L 3D points.

    Returns:
        (L, 3) float64 points, L >= 3.
    Raises:
        InputError: unreadable file, rows that are not 3 numbers, fewer than 3 points, NaN/inf.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read landmark file ({exc})") from None
    try:
        if path.suffix.lower() == ".json":
            pts = np.asarray(json.loads(text), dtype=np.float64)
        else:
            rows = [ln.split("#", 1)[0].replace(",", " ").split() for ln in text.splitlines()]
            pts = np.asarray([[float(t) for t in r] for r in rows if r], dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: not a list of x y z rows ({exc})") from None
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) < 3:
        raise InputError(f"{path}: expected at least 3 rows of x y z, got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise InputError(f"{path}: contains NaN or infinite values")
    return pts
