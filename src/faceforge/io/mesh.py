"""Triangle meshes on disk: Wavefront OBJ (+ MTL + PNG texture) and binary PLY. Own readers and writers.

Vertices are written and read in their given order and never merged or reordered, so vertex ``i`` of a saved model
mesh is vertex ``i`` of the model. Polygons read from files are split as a fan ``(a, b, c), (a, c, d), ...`` for
positions and UVs alike (docs/conventions.md). Floats are written with 9 significant digits, which reads back to
the same float32. Outputs are atomic: all files are written to temporary names first, then renamed.

Arrays may be NumPy arrays or CPU torch tensors; loaded meshes are NumPy arrays (``MeshFile.to_mesh`` gives a
``Mesh``). UV origin is bottom-left (OBJ convention, as in ``Mesh``); texture images are stored with row 0 at the top
(v = 1), as PNG files are.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from faceforge.errors import InputError, UsageError
from faceforge.io.atomic import write_files_atomically
from faceforge.structures import Mesh

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeshFile:
    """A mesh read from a file (NumPy arrays, file order, nothing merged).

    Attributes:
        vertices: (V, 3) float32 positions, file units and frame.
        faces: (F, 3) int64 triangles (polygons fan-split).
        uv: (T, 2) float32 texture coordinates (origin bottom-left) or None.
        uv_faces: (F, 3) int64 indices into ``uv`` or None.
        normals: (N, 3) float32 normals (OBJ ``vn``: indexed by ``normal_faces``; PLY: one per vertex) or None.
        normal_faces: (F, 3) int64 indices into ``normals`` (OBJ) or None.
        colors: (V, 3) uint8 RGB per vertex (PLY) or None.
        texture_path: the image named by the OBJ material's ``map_Kd`` (absolute path) or None.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None = None
    uv_faces: np.ndarray | None = None
    normals: np.ndarray | None = None
    normal_faces: np.ndarray | None = None
    colors: np.ndarray | None = None
    texture_path: Path | None = None

    def to_mesh(self) -> Mesh:
        """As a ``Mesh`` with batch 1 (torch tensors)."""
        uv = None if self.uv is None or self.uv_faces is None else torch.from_numpy(self.uv.copy())
        uvf = None if uv is None or self.uv_faces is None else torch.from_numpy(self.uv_faces.copy())
        return Mesh(
            vertices=torch.from_numpy(self.vertices.copy())[None], faces=torch.from_numpy(self.faces.copy()),
            uv=uv, uv_faces=uvf,
        )


# ---------------------------------------------------------------------------------------------------------- checks


