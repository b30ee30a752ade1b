"""Video files: stream frames in, write H.264 MP4 out (with the source's audio), through imageio-ffmpeg's ffmpeg.

Reading (``read_video_frames``) decodes one frame at a time from an ffmpeg pipe, so memory does not grow with the
length of the video. Frames are RGB uint8 (H, W, 3). Timestamps assume a constant frame rate:
``timestamp_ms = index * 1000 / fps`` (ffmpeg's reported average rate); variable-rate files get evenly spaced times.

Writing (``VideoWriter``) encodes H.264 (libx264, yuv420p, odd sizes padded by one pixel) into a temporary file in
the destination folder and renames it into place on ``close()``; with ``audio_from`` the first audio stream of that
file is re-encoded to AAC and muxed in (cut to the video's length). A failure or a writer closed with
``discard()`` leaves no file behind.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from faceforge.errors import InputError, UsageError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What ffmpeg reports about a video file.

    Attributes:
        path: the file.
        width, height: frame size in pixels (after ffmpeg applies the rotation flag).
        fps: average frames per second.
        duration_s: duration in seconds as the container states it (0 when unknown).
        num_frames_estimate: ``round(duration_s * fps)``; the exact count is known only after decoding.
        has_audio: the file has an audio stream.
        codec: video codec name.
    """

    path: Path
    width: int
    height: int
    fps: float
    duration_s: float
    num_frames_estimate: int
    has_audio: bool
    codec: str


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One decoded frame.

    Attributes:
        index: 0-based frame number.
        timestamp_ms: presentation time in milliseconds (``index * 1000 / fps``).
        image: (H, W, 3) uint8 RGB.
    """

    index: int
    timestamp_ms: float
    image: np.ndarray


def _ffmpeg_reason(exc: BaseException) -> str:
    """The informative last line of an imageio-ffmpeg error (its message holds ffmpeg's whole stderr)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if "does not contain any stream" in ln:
            return "no video stream"
        if "Invalid data found" in ln or "moov atom not found" in ln:
            return "not a video file ffmpeg can read (invalid data)"
    return lines[-1] if lines else type(exc).__name__


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file (no video frames)")


def _open(path: Path) -> tuple[Iterator[bytes], dict]:
    import imageio_ffmpeg

    _check_path(path)
    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as exc:
        gen.close()
        raise InputError(f"{path}: cannot read video ({_ffmpeg_reason(exc)})") from None
    return gen, meta


def _info(path: Path, meta: dict) -> VideoInfo:
    width, height = (int(v) for v in meta.get("size", (0, 0)))
    fps = float(meta.get("fps") or 0.0)
    if width <= 0 or height <= 0:
        raise InputError(f"{path}: the video stream has no frame size")
    if not fps > 0:
        raise InputError(f"{path}: the video stream has no frame rate")
    duration = float(meta.get("duration") or 0.0)
    return VideoInfo(
        path=path, width=width, height=height, fps=fps, duration_s=duration,
        num_frames_estimate=int(round(duration * fps)), has_audio="audio_codec" in meta,
        codec=str(meta.get("codec", "")),
    )


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's metadata (size, frame rate, duration, audio) without decoding frames.

    Raises:
        InputError: missing, empty or unreadable file, or no video stream.
    """
    path = Path(path)
    gen, meta = _open(path)
    gen.close()
    return _info(path, meta)


def has_audio_stream(path: str | os.PathLike[str]) -> bool:
    """Whether a media file (video or audio-only) has an audio stream, from ffmpeg's stream listing.

    Raises:
        InputError: missing or empty file.
    """
    import subprocess

    import imageio_ffmpeg

    path = Path(path)
    _check_path(path)
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True, errors="replace", timeout=60)
    return any(re.match(r"\s*Stream #\S+.*: Audio:", ln) for ln in proc.stderr.splitlines())


def read_video_frames(path: str | os.PathLike[str], max_frames: int | None = None) -> Iterator[VideoFrame]:
    """Decode a video one frame at a time (bounded memory: one frame is held at a time).

    Args:
        path: any container/codec the bundled ffmpeg reads (MP4, MOV, MKV, AVI, WebM, ...).
        max_frames: stop after this many frames (None: all).
    Yields:
        VideoFrame with a fresh, writable (H, W, 3) uint8 RGB image.
    Raises:
        InputError: missing, empty or unreadable file, no video stream, or a stream without any frame (raised when
            iteration starts / ends, as a generator does).
        UsageError: max_frames < 1.
    """
    if max_frames is not None and max_frames < 1:
        raise UsageError(f"max_frames must be >= 1, got {max_frames}")
    path = Path(path)
    gen, meta = _open(path)
    info = _info(path, meta)
    frame_bytes = info.width * info.height * 3
    count = 0
    try:
        while max_frames is None or count < max_frames:
            try:
                raw = next(gen)
            except StopIteration:
                break
            except (OSError, RuntimeError) as exc:
                raise InputError(f"{path}: decoding failed at frame {count} ({_ffmpeg_reason(exc)})") from None
            if len(raw) != frame_bytes:
                raise InputError(f"{path}: frame {count} has {len(raw)} bytes, expected {frame_bytes}")
            image = np.frombuffer(raw, dtype=np.uint8).reshape(info.height, info.width, 3).copy()
            yield VideoFrame(count, count * 1000.0 / info.fps, image)
            count += 1
    finally:
        gen.close()
    if count == 0:
        raise InputError(f"{path}: the video has no frames")


class VideoWriter:
    """Write RGB frames to an H.264 MP4 atomically (temporary file, then ``os.replace`` on ``close``).

    Use as a context manager: on an exception inside the ``with`` block the partial file is removed. ::

        with VideoWriter(out, fps=info.fps, size=(w, h), audio_from=source) as w:
            for frame in frames:
                w.write(frame)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fps: float,
        size: tuple[int, int],
        audio_from: str | os.PathLike[str] | None = None,
        quality: float = 7.0,
    ) -> None:
        """Start the encoder.

        Args:
            path: destination ``.mp4``; its folder must exist.
            fps: frame rate of the output.
            size: (width, height) of every frame, pixels.
            audio_from: a media file (video or audio) whose first audio stream is muxed in (AAC), or None for a
                silent video. A file without audio is fine (the video stays silent).
            quality: imageio-ffmpeg quality in [1, 10] (10 = best; 7 is x264 CRF 15).
        """
        import imageio_ffmpeg

        self.path = Path(path)
        width, height = (int(v) for v in size)
        if width < 1 or height < 1:
            raise UsageError(f"size must be positive, got {size}")
        if not fps > 0:
            raise UsageError(f"fps must be > 0, got {fps}")
        if not 1.0 <= quality <= 10.0:
            raise UsageError(f"quality must be in [1, 10], got {quality}")
        folder = self.path.parent if str(self.path.parent) else Path(".")
        if not folder.is_dir():
            raise UsageError(f"{self.path}: the folder {folder} does not exist")
        self.size = (width, height)
        audio = str(audio_from) if audio_from is not None and has_audio_stream(audio_from) else None
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".partial.mp4", dir=folder)
        os.close(fd)
        self._tmp = Path(tmp)
        self._audio = audio
        self.fps = float(fps)
        # yuv420p needs even sizes: pad odd ones by a pixel rather than letting imageio rescale the frames.
        params = ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-movflags", "+faststart"]
        try:
            self._gen = imageio_ffmpeg.write_frames(
                str(self._tmp), (width, height), fps=float(fps), codec="libx264", quality=quality,
                macro_block_size=1, output_params=params,
            )
            self._gen.send(None)  # start ffmpeg
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self.frames_written = 0
        self._closed = False

    def write(self, image: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame of the writer's size."""
        if self._closed:
            raise UsageError(f"{self.path}: the writer is closed")
        w, h = self.size
        if image.shape != (h, w, 3) or image.dtype != np.uint8:
            raise UsageError(f"frame: expected ({h}, {w}, 3) uint8, got {image.shape} {image.dtype}")
        self._gen.send(np.ascontiguousarray(image))
        self.frames_written += 1

    def close(self) -> None:
        """Finish encoding and move the file into place (no file when no frame was written)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._gen.close()
            if self.frames_written == 0:
                raise UsageError(f"{self.path}: no frames were written")
            if self._audio is not None:
                self._mux_audio()
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.path)
            log.info("wrote %s (%d frames)", self.path, self.frames_written)
        finally:
            self._tmp.unlink(missing_ok=True)

    def _mux_audio(self) -> None:
        """Second pass: copy the video stream, add the source's audio cut to exactly the video's duration (one
        pass with ``-shortest`` overshoots by up to an audio packet and the encoder's priming)."""
        import subprocess

        import imageio_ffmpeg

        muxed = self._tmp.with_name(self._tmp.name[: -len(".partial.mp4")] + ".audio.partial.mp4")
        duration = self.frames_written / self.fps
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-i", str(self._tmp), "-i", str(self._audio),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-t", f"{duration:.6f}",
               "-movflags", "+faststart", str(muxed)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=600)
            if proc.returncode != 0:
                raise InputError(f"{self._audio}: cannot add its audio ({proc.stderr.strip().splitlines()[-1:]})")
            os.replace(muxed, self._tmp)
        finally:
            muxed.unlink(missing_ok=True)

    def discard(self) -> None:
        """Stop encoding and remove the partial file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._gen.close()
        except Exception:  # noqa: BLE001 - the file is dropped anyway
            log.debug("ffmpeg failed while discarding %s", self.path)
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()
