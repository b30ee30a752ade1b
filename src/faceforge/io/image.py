"""Image files: read any common photo as an (H, W, 3) uint8 RGB array; write one atomically.

Reading rules (one behaviour per case, so results never depend on how a file happens to be stored):

- EXIF orientation (tag 274) is applied: the array is the image as a viewer shows it, upright.
- Grayscale (1-bit, 8-bit, 16-bit, 32-bit int/float) is replicated into three equal channels.
- Transparency (RGBA, LA, palette with a transparent colour) is composited onto **white**: a cut-out portrait on a
  transparent background then reads like a studio photo, instead of revealing whatever colour the hidden pixels have.
- CMYK (including Adobe's inverted CMYK JPEGs) and YCbCr/LAB are converted to RGB by Pillow (no ICC colour management).
- 16-bit samples are scaled to 8 bits: ``round(v * 255 / 65535)`` for 16-bit grayscale; 16-bit RGB is reduced by
  Pillow's decoder (high byte, within 1 of the rounded value). 32-bit integer grayscale is assumed to hold 16-bit data
  when any value exceeds 255; float grayscale is taken as [0, 1] when its maximum is at most 1, else as [0, 255]
  (clipped).
- Refused with :class:`~faceforge.errors.InputError` (one line naming the file): missing files, folders, files that
  are not images, truncated or corrupt files, zero-size images, and images above ``max_pixels`` (100 megapixels by
  default; a decompression-bomb guard checked from the header, before any pixel is decoded).
"""

from __future__ import annotations

import io
import logging
import os
import struct
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from faceforge.errors import InputError, UsageError
from faceforge.io.atomic import write_bytes_atomically

log = logging.getLogger(__name__)

MAX_PIXELS = 100_000_000
"""Default refusal threshold for :func:`read_image`, in pixels (width x height)."""

_WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
                  ".webp": "WEBP"}


def read_image(path: str | os.PathLike[str], *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as upright RGB.

    Args:
        path: image file (any format Pillow reads: JPEG, PNG, TIFF, BMP, WebP, GIF (first frame), ...).
        max_pixels: refuse images with more pixels than this (width x height), checked before decoding.
    Returns:
        (H, W, 3) uint8 RGB array, C-contiguous, EXIF orientation applied (see the module docstring for the rules).
    Raises:
        InputError: the file is missing, not an image, truncated/corrupt, empty, or too large.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with warnings.catch_warnings():
            # Our own max_pixels check below replaces Pillow's DecompressionBombWarning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
                if width <= 0 or height <= 0:
                    raise InputError(f"{path}: the image is empty ({width}x{height} pixels)")
                if width * height > max_pixels:
                    raise InputError(
                        f"{path}: the image is too large ({width}x{height} = {width * height / 1e6:.0f} megapixels; "
                        f"the limit is {max_pixels / 1e6:.0f})"
                    )
                im.load()
                im = ImageOps.exif_transpose(im)
                rgb = _to_rgb_array(im)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image, or a format that cannot be read") from None
    except Image.DecompressionBombError:
        raise InputError(f"{path}: the image is too large (the limit is {max_pixels / 1e6:.0f} megapixels)") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        # Pillow reports truncated/corrupt data as OSError ("image file is truncated"), SyntaxError (bad headers)
        # or ValueError; keep its reason but make it one line.
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"{path}: cannot decode the image ({reason})") from None
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InputError(f"{path}: the image is empty ({rgb.shape[1]}x{rgb.shape[0]} pixels)")
    log.debug("read %s: %dx%d", path, rgb.shape[1], rgb.shape[0])
    return rgb


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """Pillow image of any mode -> (H, W, 3) uint8 RGB (rules in the module docstring)."""
    mode = im.mode
    if mode == "RGB":
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
    if mode.startswith("I;16") or mode in ("I", "F"):
        gray = _gray_to_uint8(np.asarray(im), mode)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode == "P" or mode == "PA":
        im = im.convert("RGBA")  # also resolves a transparent palette index into alpha
        mode = "RGBA"
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, rgba).convert("RGB")
        return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
    # 1, L, CMYK, YCbCr, LAB, HSV, RGBX, ...: Pillow's own conversion.
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def _gray_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """Grayscale samples of a high-bit-depth mode -> (H, W) uint8 (rules in the module docstring)."""
    v = values.astype(np.float64)
    if mode == "F":
        finite = v[np.isfinite(v)]
        top = float(finite.max()) if finite.size else 0.0
        v = np.nan_to_num(v, nan=0.0, posinf=255.0, neginf=0.0)
        scaled = v * 255.0 if top <= 1.0 else v
    elif mode.startswith("I;16") or (v.size and v.max() > 255):
        scaled = v * (255.0 / 65535.0)
    else:
        scaled = v
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def write_image(path: str | os.PathLike[str], image: np.ndarray, *, jpeg_quality: int = 95) -> None:
    """Write an image atomically (temporary file in the same folder, then ``os.replace``).

    Args:
        path: destination; the format comes from the suffix (.png, .jpg/.jpeg, .bmp, .tif/.tiff, .webp).
        image: (H, W, 3) uint8 RGB, (H, W, 4) uint8 RGBA (PNG/TIFF/WebP only) or (H, W) uint8 grayscale.
        jpeg_quality: JPEG/WebP quality in [1, 100].
    Raises:
        UsageError: unknown suffix, bad array shape/dtype, or a destination folder that does not exist.
    """
    path = Path(path)
    fmt = _WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageError(f"{path}: unknown image suffix {path.suffix!r}; expected one of {sorted(_WRITE_FORMATS)}")
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        got = image.dtype if isinstance(image, np.ndarray) else type(image).__name__
        raise UsageError(f"write_image: expected a uint8 array, got {got}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise UsageError(f"write_image: expected shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise UsageError(f"write_image: the image is empty, shape {image.shape}")
    if image.ndim == 3 and image.shape[2] == 4 and fmt in ("JPEG", "BMP"):
        raise UsageError(f"{path}: {fmt} cannot store an alpha channel; drop it or write PNG")
    if not 1 <= jpeg_quality <= 100:
        raise UsageError(f"write_image: jpeg_quality must be in [1, 100], got {jpeg_quality}")
    buf = io.BytesIO()
    pil = Image.fromarray(np.ascontiguousarray(image))
    if fmt in ("JPEG", "WEBP"):
        pil.save(buf, format=fmt, quality=jpeg_quality)
    else:
        pil.save(buf, format=fmt)
    write_bytes_atomically(path, buf.getvalue())