def _as_array(name: str, a: Any, dtype: type, shape: tuple[int | None, ...]) -> np.ndarray:
    """Tensor/array -> contiguous NumPy array of ``dtype`` and ``shape`` (None = any), else UsageError."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != len(shape) or any(s is not None and s != n for s, n in zip(shape, a.shape, strict=True)):
        want = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise UsageError(f"{name}: expected shape {want}, got {a.shape}")
    if np.issubdtype(dtype, np.floating):
        if a.dtype.kind not in "fiu":
            raise UsageError(f"{name}: expected numbers, got dtype {a.dtype}")
        a = a.astype(dtype)
        if not np.isfinite(a).all():
            raise UsageError(f"{name}: contains NaN or infinite values")
    elif np.issubdtype(dtype, np.integer):
        if a.dtype.kind not in "iu":
            raise UsageError(f"{name}: expected integers, got dtype {a.dtype}")
        a = a.astype(dtype)
    return np.ascontiguousarray(a)


def _check_indices(name: str, idx: np.ndarray, count: int, what: str) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= count):
        raise UsageError(f"{name}: indices must be in [0, {count}) ({count} {what}), got [{idx.min()}, {idx.max()}]")


def _texture_png(texture: Any) -> bytes:
    tex = texture.detach().cpu().numpy() if isinstance(texture, torch.Tensor) else np.asarray(texture)
    if tex.dtype != np.uint8 or tex.ndim != 3 or tex.shape[2] not in (3, 4) or tex.shape[0] < 1 or tex.shape[1] < 1:
        raise UsageError(f"texture: expected (H, W, 3) or (H, W, 4) uint8, got {tex.dtype} {tex.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(tex)).save(buf, format="PNG")
    return buf.getvalue()


def _rows(a: np.ndarray, prefix: str, fmt: str) -> str:
    """Rows of ``a`` as text lines ``prefix v0 v1 ...`` (empty string for no rows)."""
    if len(a) == 0:
        return ""
    buf = io.StringIO()
    np.savetxt(buf, a, fmt=fmt, delimiter=" ", newline="\n", header="", comments="")
    return "".join(f"{prefix} {line}\n" for line in buf.getvalue().splitlines())


# ---------------------------------------------------------------------------------------------------------- OBJ


def save_obj(
    path: Path,
    vertices: Any,
    faces: Any,
    uv: Any = None,
    uv_faces: Any = None,
    texture: Any = None,
    normals: Any = None,
) -> None:
    """Write a triangle mesh as Wavefront OBJ; with a texture also ``<stem>.mtl`` and ``<stem>.png`` beside it.

    Args:
        path: the ``.obj`` file to write (its folder must exist).
        vertices: (V, 3) float positions (any frame/unit; written as given).
        faces: (F, 3) int 0-based triangles.
        uv: (T, 2) float texture coordinates (origin bottom-left) or None; needs ``uv_faces``.
        uv_faces: (F, 3) int indices into ``uv`` or None.
        texture: (H, W, 3|4) uint8 image (row 0 = top, v = 1) or None; needs ``uv``. Written as ``<stem>.png`` and
            referenced by ``<stem>.mtl`` (``map_Kd``) through ``mtllib``/``usemtl``.
        normals: (V, 3) float per-vertex normals or None; written as ``vn`` with the vertex's index.
    Raises:
        UsageError: wrong shapes, out-of-range indices, NaN/inf, a texture without UVs.
    """
    path = Path(path)
    v = _as_array("vertices", vertices, np.float32, (None, 3))
    f = _as_array("faces", faces, np.int64, (None, 3))
    _check_indices("faces", f, len(v), "vertices")
    if (uv is None) != (uv_faces is None):
        raise UsageError("uv and uv_faces must be given together")
    t = tf = None
    if uv is not None:
        t = _as_array("uv", uv, np.float32, (None, 2))
        tf = _as_array("uv_faces", uv_faces, np.int64, (len(f), 3))
        _check_indices("uv_faces", tf, len(t), "uv coordinates")
    if texture is not None and t is None:
        raise UsageError("a texture needs uv and uv_faces")
    n = None if normals is None else _as_array("normals", normals, np.float32, (len(v), 3))

    out: dict[Path, bytes] = {}
    lines = ["# faceforge OBJ\n"]
    if texture is not None:
        mtl_path, png_path = path.with_suffix(".mtl"), path.with_suffix(".png")
        out[png_path] = _texture_png(texture)
        out[mtl_path] = (
            "# faceforge MTL\nnewmtl material0\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\n"
            f"map_Kd {png_path.name}\n"
        ).encode()
        lines.append(f"mtllib {mtl_path.name}\n")
    lines.append(_rows(v, "v", "%.9g"))
    if t is not None:
        lines.append(_rows(t, "vt", "%.9g"))
    if n is not None:
        lines.append(_rows(n, "vn", "%.9g"))
    if texture is not None:
        lines.append("usemtl material0\n")
    one = f + 1  # OBJ indices are 1-based
    if t is not None and tf is not None:
        cols = [one, tf + 1] + ([one] if n is not None else [])
        corner = np.stack(cols, -1).reshape(len(f), -1)  # (F, 3 * k): v, vt[, vn] per corner
        fmt = " ".join(["/".join(["%d"] * len(cols))] * 3)
    elif n is not None:
        corner = np.stack([one, one], -1).reshape(len(f), -1)
        fmt = " ".join(["%d//%d"] * 3)
    else:
        corner, fmt = one, "%d %d %d"
    lines.append(_rows(corner, "f", fmt))
    out[path] = "".join(lines).encode()
    write_files_atomically(out)
    log.info("saved %s (%d vertices, %d triangles)", path, len(v), len(f))


def _parse_floats(source: str, rows: list[list[str]], width: int, what: str) -> np.ndarray:
    if not rows:
        return np.zeros((0, width), dtype=np.float32)
    try:
        return np.array([r[:width] for r in rows], dtype=np.float64).astype(np.float32).reshape(-1, width)
    except ValueError:
        raise InputError(f"{source}: malformed {what} line (expected {width} numbers)") from None


def load_obj(path: Path) -> MeshFile:
    """Read a Wavefront OBJ file.

    Supports ``v`` (extra per-vertex colour columns are ignored), ``vt`` (u v [w]), ``vn``, ``f`` with ``v``,
    ``v/vt``, ``v//vn``, ``v/vt/vn`` corners (1-based or negative relative indices), polygons (fan-split), and
    ``mtllib``/``map_Kd`` for the texture path. Groups, objects and materials are otherwise ignored.

    Returns:
        MeshFile with vertices in file order (nothing merged or reordered).
    Raises:
        InputError: unreadable file, malformed lines, out-of-range indices, faces mixing corners with and without
            ``vt`` (or ``vn``).
    """
    path = Path(path)
    src = str(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    v_rows: list[list[str]] = []
    t_rows: list[list[str]] = []
    n_rows: list[list[str]] = []
    corners: list[list[str]] = []  # one list of corner tokens per polygon
    corner_nv: list[tuple[int, int, int]] = []  # vertex/uv/normal counts when the polygon was read (relative idx)
    mtllibs: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        parts = raw.split()
        if not parts or parts[0].startswith("#"):
            continue
        key = parts[0]
        if key == "v":
            if len(parts) < 4:
                raise InputError(f"{src}:{lineno}: a vertex needs 3 coordinates")
            v_rows.append(parts[1:4])
        elif key == "vt":
            if len(parts) < 3:
                raise InputError(f"{src}:{lineno}: a texture coordinate needs 2 numbers")
            t_rows.append(parts[1:3])
        elif key == "vn":
            if len(parts) < 4:
                raise InputError(f"{src}:{lineno}: a normal needs 3 numbers")
            n_rows.append(parts[1:4])
        elif key == "f":
            if len(parts) < 4:
                raise InputError(f"{src}:{lineno}: a face needs at least 3 corners")
            corners.append(parts[1:])
            corner_nv.append((len(v_rows), len(t_rows), len(n_rows)))
        elif key == "mtllib" and len(parts) > 1:
            mtllibs.append(raw.strip()[len("mtllib"):].strip())

    verts = _parse_floats(src, v_rows, 3, "v")
    uv_all = _parse_floats(src, t_rows, 2, "vt")
    nrm_all = _parse_floats(src, n_rows, 3, "vn")
    tris_v: list[tuple[int, int, int]] = []
    tris_t: list[tuple[int, int, int]] = []
    tris_n: list[tuple[int, int, int]] = []
    has_t = has_n = None
    for poly, counts in zip(corners, corner_nv, strict=True):
        iv, it, inn = [], [], []
        for tok in poly:
            fields = tok.split("/")
            try:
                iv.append(_obj_index(fields[0], counts[0]))
                it.append(_obj_index(fields[1], counts[1]) if len(fields) > 1 and fields[1] else None)
                inn.append(_obj_index(fields[2], counts[2]) if len(fields) > 2 and fields[2] else None)
            except ValueError:
                raise InputError(f"{src}: malformed face corner {tok!r}") from None
        pt, pn = it[0] is not None, inn[0] is not None
        if any((x is not None) != pt for x in it) or any((x is not None) != pn for x in inn):
            raise InputError(f"{src}: a face mixes corners with and without texture/normal indices")
        if has_t is None:
            has_t, has_n = pt, pn
        elif (has_t, has_n) != (pt, pn):
            raise InputError(f"{src}: some faces have texture/normal indices and others do not")
        for k in range(1, len(poly) - 1):
            tris_v.append((iv[0], iv[k], iv[k + 1]))
            if pt:
                tris_t.append((it[0], it[k], it[k + 1]))  # type: ignore[arg-type]
            if pn:
                tris_n.append((inn[0], inn[k], inn[k + 1]))  # type: ignore[arg-type]

    def tri_array(rows: list[tuple[int, int, int]], count: int, what: str) -> np.ndarray:
        a = np.array(rows, dtype=np.int64).reshape(-1, 3)
        if a.size and (a.min() < 0 or a.max() >= count):
            raise InputError(f"{src}: a face refers to {what} {int(a.max()) + 1 if a.max() >= count else int(a.min())}"
                             f" but the file has {count}")
        return a

    faces = tri_array(tris_v, len(verts), "vertex")
    uv = uv_faces = nrm = nrm_faces = None
    if has_t:
        uv, uv_faces = uv_all, tri_array(tris_t, len(uv_all), "texture coordinate")
    if has_n:
        nrm, nrm_faces = nrm_all, tri_array(tris_n, len(nrm_all), "normal")
    texture = _find_texture(path, mtllibs)
    return MeshFile(
        vertices=verts, faces=faces, uv=uv, uv_faces=uv_faces, normals=nrm, normal_faces=nrm_faces,
        texture_path=texture,
    )


def _obj_index(field: str, count: int) -> int:
    """1-based or negative (relative) OBJ index -> 0-based."""
    i = int(field)
    if i == 0:
        raise ValueError("0 is not an OBJ index")
    return i - 1 if i > 0 else count + i


def _find_texture(obj_path: Path, mtllibs: list[str]) -> Path | None:
    """The first ``map_Kd`` image named in the OBJ's material libraries (absolute path), if any."""
    for name in mtllibs:
        mtl = obj_path.parent / name
        try:
            text = mtl.read_text(encoding="utf-8", errors="replace")
        except OSError:
            log.warning("%s: material library %s cannot be read", obj_path, mtl)
            continue
        for raw in text.splitlines():
            parts = raw.split()
            if parts and parts[0] == "map_Kd" and len(parts) > 1:
                # The file name is the last token (options such as -s may precede it).
                return (mtl.parent / parts[-1]).resolve()
    return None


