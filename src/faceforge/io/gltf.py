"""glTF 2.0 binary (GLB) export of a face: the identity mesh with the expressions as named morph targets.

What the file holds (our own writer: ``struct`` + ``json``; facts from the glTF 2.0 specification):

* **Container**: 12-byte header (magic ``glTF``, version 2, total length), a JSON chunk padded with spaces and a BIN
  chunk padded with zeros, each to a multiple of 4 bytes. One buffer; every bufferView starts at a multiple of 4.
* **Geometry**: the model at neutral expression with the given identity (``shape_vertices(identity, 0)``), in model
  coordinates and model units. **Units**: glTF lengths are metres, so the node carries a uniform ``scale`` of
  0.01 for centimetre models (ICT-FaceKit; 0.001 for mm, 1 for metre models such as FLAME); the vertex data stays
  in model units so that it can be compared with ``evaluate`` without rounding, and Blender / three.js show a head
  about 0.25 m tall. The model frame (+y up, +z out of the face) already is glTF's frame (+y up, front faces +z).
* **Morph targets**: one per model expression, in model order, ``POSITION`` deltas (model units) and, unless
  disabled, ``NORMAL`` deltas (normal of the mesh at weight 1 minus the neutral normal: a linearization that
  renderers add and renormalize). ``mesh.extras.targetNames`` holds the expression names (ARKit names for ICT),
  ``mesh.weights`` the given expression weights as the default weights.
* **Eyes**: ``evaluate`` turns each eyeball rigidly about its centre with the ``eyeLook*`` weights (``EyeRig``), which
  no sum of morph targets reproduces exactly. Here the eyeLook targets are *linearized*: on the eyeball vertices,
  target k = (eyeball turned by the rig at weight 1 of expression k alone) minus (neutral eyeball), added to the
  model's own eyeLook deltas (which move the lids). So the GLB equals ``evaluate`` exactly (up to float rounding)
  whenever each eye has at most one gaze weight set and it is 0 or 1 (given that no other blendshape moves the
  eyeball vertices, which holds for ICT-FaceKit); between those the eyeball slides along the
  chord instead of the arc (at half of a 35-degree turn the surface moves inwards by 1 - cos(17.5 deg), about 4.6 % of
  the eyeball radius) and combined yaw + pitch add instead of composing. Everything except the eyeballs matches
  ``evaluate`` for any weights. This is ``morph_target_deltas``.
* **UV seams**: glTF attributes are per vertex, so a model vertex that has several UVs is split. The first V glTF
  vertices are the model's vertices in model order (each with the UV of its first corner in face order); the extra
  seam copies follow, ordered by first use. ``mesh.extras.faceforge.seam_source_vertex`` lists, for glTF vertex
  V + i, the model vertex it copies (so the full map is ``arange(V)`` followed by that list); ``num_model_vertices``
  is V. UVs are written as (u, 1 - v): glTF's UV origin is the top-left corner.
* **Materials**: by default one primitive with one material (one draw call; three.js keeps one morph-target
  buffer per primitive, so splitting a 29k-vertex, 53-target mesh into 12 primitives costs 12 times the GPU
  memory). For models with face groups (ICT-FaceKit) the group looks (skin, sclera, iris, teeth, gums, lashes)
  are per-vertex ``COLOR_0`` (see ``_vertex_colors``), and ICT's lacrimal-fluid, eye-blend and eye-occlusion
  shells (render helpers meant to be transparent) are left out of the triangles; their vertices stay. With
  ``split_materials`` instead one primitive per group, all sharing the same vertex and target accessors, each
  with its own material (the shells fully transparent), which suits Blender. An optional base-colour texture
  (embedded PNG, clamped at the edges) goes on the one material, or with ``split_materials`` on the face's
  material (``M_Face``) only: ICT-FaceKit puts each material in its own UV tile (u in [k, k + 1]), so a face
  texture belongs to the face group alone.
* **Pose**: an optional rigid pose goes into the node's ``rotation`` (quaternion) and ``translation`` (metres).

``faceforge.io.glb`` packs the container and reads it back (``read_glb``, ``accessor_array``).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from faceforge import __version__
from faceforge.errors import UsageError
from faceforge.geometry import vertex_normals
from faceforge.io.atomic import write_bytes_atomically
from faceforge.io.glb import pack_glb
from faceforge.morphable.evaluate import evaluate, shape_vertices
from faceforge.morphable.model import MorphableModel
from faceforge.structures import FaceParams

log = logging.getLogger(__name__)

_FLOAT, _UINT8, _UINT16, _UINT32 = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963

UNIT_SCALE = {"m": 1.0, "cm": 0.01, "mm": 0.001}

# Material look per group name (ICT-FaceKit group names; other names get the skin material).
_SKIN = (0.80, 0.60, 0.50, 1.0)
_MATERIALS: dict[str, tuple[tuple[float, float, float, float], float]] = {  # name -> (RGBA, roughness)
    "M_Face": (_SKIN, 0.6),
    "M_BackHead": (_SKIN, 0.6),
    "M_GumsTongue": ((0.70, 0.30, 0.30, 1.0), 0.5),
    "M_Teeth": ((0.90, 0.88, 0.80, 1.0), 0.3),
    "M_ScleraLeft": ((0.95, 0.95, 0.92, 1.0), 0.2),
    "M_ScleraRight": ((0.95, 0.95, 0.92, 1.0), 0.2),
    "M_IrisLeft": ((0.25, 0.15, 0.08, 1.0), 0.2),
    "M_IrisRight": ((0.25, 0.15, 0.08, 1.0), 0.2),
    "M_EyeLashes": ((0.05, 0.04, 0.03, 1.0), 0.8),
    "M_LacrimalFluid": ((1.0, 1.0, 1.0, 0.0), 0.1),
    "M_EyeBlend": ((1.0, 1.0, 1.0, 0.0), 0.1),
    "M_EyeOcclusion": ((1.0, 1.0, 1.0, 0.0), 0.1),
}
_TEXTURED_GROUPS = ("M_Face",)


@dataclass(frozen=True)
class GlbOptions:
    """How ``save_glb`` builds the file.

    Attributes:
        normals: write per-vertex ``NORMAL`` (area-weighted, of the neutral identity mesh). Without them viewers
            shade flat.
        normal_targets: also write ``NORMAL`` deltas per morph target (doubles the file size; needs ``normals``).
        split_materials: one primitive + material per model face group (when the model has groups) instead of one
            primitive with per-vertex group colours.
        scale_to_metres: node scale; None = from ``model.units`` (cm -> 0.01, mm -> 0.001, m -> 1).
    """

    normals: bool = True
    normal_targets: bool = True
    split_materials: bool = False
    scale_to_metres: float | None = None


@dataclass(frozen=True)
class SeamSplit:
    """Model vertices split at UV seams for per-vertex attributes.

    Attributes:
        source_vertex: (V',) int64 model vertex of each output vertex; ``source_vertex[:V] == arange(V)``.
        uv: (V', 2) float32 UV per output vertex (origin bottom-left, as in the model).
        faces: (F, 3) int64 triangles indexing the output vertices.
    """

    source_vertex: np.ndarray
    uv: np.ndarray
    faces: np.ndarray


# ---------------------------------------------------------------------------------------------------------- geometry


def split_uv_seams(faces: np.ndarray, uv_faces: np.ndarray, uv: np.ndarray, num_vertices: int) -> SeamSplit:
    """Give every distinct (vertex, uv) corner pair its own output vertex, keeping the model's vertex order.

    Vertex v keeps index v with the UV of its first corner (in face order); every other UV of v becomes a new vertex
    appended after the first ``num_vertices``, in order of first use. Vertices that no face uses keep UV (0, 0).

    Args:
        faces: (F, 3) int64 vertex triangles.
        uv_faces: (F, 3) int64 UV triangles.
        uv: (T, 2) float32 UVs.
        num_vertices: V.
    """
    corners_v = faces.reshape(-1).astype(np.int64)
    corners_t = uv_faces.reshape(-1).astype(np.int64)
    num_t = len(uv)
    keys, first_corner, inverse = np.unique(corners_v * num_t + corners_t, return_index=True, return_inverse=True)
    pair_v, pair_t = keys // num_t, keys % num_t
    # Primary pair of each vertex: the one used first. Sort pairs by (vertex, first use).
    order = np.lexsort((first_corner, pair_v))
    is_primary = np.ones(len(keys), dtype=bool)
    sorted_v = pair_v[order]
    is_primary[order[1:]] = sorted_v[1:] != sorted_v[:-1]
    secondary = np.nonzero(~is_primary)[0]
    secondary = secondary[np.argsort(first_corner[secondary], kind="stable")]
    out_index = np.empty(len(keys), dtype=np.int64)
    out_index[is_primary] = pair_v[is_primary]
    out_index[secondary] = num_vertices + np.arange(len(secondary))
    source = np.concatenate([np.arange(num_vertices, dtype=np.int64), pair_v[secondary]])
    out_uv = np.zeros((len(source), 2), dtype=np.float32)
    out_uv[pair_v[is_primary]] = uv[pair_t[is_primary]]
    out_uv[num_vertices:] = uv[pair_t[secondary]]
    return SeamSplit(source_vertex=source, uv=out_uv, faces=out_index[inverse].reshape(-1, 3))


def morph_target_deltas(model: MorphableModel, identity: torch.Tensor) -> torch.Tensor:
    """The POSITION deltas the GLB stores per expression (see the module docstring, "Eyes").

    Args:
        model: the morphable model.
        identity: (Ni,) identity weights.
    Returns:
        (Ne, V, 3) float32 model-frame deltas in model units: ``expression_basis``, except that on the eyeball
        vertices of a rigged model each eyeLook target is ``evaluate(identity, e_k) - evaluate(identity, 0)``
        (unposed, e_k = weight 1 on expression k alone).
    """
    deltas = model.expression_basis.detach().to(torch.float32).clone()
    rig = model.eyes
    if rig is None:
        return deltas
    look = torch.cat([rig.left_shapes, rig.right_shapes])
    eyes = torch.cat([rig.left_vertices, rig.right_vertices])
    n = len(look)
    ident = identity.detach().to(torch.float32).reshape(1, -1)
    expr = torch.zeros(n + 1, model.num_expression)
    expr[torch.arange(n), look] = 1.0  # rows 0..n-1: one gaze shape each; row n: neutral
    zeros3 = torch.zeros(n + 1, 3)
    params = FaceParams(identity=ident.expand(n + 1, -1), expression=expr, rotation=zeros3, translation=zeros3)
    verts = evaluate(model, params).vertices[:, eyes]  # (n + 1, E, 3)
    deltas[look.unsqueeze(1), eyes.unsqueeze(0)] = verts[:n] - verts[n:]
    return deltas


# ---------------------------------------------------------------------------------------------------------- writer


class _BinaryBuilder:
    """Accumulates 4-byte-aligned bufferViews and their accessors."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.length = 0
        self.views: list[dict[str, Any]] = []
        self.accessors: list[dict[str, Any]] = []

    def view(self, data: bytes, target: int | None) -> int:
        pad = (-self.length) % 4
        if pad:
            self.chunks.append(b"\0" * pad)
            self.length += pad
        v: dict[str, Any] = {"buffer": 0, "byteOffset": self.length, "byteLength": len(data)}
        if target is not None:
            v["target"] = target
        self.chunks.append(data)
        self.length += len(data)
        self.views.append(v)
        return len(self.views) - 1

    def accessor(
        self, array: np.ndarray, kind: str, target: int | None, bounds: bool = False, normalized: bool = False
    ) -> int:
        """Store ``array`` (float32 (N, k), uint8 (N, 4) or uint16/uint32 (N,)) in its own bufferView."""
        array = np.ascontiguousarray(array)
        comp = {
            np.dtype(np.float32): _FLOAT, np.dtype(np.uint8): _UINT8, np.dtype(np.uint16): _UINT16,
            np.dtype(np.uint32): _UINT32,
        }[array.dtype]
        acc: dict[str, Any] = {
            "bufferView": self.view(array.astype(array.dtype.newbyteorder("<")).tobytes(), target),
            "componentType": comp,
            "count": int(array.shape[0]),
            "type": kind,
        }
        if normalized:
            acc["normalized"] = True
        if bounds:
            flat = array.reshape(array.shape[0], -1)
            acc["min"] = [_json_number(x) for x in flat.min(0)]
            acc["max"] = [_json_number(x) for x in flat.max(0)]
        self.accessors.append(acc)
        return len(self.accessors) - 1

    def data(self) -> bytes:
        """The buffer, padded with zeros to a multiple of 4 bytes (the BIN chunk length)."""
        return b"".join(self.chunks) + b"\0" * ((-self.length) % 4)


def _json_number(x: np.generic) -> float | int:
    """A float32/int value as the JSON number that denotes exactly it (min/max must equal the data)."""
    return int(x) if np.issubdtype(type(x), np.integer) else float(x)


def _short_float(x: float) -> float:
    """Shortest decimal that reads back to the same float32 (for weights: 0.7, not 0.699999988)."""
    return float(str(np.float32(x)))


def _quaternion_xyzw(axis_angle: torch.Tensor) -> list[float]:
    """(3,) axis-angle (rad) -> unit quaternion [x, y, z, w] (glTF order)."""
    aa = axis_angle.detach().to(torch.float64)
    angle = float(aa.norm())
    if angle < 1e-12:
        return [0.0, 0.0, 0.0, 1.0]
    axis = (aa / angle).tolist()
    s = float(np.sin(angle / 2))
    return [axis[0] * s, axis[1] * s, axis[2] * s, float(np.cos(angle / 2))]


def _vector(name: str, t: Any, n: int) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        t = torch.as_tensor(np.asarray(t, dtype=np.float32))
    t = t.detach().cpu().to(torch.float32)
    if t.ndim == 2 and t.shape[0] == 1:
        t = t[0]
    if t.shape != (n,):
        raise UsageError(f"{name}: expected shape ({n},), got {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise UsageError(f"{name}: contains NaN or infinite values")
    return t


def glb_bytes(
    model: MorphableModel,
    identity: Any = None,
    expression_weights: Any = None,
    texture: Any = None,
    node_rotation: Any = None,
    node_translation: Any = None,
    options: GlbOptions | None = None,
) -> bytes:
    """Build the GLB described in the module docstring and return its bytes (see ``save_glb`` for arguments)."""
    opts = options or GlbOptions()
    if opts.normal_targets and not opts.normals:
        opts = GlbOptions(False, False, opts.split_materials, opts.scale_to_metres)
    ident = _vector("identity", torch.zeros(model.num_identity) if identity is None else identity, model.num_identity)
    weights = _vector(
        "expression_weights",
        torch.zeros(model.num_expression) if expression_weights is None else expression_weights,
        model.num_expression,
    )
    scale = opts.scale_to_metres if opts.scale_to_metres is not None else UNIT_SCALE.get(model.units)
    if scale is None or not scale > 0:
        raise UsageError(f"cannot tell the scale to metres for model units {model.units!r}; set scale_to_metres")

    with torch.no_grad():
        base = shape_vertices(model, ident[None], torch.zeros(1, model.num_expression))[0]  # (V, 3)
        deltas = morph_target_deltas(model, ident)  # (Ne, V, 3)
        faces_t = model.faces
        base_n = target_n = None
        if opts.normals:
            base_n = vertex_normals(base[None], faces_t)[0]
            if opts.normal_targets:
                target_n = vertex_normals(base + deltas, faces_t) - base_n  # (Ne, V, 3), one batched call

    faces = model.faces.numpy().astype(np.int64)
    v_count = model.num_vertices
    if model.uv is not None and model.uv_faces is not None:
        split = split_uv_seams(faces, model.uv_faces.numpy(), model.uv.numpy(), v_count)
    else:
        split = SeamSplit(np.arange(v_count, dtype=np.int64), np.zeros((0, 2), np.float32), faces)
    src = torch.from_numpy(split.source_vertex)
    n_out = len(split.source_vertex)

    b = _BinaryBuilder()
    attributes = {"POSITION": b.accessor(base[src].numpy(), "VEC3", _ARRAY_BUFFER, bounds=True)}
    if base_n is not None:
        attributes["NORMAL"] = b.accessor(base_n[src].numpy(), "VEC3", _ARRAY_BUFFER)
    has_uv = model.uv is not None
    if has_uv:
        tex = split.uv.copy()
        tex[:, 1] = 1.0 - tex[:, 1]  # glTF UV origin is top-left
        attributes["TEXCOORD_0"] = b.accessor(tex, "VEC2", _ARRAY_BUFFER)
    targets = []
    for k in range(model.num_expression):
        t = {"POSITION": b.accessor(deltas[k][src].numpy(), "VEC3", _ARRAY_BUFFER, bounds=True)}
        if target_n is not None:
            t["NORMAL"] = b.accessor(target_n[k][src].numpy(), "VEC3", _ARRAY_BUFFER)
        targets.append(t)

    index_dtype = np.uint16 if n_out < 65535 else np.uint32  # 65535 / 2^32-1 are primitive-restart values
    has_groups = model.face_groups is not None and len(model.group_names) > 0
    fg = model.face_groups.numpy() if has_groups and model.face_groups is not None else np.zeros(len(faces), int)
    names = list(model.group_names) if has_groups else ["material"]
    looks = [_MATERIALS.get(name, (_SKIN, 0.6)) for name in names]
    hidden = np.array([rgba[3] == 0.0 for rgba, _ in looks])

    doc: dict[str, Any] = {
        "asset": {"version": "2.0", "generator": f"faceforge {__version__}"},
        "scene": 0,
        "scenes": [{"name": model.name, "nodes": [0]}],
    }
    texture_index = None
    if texture is not None:
        if not has_uv:
            raise UsageError(f"texture: {model.name} has no UV coordinates")
        texture_index = 0
        image_view = b.view(_png_bytes(texture), None)
        doc["images"] = [{"bufferView": image_view, "mimeType": "image/png"}]
        # Clamp: ICT-FaceKit lays its materials out in UV tiles u in [k, k + 1]; repeating would paint the face
        # texture onto every tile.
        doc["samplers"] = [{"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}]
        doc["textures"] = [{"sampler": 0, "source": 0}]

    def material(name: str, rgba: tuple[float, ...], rough: float, textured: bool) -> dict[str, Any]:
        pbr: dict[str, Any] = {
            "baseColorFactor": [1.0, 1.0, 1.0, rgba[3]] if textured else list(rgba),
            "metallicFactor": 0.0,
            "roughnessFactor": rough,
        }
        if textured:
            pbr["baseColorTexture"] = {"index": texture_index, "texCoord": 0}
        mat: dict[str, Any] = {"name": name, "pbrMetallicRoughness": pbr}
        if rgba[3] < 1.0:
            mat["alphaMode"] = "BLEND"
        return mat

    if has_groups:
        palette_rgb = _vertex_colors(base.numpy(), split, fg, names, textured=texture_index is not None)
        attributes["COLOR_0"] = b.accessor(palette_rgb, "VEC4", _ARRAY_BUFFER, normalized=True)
    materials = []
    primitives = []
    if opts.split_materials and has_groups:
        for g, name in enumerate(names):
            face_idx = np.nonzero(fg == g)[0]
            if not len(face_idx):
                continue
            rgba, rough = looks[g]
            textured = texture_index is not None and name in _TEXTURED_GROUPS
            # The colour lives in COLOR_0; the material adds roughness, transparency and the texture.
            materials.append(material(name, (1.0, 1.0, 1.0, rgba[3]), rough, textured))
            idx = split.faces[face_idx].reshape(-1).astype(index_dtype)
            primitives.append({
                "attributes": attributes,
                "indices": b.accessor(idx, "SCALAR", _ELEMENT_ARRAY_BUFFER),
                "material": len(materials) - 1,
                "mode": 4,
                "targets": targets,
            })
    else:
        # One primitive: one draw call and one morph buffer in three.js. Fully transparent groups (ICT's eye
        # shells) are left out of the triangles.
        textured = texture_index is not None
        materials.append(material("face", (1.0, 1.0, 1.0, 1.0) if has_groups else _SKIN, 0.6, textured))
        keep = ~hidden[fg]
        idx = split.faces[keep].reshape(-1).astype(index_dtype)
        primitives.append({
            "attributes": attributes,
            "indices": b.accessor(idx, "SCALAR", _ELEMENT_ARRAY_BUFFER),
            "material": 0,
            "mode": 4,
            "targets": targets,
        })

    node: dict[str, Any] = {"name": model.name, "mesh": 0}
    if scale != 1.0:
        node["scale"] = [scale, scale, scale]
    if node_rotation is not None:
        node["rotation"] = _quaternion_xyzw(_vector("node_rotation", node_rotation, 3))
    if node_translation is not None:
        node["translation"] = [float(x) * scale for x in _vector("node_translation", node_translation, 3)]
    doc["nodes"] = [node]
    doc["meshes"] = [{
        "name": model.name,
        "primitives": primitives,
        "weights": [_short_float(w) for w in weights.tolist()],
        "extras": {
            "targetNames": list(model.expression_names),
            "faceforge": {
                "model": model.name,
                "units": model.units,
                "num_model_vertices": v_count,
                "seam_source_vertex": split.source_vertex[v_count:].tolist(),
                "eye_targets": "linearized" if model.eyes is not None else "none",
            },
        },
    }]
    doc["materials"] = materials
    binary = b.data()
    doc["accessors"] = b.accessors
    doc["bufferViews"] = b.views
    doc["buffers"] = [{"byteLength": len(binary)}]
    log.info("GLB: %d vertices (%d seam copies), %d targets, %.1f MB of binary data",
             n_out, n_out - v_count, len(targets), len(binary) / 1e6)
    return pack_glb(doc, binary)


def _vertex_colors(
    base: np.ndarray, split: SeamSplit, fg: np.ndarray, names: list[str], textured: bool
) -> np.ndarray:
    """(V', 4) uint8 RGBA per output vertex from the group looks (alpha 255).

    A vertex shared by groups takes the look of the first face using it. ICT-FaceKit's eyes are two nested spheres
    (sclera outside, iris inside) meant for textures with a clear cornea; without textures we paint both spheres by
    the angle from the eye's forward axis (+z, neutral gaze): pupil within 9 degrees, iris within 27 degrees.
    """
    n_out = len(split.source_vertex)
    num_f = len(split.faces)
    first_face = np.full(n_out, num_f - 1, dtype=np.int64)
    np.minimum.at(first_face, split.faces.reshape(-1), np.repeat(np.arange(num_f), 3))
    group = fg[first_face]
    palette = np.array([
        (1.0, 1.0, 1.0, 1.0) if textured and n in _TEXTURED_GROUPS else _MATERIALS.get(n, (_SKIN, 0.6))[0]
        for n in names
    ])
    rgba = palette[group]
    pos = base[split.source_vertex]
    for side in ("Left", "Right"):
        eye_groups = [g for g, n in enumerate(names) if n in (f"M_Sclera{side}", f"M_Iris{side}")]
        on_eye = np.isin(group, eye_groups)
        if not on_eye.any():
            continue
        d = pos[on_eye] - pos[on_eye].mean(0)
        cos = d[:, 2] / np.maximum(np.linalg.norm(d, axis=1), 1e-12)
        col = np.tile(np.array(_MATERIALS["M_ScleraLeft"][0]), (len(d), 1))
        col[cos > np.cos(np.radians(27.0))] = _MATERIALS["M_IrisLeft"][0]
        col[cos > np.cos(np.radians(9.0))] = (0.02, 0.02, 0.02, 1.0)
        rgba[on_eye] = col
    out = np.round(rgba * 255).astype(np.uint8)
    out[:, 3] = 255
    return out


def _png_bytes(texture: Any) -> bytes:
    tex = texture.detach().cpu().numpy() if isinstance(texture, torch.Tensor) else np.asarray(texture)
    if tex.dtype != np.uint8 or tex.ndim != 3 or tex.shape[2] not in (3, 4) or min(tex.shape[:2]) < 1:
        raise UsageError(f"texture: expected (H, W, 3) or (H, W, 4) uint8, got {tex.dtype} {tex.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(tex)).save(buf, format="PNG")
    return buf.getvalue()


def save_glb(
    path: Path,
    model: MorphableModel,
    identity: Any = None,
    expression_weights: Any = None,
    texture: Any = None,
    node_rotation: Any = None,
    node_translation: Any = None,
    options: GlbOptions | None = None,
) -> None:
    """Write the face as a GLB: identity mesh + one named morph target per expression (module docstring).

    Args:
        path: the ``.glb`` file (written atomically; its folder must exist).
        model: the morphable model.
        identity: (Ni,) identity weights (None = the template).
        expression_weights: (Ne,) default morph weights, stored as ``mesh.weights`` (None = all 0).
        texture: (H, W, 3|4) uint8 base-colour image in the model's UV layout (row 0 = top) or None.
        node_rotation: (3,) axis-angle in radians (model -> world) for the node, or None.
        node_translation: (3,) translation in model units (written in metres) for the node, or None.
        options: GlbOptions (None = defaults).
    Raises:
        UsageError: wrong sizes, NaN/inf, a texture for a model without UVs, unknown units.
    """
    write_bytes_atomically(
        Path(path),
        glb_bytes(model, identity, expression_weights, texture, node_rotation, node_translation, options),
    )
    log.info("saved %s", path)
