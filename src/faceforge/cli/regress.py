"""``faceforge regress INPUT -o OUTDIR``: a face's normal map (or depth map) -> 3D head with N2FNet (seed 003).

Inputs (the kind is told by the file, never guessed from the values):

- ``.npy`` of shape (H, W, 3): float unit normals in the OpenCV camera frame (``faceforge render --what normal``
  writes this next to its PNG); zeros = no surface;
- ``.npy`` of shape (H, W): a depth map, camera z in model units (cm for ICT-FaceKit), background 0/inf/NaN;
  needs ``--fx`` (and ``--fy``, ``--cx``, ``--cy`` unless square pixels and a centred principal point);
- an image (``.png``, ...): a normal-map picture encoded as ``faceforge render --what normal`` writes it,
  ``rgb = (1 + (x, -y, -z)) / 2`` of the camera-frame normal, black background.

``--mask`` names the face pixels: an image (non-black = face), a ``.npy`` (non-zero = face), or the label ``.npy``
of ``faceforge render --what segmentation`` (recognized by its ``.labels.json``; the face = the model's face-region
labels). Without it every pixel with a normal counts as face; the network was trained on face-region masks (no
neck or scalp beyond the face region), so results are worse.

Writes ``OUTDIR/NAME/`` like ``faceforge reconstruct``: params.json, landmarks.json (predicted iBUG-68; no detector
points), mesh.obj, head.glb and overlay.png (the mesh over the normal-map picture), built in a temporary folder and
renamed into place. ``--refine`` runs the hybrid of seed 003 (Table 3): the network's prediction starts a fit of
identity, expression and pose to the normal map and face mask (``faceforge.fit.n2fnet.refine``; off by default).
Exit codes: 2 bad flags, 3 unreadable or invalid input, 4 no face pixels, 5 missing weights.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from faceforge.errors import InputError, UsageError

log = logging.getLogger(__name__)

# Labels of ``faceforge render --what segmentation`` that lie in the model's face region (the training mask).
FACE_REGION_LABELS = ("other", "ears", "eyes", "nose", "mouth", "forehead", "cheeks", "chin_jaw")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("regress", help="normal or depth map of a face -> 3D head (N2FNet regressor)",
                       description="Regress ICT-FaceKit parameters from a camera-frame normal map (or a depth map) "
                       "with the shipped N2FNet weights.")
    p.add_argument("input", type=Path, metavar="INPUT", help=".npy normals (H,W,3) or depth (H,W), or a normal PNG")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (results in OUTDIR/NAME/)")
    p.add_argument("--mask", type=Path, help="face mask: image, .npy, or a segmentation .npy with its .labels.json")
    p.add_argument("--fx", type=float, help="focal length in pixels (required for depth maps)")
    p.add_argument("--fy", type=float, help="vertical focal length in pixels (default: fx)")
    p.add_argument("--cx", type=float, help="principal point x in pixels (default: the image centre)")
    p.add_argument("--cy", type=float, help="principal point y in pixels (default: the image centre)")
    p.add_argument("--weights", type=Path, help="N2FNet weights (default: the shipped ones)")
    p.add_argument("--refine", action="store_true",
                   help="hybrid: refine the network's prediction by fitting the model to the normal map (~1-3 s)")
    p.set_defaults(func=_run)


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise InputError(f"{path}: not a .npy file (no NumPy header)")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npy array ({exc})") from None


def read_mask(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool face mask from an image, a numeric .npy, or a segmentation .npy with its .labels.json."""
    if path.suffix.lower() == ".npy":
        arr = _load_npy(path)
        legend = path.with_suffix(".labels.json")
        if legend.is_file():
            try:
                names = {int(k): v for k, v in json.loads(legend.read_text()).items()}
            except (ValueError, AttributeError) as exc:
                raise InputError(f"{legend}: not a label legend ({exc})") from None
            face = [k for k, v in names.items() if v in FACE_REGION_LABELS]
            if arr.dtype.kind not in "iu":
                raise InputError(f"{path}: a segmentation must hold integer labels, got {arr.dtype}")
            mask = np.isin(arr, face)
        else:
            if arr.dtype.kind not in "biuf":
                raise InputError(f"{path}: expected a numeric mask, got {arr.dtype}")
            mask = np.nan_to_num(arr.astype(np.float64)) != 0
    elif path.suffix.lower() in _IMAGE_SUFFIXES:
        from faceforge.io.image import read_image

        mask = read_image(path).max(-1) > 127
    else:
        raise InputError(f"{path}: unknown mask type (expected an image or .npy)")
    if mask.ndim != 2 or mask.shape != shape:
        raise InputError(f"{path}: the mask is {mask.shape[::-1] if mask.ndim == 2 else mask.shape}, the input "
                         f"{shape[::-1]} (W, H)")
    return mask