# ---------------------------------------------------------------------------------------------------------- PLY

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2", "ushort": "u2",
    "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4", "float": "f4", "float32": "f4",
    "double": "f8", "float64": "f8",
}


def save_ply(path: Path, vertices: Any, faces: Any, colors: Any = None, normals: Any = None) -> None:
    """Write a binary little-endian PLY: float32 x y z [nx ny nz] [uchar red green blue], faces as uchar-counted
    int32 lists.

    Args:
        path: the ``.ply`` file (its folder must exist).
        vertices: (V, 3) float positions.
        faces: (F, 3) int 0-based triangles.
        colors: (V, 3) uint8 RGB or None.
        normals: (V, 3) float normals or None.
    """
    path = Path(path)
    v = _as_array("vertices", vertices, np.float32, (None, 3))
    f = _as_array("faces", faces, np.int64, (None, 3))
    _check_indices("faces", f, len(v), "vertices")
    if len(v) >= 2**31:
        raise UsageError("vertices: too many for int32 PLY indices")
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    n = c = None
    if normals is not None:
        n = _as_array("normals", normals, np.float32, (len(v), 3))
        fields += [("nx", "<f4"), ("ny", "<f4"), ("nz", "<f4")]
    if colors is not None:
        c_in = colors.detach().cpu().numpy() if isinstance(colors, torch.Tensor) else np.asarray(colors)
        if c_in.dtype != np.uint8:
            raise UsageError(f"colors: expected uint8, got {c_in.dtype}")
        c = _as_array("colors", c_in, np.uint8, (len(v), 3))
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vrec = np.empty(len(v), dtype=np.dtype(fields))
    for k, name in enumerate("xyz"):
        vrec[name] = v[:, k]
    if n is not None:
        for k, name in enumerate(("nx", "ny", "nz")):
            vrec[name] = n[:, k]
    if c is not None:
        for k, name in enumerate(("red", "green", "blue")):
            vrec[name] = c[:, k]
    frec = np.empty(len(f), dtype=np.dtype([("n", "u1"), ("i", "<i4", (3,))]))
    frec["n"] = 3
    frec["i"] = f
    type_name = {"<f4": "float", "u1": "uchar"}
    header = ["ply", "format binary_little_endian 1.0", "comment faceforge", f"element vertex {len(v)}"]
    header += [f"property {type_name[t]} {name}" for name, t in fields]
    header += [f"element face {len(f)}", "property list uchar int vertex_indices", "end_header"]
    data = ("\n".join(header) + "\n").encode("ascii") + vrec.tobytes() + frec.tobytes()
    write_files_atomically({path: data})
    log.info("saved %s (%d vertices, %d triangles)", path, len(v), len(f))


