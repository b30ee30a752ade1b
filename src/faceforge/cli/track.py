"""``faceforge track VIDEO -o OUTDIR``: video -> animated head.

Writes into OUTDIR:

* ``params.npz``: the per-frame parameters in the ``faceforge.io.params`` NPZ layout (identity (T, Ni) = the shared
  identity on every row, expression, rotation, translation, ``timestamps_ms``, the shared camera repeated per frame)
  plus ``shared_identity`` (Ni,), ``valid`` (T,) bool, ``new_segment`` (T,) bool, ``landmarks_68_px`` (T, 68, 2),
  ``rms_px`` (T,) (NaN on frames without a face) and ``fps`` ();
* ``blendshapes.csv``: the Live Link Face CSV (``faceforge.io.arkit``: 52 ARKit coefficients + head/eye angles);
* ``animation.glb``: the identity head with morph targets, animated (weights, rotation, translation; plus the video's
  camera) - ``faceforge.io.gltf_animation``;
* ``overlay.mp4``: the fitted mesh drawn over every frame (H.264, the source's audio kept; frames without a face are
  left as they are).

All files are built in a temporary folder beside OUTDIR and moved into place only when every one is complete, so a
failure leaves no partial output. Frames without a face hold the last valid frame's parameters (``valid`` says
which). Exit codes: 3 unreadable video or no frames, 4 no face in any frame.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from faceforge.errors import UsageError

log = logging.getLogger(__name__)

OVERLAY_MAX_SIDE = 256  # the mesh is rendered at most this large, then resized (keeps overlay.mp4 cheap)
OUTPUT_FILES = ("params.npz", "blendshapes.csv", "animation.glb", "overlay.mp4")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("track", help="track the face of a video: per-frame parameters, ARKit CSV, animated GLB",
                       description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("video", type=Path, metavar="VIDEO", help="video file (MP4, MOV, MKV, AVI, WebM, ...)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--max-frames", type=int, help="track only the first N frames")
    p.add_argument("--no-smoothing", action="store_true", help="no temporal smoothing (raw per-frame fits)")
    p.add_argument("--lag", type=int, default=None, help="smoother look-ahead in frames (default 2)")
    p.add_argument("--no-overlay", action="store_true", help="do not write overlay.mp4")
    p.add_argument("--no-cut-detection", action="store_true", help="do not look for shot cuts")
    p.set_defaults(func=_run)


def options_from_args(args: argparse.Namespace):  # -> TrackOptions (imported lazily: the CLI starts fast)
    from faceforge.track import TrackOptions

    opts = TrackOptions(max_frames=args.max_frames)
    smoothing = opts.smoothing
    if args.no_smoothing:
        smoothing = replace(smoothing, laplacian=False, one_euro=False)
    if args.lag is not None:
        if args.lag < 0:
            raise UsageError(f"--lag must be >= 0, got {args.lag}")
        smoothing = replace(smoothing, lag=args.lag)
    landmarks = opts.landmarks
    if args.no_cut_detection:
        landmarks = replace(landmarks, cut_threshold=None)
    return replace(opts, smoothing=smoothing, landmarks=landmarks)


def write_params(path: Path, track, model) -> None:
    """params.npz: the shared NPZ layout plus the tracking arrays (module docstring)."""
    from faceforge.io.atomic import write_bytes_atomically
    from faceforge.io.params import save_params_npz

    save_params_npz(path, track.params, model, track.camera, torch.from_numpy(track.timestamps_ms))
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(
        shared_identity=track.identity.numpy().astype(np.float32),
        valid=track.valid, new_segment=track.new_segment, landmarks_68_px=track.landmarks_68_px,
        rms_px=track.rms_px, fps=np.array(track.fps),
    )
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomically(path, buf.getvalue())


def write_blendshapes(path: Path, track, model) -> None:
    from faceforge.io.arkit import save_live_link_csv, take_from_params

    take = take_from_params(track.timestamps_ms, track.params.expression.numpy(), track.params.rotation.numpy(),
                            model.expression_names, model.eyes)
    save_live_link_csv(path, take, track.fps)


def write_animation(path: Path, track, model) -> None:
    from faceforge.io.gltf_animation import save_animation_glb

    times = (track.timestamps_ms - track.timestamps_ms[0]) / 1000.0
    save_animation_glb(path, model, track.identity, times, track.params.expression.numpy(),
                       track.params.rotation.numpy(), track.params.translation.numpy(),
                       float(track.camera.focal[0, 0]), (track.camera.width, track.camera.height))


def write_overlay(path: Path, video: Path, track, model) -> None:
    """overlay.mp4: decode the video again (frames are never kept) and draw each valid frame's mesh."""
    from faceforge.io.video import VideoWriter, read_video_frames
    from faceforge.morphable import evaluate
    from faceforge.render.overlay import overlay_mesh
    from faceforge.render.parts import select_faces, visible_face_indices
    from faceforge.structures import FaceParams

    visible = visible_face_indices(model)
    p = track.params
    with VideoWriter(path, track.fps, (track.camera.width, track.camera.height), audio_from=video) as writer:
        for frame in read_video_frames(video, track.num_frames):
            i = frame.index
            image = frame.image
            if track.valid[i]:
                params = FaceParams(p.identity[i: i + 1], p.expression[i: i + 1], p.rotation[i: i + 1],
                                    p.translation[i: i + 1])
                with torch.no_grad():
                    mesh = select_faces(evaluate(model, params), visible)
                image = overlay_mesh(image, mesh, track.camera, max_side=OVERLAY_MAX_SIDE)
            writer.write(image)


def write_track_outputs(out: Path, video: Path, track, model, overlay: bool = True) -> None:
    """Write the outputs into ``out`` atomically (temporary folder beside it, then moved into place)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        write_params(tmp / "params.npz", track, model)
        write_blendshapes(tmp / "blendshapes.csv", track, model)
        write_animation(tmp / "animation.glb", track, model)
        if overlay:
            write_overlay(tmp / "overlay.mp4", video, track, model)
        if not out.exists():
            os.chmod(tmp, 0o755)
            os.replace(tmp, out)
        else:  # keep whatever else the folder holds; replace our files (each rename is atomic)
            for name in OUTPUT_FILES:
                if (tmp / name).exists():
                    os.replace(tmp / name, out / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace) -> int:
    from faceforge.assets import load_model
    from faceforge.fit.reconstruct import FaceFitter
    from faceforge.io.video import probe_video
    from faceforge.track import track_video

    if args.max_frames is not None and args.max_frames < 1:
        raise UsageError(f"--max-frames must be >= 1, got {args.max_frames}")
    options = options_from_args(args)
    info = probe_video(args.video)  # unreadable input fails before the model loads
    model = load_model()
    fitter = FaceFitter(model)
    show = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show and (done % 25 == 0 or done == total):
            print(f"\rtracking: frame {done}/{total}", end="", file=sys.stderr, flush=True)

    track = track_video(args.video, fitter, options, progress)
    if show:
        print(file=sys.stderr)
    write_track_outputs(args.output, args.video, track, model, overlay=not args.no_overlay)
    valid = int(track.valid.sum())
    print(f"{args.video}: {track.num_frames} frames ({valid} with a face, {info.fps:g} fps) -> {args.output}/")
    return 0