def read_input(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, tuple | None, tuple | None]:
    """(normals (H, W, 3), valid (H, W), focal or None, principal or None) from the input file and flags."""
    from faceforge.fit.n2fnet.infer import check_normals, normals_from_depth, normals_from_rgb

    path: Path = args.input
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = _load_npy(path)
        if arr.ndim == 3 and arr.shape[2] == 3:
            normals, valid = check_normals(arr)
        elif arr.ndim == 2:
            if args.fx is None:
                raise UsageError("a depth map needs the intrinsics: give --fx (and --fy/--cx/--cy if needed)")
            h, w = arr.shape
            focal = (args.fx, args.fy or args.fx)
            principal = (args.cx if args.cx is not None else (w - 1) / 2.0,
                         args.cy if args.cy is not None else (h - 1) / 2.0)
            normals, valid = normals_from_depth(arr, focal, principal)
            return normals, valid, focal, principal
        else:
            raise InputError(f"{path}: expected normals (H, W, 3) or depth (H, W), got shape {arr.shape}")
    elif suffix in _IMAGE_SUFFIXES:
        from faceforge.io.image import read_image

        normals, valid = normals_from_rgb(read_image(path))
    else:
        raise InputError(f"{path}: unknown input type {suffix or '(none)'} (expected .npy or an image)")
    h, w = valid.shape
    focal = None if args.fx is None else (args.fx, args.fy or args.fx)
    principal = None
    if args.cx is not None or args.cy is not None:
        principal = (args.cx if args.cx is not None else (w - 1) / 2.0,
                     args.cy if args.cy is not None else (h - 1) / 2.0)
    return normals, valid, focal, principal


def _check_flags(args: argparse.Namespace) -> None:
    for name in ("fx", "fy"):
        v = getattr(args, name)
        if v is not None and not (np.isfinite(v) and v > 0):
            raise UsageError(f"--{name} must be a positive number, got {v}")
    for name in ("cx", "cy"):
        v = getattr(args, name)
        if v is not None and not np.isfinite(v):
            raise UsageError(f"--{name} must be a finite number, got {v}")


def _run(args: argparse.Namespace) -> int:
    from faceforge.assets import load_model
    from faceforge.cli.reconstruct import write_face
    from faceforge.fit.n2fnet.infer import N2FNetRegressor, RegressOptions
    from faceforge.fit.reconstruct import FaceReconstruction
    from faceforge.render.encode import normals_to_rgb, to_uint8

    _check_flags(args)
    normals, valid, focal, principal = read_input(args)
    if args.mask is not None:
        mask = read_mask(args.mask, valid.shape) & valid
    else:
        log.warning("no --mask: every pixel with a normal counts as face (trained on face-region masks)")
        mask = valid
    model = load_model()
    regressor = N2FNetRegressor(model, args.weights)
    if regressor.net.cfg.input_kind != "normal":
        raise UsageError(f"--weights: these weights take a {regressor.net.cfg.input_kind!r} input (an ablation); "
                         "faceforge regress reads normal maps only")
    from faceforge.fit.n2fnet.refine import RefineOptions

    reg = regressor.regress(normals, mask, RegressOptions(focal_px=focal, principal_px=principal,
                                                          align_to_mask=args.mask is not None,
                                                          fit=RefineOptions() if args.refine else None))
    import torch

    picture = to_uint8(normals_to_rgb(torch.from_numpy(normals)[None], "camera"))[0]
    x0, y0, side = reg.crop_box
    rec = FaceReconstruction(reg.params, reg.camera, reg.landmarks_68_px, np.zeros((0, 3)),
                             np.array([x0, y0, x0 + side, y0 + side], dtype=np.float64), float("nan"))
    out = args.output / args.input.stem
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        write_face(tmp, model, picture, rec)
        os.chmod(tmp, 0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.input}: -> {out}/")
    return 0
