"""A tiny synthetic model in FLAME's file format, written by the tests themselves (no FLAME data involved).

``make_flame_arrays`` builds the dict a FLAME ``.pkl`` holds (same keys, dtypes and layouts, only fewer vertices:
a 42-vertex ellipsoid "head" in metres, +z = face front, 5 joints global/neck/jaw/eye_left/eye_right, shapedirs
with 300 identity + 100 expression columns, localized pose correctives). ``write_flame_pickle`` pickles it the
way the MPI files were made: chumpy ``Ch`` objects for the dense arrays and a scipy csc ``J_regressor``. chumpy is
mimicked by a class registered as ``chumpy.ch.Ch`` in ``sys.modules`` only while pickling; the ``"py2"`` style also
writes bytes/str as Python 2 ``str`` opcodes and uses the Python 2 era module names (``numpy.core.multiarray``,
``scipy.sparse.csc``, ``__builtin__``), like a file pickled by Python 2.
"""

from __future__ import annotations

import pickle
import struct
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

UINT32_SENTINEL = 4294967295
JAW, EYE_LEFT, EYE_RIGHT, NECK, GLOBAL = 2, 3, 4, 1, 0


def _sphere(rings: int = 6, segments: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Unit UV sphere: (V, 3) vertices (+y up, +z front), (F, 3) faces counter-clockwise seen from outside."""
    verts = [(0.0, 1.0, 0.0)]
    for i in range(1, rings):
        th = np.pi * i / rings
        for j in range(segments):
            ph = 2 * np.pi * j / segments
            verts.append((np.sin(th) * np.sin(ph), np.cos(th), np.sin(th) * np.cos(ph)))
    verts.append((0.0, -1.0, 0.0))
    v = np.array(verts)

    def idx(i: int, j: int) -> int:
        return 1 + (i - 1) * segments + j % segments

    faces = [(0, idx(1, j), idx(1, j + 1)) for j in range(segments)]
    for i in range(1, rings - 1):
        for j in range(segments):
            a, b, c, d = idx(i, j), idx(i + 1, j), idx(i + 1, j + 1), idx(i, j + 1)
            faces += [(a, b, c), (a, c, d)]
    last = len(v) - 1
    faces += [(last, idx(rings - 1, j + 1), idx(rings - 1, j)) for j in range(segments)]
    f = np.array(faces)
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    flip = (n * v[f].mean(1)).sum(1) < 0
    f[flip] = f[flip][:, ::-1]
    return v, f


def make_flame_arrays(seed: int = 0, num_shape: int = 400) -> dict[str, Any]:
    """The dict of a FLAME pickle for a 42-vertex head (metres).

    Skinning: bottom back cap -> neck; lower front -> jaw (a band blended 50/50 with the neck); two upper-front patches
    -> the eyes (+x = the subject's left); the rest -> global (lower back blended with the neck). Pose correctives
    of joint j are non-zero only on vertices that joint j skins (as in FLAME, where they stay near the joint).
    """
    rng = np.random.default_rng(seed)
    unit, faces = _sphere()
    v = unit.shape[0]
    template = unit * np.array([0.08, 0.1, 0.09]) + np.array([0.0, 0.02, 0.01])
    x, y, z = unit.T
    w = np.zeros((v, 5))
    for i in range(v):
        if y[i] < -0.95 or (y[i] < -0.8 and z[i] <= 0.3):
            w[i, NECK] = 1.0
        elif y[i] < -0.2 and z[i] > 0.3:
            w[i, JAW] = 1.0 if y[i] < -0.6 else 0.5
            w[i, NECK] = 1.0 - w[i, JAW]
        elif y[i] > 0.2 and z[i] > 0.5 and abs(x[i]) > 0.2:
            w[i, EYE_LEFT if x[i] > 0 else EYE_RIGHT] = 1.0
        elif y[i] < 0:
            w[i, GLOBAL], w[i, NECK] = 0.75, 0.25
        else:
            w[i, GLOBAL] = 1.0
    assert all((w[:, j] == 1.0).any() for j in range(5)) and ((w[:, JAW] > 0) & (w[:, JAW] < 1)).any()
    # Joint regressor: each joint is the mean of the vertices it fully owns (rows sum to 1), stored sparse.
    reg = np.zeros((5, v))
    for j in range(5):
        owned = w[:, j] == 1.0
        reg[j, owned] = 1.0 / owned.sum()
    shapedirs = rng.normal(scale=2e-3, size=(v, 3, num_shape))
    posedirs = rng.normal(scale=2e-2, size=(v, 3, 36))
    for j in range(1, 5):
        posedirs[w[:, j] == 0, :, 9 * (j - 1): 9 * j] = 0.0
    return {
        "v_template": template,
        "f": faces.astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": posedirs,
        "J_regressor": sp.csc_matrix(reg),
        "kintree_table": np.array([[UINT32_SENTINEL, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.uint32),
        "weights": w,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


class FakeCh:
    """Pickles like chumpy's ``Ch``: class ``chumpy.ch.Ch``, state = its ``__dict__`` with the array under 'x'."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __getstate__(self) -> dict:
        return {"x": self.x, "_dirty_vars": set(), "_itr": None, "_depends_on_deps": {},
                "_make_dense": False, "_make_sparse": False}


FakeCh.__module__ = "chumpy.ch"
FakeCh.__qualname__ = FakeCh.__name__ = "Ch"

_PY2_NAMES = {
    "numpy._core.multiarray": "numpy.core.multiarray",
    "scipy.sparse._csc": "scipy.sparse.csc",
    "scipy.sparse._csr": "scipy.sparse.csr",
    "scipy.sparse._coo": "scipy.sparse.coo",
    "builtins": "__builtin__",
    "copyreg": "copy_reg",
}


class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pure-Python pickler writing bytes and str as Python 2 ``str`` and Python 2 module names (protocol <= 2)."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def _save_py2_str(self, obj: bytes | str) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str
    dispatch[str] = _save_py2_str

    def save_global(self, obj: Any, name: str | None = None) -> None:
        module = obj.__module__
        qual = name or obj.__qualname__
        module = _PY2_NAMES.get(module, module)
        self.write(pickle.GLOBAL + f"{module}\n{qual}\n".encode("ascii"))
        self.memoize(obj)


def _fake_chumpy_modules() -> dict[str, types.ModuleType]:
    pkg = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")
    ch.Ch = FakeCh  # type: ignore[attr-defined]
    pkg.ch = ch  # type: ignore[attr-defined]
    return {"chumpy": pkg, "chumpy.ch": ch}


def dump_with_fake_chumpy(obj: Any, path: Path, style: str = "py2") -> None:
    """Pickle ``obj`` with ``chumpy.ch`` importable only during the dump.

    style: "py2" (protocol 2, Python 2 strings and module names), "py3" (protocol 2, Python 3's own pickler),
    "proto0" (text protocol 0: objects go through ``copy_reg._reconstructor``).
    """
    fake = _fake_chumpy_modules()
    saved = {name: sys.modules[name] for name in fake if name in sys.modules}
    assert all(m is None for m in saved.values()), "the real chumpy is imported; the fixture cannot fake it"
    sys.modules.update(fake)
    try:
        with open(path, "wb") as f:
            if style == "py2":
                _Py2Pickler(f, protocol=2).dump(obj)
            elif style == "py3":
                pickle.dump(obj, f, protocol=2)
            elif style == "proto0":
                pickle.dump(obj, f, protocol=0)
            else:
                raise ValueError(style)
    finally:
        for name in fake:
            del sys.modules[name]
        sys.modules.update(saved)  # a test's "import chumpy fails" block (None entries) stays in place


def write_flame_pickle(path: Path, arrays: dict[str, Any] | None = None, style: str = "py2") -> dict[str, Any]:
    """Write a FLAME-format pickle (dense arrays as chumpy objects, like the MPI files); returns the arrays."""
    arrays = make_flame_arrays() if arrays is None else arrays
    content = {k: FakeCh(a) if k in ("v_template", "shapedirs", "posedirs") else a for k, a in arrays.items()}
    dump_with_fake_chumpy(content, path, style)
    return arrays


def make_embedding(arrays: dict[str, Any], seed: int = 1) -> dict[str, np.ndarray]:
    """DECA-layout landmark embedding for the fixture mesh: 68 full + 51 static + (79, 17) dynamic contour."""
    rng = np.random.default_rng(seed)
    nf = arrays["f"].shape[0]
    faces = rng.integers(0, nf, size=68)
    bary = rng.dirichlet(np.ones(3), size=68)
    dyn_faces = rng.integers(0, nf, size=(79, 17))
    dyn_bary = rng.dirichlet(np.ones(3), size=(79, 17))
    dyn_faces[0], dyn_bary[0] = faces[:17], bary[:17]  # row 0 = the frontal contour
    return {
        "full_lmk_faces_idx": faces[None],
        "full_lmk_bary_coords": bary[None],
        "static_lmk_faces_idx": faces[17:],
        "static_lmk_bary_coords": bary[17:],
        "dynamic_lmk_faces_idx": dyn_faces,
        "dynamic_lmk_bary_coords": dyn_bary,
    }
