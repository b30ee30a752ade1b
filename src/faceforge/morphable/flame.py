"""FLAME from the user's own licensed file (bring your own model; nothing of FLAME ships with faceforge).

FLAME (Li, Bolkart, Black, Li, Romero, "Learning a model of facial shape and expression from 4D scans",
SIGGRAPH Asia 2017) is distributed by the MPI as a Python-2 pickle: FLAME 2020 ``generic_model.pkl`` /
``male_model.pkl`` / ``female_model.pkl`` and FLAME 2023 ``flame2023.pkl``. The pickle holds a dict:

=================  =================  =====================================================================
key                shape              meaning
=================  =================  =====================================================================
``v_template``     (5023, 3)          mean head, metres, +x the subject's left, +y up, +z out of the face
``f``              (9976, 3)          triangles
``shapedirs``      (5023, 3, 400)     300 identity ("shape") then 100 expression PCA directions (chumpy)
``posedirs``       (5023, 3, 36)      pose correctives driven by (R_j - I) of joints 1-4, row-major
``J_regressor``    (5, 5023)          scipy.sparse (csc), rest joints = J_regressor @ shaped vertices
``kintree_table``  (2, 5)             row 0 parent id (the root's is a uint32 sentinel), row 1 joint id
``weights``        (5023, 5)          skinning weights
``bs_style``       str                "lbs"
``bs_type``        str                "lrotmin" (the (R - I) pose feature)
=================  =================  =====================================================================

Joints: global (root), neck, jaw, left eye, right eye.

Reading the pickle never needs chumpy and never runs code from the file: ``read_flame_pickle`` unpickles with an
allow-list (``faceforge.morphable.safe_pickle``: numpy arrays, scipy.sparse matrices, chumpy ``Ch`` arrays rebuilt
from their pickled state by stand-ins). Anything else (``os.system``, ``builtins.eval``, any other class) is refused
with an ``InputError`` before it is called.

Mapping into ``MorphableModel`` (name ``"flame"``, units ``"m"``, see ``load_flame``): identity = the first 300
``shapedirs`` columns, expression = the rest (unbounded PCA weights, names ``exp000``...), pose correctives
``posedirs`` transposed to (36, V, 3) so that ``pose_basis[p, v, c] = posedirs[v, c, p]`` (``evaluate`` flattens
(R_j - I) row-major like FLAME's ``lrotmin``). ``evaluate`` applies the global rotation about the model origin
instead of about joint 0: FLAME's posed mesh for global rotation R and translation t equals faceforge's with the
same R and translation ``t + (I - R) @ j0`` (j0 = the root joint of the shaped head, ``flame_root_joint``).

Landmarks: FLAME files hold none. With a landmark embedding (DECA's ``landmark_embedding.npy``; RingNet /
FLAME_PyTorch ``flame_static_embedding*.pkl``/``.npz``; see ``load_landmark_embedding``) the 68 iBUG landmarks are
barycentric points on the surface (``MorphableModel.landmark_faces``/``landmark_barycentric``) and
``landmark_indices`` holds the template vertex nearest to each. Without one, ``landmark_indices`` is empty (0,).
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceforge.errors import InputError, UsageError
from faceforge.morphable.evaluate import shape_vertices
from faceforge.morphable.model import MorphableModel, Skeleton, as_tensor
from faceforge.morphable.safe_pickle import read_file_bytes, unpickle_arrays

log = logging.getLogger(__name__)

FLAME_NAME = "flame"
FLAME_NUM_SHAPE = 300  # shapedirs columns 0-299 are identity, 300+ expression (FLAME 2017/2020/2023)
FLAME_JOINT_NAMES = ("global", "neck", "jaw", "eye_left", "eye_right")
REQUIRED_KEYS = ("v_template", "f", "shapedirs", "posedirs", "J_regressor", "kintree_table", "weights")
NUM_CONTOUR = 17  # iBUG 0-16, the jaw contour (dynamic in RingNet/DECA)
NUM_STATIC = 51  # iBUG 17-67


def read_flame_pickle(path: Path) -> dict[str, Any]:
    """Read a FLAME ``.pkl`` into plain NumPy arrays and strings, without chumpy and without running its code.

    Args:
        path: the FLAME pickle (Python 2 pickles load with latin1 decoding; Python 3 re-saves load too).
    Returns:
        dict of the pickle's entries: chumpy arrays become ndarrays, scipy sparse matrices dense ndarrays.
    Raises:
        InputError: missing/unreadable file, not a pickle, not a dict, or a pickle naming anything outside the
            allow-list (e.g. ``os.system``), which is refused before it can run.
    """
    path = Path(path)
    data = read_file_bytes(path)
    if not data.startswith(b"\x80") and data[:1] not in (b"(", b"}", b"c"):
        raise InputError(f"{path}: not a pickle file (a FLAME model is a .pkl such as generic_model.pkl)")
    out = unpickle_arrays(data, path, "FLAME model file")
    if not isinstance(out, dict):
        raise InputError(f"{path}: expected a FLAME model dict, the pickle holds a {type(out).__name__}")
    return out


# ----------------------------------------------------------------------------------------------------------------
# Landmark embedding


@dataclass(frozen=True)
class FlameLandmarkEmbedding:
    """iBUG-68 landmarks as barycentric points on the FLAME surface.

    Attributes:
        faces: (68,) int64 triangle of each landmark (frontal jaw contour for 0-16).
        barycentric: (68, 3) float64 weights of the triangle's corners, in ``f`` order.
        contour_faces: (R, 17) int64 dynamic jaw-contour triangles per head-yaw bin, or None. Row order as in
            RingNet/DECA: row 0 frontal, rows 1-39 and 40-78 the two yaw directions in 1-degree steps.
        contour_barycentric: (R, 17, 3) float64, or None.
    """

    faces: np.ndarray
    barycentric: np.ndarray
    contour_faces: np.ndarray | None = None
    contour_barycentric: np.ndarray | None = None


def _read_container(path: Path) -> dict[str, Any]:
    """A dict from an ``.npy`` (pickled dict inside, DECA), ``.npz`` or ``.pkl`` file, read safely."""
    data = read_file_bytes(path)
    if data.startswith(b"\x93NUMPY"):
        f = io.BytesIO(data)
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        except ValueError as exc:
            raise InputError(f"{path}: not a readable .npy file ({exc})") from None
        if not dtype.hasobject:
            raise InputError(f"{path}: holds a plain {dtype} array {shape}; expected a dict of landmark arrays")
        obj = unpickle_arrays(f, path, "landmark embedding")
        if isinstance(obj, np.ndarray) and obj.dtype == object and obj.size == 1:
            obj = obj.reshape(()).item()
    elif data.startswith(b"PK\x03\x04"):
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                obj = {k: z[k] for k in z.files}
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            raise InputError(f"{path}: not a readable .npz file ({exc})") from None
    elif data.startswith(b"\x80") or data[:1] in (b"(", b"}"):
        obj = unpickle_arrays(data, path, "landmark embedding")
    else:
        raise InputError(f"{path}: not a landmark embedding (.npy, .npz or .pkl)")
    if not isinstance(obj, dict):
        raise InputError(f"{path}: expected a dict of landmark arrays, got {type(obj).__name__}")
    return obj


def _lmk_pair(d: dict[str, Any], face_key: str, bary_key: str, path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    if face_key not in d or bary_key not in d:
        return None
    try:
        faces = np.asarray(d[face_key]).astype(np.int64)
        bary = np.asarray(d[bary_key], dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: {face_key}/{bary_key} are not numeric arrays ({exc})") from None
    if bary.shape != (*faces.shape, 3):
        raise InputError(f"{path}: {bary_key} has shape {bary.shape}, expected {(*faces.shape, 3)}")
    return faces, bary


def load_landmark_embedding(path: Path, num_faces: int | None = None) -> FlameLandmarkEmbedding:
    """Read a FLAME landmark embedding (68 iBUG landmarks as triangle + barycentric weights).

    Accepted layouts (keys of the stored dict):
      - DECA ``landmark_embedding.npy``: ``full_lmk_faces_idx`` (1, 68) + ``full_lmk_bary_coords`` (1, 68, 3), and
        optionally ``static_lmk_*`` (51) and ``dynamic_lmk_faces_idx`` (79, 17) + ``dynamic_lmk_bary_coords``
        (79, 17, 3) (stored as torch tensors; read without executing code).
      - 51 static + dynamic contour only: landmarks 0-16 = the frontal row (0) of the dynamic table, 17-67 static.
      - RingNet / FLAME_PyTorch ``lmk_face_idx`` (68,) + ``lmk_b_coords`` (68, 3) (``.pkl`` or ``.npz``).
    A file with only the 51 static landmarks and no contour is refused (the jaw contour would be unknown).

    Args:
        path: the embedding file.
        num_faces: the model's triangle count, to check the indices (None skips the check).
    Returns:
        the embedding, landmarks in iBUG-68 order.
    Raises:
        InputError: unreadable file, unknown layout, wrong counts or indices out of range.
    """
    path = Path(path)
    d = _read_container(path)
    full = _lmk_pair(d, "full_lmk_faces_idx", "full_lmk_bary_coords", path)
    static = _lmk_pair(d, "static_lmk_faces_idx", "static_lmk_bary_coords", path)
    dynamic = _lmk_pair(d, "dynamic_lmk_faces_idx", "dynamic_lmk_bary_coords", path)
    plain = _lmk_pair(d, "lmk_face_idx", "lmk_b_coords", path)
    if plain is not None and plain[0].ndim == 2 and dynamic is None:  # FLAME_PyTorch's dynamic-only file
        dynamic, plain = plain, None
    if dynamic is not None and (dynamic[0].ndim != 2 or dynamic[0].shape[1] != NUM_CONTOUR):
        raise InputError(f"{path}: dynamic contour table has shape {dynamic[0].shape}, expected (R, {NUM_CONTOUR})")
    pts = full if full is not None else plain if plain is not None else static
    if pts is None:
        raise InputError(
            f"{path}: no landmark arrays found (keys: {', '.join(sorted(map(str, d)))}); expected DECA's "
            "full_lmk_faces_idx/full_lmk_bary_coords or lmk_face_idx/lmk_b_coords"
        )
    faces, bary = pts[0].reshape(-1), pts[1].reshape(-1, 3)
    if faces.shape[0] == NUM_STATIC:
        if dynamic is None:
            raise InputError(
                f"{path}: holds only the {NUM_STATIC} static landmarks (iBUG 17-67) and no jaw contour; use DECA's "
                "landmark_embedding.npy or a 68-landmark embedding"
            )
        faces = np.concatenate([dynamic[0][0], faces])
        bary = np.concatenate([dynamic[1][0], bary])
    if faces.shape[0] != 68:
        raise InputError(f"{path}: {faces.shape[0]} landmarks; expected the 68 iBUG landmarks (or 51 + contour)")
    for f, what in ((faces, "landmark"), (None if dynamic is None else dynamic[0], "contour")):
        if f is not None and num_faces is not None and (f.min() < 0 or f.max() >= num_faces):
            raise InputError(f"{path}: {what} triangle index {int(f.max())} out of range for {num_faces} triangles")
    if not np.isfinite(bary).all() or np.abs(bary.sum(1) - 1.0).max() > 1e-3:
        raise InputError(f"{path}: barycentric coordinates must be finite and sum to 1")
    return FlameLandmarkEmbedding(
        faces=faces,
        barycentric=bary,
        contour_faces=None if dynamic is None else dynamic[0],
        contour_barycentric=None if dynamic is None else dynamic[1],
    )


# ----------------------------------------------------------------------------------------------------------------
# FLAME arrays -> MorphableModel


def _array(arrays: dict[str, Any], key: str, ndim: int, path: Path, dtype: type = np.float64) -> np.ndarray:
    try:
        a = np.asarray(arrays[key])
        a = a.astype(dtype) if a.dtype != object else np.array(a.tolist(), dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: {key} is not a numeric array ({exc})") from None
    if a.ndim != ndim:
        raise InputError(f"{path}: {key} has shape {a.shape}, expected {ndim} dimensions")
    if dtype is np.float64 and not np.isfinite(a).all():
        raise InputError(f"{path}: {key} holds NaN or infinite values")
    return a


def _expect(path: Path, key: str, a: np.ndarray, shape: tuple[int, ...]) -> None:
    if a.shape != shape:
        raise InputError(f"{path}: {key} has shape {a.shape}, expected {shape}")


def parents_from_kintree(kintree: np.ndarray, path: Path = Path("<kintree_table>")) -> np.ndarray:
    """Parent column of each joint from an SMPL/FLAME ``kintree_table``.

    Args:
        kintree: (2, J) integer table, row 0 parent ids, row 1 joint ids; a parent id that is no joint id (FLAME
            stores 2**32 - 1) marks the root.
    Returns:
        (J,) int64 parent index per column, -1 for the root, which must be column 0, with parents before children.
    """
    ids = {int(i): col for col, i in enumerate(kintree[1])}
    if len(ids) != kintree.shape[1]:
        raise InputError(f"{path}: kintree_table has repeated joint ids {kintree[1].tolist()}")
    parents = np.array([ids.get(int(p), -1) for p in kintree[0]], dtype=np.int64)
    if parents[0] != -1 or (parents[1:] < 0).any() or (parents[1:] >= np.arange(1, len(parents))).any():
        raise InputError(
            f"{path}: kintree_table must list the root first and every parent before its children, got parents "
            f"{parents.tolist()}"
        )
    return parents


def _faces_point_inwards(template: np.ndarray, faces: np.ndarray) -> bool:
    """True if the triangles are wound clockwise seen from outside (area-weighted normals vs. the centroid)."""
    tri = template[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return float((normals * (tri.mean(1) - template.mean(0))).sum()) < 0


def _nearest_vertices(template: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(n,) int64 index of the template vertex nearest to each of the (n, 3) points."""
    from scipy.spatial import cKDTree

    return np.asarray(cKDTree(template).query(points)[1], dtype=np.int64)