@dataclass(frozen=True)
class _PlyElement:
    name: str
    count: int
    props: list[tuple[str, str, str | None]]  # (name, value type, list count type or None)


def _read_ply_header(src: str, data: bytes) -> tuple[str, list[_PlyElement], int]:
    if not data.startswith(b"ply"):
        raise InputError(f"{src}: not a PLY file (no 'ply' magic)")
    end = re.search(rb"end_header\r?\n", data)
    if end is None:
        raise InputError(f"{src}: PLY header has no end_header")
    fmt = ""
    elements: list[_PlyElement] = []
    for raw in data[: end.start()].decode("ascii", errors="replace").splitlines()[1:]:
        parts = raw.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        try:
            if parts[0] == "format":
                fmt = parts[1]
            elif parts[0] == "element":
                elements.append(_PlyElement(parts[1], int(parts[2]), []))
            elif parts[0] == "property":
                if not elements:
                    raise ValueError
                if parts[1] == "list":
                    elements[-1].props.append((parts[4], _PLY_TYPES[parts[3]], _PLY_TYPES[parts[2]]))
                else:
                    elements[-1].props.append((parts[2], _PLY_TYPES[parts[1]], None))
            else:
                raise ValueError
        except (IndexError, ValueError, KeyError):
            raise InputError(f"{src}: malformed PLY header line {raw!r}") from None
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise InputError(f"{src}: unsupported PLY format {fmt!r}")
    return fmt, elements, end.end()


