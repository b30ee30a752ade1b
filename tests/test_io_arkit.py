"""ARKit / Live Link Face CSV: names and order, the ICT -> ARKit mapping, timecodes, angles, round trips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from faceforge.errors import InputError, UsageError
from faceforge.geometry import euler_to_matrix, matrix_to_axis_angle
from faceforge.io.arkit import (
    ARKIT_NAMES,
    BLEND_SHAPE_COUNT,
    LIVE_LINK_HEADER,
    LiveLinkTake,
    arkit_from_expression,
    arkit_mapping,
    eye_angles_from_expression,
    format_timecode,
    live_link_csv_text,
    load_live_link_csv,
    model_name_to_arkit,
    parse_timecode,
    save_live_link_csv,
    take_from_params,
)
from faceforge.morphable.model import EyeRig

# ICT-FaceKit's 53 expression names in upstream order (docs/conventions.md).
ICT_NAMES = (
    "browDown_L", "browDown_R", "browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R", "cheekPuff_L",
    "cheekPuff_R", "cheekSquint_L", "cheekSquint_R", "eyeBlink_L", "eyeBlink_R", "eyeLookDown_L", "eyeLookDown_R",
    "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L", "eyeLookOut_R", "eyeLookUp_L", "eyeLookUp_R", "eyeSquint_L",
    "eyeSquint_R", "eyeWide_L", "eyeWide_R", "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose",
    "mouthDimple_L", "mouthDimple_R", "mouthFrown_L", "mouthFrown_R", "mouthFunnel", "mouthLeft", "mouthLowerDown_L",
    "mouthLowerDown_R", "mouthPress_L", "mouthPress_R", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmile_L", "mouthSmile_R", "mouthStretch_L",
    "mouthStretch_R", "mouthUpperUp_L", "mouthUpperUp_R", "noseSneer_L", "noseSneer_R",
)


def test_names_and_header_layout() -> None:
    assert len(ARKIT_NAMES) == 52 == len(set(ARKIT_NAMES))
    assert ARKIT_NAMES[:3] == ("EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft")
    assert ARKIT_NAMES[-1] == "TongueOut" and ARKIT_NAMES[14:18] == ("JawForward", "JawRight", "JawLeft", "JawOpen")
    assert LIVE_LINK_HEADER[:2] == ("Timecode", "BlendShapeCount") and len(LIVE_LINK_HEADER) == 63
    assert LIVE_LINK_HEADER[-9:] == ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                                     "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
    assert BLEND_SHAPE_COUNT == 61


def test_ict_mapping_covers_every_shape_once() -> None:
    assert model_name_to_arkit("eyeBlink_L") == "EyeBlinkLeft" and model_name_to_arkit("jawOpen") == "JawOpen"
    mapping = dict(zip(ARKIT_NAMES, arkit_mapping(ICT_NAMES), strict=True))
    assert mapping["EyeBlinkLeft"] == (ICT_NAMES.index("eyeBlink_L"),)  # ARKit Left = subject's left = ICT _L
    assert mapping["BrowInnerUp"] == (ICT_NAMES.index("browInnerUp_L"), ICT_NAMES.index("browInnerUp_R"))
    assert mapping["CheekPuff"] == (ICT_NAMES.index("cheekPuff_L"), ICT_NAMES.index("cheekPuff_R"))
    assert mapping["TongueOut"] == ()
    used = sorted(i for idx in mapping.values() for i in idx)
    assert used == list(range(53))  # every ICT shape feeds exactly one ARKit coefficient


def test_arkit_from_expression_values() -> None:
    e = np.zeros((2, 53))
    e[0, ICT_NAMES.index("browInnerUp_L")] = 0.8
    e[0, ICT_NAMES.index("browInnerUp_R")] = 0.4
    e[1, ICT_NAMES.index("mouthSmile_R")] = 0.3
    a = arkit_from_expression(e, ICT_NAMES)
    assert a.shape == (2, 52)
    assert a[0, ARKIT_NAMES.index("BrowInnerUp")] == pytest.approx(0.6)
    assert a[1, ARKIT_NAMES.index("MouthSmileRight")] == pytest.approx(0.3)
    assert np.count_nonzero(a) == 2
    with pytest.raises(UsageError, match="no ARKit names"):
        arkit_from_expression(np.zeros((1, 3)), ("pca0", "pca1", "pca2"))
    with pytest.raises(UsageError, match="expected \\(T, 53\\)"):
        arkit_from_expression(np.zeros((1, 52)), ICT_NAMES)


def test_timecodes() -> None:
    assert format_timecode(0.0, 30) == "00:00:00:00.000"
    assert format_timecode(1250.0, 30) == "00:00:01:07.500"
    assert format_timecode(1000.0 / 30 * 31, 30) == "00:00:01:01.000"
    assert format_timecode(3_723_000.0 + 500.0, 60) == "01:02:03:30.000"
    assert format_timecode(999.99999, 30) == "00:00:01:00.000"
    for ms in (0.0, 33.333333333333336, 1250.0, 59_999.0, 3_723_040.5):
        assert parse_timecode(format_timecode(ms, 30), 30) == pytest.approx(ms, abs=1e-3 * 1000 / 30)
    assert parse_timecode("14:03:52:28.207", 60) == pytest.approx(((14 * 60 + 3) * 60 + 52) * 1000 + 28.207 / 60 * 1000)
    with pytest.raises(ValueError, match="bad timecode"):
        parse_timecode("12:00", 30)


def test_eye_angles_follow_the_rig() -> None:
    rig = EyeRig(torch.zeros(1, dtype=torch.int64), torch.zeros(1, dtype=torch.int64),
                 torch.tensor([0, 1, 2, 3]), torch.tensor([4, 5, 6, 7]))
    e = np.zeros((3, 8))
    e[0, 1] = 1.0  # left eye looks out: towards the subject's left, +yaw
    e[1, 4] = 0.5  # right eye looks in (towards the nose = subject's left): +yaw
    e[2, 7] = 1.0  # right eye looks down: +pitch
    left, right = eye_angles_from_expression(e, rig)
    assert left[0, 0] == pytest.approx(rig.max_yaw_rad) and right[1, 0] == pytest.approx(0.5 * rig.max_yaw_rad)
    assert right[2, 1] == pytest.approx(rig.max_down_rad) and left[2].tolist() == [0.0, 0.0, 0.0]
    assert np.all(left[:, 2] == 0) and np.all(right[:, 2] == 0)
    none_l, none_r = eye_angles_from_expression(e, None)
    assert not none_l.any() and not none_r.any()


def test_take_from_params_head_angles() -> None:
    ypr = torch.tensor([[0.3, -0.2, 0.1], [0.0, 0.0, 0.0]], dtype=torch.float64)
    rot = matrix_to_axis_angle(euler_to_matrix(ypr)).numpy()
    take = take_from_params(np.array([0.0, 40.0]), np.zeros((2, 53)), rot, ICT_NAMES, None)
    np.testing.assert_allclose(take.head_ypr_rad, ypr.numpy(), atol=1e-9)
    assert take.blendshapes.shape == (2, 52) and take.num_frames == 2


def test_csv_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(7) * 1000.0 / 30
    take = LiveLinkTake(t, rng.uniform(0, 1, (7, 52)), rng.normal(0, 0.2, (7, 3)), rng.normal(0, 0.2, (7, 3)),
                        rng.normal(0, 0.2, (7, 3)))
    path = tmp_path / "take.csv"
    save_live_link_csv(path, take, 30)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(LIVE_LINK_HEADER)
    assert lines[1].startswith("00:00:00:00.000,61,") and lines[2].startswith("00:00:00:01.000,61,")
    assert len(lines) == 8 and all(len(ln.split(",")) == 63 for ln in lines)
    back = load_live_link_csv(path, fps=30)
    np.testing.assert_allclose(back.timestamps_ms, t, atol=1e-6)
    for name in ("blendshapes", "head_ypr_rad", "left_eye_ypr_rad", "right_eye_ypr_rad"):
        np.testing.assert_allclose(getattr(back, name), getattr(take, name), atol=5e-7)
    assert live_link_csv_text(take, 30) == path.read_text()


def test_csv_refusals(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_live_link_csv(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(InputError, match="missing columns"):
        load_live_link_csv(bad)
    garbled = tmp_path / "garbled.csv"
    garbled.write_text(",".join(LIVE_LINK_HEADER) + "\n" + "xx," + ",".join(["0"] * 62) + "\n")
    with pytest.raises(InputError, match="line 2"):
        load_live_link_csv(garbled)
    with pytest.raises(UsageError, match="blendshapes"):
        LiveLinkTake(np.zeros(2), np.zeros((2, 51)), np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(UsageError, match="NaN"):
        LiveLinkTake(np.zeros(1), np.full((1, 52), math.nan), np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3)))
