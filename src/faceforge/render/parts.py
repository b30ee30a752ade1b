"""Which triangles of a morphable model to draw.

ICT-FaceKit carries helper geometry meant for transparent blending in a game engine (lacrimal fluid, eye blend and
eye occlusion shells, eyelash cards: region ``eye_extras``). An opaque z-buffer would draw them as grey shells over
the eyes, so renders hide them by default.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from faceforge.errors import UsageError
from faceforge.morphable.model import MorphableModel
from faceforge.structures import Mesh

DEFAULT_HIDDEN_REGIONS: tuple[str, ...] = ("eye_extras",)


def region_face_indices(model: MorphableModel, regions: Sequence[str]) -> torch.Tensor:
    """Triangles whose three vertices all lie in the union of ``regions``.

    Returns:
        (F',) int64 indices into ``model.faces``, ascending.
    """
    inside = torch.zeros(model.num_vertices, dtype=torch.bool)
    for name in regions:
        inside[model.region(name)] = True
    return torch.nonzero(inside[model.faces].all(dim=1)).squeeze(1)


def visible_face_indices(model: MorphableModel, hidden: Sequence[str] = DEFAULT_HIDDEN_REGIONS) -> torch.Tensor:
    """Triangles to draw: all but those touching a vertex of the ``hidden`` regions (unknown names are skipped).

    Returns:
        (F',) int64 indices into ``model.faces``, ascending.
    """
    hide = torch.zeros(model.num_vertices, dtype=torch.bool)
    for name in hidden:
        if name in model.regions:
            hide[model.regions[name]] = True
    return torch.nonzero(~hide[model.faces].any(dim=1)).squeeze(1)


def select_faces(mesh: Mesh, face_indices: torch.Tensor) -> Mesh:
    """The same vertices with a subset of the triangles (and their UV triangles).

    Args:
        face_indices: (F',) int64 indices into ``mesh.faces``. ``Fragments.face_index`` of the result indexes this
            subset; map back with ``face_indices[fragments.face_index]``.
    """
    if face_indices.ndim != 1 or face_indices.dtype != torch.int64:
        raise UsageError(
            f"face_indices: expected a (F',) int64 tensor, got {tuple(face_indices.shape)} {face_indices.dtype}"
        )
    return Mesh(
        vertices=mesh.vertices,
        faces=mesh.faces[face_indices],
        uv=mesh.uv,
        uv_faces=None if mesh.uv_faces is None else mesh.uv_faces[face_indices],
    )
