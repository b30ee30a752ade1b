"""Points on the model surface (barycentric) and the model's linear bases evaluated at them.

Fitting only needs the model at a few hundred surface points, so it works on a ``PointBasis``: the template,
identity and expression offsets interpolated at those points (float64 NumPy, small enough to stay in cache).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceforge.errors import UsageError
from faceforge.morphable.model import MorphableModel


@dataclass(frozen=True)
class SurfacePoints:
    """L points on a model's surface.

    Attributes:
        face_index: (L,) int64 triangle of each point.
        bary: (L, 3) float64 barycentric coordinates (rows sum to 1) w.r.t. the triangle's corners in ``faces`` order.
    """

    face_index: np.ndarray
    bary: np.ndarray

    def __post_init__(self) -> None:
        if self.face_index.ndim != 1 or self.bary.shape != (self.face_index.shape[0], 3):
            raise UsageError(
                f"SurfacePoints: expected face_index (L,) and bary (L, 3), "
                f"got {self.face_index.shape} and {self.bary.shape}"
            )

    @property
    def num_points(self) -> int:
        return int(self.face_index.shape[0])

    @staticmethod
    def at_vertices(model: MorphableModel, vertex_indices: np.ndarray) -> SurfacePoints:
        """Surface points sitting exactly on the given vertices (bary = one-hot in a triangle that uses them)."""
        faces = model.faces.numpy()
        vi = np.asarray(vertex_indices, dtype=np.int64)
        owner = np.full(model.num_vertices, -1, dtype=np.int64)  # some triangle using each vertex
        for k in range(3):
            owner[faces[:, k]] = np.arange(len(faces))
        f = owner[vi]
        if (f < 0).any():
            raise UsageError("SurfacePoints.at_vertices: some vertices belong to no triangle")
        corner = np.argmax(faces[f] == vi[:, None], axis=1)
        bary = np.zeros((len(vi), 3))
        bary[np.arange(len(vi)), corner] = 1.0
        return SurfacePoints(f, bary)


@dataclass(frozen=True)
class PointBasis:
    """The model at L surface points, in the model frame and model units.

    Attributes:
        mean: (L, 3) template positions.
        shape: (L, 3, K) offsets per unit weight; K = Ni + Ne, identity components first, then expressions.
        num_identity: Ni.
        num_expression: Ne.
    """

    mean: np.ndarray
    shape: np.ndarray
    num_identity: int
    num_expression: int

    def positions(self, identity: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """(Ni,), (Ne,) weights -> (L, 3) model-frame positions."""
        weights = np.concatenate([identity, expression])
        return self.mean + (self.shape.reshape(-1, len(weights)) @ weights).reshape(self.mean.shape)


def point_basis(model: MorphableModel, points: SurfacePoints) -> PointBasis:
    """Interpolate the template and every basis at the surface points (exact for linear models without rigs)."""
    tri = model.faces.numpy()[points.face_index]  # (L, 3)
    w = points.bary

    def at(a: np.ndarray) -> np.ndarray:  # a (..., V, 3) -> (..., L, 3)
        return np.einsum("...lkc,lk->...lc", a[..., tri, :], w)

    mean = at(model.template.numpy().astype(np.float64))
    ident = at(model.identity_basis.numpy().astype(np.float64))  # (Ni, L, 3)
    expr = at(model.expression_basis.numpy().astype(np.float64))  # (Ne, L, 3)
    shape = np.concatenate([ident, expr], 0).transpose(1, 2, 0).copy()  # (L, 3, K)
    return PointBasis(mean=mean, shape=shape, num_identity=model.num_identity, num_expression=model.num_expression)
