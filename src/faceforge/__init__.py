"""faceforge: CPU-first 3D face modeling.

The pipeline reads as a few calls::

    model = load_model()                      # ICT-FaceKit Light from the asset cache
    mesh = evaluate(model, params)            # FaceParams -> Mesh (batched, differentiable)

See ``docs/conventions.md`` for frames, units and landmark schemes.
"""

from faceforge.errors import (
    AssetError,
    FaceforgeError,
    InputError,
    NoFaceError,
    UsageError,
)
from faceforge.structures import FaceParams, Mesh

__version__ = "0.1.0"

__all__ = [
    "AssetError",
    "FaceParams",
    "FaceforgeError",
    "InputError",
    "Mesh",
    "NoFaceError",
    "UsageError",
    "__version__",
]
