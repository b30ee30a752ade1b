"""Animated GLB: the identity head of ``faceforge.io.gltf`` plus a glTF animation of its morph weights and pose.

The file is ``glb_bytes``' head (one node, named morph targets = the model's expressions, node scale to metres) with
these additions (facts from the glTF 2.0 specification, "Animations"):

* one ``animation`` ("track") with up to three channels on node 0: ``weights`` (the morph-target weights of every
  frame: the sampler output holds T x Ne scalars, frame-major), ``rotation`` (unit quaternions x, y, z, w; the sign of
  each is chosen to be nearest the previous one so that interpolation takes the short way) and ``translation``
  (metres: model units times the node scale). Every sampler is ``LINEAR`` with the frame times in seconds as input
  (float32, with min/max as the specification requires).
* optionally a perspective camera (node 1, at the world origin looking down -z, +y up: the implicit camera of the
  tracked video, so viewers that offer scene cameras show the head as the video saw it); ``yfov`` from the focal
  length and the image height.

The first frame's weights and pose are also the static defaults (``mesh.weights``, node rotation/translation), so a
viewer that ignores animations shows frame 0.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from faceforge.errors import UsageError
from faceforge.io.atomic import write_bytes_atomically
from faceforge.io.glb import pack_glb, parse_glb
from faceforge.io.gltf import GlbOptions, glb_bytes
from faceforge.morphable.model import MorphableModel

log = logging.getLogger(__name__)

_FLOAT = 5126


def axis_angle_to_quaternions(rotation: np.ndarray) -> np.ndarray:
    """(T, 3) axis-angle (radians) -> (T, 4) unit quaternions (x, y, z, w), sign-continuous over time."""
    r = np.asarray(rotation, dtype=np.float64)
    angle = np.linalg.norm(r, axis=1)
    safe = np.where(angle > 1e-12, angle, 1.0)
    axis = r / safe[:, None]
    q = np.concatenate([axis * np.sin(angle / 2)[:, None], np.cos(angle / 2)[:, None]], 1)
    q[angle <= 1e-12] = (0.0, 0.0, 0.0, 1.0)
    for i in range(1, len(q)):
        if float(q[i] @ q[i - 1]) < 0:
            q[i] = -q[i]
    return q


def _array(name: str, a: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a, dtype=np.float64)
    if arr.shape != shape:
        raise UsageError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise UsageError(f"{name}: contains NaN or infinite values")
    return arr


def animation_glb_bytes(
    model: MorphableModel,
    identity: Any,
    times_s: Any,
    expression: Any,
    rotation: Any | None = None,
    translation: Any | None = None,
    camera_focal_px: float | None = None,
    image_size: tuple[int, int] | None = None,
    options: GlbOptions | None = None,
) -> bytes:
    """Build the animated GLB (module docstring).

    Args:
        model: the morphable model.
        identity: (Ni,) identity weights.
        times_s: (T,) strictly increasing frame times in seconds (T >= 1).
        expression: (T, Ne) morph weights per frame (model expression order).
        rotation: (T, 3) axis-angle (radians), model -> world, per frame, or None (no rotation channel).
        translation: (T, 3) model units per frame, or None (no translation channel).
        camera_focal_px, image_size: add the video's camera (focal length in pixels, (width, height)); both or none.
        options: GlbOptions of the head.
    """
    t = _array("times_s", times_s, (np.asarray(times_s).shape[0],))
    n = len(t)
    if n < 1:
        raise UsageError("times_s: need at least one frame")
    if (np.diff(t) <= 0).any():
        raise UsageError("times_s: must be strictly increasing")
    ne = model.num_expression
    expr = _array("expression", expression, (n, ne))
    rot = None if rotation is None else _array("rotation", rotation, (n, 3))
    trans = None if translation is None else _array("translation", translation, (n, 3))
    if (camera_focal_px is None) != (image_size is None):
        raise UsageError("camera_focal_px and image_size go together")

    head = glb_bytes(model, identity, expr[0], node_rotation=None if rot is None else rot[0],
                     node_translation=None if trans is None else trans[0], options=options)
    glb = parse_glb(head, "head GLB")
    doc = glb.document
    binary = bytearray(glb.binary)
    node = doc["nodes"][0]
    scale = float(node.get("scale", [1.0])[0])

    def add(array: np.ndarray, kind: str, bounds: bool = False) -> int:
        data = np.ascontiguousarray(array, dtype="<f4")
        binary.extend(b"\0" * ((-len(binary)) % 4))
        doc["bufferViews"].append({"buffer": 0, "byteOffset": len(binary), "byteLength": data.nbytes})
        binary.extend(data.tobytes())
        acc: dict[str, Any] = {"bufferView": len(doc["bufferViews"]) - 1, "componentType": _FLOAT,
                               "count": int(data.shape[0]), "type": kind}
        if bounds:
            flat = data.reshape(data.shape[0], -1)
            acc["min"] = [float(x) for x in flat.min(0)]
            acc["max"] = [float(x) for x in flat.max(0)]
        doc["accessors"].append(acc)
        return len(doc["accessors"]) - 1

    times = add(t.astype(np.float32), "SCALAR", bounds=True)
    samplers: list[dict[str, Any]] = []
    channels: list[dict[str, Any]] = []

    def channel(output: int, path: str) -> None:
        samplers.append({"input": times, "output": output, "interpolation": "LINEAR"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": 0, "path": path}})

    channel(add(expr.astype(np.float32).reshape(-1), "SCALAR"), "weights")
    if rot is not None:
        channel(add(axis_angle_to_quaternions(rot).astype(np.float32), "VEC4"), "rotation")
    if trans is not None:
        channel(add((trans * scale).astype(np.float32), "VEC3"), "translation")
    doc["animations"] = [{"name": "track", "samplers": samplers, "channels": channels}]
    if camera_focal_px is not None and image_size is not None:
        width, height = image_size
        if not camera_focal_px > 0 or width < 1 or height < 1:
            raise UsageError(f"camera: focal {camera_focal_px} and image size {image_size} must be positive")
        yfov = 2.0 * math.atan(height / (2.0 * camera_focal_px))
        doc["cameras"] = [{"type": "perspective", "name": "video camera", "perspective": {
            "yfov": yfov, "aspectRatio": width / height, "znear": 0.01, "zfar": 100.0}}]
        doc["nodes"].append({"name": "video camera", "camera": 0})
        doc["scenes"][doc.get("scene", 0)]["nodes"].append(len(doc["nodes"]) - 1)
    binary.extend(b"\0" * ((-len(binary)) % 4))
    doc["buffers"] = [{"byteLength": len(binary)}]
    log.info("animation: %d frames, %.2f s, %d channels", n, float(t[-1] - t[0]), len(channels))
    return pack_glb(doc, bytes(binary))


def save_animation_glb(
    path: Path,
    model: MorphableModel,
    identity: Any,
    times_s: Any,
    expression: Any,
    rotation: Any | None = None,
    translation: Any | None = None,
    camera_focal_px: float | None = None,
    image_size: tuple[int, int] | None = None,
    options: GlbOptions | None = None,
) -> None:
    """Write ``animation_glb_bytes`` to ``path`` atomically (its folder must exist)."""
    write_bytes_atomically(Path(path), animation_glb_bytes(
        model, identity, times_s, expression, rotation, translation, camera_focal_px, image_size, options))
    log.info("saved %s", path)