def _fan(polys: list[np.ndarray]) -> np.ndarray:
    tris = [(p[0], p[k], p[k + 1]) for p in polys for k in range(1, len(p) - 1)]
    return np.array(tris, dtype=np.int64).reshape(-1, 3)


def load_ply(path: Path) -> MeshFile:
    """Read a PLY file (binary little/big endian or ASCII).

    Reads ``vertex`` x y z, optional nx ny nz and red green blue (uchar), and ``face`` vertex_indices (or
    vertex_index) lists, fan-splitting polygons. Other elements and properties are skipped.

    Returns:
        MeshFile with ``vertices``, ``faces`` and, when present, ``normals`` (per vertex) and ``colors``.
    Raises:
        InputError: unreadable, truncated or malformed files, missing x/y/z, out-of-range face indices.
    """
    path = Path(path)
    src = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    fmt, elements, pos = _read_ply_header(src, data)
    values: dict[str, dict[str, Any]] = {}
    if fmt == "ascii":
        tokens = data[pos:].split()
        cursor = 0
        try:
            for el in elements:
                cols: dict[str, list] = {name: [] for name, _, _ in el.props}
                for _ in range(el.count):
                    for name, _vt, ct in el.props:
                        if ct is None:
                            cols[name].append(float(tokens[cursor]))
                            cursor += 1
                        else:
                            k = int(tokens[cursor])
                            cols[name].append(np.array(tokens[cursor + 1: cursor + 1 + k], dtype=np.float64))
                            cursor += 1 + k
                values[el.name] = cols
        except (IndexError, ValueError):
            raise InputError(f"{src}: truncated or malformed ASCII PLY data") from None
    else:
        order = "<" if fmt == "binary_little_endian" else ">"
        for el in elements:
            cols = {}
            if all(ct is None for _, _, ct in el.props):
                dt = np.dtype([(name, order + vt) for name, vt, _ in el.props])
                if pos + dt.itemsize * el.count > len(data):
                    raise InputError(f"{src}: truncated PLY data in element {el.name!r}")
                rec = np.frombuffer(data, dtype=dt, count=el.count, offset=pos)
                pos += dt.itemsize * el.count
                values[el.name] = {name: rec[name] for name, _, _ in el.props}
                continue
            pos = _read_binary_lists(src, data, pos, el, order, cols)
            values[el.name] = cols
    if "vertex" not in values or not all(k in values["vertex"] for k in "xyz"):
        raise InputError(f"{src}: PLY has no vertex element with x, y, z")
    vx = values["vertex"]
    verts = np.stack([np.asarray(vx[k], dtype=np.float32) for k in "xyz"], 1)
    normals = colors = None
    if all(k in vx for k in ("nx", "ny", "nz")):
        normals = np.stack([np.asarray(vx[k], dtype=np.float32) for k in ("nx", "ny", "nz")], 1)
    if all(k in vx for k in ("red", "green", "blue")):
        colors = np.stack([np.asarray(vx[k]).astype(np.uint8) for k in ("red", "green", "blue")], 1)
    faces = np.zeros((0, 3), dtype=np.int64)
    if "face" in values:
        fl = values["face"]
        key = "vertex_indices" if "vertex_indices" in fl else "vertex_index" if "vertex_index" in fl else None
        if key is None:
            raise InputError(f"{src}: PLY face element has no vertex_indices list")
        lists = fl[key]
        if isinstance(lists, np.ndarray) and lists.ndim == 2:
            faces = _fan(list(lists.astype(np.int64))) if lists.shape[1] != 3 else lists.astype(np.int64)
        else:
            faces = _fan([np.asarray(p, dtype=np.int64) for p in lists])
        if faces.size and (faces.min() < 0 or faces.max() >= len(verts)):
            raise InputError(f"{src}: face indices out of range for {len(verts)} vertices")
    return MeshFile(vertices=np.ascontiguousarray(verts), faces=np.ascontiguousarray(faces), normals=normals,
                    colors=colors)


