"""Restricted unpickling of model files (FLAME pickles, landmark embeddings) without chumpy and without running code.

A pickle can call any importable function while it loads. ``unpickle_arrays`` resolves only an allow-list of
globals: NumPy array/dtype/scalar reconstruction, scipy.sparse csc/csr/coo matrices and chumpy's ``Ch`` array class
(both rebuilt by small stand-ins from their pickled state, never by importing chumpy or instantiating scipy classes
from the pickle; chumpy's ``Ch.__getstate__`` is its ``__dict__`` with the array under ``"x"``), ``set``/
``frozenset``/``object``/``OrderedDict``, the ``copyreg._reconstructor`` and ``_codecs.encode`` helpers that
protocol 0-2 pickles need, and torch tensors (storage read with ``torch.load(weights_only=True)``). Any other global
(``os.system``, ``builtins.eval``, any other class) is refused before it is called.
"""

from __future__ import annotations

import collections
import io
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceforge.errors import InputError

try:  # NumPy >= 2 moved the pickle helpers to numpy._core; pickles name either module.
    from numpy._core import multiarray as _np_multiarray
    from numpy._core import numeric as _np_numeric
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core import multiarray as _np_multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _np_numeric  # type: ignore[no-redef]


class _Refused(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module = module
        self.name = name


class _ChumpyArray:
    """Stand-in for ``chumpy.ch.Ch``: keeps the ndarray chumpy pickles under ``state["x"]``."""

    array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or "x" not in state:
            raise pickle.UnpicklingError("a chumpy object without array data ('x'); only plain chumpy arrays load")
        x = state["x"]
        self.array = x.array if isinstance(x, _ChumpyArray) else np.asarray(x)


class _SparseMatrix:
    """Stand-in for a pickled scipy.sparse csc/csr/coo matrix: keeps its state and densifies it."""

    fmt = ""
    state: dict | None = None

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):  # (None, slots) form
            state = state[1]
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"unexpected state for a sparse {self.fmt} matrix")
        self.state = state

    def to_dense(self) -> np.ndarray:
        import scipy.sparse as sp

        s = self.state or {}
        shape = s.get("_shape", s.get("shape"))
        if shape is None:
            raise ValueError(f"sparse {self.fmt} matrix without a shape")
        shape = tuple(int(n) for n in shape)
        if self.fmt == "coo":
            if "coords" in s:
                row, col = s["coords"]
            else:
                row, col = s["row"], s["col"]
            m = sp.coo_matrix((np.asarray(s["data"]), (np.asarray(row), np.asarray(col))), shape=shape)
        else:
            cls = sp.csc_matrix if self.fmt == "csc" else sp.csr_matrix
            m = cls((np.asarray(s["data"]), np.asarray(s["indices"]), np.asarray(s["indptr"])), shape=shape)
        return np.asarray(m.toarray())


class _CscMatrix(_SparseMatrix):
    fmt = "csc"


class _CsrMatrix(_SparseMatrix):
    fmt = "csr"


class _CooMatrix(_SparseMatrix):
    fmt = "coo"


_STAND_INS = (_ChumpyArray, _CscMatrix, _CsrMatrix, _CooMatrix)


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """``copyreg._reconstructor`` (protocol 0/1 pickles of objects), limited to the stand-ins."""
    if cls not in _STAND_INS or base is not object or state is not None:
        raise pickle.UnpicklingError("copyreg._reconstructor used for something other than a chumpy/scipy array")
    return cls.__new__(cls)


def _codecs_encode(text: Any, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode``: how Python 3 pickles bytes at protocol < 3 (always with latin1)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("unexpected _codecs.encode call")
    return text.encode("latin1")


def _torch_storage(data: Any) -> Any:
    """``torch.storage._load_from_bytes`` done safely: the bytes are a ``torch.save`` of one storage."""
    if not isinstance(data, bytes | bytearray):
        raise pickle.UnpicklingError("torch storage without bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation
        return torch.load(io.BytesIO(bytes(data)), weights_only=True)


def _torch_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *_rest: Any) -> np.ndarray:
    """``torch._utils._rebuild_tensor_v2`` returning a NumPy copy (DECA stores some embedding tables as tensors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, collections.OrderedDict())
    return t.detach().numpy().copy()


_SPARSE_NAMES = {"csc_matrix": _CscMatrix, "csc_array": _CscMatrix, "csr_matrix": _CsrMatrix,
                 "csr_array": _CsrMatrix, "coo_matrix": _CooMatrix, "coo_array": _CooMatrix}
_SPARSE_MODULES = {"scipy.sparse"} | {f"scipy.sparse.{p}{f}" for p in ("", "_") for f in ("csc", "csr", "coo")}
_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("chumpy.ch", "Ch"): _ChumpyArray,
    ("chumpy", "Ch"): _ChumpyArray,
    ("_codecs", "encode"): _codecs_encode,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch.storage", "_load_from_bytes"): _torch_storage,
    ("torch._utils", "_rebuild_tensor_v2"): _torch_tensor,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _GLOBALS[(_mod, "_reconstruct")] = _np_multiarray._reconstruct
    _GLOBALS[(_mod, "scalar")] = _np_multiarray.scalar
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _GLOBALS[(_mod, "_frombuffer")] = _np_numeric._frombuffer
for _mod in ("__builtin__", "builtins"):
    _GLOBALS[(_mod, "set")] = set
    _GLOBALS[(_mod, "frozenset")] = frozenset
    _GLOBALS[(_mod, "object")] = object


class _SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the allow-listed globals (see the module docstring); all else is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _GLOBALS:
            return _GLOBALS[(module, name)]
        if module in _SPARSE_MODULES and name in _SPARSE_NAMES:
            return _SPARSE_NAMES[name]
        raise _Refused(module, name)


def _plain(obj: Any) -> Any:
    """Replace stand-ins by NumPy arrays, recursively through dicts, lists, tuples and object arrays."""
    if isinstance(obj, _ChumpyArray):
        return obj.array
    if isinstance(obj, _SparseMatrix):
        return obj.to_dense()
    if isinstance(obj, dict):
        return {(k.decode("latin1") if isinstance(k, bytes) else k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        out = np.empty(obj.shape, dtype=object)
        for i, v in np.ndenumerate(obj):
            out[i] = _plain(v)
        return out
    return obj


def unpickle_arrays(data: bytes | io.BufferedIOBase, path: Path, what: str) -> Any:
    """Unpickle ``data`` with the allow-list; chumpy arrays and sparse matrices come back as NumPy arrays.

    Args:
        data: the pickle bytes, or an open binary stream positioned at the pickle.
        path: the file it came from (for messages). what: what the file should be ("FLAME model file").
    Returns:
        the unpickled object with stand-ins replaced by ndarrays (Python 2 strings decoded as latin1).
    Raises:
        InputError: a refused global (naming it) or a damaged/truncated pickle.
    """
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        return _plain(_SafeUnpickler(stream, encoding="latin1").load())
    except _Refused as exc:
        raise InputError(
            f"{path}: refusing to load: the pickle references {exc.module}.{exc.name}, which a {what} never "
            "contains (a pickle can run code; only numpy, scipy.sparse and chumpy arrays are allowed)"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            UnicodeDecodeError, RuntimeError, OverflowError, MemoryError) as exc:
        raise InputError(f"{path}: not a readable {what} ({type(exc).__name__}: {exc})") from None


def read_file_bytes(path: Path) -> bytes:
    """The bytes of ``path``; InputError if it is missing, not a file or unreadable."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
