"""Exact closest points on a triangle mesh (point-to-surface distances), and vertex normals.

``MeshSurface(vertices, faces).closest(points)`` returns, for every query point, the nearest point of the mesh
*surface* (not just the nearest vertex): its triangle, barycentric coordinates and distance. The search is exact:

* The closest point on one triangle is found region by region (vertex, edge or face Voronoi regions; C. Ericson,
  "Real-Time Collision Detection", 2005, section 5.1.5). ``closest_on_triangles`` is the vectorized NumPy statement
  of it; a Numba kernel runs the same steps per (point, candidate) pair.
* Candidates come from a KD-tree over surface samples: each triangle is split into n^2 similar sub-triangles (n
  chosen per triangle so that their radii, the largest centroid-to-corner distance, stay below ``eps`` = 0.75 times
  the median triangle radius) and each sub-triangle's centroid is a sample labelled with its triangle. Every surface
  point then lies within ``eps`` of a sample of its own triangle, so a triangle none of whose samples is among the
  ``k`` nearest (the k-th at distance g_k) is at least ``g_k - eps`` away. Wherever that bound is below the best
  distance found among the candidates, the candidate list grows four-fold and the test repeats (until the bound
  holds or every sample was tested).

Units and frame are the caller's (float64 NumPy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from scipy.spatial import cKDTree

from faceforge.errors import UsageError

_MAX_SPLITS = 64  # sub-triangle splits per edge for very large triangles


@dataclass(frozen=True)
class ClosestPoints:
    """Closest surface points of N query points.

    Attributes:
        points: (N, 3) float64 closest points on the surface.
        distances: (N,) float64 Euclidean distance from each query to its closest point.
        face_index: (N,) int64 triangle holding the closest point.
        bary: (N, 3) float64 barycentric coordinates of the closest point in that triangle (``faces`` corner order).
    """

    points: np.ndarray
    distances: np.ndarray
    face_index: np.ndarray
    bary: np.ndarray


def closest_on_triangles(points: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Barycentric coordinates of the closest point of triangle (a, b, c) to each point (broadcast row-wise).

    Args:
        points, a, b, c: (..., 3) float64; triangle corners may be degenerate (a segment or a point).
    Returns:
        (..., 3) barycentric weights (u, v, w) of a, b, c: the closest point is ``u a + v b + w c``.
    """
    ab, ac, ap = b - a, c - a, points - a
    d1 = (ab * ap).sum(-1)
    d2 = (ac * ap).sum(-1)
    bp = points - b
    d3 = (ab * bp).sum(-1)
    d4 = (ac * bp).sum(-1)
    cp = points - c
    d5 = (ab * cp).sum(-1)
    d6 = (ac * cp).sum(-1)
    vc = d1 * d4 - d3 * d2
    vb = d5 * d2 - d1 * d6
    va = d3 * d6 - d5 * d4
    zero, one = np.zeros_like(d1), np.ones_like(d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        denom = va + vb + vc
        v_in, w_in = vb / denom, vc / denom
    regions = [
        (d1 <= 0) & (d2 <= 0),  # vertex a
        (d3 >= 0) & (d4 <= d3),  # vertex b
        (vc <= 0) & (d1 >= 0) & (d3 <= 0),  # edge ab
        (d6 >= 0) & (d5 <= d6),  # vertex c
        (vb <= 0) & (d2 >= 0) & (d6 <= 0),  # edge ac
        (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0),  # edge bc
    ]
    v = np.select(regions, [zero, one, t_ab, zero, zero, 1.0 - t_bc], v_in)
    w = np.select(regions, [zero, zero, zero, one, t_ac, t_bc], w_in)
    bary = np.stack([1.0 - v - w, v, w], -1)
    # Zero-area triangles: the closest point of their longest side (Ericson's regions assume a proper triangle).
    flat = (np.cross(ab, ac) ** 2).sum(-1) == 0.0
    if flat.any():
        bc = c - b
        lengths = np.stack([(ab * ab).sum(-1), (ac * ac).sum(-1), (bc * bc).sum(-1)], -1)
        side = np.argmax(lengths, -1)
        start = np.where((side == 2)[..., None], b, a)
        direction = np.select([side[..., None] == 0, side[..., None] == 1], [ab, ac], bc)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = ((points - start) * direction).sum(-1) / np.max(lengths, -1)
        t = np.clip(np.nan_to_num(t, nan=0.0), 0.0, 1.0)
        seg = np.select([side[..., None] == 0, side[..., None] == 1],
                        [np.stack([1 - t, t, 0 * t], -1), np.stack([1 - t, 0 * t, t], -1)],
                        np.stack([0 * t, 1 - t, t], -1))
        bary = np.where(flat[..., None], seg, bary)
    return np.nan_to_num(bary, nan=1.0 / 3.0)  # (only for triangles too thin to have a finite normal direction)


@njit(cache=True, nogil=True, error_model="numpy")
def _closest_on_segment(px, py, pz, ax, ay, az, bx, by, bz):  # pragma: no cover - compiled
    """Parameter t in [0, 1] of the closest point a + t (b - a) of a segment (0 for a zero-length one)."""
    dx, dy, dz = bx - ax, by - ay, bz - az
    length2 = dx * dx + dy * dy + dz * dz
    if length2 == 0.0:
        return 0.0
    t = ((px - ax) * dx + (py - ay) * dy + (pz - az) * dz) / length2
    return min(max(t, 0.0), 1.0)


@njit(cache=True, nogil=True, error_model="numpy")
def _closest_one(px, py, pz, ax, ay, az, bx, by, bz, cx, cy, cz):  # pragma: no cover - compiled
    """Closest point of one triangle to one point (Ericson 5.1.5): returns barycentric (u, v, w)."""
    abx, aby, abz = bx - ax, by - ay, bz - az
    acx, acy, acz = cx - ax, cy - ay, cz - az
    nx, ny, nz = aby * acz - abz * acy, abz * acx - abx * acz, abx * acy - aby * acx
    if nx * nx + ny * ny + nz * nz == 0.0:
        # Zero area: the triangle is its longest side (or a point).
        lab = abx * abx + aby * aby + abz * abz
        lac = acx * acx + acy * acy + acz * acz
        lbc = (cx - bx) ** 2 + (cy - by) ** 2 + (cz - bz) ** 2
        if lab >= lac and lab >= lbc:
            t = _closest_on_segment(px, py, pz, ax, ay, az, bx, by, bz)
            return 1.0 - t, t, 0.0
        if lac >= lbc:
            t = _closest_on_segment(px, py, pz, ax, ay, az, cx, cy, cz)
            return 1.0 - t, 0.0, t
        t = _closest_on_segment(px, py, pz, bx, by, bz, cx, cy, cz)
        return 0.0, 1.0 - t, t
    d1 = abx * (px - ax) + aby * (py - ay) + abz * (pz - az)
    d2 = acx * (px - ax) + acy * (py - ay) + acz * (pz - az)
    if d1 <= 0.0 and d2 <= 0.0:
        return 1.0, 0.0, 0.0
    d3 = abx * (px - bx) + aby * (py - by) + abz * (pz - bz)
    d4 = acx * (px - bx) + acy * (py - by) + acz * (pz - bz)
    if d3 >= 0.0 and d4 <= d3:
        return 0.0, 1.0, 0.0
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        v = d1 / (d1 - d3)
        return 1.0 - v, v, 0.0
    d5 = abx * (px - cx) + aby * (py - cy) + abz * (pz - cz)
    d6 = acx * (px - cx) + acy * (py - cy) + acz * (pz - cz)
    if d6 >= 0.0 and d5 <= d6:
        return 0.0, 0.0, 1.0
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        w = d2 / (d2 - d6)
        return 1.0 - w, 0.0, w
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and d4 - d3 >= 0.0 and d5 - d6 >= 0.0:
        w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        return 0.0, 1.0 - w, w
    denom = va + vb + vc
    v = vb / denom
    w = vc / denom
    return 1.0 - v - w, v, w


@njit(cache=True, nogil=True, error_model="numpy")
def _scan_candidates(points, rows, indptr, tri_ids, verts, faces, best_d2, best_f, best_b):  # pragma: no cover
    """For query ``rows[i]`` test triangles ``tri_ids[indptr[i]:indptr[i + 1]]``; keep the nearest (in place)."""
    for i in range(rows.shape[0]):
        r = rows[i]
        px, py, pz = points[r, 0], points[r, 1], points[r, 2]
        for j in range(indptr[i], indptr[i + 1]):
            f = tri_ids[j]
            a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
            ax, ay, az = verts[a, 0], verts[a, 1], verts[a, 2]
            bx, by, bz = verts[b, 0], verts[b, 1], verts[b, 2]
            cx, cy, cz = verts[c, 0], verts[c, 1], verts[c, 2]
            u, v, w = _closest_one(px, py, pz, ax, ay, az, bx, by, bz, cx, cy, cz)
            qx = u * ax + v * bx + w * cx
            qy = u * ay + v * by + w * cy
            qz = u * az + v * bz + w * cz
            d2 = (qx - px) ** 2 + (qy - py) ** 2 + (qz - pz) ** 2
            if d2 < best_d2[r]:
                best_d2[r] = d2
                best_f[r] = f
                best_b[r, 0] = u
                best_b[r, 1] = v
                best_b[r, 2] = w


def vertex_normals_np(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (counter-clockwise triangles = outward).

    Args:
        vertices: (V, 3) float. faces: (F, 3) int.
    Returns:
        (V, 3) float64 unit normals; vertices in no (or only zero-area) triangles get (0, 0, 0).
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])  # length = 2 * area
    out = np.zeros_like(v)
    for k in range(3):
        np.add.at(out, f[:, k], fn)
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norm, out=np.zeros_like(out), where=norm > 1e-300)


