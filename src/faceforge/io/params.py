"""Face parameters on disk: one face as JSON, a batch (a video's frames) as NPZ.

JSON schema, version 1 (written by ``faceforge reconstruct``, read by ``faceforge export``)::

    {
      "schema_version": 1,
      "model": "ict-facekit",                      # MorphableModel.name
      "identity": [Ni floats],                      # identity weights, ~N(0, 1)
      "expression": {"browDown_L": 0.0, ...},       # every expression name of the model, in model order
      "rotation_axis_angle": [3 floats],            # radians, model -> world about the model origin
      "translation": [3 floats],                    # world frame, model units (cm for ICT-FaceKit)
      "camera": {"fx", "fy", "cx", "cy": pixels, "width", "height": ints,        # optional
                 "rotation": 3x3 rows (world -> camera, default identity),
                 "translation": [3] (world -> camera, model units, default 0),
                 "orthographic": bool (default false)},
      "joint_rotations": [[3 floats], ...]          # optional, skinned models (FLAME): axis-angle per joint
    }

Keys outside the schema are ignored when reading (writers may add provenance). Expression weights are read by name,
so their order in the file does not matter, but every model expression must be present and no other.

Floats are written as the shortest decimal that reads back to the same float32 (``0.7`` rather than
``0.699999988079071``), so float32 parameters survive a JSON round trip bit for bit. Float64 parameters are written
with full double precision; reading always returns float32 tensors (see ``FaceParams``).

NPZ (``numpy.savez``, no pickled objects) holds a batch of B faces:
``schema_version`` () int, ``model`` () str, ``identity`` (B, Ni) float32, ``expression`` (B, Ne) float32,
``expression_names`` (Ne,) str, ``rotation`` (B, 3) float32 axis-angle rad, ``translation`` (B, 3) float32, and
optionally ``joint_rotations`` (B, J, 3) float32, ``timestamps_ms`` (B,) float64, and a camera as
``camera_focal`` (B, 2), ``camera_principal`` (B, 2), ``camera_rotation`` (B, 3, 3), ``camera_translation`` (B, 3)
float32, ``camera_size`` (2,) int64 (width, height), ``camera_orthographic`` () bool.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceforge.errors import InputError, UsageError
from faceforge.io.atomic import write_bytes_atomically
from faceforge.morphable.model import MorphableModel
from faceforge.structures import Camera, FaceParams

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ParamsRecord:
    """Parameters read from a file.

    Attributes:
        params: FaceParams with batch B (1 for JSON), float32 tensors.
        camera: the camera (batch 1 for JSON, B for NPZ) or None when the file holds none.
        model_name: the ``model`` field of the file (equal to the model it was read for).
        timestamps_ms: (B,) float64 frame times in milliseconds (NPZ only) or None.
    """

    params: FaceParams
    camera: Camera | None
    model_name: str
    timestamps_ms: torch.Tensor | None = None


# ---------------------------------------------------------------------------------------------------------- writing


def _floats(t: torch.Tensor) -> list:
    """Tensor -> nested lists of Python floats that read back to the same values (shortest float32 decimal)."""
    a = t.detach().cpu().numpy()
    if a.dtype == np.float32:
        # str(np.float32) is the shortest repr that round-trips the float32; float() of it is a nearby double.
        flat = [float(str(x)) for x in a.reshape(-1)]
    else:
        flat = [float(x) for x in a.astype(np.float64).reshape(-1)]
    return np.array(flat, dtype=object).reshape(a.shape).tolist() if a.ndim > 1 else flat


def _check_finite(name: str, t: torch.Tensor) -> None:
    if not bool(torch.isfinite(t).all()):
        raise UsageError(f"{name}: contains NaN or infinite values")


def _check_params_for_model(params: FaceParams, model: MorphableModel) -> None:
    if params.identity.shape[1] != model.num_identity:
        raise UsageError(f"identity: {model.name} has {model.num_identity} components, got {params.identity.shape[1]}")
    if params.expression.shape[1] != model.num_expression:
        raise UsageError(
            f"expression: {model.name} has {model.num_expression} components, got {params.expression.shape[1]}"
        )
    if params.joint_rotations is not None and params.joint_rotations.shape[1] != model.num_joints:
        raise UsageError(
            f"joint_rotations: {model.name} has {model.num_joints} joints, got {params.joint_rotations.shape[1]}"
        )
    for name in ("identity", "expression", "rotation", "translation", "joint_rotations"):
        t = getattr(params, name)
        if t is not None:
            _check_finite(name, t)


def _camera_row(camera: Camera, row: int) -> dict[str, Any]:
    return {
        "fx": _floats(camera.focal[row, 0:1])[0],
        "fy": _floats(camera.focal[row, 1:2])[0],
        "cx": _floats(camera.principal[row, 0:1])[0],
        "cy": _floats(camera.principal[row, 1:2])[0],
        "width": int(camera.width),
        "height": int(camera.height),
        "rotation": _floats(camera.rotation[row]),
        "translation": _floats(camera.translation[row]),
        "orthographic": bool(camera.orthographic),
    }


def params_to_dict(
    params: FaceParams, model: MorphableModel, camera: Camera | None = None, index: int = 0
) -> dict[str, Any]:
    """One batch row of ``params`` (and of ``camera``) as a schema-1 JSON-ready dict.

    Args:
        params: FaceParams with batch B; row ``index`` is written.
        model: the model the parameters belong to (its name and expression names are written).
        camera: None, or a Camera with batch 1 (used for every row) or batch B (row ``index`` used).
        index: the batch row, 0 <= index < B.
    Returns:
        dict with the keys of the module docstring (``camera`` and ``joint_rotations`` only when given).
    Raises:
        UsageError: sizes that do not match the model, NaN/inf values, index out of range.
    """
    _check_params_for_model(params, model)
    if not 0 <= index < params.batch_size:
        raise UsageError(f"index: {index} is outside the batch of {params.batch_size}")
    weights = _floats(params.expression[index])
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model": model.name,
        "identity": _floats(params.identity[index]),
        "expression": dict(zip(model.expression_names, weights, strict=True)),
        "rotation_axis_angle": _floats(params.rotation[index]),
        "translation": _floats(params.translation[index]),
    }
    if camera is not None:
        if camera.batch_size not in (1, params.batch_size):
            raise UsageError(f"camera: batch {camera.batch_size} for parameters with batch {params.batch_size}")
        for name in ("focal", "principal", "rotation", "translation"):
            _check_finite(f"camera.{name}", getattr(camera, name))
        out["camera"] = _camera_row(camera, 0 if camera.batch_size == 1 else index)
    if params.joint_rotations is not None:
        out["joint_rotations"] = _floats(params.joint_rotations[index])
    return out


def save_params_json(
    path: Path, params: FaceParams, model: MorphableModel, camera: Camera | None = None, index: int = 0
) -> None:
    """Write ``params_to_dict(params, model, camera, index)`` as JSON (atomically: temp file, then rename)."""
    write_bytes_atomically(Path(path), format_params_json(params_to_dict(params, model, camera, index)).encode())


def format_params_json(d: dict[str, Any]) -> str:
    """JSON text of a parameter dict: one top-level key per line, objects one entry per line, lists on one line."""

    def dump(v: Any) -> str:
        return json.dumps(v, allow_nan=False)

    lines = []
    for key, value in d.items():
        if isinstance(value, dict) and value:
            inner = ",\n".join(f"  {dump(k)}: {dump(v)}" for k, v in value.items())
            lines.append(f" {dump(key)}: {{\n{inner}\n }}")
        else:
            lines.append(f" {dump(key)}: {dump(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save_params_npz(
    path: Path,
    params: FaceParams,
    model: MorphableModel,
    camera: Camera | None = None,
    timestamps_ms: torch.Tensor | None = None,
) -> None:
    """Write a batch of parameters as NPZ (layout in the module docstring), atomically.

    Args:
        params: FaceParams with batch B.
        model: the model they belong to.
        camera: None, or a Camera with batch 1 (repeated to B rows) or B.
        timestamps_ms: None or (B,) frame times in milliseconds.
    """
    _check_params_for_model(params, model)
    b = params.batch_size

    def f32(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().to(torch.float32).numpy()

    arrays: dict[str, np.ndarray] = {
        "schema_version": np.array(SCHEMA_VERSION, dtype=np.int64),
        "model": np.array(model.name),
        "identity": f32(params.identity),
        "expression": f32(params.expression),
        "expression_names": np.array(model.expression_names),
        "rotation": f32(params.rotation),
        "translation": f32(params.translation),
    }
    if params.joint_rotations is not None:
        arrays["joint_rotations"] = f32(params.joint_rotations)
    if timestamps_ms is not None:
        ts = timestamps_ms.detach().cpu().to(torch.float64).numpy() if isinstance(timestamps_ms, torch.Tensor) else (
            np.asarray(timestamps_ms, dtype=np.float64))
        if ts.shape != (b,):
            raise UsageError(f"timestamps_ms: expected shape ({b},), got {ts.shape}")
        if not np.isfinite(ts).all():
            raise UsageError("timestamps_ms: contains NaN or infinite values")
        arrays["timestamps_ms"] = ts
    if camera is not None:
        if camera.batch_size not in (1, b):
            raise UsageError(f"camera: batch {camera.batch_size} for parameters with batch {b}")
        rep = b if camera.batch_size == 1 else 1
        for name in ("focal", "principal", "rotation", "translation"):
            t = getattr(camera, name)
            _check_finite(f"camera.{name}", t)
            arrays[f"camera_{name}"] = np.repeat(f32(t), rep, axis=0)
        arrays["camera_size"] = np.array([camera.width, camera.height], dtype=np.int64)
        arrays["camera_orthographic"] = np.array(bool(camera.orthographic))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomically(Path(path), buf.getvalue())


# ---------------------------------------------------------------------------------------------------------- reading


def _bad(source: str, msg: str) -> InputError:
    return InputError(f"{source}: {msg}")


def _number_list(source: str, key: str, value: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """A nested list of finite numbers of exactly ``shape`` -> float32 tensor (else InputError)."""
    if value is None or isinstance(value, str | dict) or _has_bool(value):
        raise _bad(source, f"{key} must be {'a number' if not shape else 'a list of numbers'}, got {value!r:.40}")
    try:
        a = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _bad(source, f"{key} must be {'a number' if not shape else 'a list of numbers'}") from None
    if a.shape != shape:
        want = "x".join(str(s) for s in shape)
        raise _bad(source, f"{key} must hold {want} numbers, got shape {'x'.join(map(str, a.shape)) or 'scalar'}")
    if not np.isfinite(a).all():
        raise _bad(source, f"{key} contains NaN or infinite values")
    return torch.from_numpy(a.astype(np.float32))


def _has_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, list):
        return any(_has_bool(v) for v in value)
    return False


def _check_schema_and_model(source: str, version: Any, model_name: Any, model: MorphableModel) -> None:
    if version is None:
        raise _bad(source, "no schema_version (not a faceforge parameter file?)")
    if isinstance(version, bool) or not isinstance(version, int | np.integer) or int(version) != SCHEMA_VERSION:
        raise _bad(source, f"schema_version {version!r} is not supported (this faceforge reads {SCHEMA_VERSION})")
    if model_name != model.name:
        raise _bad(source, f"parameters are for model {model_name!r}, not {model.name!r}")


def _expression_order(source: str, names: list[str], model: MorphableModel) -> list[int]:
    """For each model expression, its position in ``names`` (InputError on missing, unknown or repeated names)."""
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise _bad(source, f"repeated expression names: {', '.join(dup)}")
    unknown = [n for n in names if n not in model.expression_names]
    missing = [n for n in model.expression_names if n not in names]
    if unknown:
        raise _bad(source, f"unknown expression names for {model.name}: {', '.join(unknown)}")
    if missing:
        raise _bad(source, f"missing expression names for {model.name}: {', '.join(missing)}")
    return [names.index(n) for n in model.expression_names]


def params_from_dict(d: Any, model: MorphableModel, source: str = "parameters") -> ParamsRecord:
    """Validate a schema-1 dict and turn it into parameters for ``model``.

    Args:
        d: the decoded JSON object.
        model: the model the parameters must belong to (name, sizes and expression names are checked).
        source: what to call the input in error messages (a file name).
    Returns:
        ParamsRecord with batch 1.
    Raises:
        InputError: wrong schema_version, model mismatch, missing/unknown expression names, wrong lengths,
            non-numeric or non-finite values.
    """
    if not isinstance(d, dict):
        raise _bad(source, "expected a JSON object")
    _check_schema_and_model(source, d.get("schema_version"), d.get("model"), model)
    for key in ("identity", "expression", "rotation_axis_angle", "translation"):
        if key not in d:
            raise _bad(source, f"missing key {key!r}")
    identity = _number_list(source, "identity", d["identity"], (model.num_identity,))
    expr = d["expression"]
    if not isinstance(expr, dict):
        raise _bad(source, "expression must be an object {name: weight}")
    names = list(expr)
    order = _expression_order(source, names, model)
    expression = _number_list(source, "expression", [expr[names[i]] for i in order], (model.num_expression,))
    rotation = _number_list(source, "rotation_axis_angle", d["rotation_axis_angle"], (3,))
    translation = _number_list(source, "translation", d["translation"], (3,))
    joints = None
    if d.get("joint_rotations") is not None:
        if model.num_joints == 0:
            raise _bad(source, f"joint_rotations given but {model.name} has no joints")
        joints = _number_list(source, "joint_rotations", d["joint_rotations"], (model.num_joints, 3))[None]
    camera = None
    if d.get("camera") is not None:
        camera = _camera_from_dict(source, d["camera"])
    params = FaceParams(
        identity=identity[None], expression=expression[None], rotation=rotation[None], translation=translation[None],
        joint_rotations=joints,
    )
    return ParamsRecord(params=params, camera=camera, model_name=model.name)


def _camera_from_dict(source: str, c: Any) -> Camera:
    if not isinstance(c, dict):
        raise _bad(source, "camera must be an object")
    for key in ("fx", "fy", "cx", "cy", "width", "height"):
        if key not in c:
            raise _bad(source, f"camera: missing key {key!r}")
    fx, fy, cx, cy = (_number_list(source, f"camera.{k}", c[k], ()) for k in ("fx", "fy", "cx", "cy"))
    size = []
    for key in ("width", "height"):
        v = c[key]
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise _bad(source, f"camera.{key} must be a positive integer, got {v!r}")
        size.append(v)
    rot = _number_list(source, "camera.rotation", c.get("rotation", np.eye(3).tolist()), (3, 3))
    trans = _number_list(source, "camera.translation", c.get("translation", [0.0, 0.0, 0.0]), (3,))
    ortho = c.get("orthographic", False)
    if not isinstance(ortho, bool):
        raise _bad(source, f"camera.orthographic must be true or false, got {ortho!r}")
    return Camera(
        focal=torch.stack([fx, fy])[None], principal=torch.stack([cx, cy])[None], rotation=rot[None],
        translation=trans[None], width=size[0], height=size[1], orthographic=ortho,
    )


def load_params_json(path: Path, model: MorphableModel) -> ParamsRecord:
    """Read a schema-1 JSON parameter file for ``model`` (see ``params_from_dict``).

    Raises:
        InputError: unreadable file, invalid JSON, or content that does not fit the schema or the model.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    try:
        d = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except ValueError as exc:
        raise InputError(f"{path}: {exc}") from None
    return params_from_dict(d, model, source=str(path))


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not allowed")


