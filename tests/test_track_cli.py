"""``faceforge track``: the four outputs on the first frames of a development video, and refusals (exit 3/4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import DEV_DATA

from faceforge.cli import main
from faceforge.io.glb import accessor_array, read_glb
from faceforge.io.gltf_animation import axis_angle_to_quaternions
from faceforge.io.params import load_params_npz
from faceforge.io.video import VideoWriter, probe_video, read_video_frames

VIDEO = DEV_DATA / "video" / "liveportrait_d3.mp4"

pytestmark = pytest.mark.ict


@pytest.mark.slow
@pytest.mark.skipif(not VIDEO.is_file(), reason="development videos not available")
def test_track_writes_four_outputs(ict_model, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["track", str(VIDEO), "-o", str(out), "--max-frames", "24"]) == 0
    assert "24 frames (24 with a face" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["animation.glb", "blendshapes.csv", "overlay.mp4", "params.npz"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left

    rec = load_params_npz(out / "params.npz", ict_model)
    assert rec.params.batch_size == 24 and rec.camera is not None and rec.camera.width == 512
    np.testing.assert_allclose(rec.timestamps_ms.numpy(), np.arange(24) * 1000.0 / 30)
    with np.load(out / "params.npz") as z:
        assert z["valid"].all() and z["landmarks_68_px"].shape == (24, 68, 2) and z["fps"] == 30.0
        np.testing.assert_array_equal(z["identity"], np.repeat(z["shared_identity"][None], 24, 0))
        # the face is in the image: fitted landmarks inside the frame, eyes above the mouth
        lm = z["landmarks_68_px"]
        assert (lm > 0).all() and (lm < 512).all() and (lm[:, 36:48, 1].mean(1) < lm[:, 48:68, 1].mean(1)).all()

    lines = (out / "blendshapes.csv").read_text().splitlines()
    assert lines[0].startswith("Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,")
    assert len(lines) == 25 and lines[1].startswith("00:00:00:00.000,61,") and lines[2].startswith("00:00:00:01.000,")

    glb = read_glb(out / "animation.glb")
    anim = glb.document["animations"][0]
    assert [c["target"]["path"] for c in anim["channels"]] == ["weights", "rotation", "translation"]
    weights = accessor_array(glb, anim["samplers"][0]["output"]).reshape(24, ict_model.num_expression)
    np.testing.assert_array_equal(weights, rec.params.expression.numpy())
    quats = accessor_array(glb, anim["samplers"][1]["output"])
    np.testing.assert_allclose(quats, axis_angle_to_quaternions(rec.params.rotation.numpy()), atol=1e-6)
    times = accessor_array(glb, anim["samplers"][0]["input"])
    np.testing.assert_allclose(times, np.arange(24) / 30.0, atol=1e-6)

    info = probe_video(out / "overlay.mp4")
    assert (info.width, info.height, info.fps, info.has_audio) == (512, 512, 30.0, True)
    assert info.duration_s == pytest.approx(0.8, abs=0.02)  # the audio is cut to the video's length
    assert sum(1 for _ in read_video_frames(out / "overlay.mp4")) == 24


def test_bad_inputs_exit_3_without_outputs(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "text.mp4"
    text.write_text("hello\n")
    for path, msg in ((empty, "empty file"), (text, "cannot read video"), (tmp_path / "none.mp4", "no such file")):
        out = tmp_path / f"out_{path.stem}"
        assert main(["track", str(path), "-o", str(out)]) == 3
        err = capsys.readouterr().err
        assert msg in err and "Traceback" not in err and err.count("\n") == 1
        assert not out.exists()
    assert main(["track", str(text), "-o", str(tmp_path / "o"), "--max-frames", "0"]) == 2


def test_video_without_a_face_exits_4_without_outputs(ict_model, tmp_path: Path, capsys) -> None:
    video = tmp_path / "noise.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(video, 10, (128, 96)) as writer:
        for _ in range(4):
            writer.write(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    out = tmp_path / "out"
    assert main(["track", str(video), "-o", str(out)]) == 4
    assert "no face found in any of the 4 frames" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noise.mp4"]


def test_track_bench_suite_is_registered() -> None:
    from faceforge.bench import load_suites

    assert "track" in load_suites()
