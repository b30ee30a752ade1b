"""ARKit blendshape coefficients and the Live Link Face CSV layout (Epic Games' iOS capture app).

**Columns** (one header line, then one line per frame): ``Timecode``, ``BlendShapeCount`` (always 61: the 52
coefficients plus the 9 rotation values), the 52 ARKit coefficients in Live Link Face order (``ARKIT_NAMES``:
``EyeBlinkLeft, EyeLookDownLeft, ..., NoseSneerRight, TongueOut``; Unreal's ``EARFaceBlendShape`` order), then
``HeadYaw, HeadPitch, HeadRoll, LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, RightEyePitch, RightEyeRoll``.

**Timecode** ``HH:MM:SS:FF.fff``: hours, minutes, seconds, then the frame within the second at the take's frame rate
with a 3-digit sub-frame fraction (``00:00:01:07.500`` at 30 fps is 1 s + 7.5 frames = 1250 ms).

**Sides**: ARKit's ``Left`` is the subject's left (the face's own left, on the image's right in a non-mirrored
video). ICT-FaceKit's ``_L`` shapes act on the subject's left too (+x in the model frame, docs/conventions.md), so
``eyeBlink_L -> EyeBlinkLeft`` with no swap.

**ICT-FaceKit (53 shapes) -> ARKit (52)**: every ICT name is an ARKit name with ``_L``/``_R`` for ``Left``/``Right``
(``mouthSmile_L -> MouthSmileLeft``; ``jawLeft``, ``mouthLeft`` keep their meaning: motion towards the subject's
left), except:

* ``browInnerUp_L`` + ``browInnerUp_R`` -> ``BrowInnerUp`` = their mean (ARKit has one inner-brow raise for both sides),
* ``cheekPuff_L`` + ``cheekPuff_R`` -> ``CheekPuff`` = their mean,
* ``TongueOut``: ICT has no tongue shape; written as 0.

(53 = 52 - 3 + 4.) The rule in ``arkit_from_expression`` is by name for any model: an ARKit coefficient takes the
model shape of that name, else the mean of its ``_L``/``_R`` pair, else 0.

**Angles** are written in radians (as the values in Live Link Face exports read: fractions of one, not tens), with
faceforge's Euler convention (docs/conventions.md): ``R = Ry(yaw) Rx(pitch) Rz(roll)`` of the head relative to the
camera; positive yaw turns the face towards the subject's left, positive pitch turns it down, positive roll tilts it
counter-clockwise seen from the front. Eye yaw/pitch follow the same signs (positive yaw = gaze towards the subject's
left, positive pitch = gaze down); eye roll is 0. Eye angles come from the eyeLook weights through the model's eye
rig (``EyeRig``: 35 degrees at full in/out, 30 up, 35 down).
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceforge.errors import InputError, UsageError
from faceforge.geometry import axis_angle_to_matrix, matrix_to_euler
from faceforge.io.atomic import write_bytes_atomically
from faceforge.morphable.model import EyeRig

log = logging.getLogger(__name__)

ARKIT_NAMES: tuple[str, ...] = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawRight", "JawLeft", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthRight", "MouthLeft", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft", "MouthFrownRight",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight", "MouthRollLower", "MouthRollUpper",
    "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight", "MouthLowerDownLeft",
    "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft", "BrowDownRight", "BrowInnerUp",
    "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut",
)
"""The 52 ARKit coefficients in Live Link Face (CSV column) order, PascalCase as the app writes them."""

ROTATION_NAMES: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch",
    "RightEyeRoll",
)
LIVE_LINK_HEADER: tuple[str, ...] = ("Timecode", "BlendShapeCount", *ARKIT_NAMES, *ROTATION_NAMES)
BLEND_SHAPE_COUNT = len(ARKIT_NAMES) + len(ROTATION_NAMES)  # 61, as Live Link Face writes it

_TIMECODE = re.compile(r"^(\d+):(\d{2}):(\d{2}):(\d+)(?:\.(\d+))?$")


@dataclass(frozen=True)
class LiveLinkTake:
    """One take in the Live Link Face layout.

    Attributes:
        timestamps_ms: (T,) float64 frame times, milliseconds from the start.
        blendshapes: (T, 52) float64 ARKit coefficients in ``ARKIT_NAMES`` order, [0, 1].
        head_ypr_rad: (T, 3) float64 head yaw, pitch, roll in radians (module docstring).
        left_eye_ypr_rad: (T, 3) float64 the subject's left eye yaw, pitch, roll in radians.
        right_eye_ypr_rad: (T, 3) float64 the subject's right eye.
    """

    timestamps_ms: np.ndarray
    blendshapes: np.ndarray
    head_ypr_rad: np.ndarray
    left_eye_ypr_rad: np.ndarray
    right_eye_ypr_rad: np.ndarray

    def __post_init__(self) -> None:
        t = np.asarray(self.timestamps_ms, dtype=np.float64).reshape(-1)
        n = len(t)
        for name, shape in (("blendshapes", (n, len(ARKIT_NAMES))), ("head_ypr_rad", (n, 3)),
                            ("left_eye_ypr_rad", (n, 3)), ("right_eye_ypr_rad", (n, 3))):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if a.shape != shape:
                raise UsageError(f"LiveLinkTake.{name}: expected shape {shape}, got {a.shape}")
            if not np.isfinite(a).all():
                raise UsageError(f"LiveLinkTake.{name}: contains NaN or infinite values")
            object.__setattr__(self, name, a)
        if not np.isfinite(t).all() or (t < 0).any():
            raise UsageError("LiveLinkTake.timestamps_ms: expected finite, non-negative times")
        object.__setattr__(self, "timestamps_ms", t)

    @property
    def num_frames(self) -> int:
        return int(self.timestamps_ms.shape[0])


def model_name_to_arkit(name: str) -> str:
    """A model (ICT/ARKit camelCase) shape name -> Live Link Face column name: ``eyeBlink_L -> EyeBlinkLeft``."""
    base = name
    if name.endswith("_L"):
        base = name[:-2] + "Left"
    elif name.endswith("_R"):
        base = name[:-2] + "Right"
    return base[:1].upper() + base[1:]


def arkit_mapping(expression_names: tuple[str, ...] | list[str]) -> list[tuple[int, ...]]:
    """For each of the 52 ARKit coefficients, the model expression indices averaged into it (empty = always 0).

    Raises:
        UsageError: no ARKit coefficient matches any model shape (e.g. FLAME's PCA expressions).
    """
    by_arkit: dict[str, int] = {model_name_to_arkit(n).lower(): i for i, n in enumerate(expression_names)}
    out: list[tuple[int, ...]] = []
    for name in ARKIT_NAMES:
        key = name.lower()
        if key in by_arkit:
            out.append((by_arkit[key],))
        elif key + "left" in by_arkit and key + "right" in by_arkit:
            out.append((by_arkit[key + "left"], by_arkit[key + "right"]))
        else:
            out.append(())
    if not any(out):
        raise UsageError("the model's expressions have no ARKit names (ARKit export needs an ARKit-named model)")
    return out


def arkit_from_expression(expression: np.ndarray, expression_names: tuple[str, ...] | list[str]) -> np.ndarray:
    """Model expression weights -> the 52 ARKit coefficients (mapping in the module docstring).

    Args:
        expression: (T, Ne) weights in model order.
        expression_names: the Ne model names.
    Returns:
        (T, 52) float64 in ``ARKIT_NAMES`` order.
    """
    e = np.asarray(expression, dtype=np.float64)
    if e.ndim != 2 or e.shape[1] != len(expression_names):
        raise UsageError(f"expression: expected (T, {len(expression_names)}), got {e.shape}")
    out = np.zeros((e.shape[0], len(ARKIT_NAMES)))
    for k, idx in enumerate(arkit_mapping(expression_names)):
        if idx:
            out[:, k] = e[:, list(idx)].mean(1)
    return out


def eye_angles_from_expression(
    expression: np.ndarray, rig: EyeRig | None
) -> tuple[np.ndarray, np.ndarray]:
    """Eye yaw/pitch/roll (radians, module docstring signs) from the eyeLook weights through the eye rig.

    Args:
        expression: (T, Ne) model expression weights.
        rig: the model's eye rig (None: all angles 0).
    Returns:
        left (T, 3) and right (T, 3) float64 yaw, pitch, roll of the subject's left / right eye.
    """
    e = np.asarray(expression, dtype=np.float64)
    left = np.zeros((e.shape[0], 3))
    right = np.zeros((e.shape[0], 3))
    if rig is None:
        return left, right
    for out, shapes, side in ((left, rig.left_shapes, 1.0), (right, rig.right_shapes, -1.0)):
        w = e[:, np.asarray(shapes)]  # in, out, up, down
        out[:, 0] = side * rig.max_yaw_rad * (w[:, 1] - w[:, 0])
        out[:, 1] = rig.max_down_rad * w[:, 3] - rig.max_up_rad * w[:, 2]
    return left, right


def take_from_params(
    timestamps_ms: np.ndarray,
    expression: np.ndarray,
    rotation: np.ndarray,
    expression_names: tuple[str, ...] | list[str],
    rig: EyeRig | None,
) -> LiveLinkTake:
    """A take from per-frame model parameters.

    Args:
        timestamps_ms: (T,) frame times, milliseconds.
        expression: (T, Ne) expression weights (model order).
        rotation: (T, 3) head axis-angle (radians), model -> world (the camera's OpenGL-style frame).
        expression_names: the model's Ne names.
        rig: the model's eye rig (eye angles), or None.
    """
    rot = torch.as_tensor(np.asarray(rotation, dtype=np.float64))
    if rot.ndim != 2 or rot.shape[1] != 3:
        raise UsageError(f"rotation: expected (T, 3), got {tuple(rot.shape)}")
    head = matrix_to_euler(axis_angle_to_matrix(rot)).numpy()
    left, right = eye_angles_from_expression(expression, rig)
    weights = arkit_from_expression(expression, expression_names)
    return LiveLinkTake(np.asarray(timestamps_ms, dtype=np.float64), weights, head, left, right)


def format_timecode(timestamp_ms: float, fps: float) -> str:
    """``HH:MM:SS:FF.fff`` of a time in milliseconds at ``fps`` (module docstring)."""
    t_s = max(float(timestamp_ms), 0.0) / 1000.0
    seconds = int(math.floor(t_s + 1e-9))
    frames = round((t_s - seconds) * fps, 3)  # frame position within the second, to the written precision
    if frames < 0:
        frames = 0.0
    if frames >= fps - 5e-4:  # rounding reached the next second
        seconds, frames = seconds + 1, 0.0
    whole = int(math.floor(frames))
    sub = int(round((frames - whole) * 1000))
    if sub >= 1000:
        whole, sub = whole + 1, 0
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{whole:02d}.{sub:03d}"


def parse_timecode(text: str, fps: float) -> float:
    """Milliseconds of a Live Link Face timecode ``HH:MM:SS:FF[.fff]`` at ``fps``."""
    m = _TIMECODE.match(text.strip())
    if not m:
        raise ValueError(f"bad timecode {text!r}")
    h, mi, s, f = (int(m.group(i)) for i in range(1, 5))
    frac = float("0." + m.group(5)) if m.group(5) else 0.0
    return ((h * 60 + mi) * 60 + s) * 1000.0 + (f + frac) * 1000.0 / fps


def live_link_csv_text(take: LiveLinkTake, fps: float) -> str:
    """The CSV text of a take (header + one line per frame; ``\\r\\n``-free, ``\\n`` line ends)."""
    if not fps > 0:
        raise UsageError(f"fps must be > 0, got {fps}")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LIVE_LINK_HEADER)
    rows = np.concatenate([take.blendshapes, take.head_ypr_rad, take.left_eye_ypr_rad, take.right_eye_ypr_rad], 1)
    for t, row in zip(take.timestamps_ms, rows, strict=True):
        writer.writerow([format_timecode(float(t), fps), BLEND_SHAPE_COUNT, *(f"{v:.6f}" for v in row)])
    return buf.getvalue()


def save_live_link_csv(path: Path, take: LiveLinkTake, fps: float) -> None:
    """Write a take as a Live Link Face CSV, atomically (its folder must exist)."""
    write_bytes_atomically(Path(path), live_link_csv_text(take, fps).encode("utf-8"))
    log.info("saved %s (%d frames)", path, take.num_frames)


def load_live_link_csv(path: Path, fps: float = 60.0) -> LiveLinkTake:
    """Read a Live Link Face CSV (ours or the app's; columns found by name, case-insensitive).

    Args:
        fps: the take's frame rate, to turn the timecode's frame field into time (Live Link Face records at 60 by
            default). Times are relative to the first row.
    Raises:
        InputError: unreadable file, missing columns, bad numbers or timecodes.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InputError(f"{path}: empty CSV")
    header = [h.strip().lower() for h in rows[0]]
    missing = [n for n in ("Timecode", *ARKIT_NAMES) if n.lower() not in header]
    if missing:
        raise InputError(f"{path}: not a Live Link Face CSV (missing columns: {', '.join(missing[:5])})")
    col = {name: header.index(name.lower()) for name in LIVE_LINK_HEADER if name.lower() in header}
    times, values = [], []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            times.append(parse_timecode(row[col["Timecode"]], fps))
            values.append([float(row[col[n]]) if n in col else 0.0 for n in (*ARKIT_NAMES, *ROTATION_NAMES)])
        except (ValueError, IndexError) as exc:
            raise InputError(f"{path}: line {line_no}: {exc}") from None
    t = np.array(times, dtype=np.float64)
    if len(t):
        t -= t[0]
    v = np.array(values, dtype=np.float64).reshape(len(times), len(ARKIT_NAMES) + len(ROTATION_NAMES))
    n = len(ARKIT_NAMES)
    try:
        return LiveLinkTake(t, v[:, :n], v[:, n:n + 3], v[:, n + 3:n + 6], v[:, n + 6:n + 9])
    except UsageError as exc:
        raise InputError(f"{path}: {exc}") from None