def _subdivision_centroids(n: int) -> np.ndarray:
    """Barycentric centroids of the n^2 sub-triangles of a triangle split n times along each edge: (n^2, 3)."""
    out = []
    for i in range(n):
        for j in range(n - i):
            out.append(((i + 1.0 / 3.0) / n, (j + 1.0 / 3.0) / n))  # upright sub-triangle
            if i + j <= n - 2:
                out.append(((i + 2.0 / 3.0) / n, (j + 2.0 / 3.0) / n))  # inverted sub-triangle
    vw = np.array(out)
    return np.c_[1.0 - vw.sum(1), vw]


class MeshSurface:
    """A triangle mesh prepared for closest-point queries (owns the KD-tree; the mesh does not move)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, k: int = 32) -> None:
        """Index a mesh.

        Args:
            vertices: (V, 3) float positions. faces: (F, 3) int triangles (F >= 1), indices in [0, V).
            k: samples tested per query before the exactness check (speed only).
        """
        v = np.asarray(vertices, dtype=np.float64)
        f = np.asarray(faces)
        if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
            raise UsageError(f"vertices: expected shape (V, 3) with V > 0, got {v.shape}")
        if not np.isfinite(v).all():
            raise UsageError("vertices: contains NaN or infinite values")
        if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or not np.issubdtype(f.dtype, np.integer):
            raise UsageError(f"faces: expected an integer array of shape (F, 3) with F > 0, got {f.shape} {f.dtype}")
        if int(f.min()) < 0 or int(f.max()) >= len(v):
            raise UsageError(f"faces: indices must lie in [0, {len(v) - 1}], got [{int(f.min())}, {int(f.max())}]")
        self.vertices = np.ascontiguousarray(v)
        self.faces = np.ascontiguousarray(f, dtype=np.int64)
        corners = v[self.faces]  # (F, 3, 3)
        radii = np.linalg.norm(corners - corners.mean(1, keepdims=True), axis=-1).max(1)
        # Split each triangle n times per edge so that its sub-triangles (similar to it, radius r / n) have radii
        # of at most 0.75 x the median triangle radius; one sample per sub-triangle at its centroid.
        eps = max(0.75 * float(np.median(radii)), 1e-12 * max(float(radii.max()), 1e-300))
        splits = np.clip(np.ceil(radii / eps), 1, _MAX_SPLITS).astype(np.int64)
        tri_of, pos = [], []
        for n in np.unique(splits):
            tri = np.nonzero(splits == n)[0]
            bary = _subdivision_centroids(int(n))  # (n^2, 3)
            pos.append(np.einsum("sk,tkc->tsc", bary, corners[tri]).reshape(-1, 3))
            tri_of.append(np.repeat(tri, len(bary)))
        self._sample_triangle = np.concatenate(tri_of)
        self._tree = cKDTree(np.concatenate(pos))
        self._eps = float((radii / splits).max())  # every surface point is within eps of a sample of its triangle
        self._k = max(1, min(int(k), len(self._sample_triangle)))

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    def closest(self, points: np.ndarray) -> ClosestPoints:
        """Exact closest surface points.

        Args:
            points: (N, 3) float query points (N may be 0).
        Returns:
            ClosestPoints.
        """
        p = np.ascontiguousarray(points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3:
            raise UsageError(f"points: expected shape (N, 3), got {p.shape}")
        if not np.isfinite(p).all():
            raise UsageError("points: contains NaN or infinite values")
        n = len(p)
        best_d2 = np.full(n, np.inf)
        best_f = np.zeros(n, dtype=np.int64)
        best_b = np.zeros((n, 3))
        total = len(self._sample_triangle)
        rows = np.arange(n, dtype=np.int64)
        k = self._k
        while len(rows):
            dist, idx = self._tree.query(p[rows], k=k)
            dist, idx = dist.reshape(len(rows), k), idx.reshape(len(rows), k)
            indptr = np.arange(len(rows) + 1, dtype=np.int64) * k
            _scan_candidates(p, rows, indptr, self._sample_triangle[idx.reshape(-1)], self.vertices, self.faces,
                             best_d2, best_f, best_b)
            if k >= total:
                break
            # An untested triangle has all its samples beyond the k-th, so it is at least (g_k - eps) away.
            rows = rows[np.sqrt(best_d2[rows]) > dist[:, -1] - self._eps]
            k = min(4 * k, total)
        closest = (best_b[:, :, None] * self.vertices[self.faces[best_f]]).sum(1)
        return ClosestPoints(closest, np.sqrt(best_d2), best_f, best_b)