def _surface_points(template: np.ndarray, faces: np.ndarray, tri: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """(..., 3) positions of barycentric points (triangle indices ``tri`` (...), weights ``bary`` (..., 3))."""
    return (template[faces[tri]] * bary[..., None]).sum(-2)


def flame_arrays_to_model(
    arrays: dict[str, Any],
    embedding: FlameLandmarkEmbedding | None = None,
    num_identity: int | None = None,
    num_expression: int | None = None,
    path: Path = Path("<FLAME arrays>"),
) -> MorphableModel:
    """Build the MorphableModel from FLAME's arrays (as returned by ``read_flame_pickle``).

    Args:
        arrays: dict with the keys of ``REQUIRED_KEYS`` (see the module docstring for shapes).
        embedding: landmarks on the surface, or None (then ``landmark_indices`` is empty).
        num_identity: leading identity components to keep (1-300; None = 300).
        num_expression: leading expression components to keep (1-Ne of the file; None = all, 100 for FLAME).
        path: the source, for error messages.
    Returns:
        MorphableModel "flame", units "m", unbounded expressions ``exp000``..., a 5-joint skeleton.
    Raises:
        InputError: missing keys or inconsistent shapes. UsageError: component counts out of range.
    """
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise InputError(f"{path}: not a FLAME model: missing {', '.join(missing)} (has {', '.join(map(str, arrays))})")
    template = _array(arrays, "v_template", 2, path)
    v = template.shape[0]
    _expect(path, "v_template", template, (v, 3))
    faces = _array(arrays, "f", 2, path, np.int64)
    if faces.shape[1:] != (3,) or faces.size == 0 or faces.min() < 0 or faces.max() >= v:
        raise InputError(f"{path}: f must be (F, 3) triangles indexing {v} vertices, got shape {faces.shape}")
    shapedirs = _array(arrays, "shapedirs", 3, path)
    k = shapedirs.shape[2]
    _expect(path, "shapedirs", shapedirs, (v, 3, k))
    if k <= FLAME_NUM_SHAPE:
        raise InputError(
            f"{path}: shapedirs has {k} components; FLAME stores {FLAME_NUM_SHAPE} identity + expression components"
        )
    n_id = FLAME_NUM_SHAPE if num_identity is None else num_identity
    n_exp = k - FLAME_NUM_SHAPE if num_expression is None else num_expression
    if not 1 <= n_id <= FLAME_NUM_SHAPE:
        raise UsageError(f"num_identity must be in 1..{FLAME_NUM_SHAPE}, got {n_id}")
    if not 1 <= n_exp <= k - FLAME_NUM_SHAPE:
        raise UsageError(f"num_expression must be in 1..{k - FLAME_NUM_SHAPE} for this file, got {n_exp}")
    kintree = _array(arrays, "kintree_table", 2, path, np.int64)
    num_j = len(FLAME_JOINT_NAMES)
    _expect(path, "kintree_table", kintree, (2, num_j))
    parents = parents_from_kintree(kintree, path)
    regressor = _array(arrays, "J_regressor", 2, path)
    _expect(path, "J_regressor", regressor, (num_j, v))
    weights = _array(arrays, "weights", 2, path)
    _expect(path, "weights", weights, (v, num_j))
    posedirs = _array(arrays, "posedirs", 3, path)
    _expect(path, "posedirs", posedirs, (v, 3, 9 * (num_j - 1)))
    for key in ("bs_style", "bs_type"):
        if key in arrays and str(arrays[key]) not in ("lbs", "lrotmin"):
            log.warning("%s: %s is %r; faceforge evaluates FLAME as lbs + lrotmin", path, key, arrays[key])

    if embedding is None:
        landmarks = np.zeros(0, dtype=np.int64)
        lmk_faces = lmk_bary = contour = None
    else:
        for f in (embedding.faces, embedding.contour_faces):
            if f is not None and f.max() >= faces.shape[0]:
                raise InputError(f"{path}: the landmark embedding indexes triangle {int(f.max())}, beyond the "
                                 f"model's {faces.shape[0]}")
        lmk_faces, lmk_bary = embedding.faces, embedding.barycentric
        landmarks = _nearest_vertices(template, _surface_points(template, faces, lmk_faces, lmk_bary))
        if embedding.contour_faces is not None and embedding.contour_barycentric is not None:
            pts = _surface_points(template, faces, embedding.contour_faces, embedding.contour_barycentric)
            contour = np.unique(_nearest_vertices(template, pts.reshape(-1, 3)))
        else:
            contour = landmarks[:NUM_CONTOUR].copy()
    if _faces_point_inwards(template, faces):
        # faceforge winds triangles counter-clockwise seen from outside; reversing the corners reverses the
        # barycentric weights with them, so the landmarks stay the same surface points.
        log.warning("%s: triangles are wound clockwise seen from outside; reversing them", path)
        faces = faces[:, ::-1].copy()
        lmk_bary = None if lmk_bary is None else lmk_bary[:, ::-1].copy()

    # shapedirs (V, 3, K) -> (K, V, 3); posedirs (V, 3, P) -> (P, V, 3): pose_basis[p, v, c] = posedirs[v, c, p],
    # the same numbers FLAME multiplies with (R_j - I) flattened row-major (its reshape(V*3, P).T).
    basis = np.ascontiguousarray(np.transpose(shapedirs, (2, 0, 1)))
    skeleton = Skeleton(
        joint_regressor=as_tensor(regressor, torch.float32),
        parents=as_tensor(parents, torch.int64),
        skinning_weights=as_tensor(weights, torch.float32),
        pose_basis=as_tensor(np.transpose(posedirs, (2, 0, 1)), torch.float32),
        joint_names=FLAME_JOINT_NAMES,
    )
    return MorphableModel(
        name=FLAME_NAME,
        template=as_tensor(template, torch.float32),
        identity_basis=as_tensor(basis[:n_id], torch.float32),
        expression_basis=as_tensor(basis[FLAME_NUM_SHAPE:FLAME_NUM_SHAPE + n_exp], torch.float32),
        expression_names=tuple(f"exp{i:03d}" for i in range(n_exp)),
        faces=as_tensor(faces, torch.int64),
        landmark_indices=as_tensor(landmarks, torch.int64),
        units="m",
        contour_candidates=None if contour is None else as_tensor(contour, torch.int64),
        skeleton=skeleton,
        expression_bounds=None,
        landmark_faces=None if lmk_faces is None else as_tensor(lmk_faces, torch.int64),
        landmark_barycentric=None if lmk_bary is None else as_tensor(lmk_bary, torch.float32),
    )


def load_flame(
    path: Path,
    landmark_embedding: Path | None = None,
    num_identity: int | None = None,
    num_expression: int | None = None,
) -> MorphableModel:
    """Load the user's licensed FLAME model (FLAME 2020 ``generic_model.pkl``, FLAME 2023 ``flame2023.pkl``, ...).

    Args:
        path: the FLAME ``.pkl``; chumpy need not be installed and no code from the file runs.
        landmark_embedding: optional landmark file (see ``load_landmark_embedding``) giving the 68 iBUG landmarks.
        num_identity: identity components to keep (1-300, None = 300).
        num_expression: expression components to keep (None = all in the file, 100 for FLAME 2020/2023).
    Returns:
        MorphableModel "flame": template (5023, 3) metres, identity (Ni, V, 3), expression (Ne, V, 3) unbounded,
        faces (9976, 3), skeleton with joints global, neck, jaw, eye_left, eye_right (``FaceParams.joint_rotations``
        = neck, jaw, left eye, right eye); landmarks from the embedding or empty (0,).
    Raises:
        InputError: missing/unreadable file, not a FLAME pickle, a pickle referencing anything but arrays.
    """
    path = Path(path)
    arrays = read_flame_pickle(path)
    embedding = None
    if landmark_embedding is not None:
        embedding = load_landmark_embedding(Path(landmark_embedding))
    model = flame_arrays_to_model(arrays, embedding, num_identity, num_expression, path)
    log.info(
        "loaded FLAME from %s: %d vertices, %d identity, %d expression components, %d landmarks",
        path, model.num_vertices, model.num_identity, model.num_expression, model.landmark_indices.shape[0],
    )
    return model


def flame_root_joint(model: MorphableModel, identity: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
    """Rest position of FLAME's root joint j0 for the given shape (no pose correctives enter the joints).

    FLAME rotates about j0, faceforge's ``evaluate`` about the origin; for the same rotation R the meshes differ by
    the translation ``(I - R) @ j0``: pass ``translation = flame_transl + (I - R) @ j0`` to reproduce FLAME.

    Args:
        identity: (B, Ni), expression: (B, Ne) weights.
    Returns:
        (B, 3) float32 model frame, metres.
    """
    if model.skeleton is None:
        raise UsageError(f"{model.name} has no skeleton")
    return model.skeleton.joint_regressor[0] @ shape_vertices(model, identity, expression)