def _read_binary_lists(
    src: str, data: bytes, pos: int, el: _PlyElement, order: str, cols: dict[str, Any]
) -> int:
    """Read a binary element that has list properties; returns the new byte position.

    Fast path: when the element is one list property and every list has the same length as the first one (all
    triangles), the records are read with one structured dtype; otherwise record by record.
    """
    if len(el.props) == 1 and el.count > 0:
        name, vt, ct = el.props[0]
        assert ct is not None
        cdt = np.dtype(order + ct)
        if pos + cdt.itemsize > len(data):
            raise InputError(f"{src}: truncated PLY data in element {el.name!r}")
        k = int(np.frombuffer(data, dtype=cdt, count=1, offset=pos)[0])
        dt = np.dtype([("n", cdt), ("i", order + vt, (k,))])
        if pos + dt.itemsize * el.count <= len(data):
            rec = np.frombuffer(data, dtype=dt, count=el.count, offset=pos)
            if (rec["n"] == k).all():
                cols[name] = rec["i"]
                return pos + dt.itemsize * el.count
    for name, _, _ in el.props:
        cols[name] = []
    try:
        for _ in range(el.count):
            for name, vt, ct in el.props:
                vdt = np.dtype(order + vt)
                if ct is None:
                    cols[name].append(np.frombuffer(data, dtype=vdt, count=1, offset=pos)[0])
                    pos += vdt.itemsize
                else:
                    cdt = np.dtype(order + ct)
                    k = int(np.frombuffer(data, dtype=cdt, count=1, offset=pos)[0])
                    pos += cdt.itemsize
                    cols[name].append(np.frombuffer(data, dtype=vdt, count=k, offset=pos))
                    pos += vdt.itemsize * k
    except ValueError:
        raise InputError(f"{src}: truncated PLY data in element {el.name!r}") from None
    return pos
