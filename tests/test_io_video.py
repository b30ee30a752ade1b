"""Video reading/writing: round trips through H.264, audio muxing, metadata, refusals, no partial files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from conftest import DEV_DATA

from faceforge.errors import InputError, UsageError
from faceforge.io.video import VideoWriter, has_audio_stream, probe_video, read_video_frames

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def _frames(n: int, w: int, h: int) -> list[np.ndarray]:
    """Smooth test frames (a moving gradient) that survive H.264 with small errors."""
    yy, xx = np.mgrid[0:h, 0:w]
    return [np.stack([(xx * 255 // max(w - 1, 1) + 8 * k) % 256, yy * 255 // max(h - 1, 1),
                      np.full_like(xx, 40 + 10 * k)], -1).astype(np.uint8) for k in range(n)]


def _write(path: Path, frames: list[np.ndarray], fps: float = 25.0, audio_from: Path | None = None) -> None:
    h, w = frames[0].shape[:2]
    with VideoWriter(path, fps, (w, h), audio_from=audio_from) as writer:
        for f in frames:
            writer.write(f)


def _tone(path: Path, seconds: float = 1.0) -> Path:
    subprocess.run([FFMPEG, "-y", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                    "-c:a", "aac", str(path)], check=True)
    return path


def test_round_trip_frames_timestamps_and_metadata(tmp_path: Path) -> None:
    frames = _frames(12, 64, 48)
    out = tmp_path / "clip.mp4"
    _write(out, frames, fps=25.0)
    info = probe_video(out)
    assert (info.width, info.height, info.fps, info.has_audio, info.codec) == (64, 48, 25.0, False, "h264")
    got = list(read_video_frames(out))
    assert [f.index for f in got] == list(range(12))
    assert [f.timestamp_ms for f in got] == [k * 40.0 for k in range(12)]
    for a, b in zip(got, frames, strict=True):
        assert a.image.shape == (48, 64, 3) and a.image.dtype == np.uint8
        assert np.abs(a.image.astype(int) - b).mean() < 3.0  # lossy H.264 (CRF 15) on a smooth image
    assert got[0].image.flags.writeable
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no temporary left


def test_max_frames_and_odd_size_padding(tmp_path: Path) -> None:
    out = tmp_path / "odd.mp4"
    _write(out, _frames(5, 33, 21))
    info = probe_video(out)
    assert (info.width, info.height) == (34, 22)  # padded to even, not rescaled
    assert len(list(read_video_frames(out, max_frames=3))) == 3
    with pytest.raises(UsageError, match="max_frames"):
        list(read_video_frames(out, max_frames=0))


def test_audio_is_muxed_from_the_source(tmp_path: Path) -> None:
    tone = _tone(tmp_path / "tone.m4a", 1.0)
    assert has_audio_stream(tone)
    with_audio = tmp_path / "a.mp4"
    _write(with_audio, _frames(5, 32, 32), fps=10.0, audio_from=tone)
    info = probe_video(with_audio)
    assert info.has_audio and info.duration_s == pytest.approx(0.5, abs=0.01)  # audio cut to the video
    # a video as the source passes its audio on; a silent source gives a silent video
    silent = tmp_path / "s.mp4"
    _write(silent, _frames(4, 32, 32))
    assert not probe_video(silent).has_audio
    again = tmp_path / "b.mp4"
    _write(again, _frames(5, 32, 32), fps=10.0, audio_from=with_audio)
    assert probe_video(again).has_audio
    muted = tmp_path / "c.mp4"
    _write(muted, _frames(5, 32, 32), fps=10.0, audio_from=silent)
    assert not probe_video(muted).has_audio


def test_refusals_are_input_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    tone = _tone(tmp_path / "tone.m4a", 0.2)
    for path, msg in ((tmp_path / "missing.mp4", "no such file"), (empty, "empty file"),
                      (text, "cannot read video"), (tone, "no video stream"), (tmp_path, "not a file")):
        with pytest.raises(InputError, match=msg):
            list(read_video_frames(path))
        with pytest.raises(InputError, match=msg):
            probe_video(path)


def test_writer_leaves_nothing_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(out, 25, (32, 32)) as writer:
        writer.write(_frames(1, 32, 32)[0])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    writer = VideoWriter(out, 25, (32, 32))
    with pytest.raises(UsageError, match="expected \\(32, 32, 3\\) uint8"):
        writer.write(np.zeros((16, 32, 3), np.uint8))
    with pytest.raises(UsageError, match="no frames"):
        writer.close()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="does not exist"):
        VideoWriter(tmp_path / "nope" / "x.mp4", 25, (32, 32))


@pytest.mark.skipif(not (DEV_DATA / "video").is_dir(), reason="development videos not available")
def test_dev_video_metadata_and_first_frames() -> None:
    path = DEV_DATA / "video" / "liveportrait_d3.mp4"
    info = probe_video(path)
    assert (info.width, info.height, info.fps, info.has_audio) == (512, 512, 30.0, True)
    frames = list(read_video_frames(path, max_frames=4))
    assert [round(f.timestamp_ms, 6) for f in frames] == [0.0, 33.333333, 66.666667, 100.0]
    assert frames[0].image.shape == (512, 512, 3)
