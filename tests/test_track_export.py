"""Animated GLB export (structure per the glTF 2.0 animation rules, values read back) on the synthetic model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from faceforge.errors import UsageError
from faceforge.geometry import axis_angle_to_matrix
from faceforge.io.glb import accessor_array, parse_glb, read_glb
from faceforge.io.gltf_animation import animation_glb_bytes, axis_angle_to_quaternions, save_animation_glb


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def test_quaternions_are_unit_continuous_and_right() -> None:
    rot = np.array([[0.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, -3.1, 0.0], [0.2, -0.1, 0.3]])
    q = axis_angle_to_quaternions(rot)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-12)
    assert q[0].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert all(q[i] @ q[i - 1] >= 0 for i in range(1, len(q)))  # the sign follows the previous one
    for r, qq in zip(rot, q, strict=True):
        np.testing.assert_allclose(_quat_to_matrix(qq), axis_angle_to_matrix(torch.tensor(r)).numpy(), atol=1e-12)


def test_animation_structure_and_values(synthetic_model, tmp_path: Path) -> None:
    m = synthetic_model
    n = 5
    rng = np.random.default_rng(0)
    times = np.arange(n) / 25.0
    expr = rng.uniform(0, 1, (n, m.num_expression))
    rot = rng.normal(0, 0.2, (n, 3))
    trans = np.c_[rng.normal(0, 1, (n, 2)), np.full(n, -60.0)]
    path = tmp_path / "anim.glb"
    save_animation_glb(path, m, torch.zeros(m.num_identity), times, expr, rot, trans, 700.0, (640, 480))
    glb = read_glb(path)
    doc = glb.document
    assert len(doc["animations"]) == 1
    anim = doc["animations"][0]
    paths = [c["target"]["path"] for c in anim["channels"]]
    assert paths == ["weights", "rotation", "translation"]
    assert all(c["target"]["node"] == 0 for c in anim["channels"])
    assert all(s["interpolation"] == "LINEAR" for s in anim["samplers"])
    inp = {s["input"] for s in anim["samplers"]}
    assert len(inp) == 1
    t_acc = doc["accessors"][inp.pop()]
    assert t_acc["type"] == "SCALAR" and t_acc["componentType"] == 5126 and t_acc["count"] == n
    assert t_acc["min"] == [0.0] and t_acc["max"] == [pytest.approx(0.16)]
    out = [accessor_array(glb, s["output"]) for s in anim["samplers"]]
    np.testing.assert_array_equal(out[0], expr.astype(np.float32).reshape(-1))  # T x Ne, frame-major
    np.testing.assert_allclose(out[1], axis_angle_to_quaternions(rot), atol=1e-6)
    scale = doc["nodes"][0]["scale"][0]
    assert scale == pytest.approx(0.01)  # synthetic model in cm
    np.testing.assert_allclose(out[2], trans * scale, rtol=1e-6)
    targets = doc["meshes"][0]["primitives"][0]["targets"]
    assert len(targets) == m.num_expression == len(doc["meshes"][0]["extras"]["targetNames"])
    # frame 0 is also the static pose and default weights
    np.testing.assert_allclose(doc["meshes"][0]["weights"], expr[0], atol=1e-6)
    np.testing.assert_allclose(doc["nodes"][0]["translation"], trans[0] * scale, rtol=1e-6)
    # the video camera: node 1 at the origin, vertical field of view from focal and height
    cam = doc["cameras"][0]["perspective"]
    assert cam["yfov"] == pytest.approx(2 * math.atan(240 / 700)) and cam["aspectRatio"] == pytest.approx(640 / 480)
    assert doc["nodes"][1] == {"name": "video camera", "camera": 0}
    assert doc["scenes"][0]["nodes"] == [0, 1]
    # every bufferView lies inside the buffer, 4-byte aligned
    size = doc["buffers"][0]["byteLength"]
    assert size == len(glb.binary)
    for v in doc["bufferViews"]:
        assert v["byteOffset"] % 4 == 0 and v["byteOffset"] + v["byteLength"] <= size


def test_weights_only_and_refusals(synthetic_model) -> None:
    m = synthetic_model
    glb = parse_glb(animation_glb_bytes(m, None, [0.0], np.zeros((1, m.num_expression))))
    anim = glb.document["animations"][0]
    assert [c["target"]["path"] for c in anim["channels"]] == ["weights"]
    assert "cameras" not in glb.document
    with pytest.raises(UsageError, match="strictly increasing"):
        animation_glb_bytes(m, None, [0.0, 0.0], np.zeros((2, m.num_expression)))
    with pytest.raises(UsageError, match="expression: expected shape"):
        animation_glb_bytes(m, None, [0.0, 1.0], np.zeros((2, m.num_expression + 1)))
    with pytest.raises(UsageError, match="NaN"):
        animation_glb_bytes(m, None, [0.0], np.zeros((1, m.num_expression)), rotation=np.full((1, 3), np.nan))
    with pytest.raises(UsageError, match="go together"):
        animation_glb_bytes(m, None, [0.0], np.zeros((1, m.num_expression)), camera_focal_px=500.0)