def load_params_npz(path: Path, model: MorphableModel) -> ParamsRecord:
    """Read an NPZ parameter batch for ``model`` (layout in the module docstring).

    Expression columns are matched by name and returned in model order.

    Raises:
        InputError: unreadable file, missing arrays, wrong shapes, model or schema mismatch, unknown names.
    """
    path = Path(path)
    src = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"{path}: not a readable NPZ file ({exc})") from None
    for key in ("schema_version", "model", "identity", "expression", "expression_names", "rotation", "translation"):
        if key not in a:
            raise _bad(src, f"missing array {key!r}")
    version = a["schema_version"]
    version = version.item() if version.shape == () and version.dtype.kind in "iu" else repr(version.tolist())
    model_name = a["model"].item() if a["model"].shape == () and a["model"].dtype.kind == "U" else None
    _check_schema_and_model(src, version, model_name, model)

    def arr(key: str, shape: tuple[int | None, ...]) -> np.ndarray:
        x = a[key]
        if x.dtype.kind not in "fiu" or x.ndim != len(shape) or any(
            s is not None and s != n for s, n in zip(shape, x.shape, strict=True)
        ):
            want = "(" + ", ".join("B" if s is None else str(s) for s in shape) + ")"
            raise _bad(src, f"{key}: expected a numeric array of shape {want}, got {x.dtype} {x.shape}")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise _bad(src, f"{key} contains NaN or infinite values")
        return x

    identity = arr("identity", (None, model.num_identity))
    b = identity.shape[0]
    names_arr = a["expression_names"]
    if names_arr.dtype.kind != "U" or names_arr.ndim != 1:
        raise _bad(src, "expression_names must be a 1-D array of strings")
    names = [str(n) for n in names_arr]
    order = _expression_order(src, names, model)
    expression = arr("expression", (b, len(names)))[:, order]
    rotation = arr("rotation", (b, 3))
    translation = arr("translation", (b, 3))
    joints = None
    if "joint_rotations" in a:
        if model.num_joints == 0:
            raise _bad(src, f"joint_rotations given but {model.name} has no joints")
        joints = torch.from_numpy(arr("joint_rotations", (b, model.num_joints, 3)).astype(np.float32))
    ts = None
    if "timestamps_ms" in a:
        ts = torch.from_numpy(arr("timestamps_ms", (b,)).astype(np.float64))
    camera = None
    if "camera_focal" in a:
        for key in ("camera_principal", "camera_rotation", "camera_translation", "camera_size"):
            if key not in a:
                raise _bad(src, f"camera_focal given but {key!r} missing")
        size = arr("camera_size", (2,))
        if size.dtype.kind not in "iu" or (size <= 0).any():
            raise _bad(src, f"camera_size must be two positive integers, got {size.tolist()}")
        ortho = a.get("camera_orthographic", np.array(False))
        if ortho.dtype != np.bool_ or ortho.shape != ():
            raise _bad(src, "camera_orthographic must be a boolean scalar")

        def t32(key: str, shape: tuple[int | None, ...]) -> torch.Tensor:
            return torch.from_numpy(arr(key, shape).astype(np.float32))

        camera = Camera(
            focal=t32("camera_focal", (b, 2)), principal=t32("camera_principal", (b, 2)),
            rotation=t32("camera_rotation", (b, 3, 3)), translation=t32("camera_translation", (b, 3)),
            width=int(size[0]), height=int(size[1]), orthographic=bool(ortho),
        )
    params = FaceParams(
        identity=torch.from_numpy(identity.astype(np.float32)),
        expression=torch.from_numpy(np.ascontiguousarray(expression, dtype=np.float32)),
        rotation=torch.from_numpy(rotation.astype(np.float32)),
        translation=torch.from_numpy(translation.astype(np.float32)),
        joint_rotations=joints,
    )
    return ParamsRecord(params=params, camera=camera, model_name=model.name, timestamps_ms=ts)



def read_model_name(path: Path) -> str:
    """The ``model`` field of a JSON or NPZ parameter file (to choose which model to load before reading it).

    Raises:
        InputError: unreadable file or no string ``model`` field.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as z:
                name = z["model"].item() if "model" in z.files else None
        else:
            d = json.loads(path.read_text(encoding="utf-8"))
            name = d.get("model") if isinstance(d, dict) else None
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if not isinstance(name, str):
        raise InputError(f"{path}: no 'model' field (not a faceforge parameter file?)")
    return name
