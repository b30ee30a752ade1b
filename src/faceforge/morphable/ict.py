"""ICT-FaceKit Light: parse the upstream ``FaceXModel/`` folder and build the MorphableModel.

Upstream facts (ICT-VGL/ICT-FaceKit README): 26,719 vertices, 26,384 polygons (quads and triangles), centimetres,
identity files are full meshes whose difference from ``generic_neutral_mesh.obj`` is one identity mode with weight
~ N(0, 1), expression files are full meshes whose difference is the blendshape at weight 1; expression order and
the 68 Multi-PIE landmark vertices come from ``vertex_indices.json``.

The conversion here produces a dict of plain arrays (the asset cache stores it as an uncompressed ``.npz``);
``model_from_arrays`` turns it into a ``MorphableModel``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from faceforge.errors import AssetError
from faceforge.morphable.model import EyeRig, MorphableModel, as_tensor
from faceforge.morphable.regions import ict_regions

NUM_VERTICES = 26719
NUM_IDENTITY = 100
NUM_EXPRESSION = 53
NEUTRAL_FILE = "generic_neutral_mesh.obj"
INDEX_FILE = "vertex_indices.json"

# Upstream README, "jawline" vertex lists (0-based), ordered from the ear towards the chin.
RIGHT_JAWLINE = (1278, 1272, 12, 1834, 243, 781, 2199, 1447)
LEFT_JAWLINE = (3661, 4390, 3022, 2484, 4036, 2253, 3490, 3496)


def read_obj_vertices(path: Path) -> np.ndarray:
    """Positions of an OBJ file, in file order.

    Returns:
        (V, 3) float64 array.
    """
    data = path.read_bytes()
    rows = [line.split()[1:4] for line in data.split(b"\n") if line.startswith(b"v ")]
    if not rows:
        raise AssetError(f"{path.name}: no vertices found (is the file truncated?)")
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError as exc:
        raise AssetError(f"{path.name}: malformed vertex line ({exc})") from None


def read_obj_topology(path: Path) -> dict[str, np.ndarray]:
    """Triangulated faces, UVs and material groups of an OBJ file.

    Quads (a, b, c, d) are split into (a, b, c) and (a, c, d) for both position and UV indices, so a triangle
    and its UV triangle always correspond.

    Returns:
        dict with ``faces`` (F, 3) int64, ``uv`` (T, 2) float32, ``uv_faces`` (F, 3) int64, ``face_groups`` (F,)
        int64 and ``group_names`` (G,) str.
    """
    faces: list[tuple[int, int, int]] = []
    uv_faces: list[tuple[int, int, int]] = []
    groups: list[int] = []
    group_names: list[str] = []
    uv_rows: list[list[bytes]] = []
    current = -1
    for line in path.read_bytes().split(b"\n"):
        if line.startswith(b"vt "):
            uv_rows.append(line.split()[1:3])
        elif line.startswith(b"usemtl "):
            name = line.split()[1].decode()
            if name not in group_names:
                group_names.append(name)
            current = group_names.index(name)
        elif line.startswith(b"f "):
            corners = [c.split(b"/") for c in line.split()[1:]]
            vi = [int(c[0]) - 1 for c in corners]
            ti = [int(c[1]) - 1 if len(c) > 1 and c[1] else -1 for c in corners]
            for k in range(1, len(vi) - 1):
                faces.append((vi[0], vi[k], vi[k + 1]))
                uv_faces.append((ti[0], ti[k], ti[k + 1]))
                groups.append(current)
    if not faces:
        raise AssetError(f"{path.name}: no faces found (is the file truncated?)")
    return {
        "faces": np.array(faces, dtype=np.int64),
        "uv": np.array(uv_rows, dtype=np.float32).reshape(-1, 2),
        "uv_faces": np.array(uv_faces, dtype=np.int64),
        "face_groups": np.array(groups, dtype=np.int64),
        "group_names": np.array(group_names),
    }


def convert_facexmodel(folder: Path) -> dict[str, np.ndarray]:
    """Convert an upstream ``FaceXModel/`` folder into the arrays of the asset cache.

    Args:
        folder: directory holding ``generic_neutral_mesh.obj``, ``identity000..099.obj``, the expression OBJs and
            ``vertex_indices.json``.
    Returns:
        dict of arrays: template (V, 3) float32; identity_basis (100, V, 3) float32; expression_basis (53, V, 3)
        float32; expression_names (53,) str; faces, uv, uv_faces, face_groups, group_names; landmark_indices (68,)
        int64; contour_candidates (C,) int64; rigid_indices (n,) int64.
    """
    folder = Path(folder)
    index = json.loads((folder / INDEX_FILE).read_text())
    names = [str(n) for n in index["expressions"]]
    if len(names) != NUM_EXPRESSION:
        raise AssetError(f"{INDEX_FILE}: expected {NUM_EXPRESSION} expressions, found {len(names)}")
    neutral = read_obj_vertices(folder / NEUTRAL_FILE)
    if neutral.shape != (NUM_VERTICES, 3):
        raise AssetError(f"{NEUTRAL_FILE}: expected {NUM_VERTICES} vertices, found {neutral.shape[0]}")

    def deltas(files: list[str]) -> np.ndarray:
        out = np.empty((len(files), NUM_VERTICES, 3), dtype=np.float32)
        for k, name in enumerate(files):
            v = read_obj_vertices(folder / name)
            if v.shape != neutral.shape:
                raise AssetError(f"{name}: expected {NUM_VERTICES} vertices, found {v.shape[0]}")
            out[k] = v - neutral  # difference in float64, then stored as float32
        return out

    topo = read_obj_topology(folder / NEUTRAL_FILE)
    landmarks = np.array(index["idx_to_landmark_verts"], dtype=np.int64)
    contour = np.array(sorted(set(RIGHT_JAWLINE) | set(LEFT_JAWLINE) | set(landmarks[:17].tolist())), dtype=np.int64)
    return {
        "template": neutral.astype(np.float32),
        "identity_basis": deltas([f"identity{k:03d}.obj" for k in range(NUM_IDENTITY)]),
        "expression_basis": deltas([f"{n}.obj" for n in names]),
        "expression_names": np.array(names),
        "landmark_indices": landmarks,
        "contour_candidates": contour,
        "rigid_indices": np.array(index["idx_to_rigid_verts"], dtype=np.int64),
        **topo,
    }


def model_from_arrays(arrays: dict[str, np.ndarray]) -> MorphableModel:
    """Build the ICT-FaceKit MorphableModel from the arrays ``convert_facexmodel`` made."""
    template = np.asarray(arrays["template"], dtype=np.float32)
    landmarks = np.asarray(arrays["landmark_indices"], dtype=np.int64)
    regions = ict_regions(template, landmarks)
    regions["rigid"] = np.asarray(arrays["rigid_indices"], dtype=np.int64)
    names = [str(n) for n in arrays["expression_names"]]
    eyeballs = regions["eyeballs"]
    left = eyeballs[template[eyeballs, 0] > 0]
    right = eyeballs[template[eyeballs, 0] < 0]
    regions["eyeball_left"], regions["eyeball_right"] = left, right

    def looks(side: str) -> torch.Tensor:
        return torch.tensor([names.index(f"eyeLook{d}_{side}") for d in ("In", "Out", "Up", "Down")])

    eyes = EyeRig(as_tensor(left, torch.int64), as_tensor(right, torch.int64), looks("L"), looks("R"))
    return MorphableModel(
        name="ict-facekit",
        template=as_tensor(template, torch.float32),
        identity_basis=as_tensor(arrays["identity_basis"], torch.float32),
        expression_basis=as_tensor(arrays["expression_basis"], torch.float32),
        expression_names=tuple(str(n) for n in arrays["expression_names"]),
        faces=as_tensor(arrays["faces"], torch.int64),
        uv=as_tensor(arrays["uv"], torch.float32),
        uv_faces=as_tensor(arrays["uv_faces"], torch.int64),
        landmark_indices=as_tensor(landmarks, torch.int64),
        contour_candidates=as_tensor(arrays["contour_candidates"], torch.int64),
        regions={k: as_tensor(v, torch.int64) for k, v in regions.items()},
        face_groups=as_tensor(arrays["face_groups"], torch.int64),
        group_names=tuple(str(n) for n in arrays["group_names"]),
        units="cm",
        expression_bounds=(0.0, 1.0),
        eyes=eyes,
    )
