"""``faceforge render``: parameters (JSON/NPZ) -> an image: shaded, normal, depth, mask, segmentation, uv or pncc.

Outputs (all written atomically, a batch or turntable as ``OUT_000.png``, ``OUT_001.png``, ...):

- the PNG picture (encodings in ``faceforge.render.encode``);
- ``normal``: also ``.npy`` float32 (H, W, 3) unit normals in ``--normal-frame`` (camera = OpenCV: +x right, +y down,
  +z forward; world = model frame for an unposed head), zeros on the background;
- ``depth``: also ``.npy`` float32 (H, W) camera-frame z in model units, +inf on the background;
- ``uv``: also ``.npy`` float32 (H, W, 2) texture coordinates (origin bottom-left);
- ``segmentation``: also ``.npy`` uint8 (H, W) labels and ``.labels.json`` naming each label.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from pathlib import Path

import numpy as np
import torch

from faceforge.errors import UsageError
from faceforge.io.atomic import write_files_atomically
from faceforge.io.params import load_params_json, load_params_npz, read_model_name
from faceforge.morphable import MorphableModel, make_synthetic_model
from faceforge.render.pipeline import RENDER_KINDS, RenderOptions, render_model
from faceforge.structures import Camera

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="render a parameter file: shaded, normal, depth, mask, segmentation, uv or pncc",
        description="Evaluate the model at the parameters and render it on the CPU. Without a camera in the file a "
        "front camera framing the face is used. Normal, depth, uv and segmentation renders also write their float "
        "or label data as .npy next to the PNG.",
    )
    p.add_argument("params", type=Path, help="parameter file (.json, or .npz: every frame unless --frame)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .png (batches: OUT_000.png, ...)")
    p.add_argument("--what", choices=RENDER_KINDS, default="shaded", help="what to render (default shaded)")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"),
                   help="image size in pixels (default: the file's camera size, else 512 512); a file camera of "
                   "another size is rescaled")
    p.add_argument("--turntable", type=int, default=0, metavar="N",
                   help="N views with the head turned by 360/N degrees steps about the vertical axis")
    p.add_argument("--normal-frame", choices=("camera", "world"), default="camera",
                   help="frame of normal maps (default camera: OpenCV; PNGs show facing surfaces light blue)")
    p.add_argument("--texture", type=Path, help="albedo image in the model's UV layout for --what shaded")
    p.add_argument("--frame", type=int, help="render only this batch row of an .npz file")
    p.add_argument("--model-path", type=Path, help="the FLAME .pkl file for FLAME parameters")
    p.set_defaults(func=_run)


def _load_model(name: str, model_path: Path | None) -> MorphableModel:
    if name == "synthetic":
        return make_synthetic_model()
    from faceforge.assets import load_model

    return load_model(name, model_path)


def _resize_camera(camera: Camera, width: int, height: int) -> Camera:
    """The same view at another image size: ``u' = (u + 0.5) * W' / W - 0.5`` (pixel-centre convention)."""
    scale = torch.tensor([width / camera.width, height / camera.height])
    return Camera(camera.focal * scale, (camera.principal + 0.5) * scale - 0.5, camera.rotation,
                  camera.translation, width, height, camera.orthographic)


def _read_texture(path: Path) -> torch.Tensor:
    """(1, Ht, Wt, 3) float32 linear albedo in [0, 1] from an sRGB image file."""
    from faceforge.io.image import read_image

    srgb = torch.tensor(read_image(path), dtype=torch.float32) / 255.0
    linear = torch.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return linear[None]


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def _run(args: argparse.Namespace) -> int:
    out: Path = args.output
    if out.suffix.lower() != ".png":
        raise UsageError(f"-o {out}: expected a .png file name")
    if not out.parent.is_dir() and str(out.parent):
        raise UsageError(f"-o {out}: the folder {out.parent} does not exist")
    if args.size is not None and (args.size[0] <= 0 or args.size[1] <= 0 or max(args.size) > 8192):
        raise UsageError(f"--size: expected two integers in [1, 8192], got {args.size[0]} {args.size[1]}")
    if args.turntable < 0 or args.turntable > 720:
        raise UsageError(f"--turntable: expected 0 to 720 views, got {args.turntable}")
    if args.texture is not None and args.what != "shaded":
        raise UsageError("--texture applies to --what shaded only")

    model = _load_model(read_model_name(args.params), args.model_path)
    if args.params.suffix.lower() == ".npz":
        record = load_params_npz(args.params, model)
        params, camera = record.params, record.camera
        if args.frame is not None:
            if not 0 <= args.frame < params.batch_size:
                raise UsageError(f"--frame {args.frame}: {args.params} holds {params.batch_size} frames")
            params = params.select(args.frame)
            camera = None if camera is None else _select_camera(camera, args.frame)
    else:
        if args.frame is not None:
            raise UsageError("--frame applies to .npz parameter files only")
        record = load_params_json(args.params, model)
        params, camera = record.params, record.camera
    if args.turntable and params.batch_size > 1:
        raise UsageError(f"--turntable needs one face; {args.params} holds {params.batch_size} (pick one with --frame)")
    if camera is not None and args.size is not None and (camera.width, camera.height) != tuple(args.size):
        camera = _resize_camera(camera, *args.size)
    options = RenderOptions(what=args.what, normal_frame=args.normal_frame, turntable_views=args.turntable)
    texture = None if args.texture is None else _read_texture(args.texture)
    size = tuple(args.size) if args.size is not None else (512, 512)
    result = render_model(model, params, camera, options, texture=texture, image_size=size)
    _write(out, result.image, result.data, result.label_names, args.what)
    return 0


def _select_camera(camera: Camera, row: int) -> Camera:
    if camera.batch_size == 1:
        return camera
    sl = slice(row, row + 1)
    return Camera(camera.focal[sl], camera.principal[sl], camera.rotation[sl], camera.translation[sl],
                  camera.width, camera.height, camera.orthographic)


def _write(out: Path, images: np.ndarray, data: torch.Tensor | None, names: tuple[str, ...], what: str) -> None:
    batch = images.shape[0]
    files: dict[Path, bytes] = {}
    for b in range(batch):
        png = out if batch == 1 else out.with_name(f"{out.stem}_{b:03d}{out.suffix}")
        files[png] = _png(images[b])
        if data is not None:
            arr = data[b].numpy()
            arr = arr.astype(np.uint8) if what == "segmentation" else arr.astype(np.float32)
            files[png.with_suffix(".npy")] = _npy(arr)
        if names:
            legend = {str(k): n for k, n in enumerate(names)}
            files[png.with_suffix(".labels.json")] = (json.dumps(legend, indent=1) + "\n").encode()
    write_files_atomically(files)
    log.info("wrote %d file(s) next to %s", len(files), out)

