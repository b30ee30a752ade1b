"""Figures for evaluation reports, drawn with Pillow (no plotting library needed): cumulative error curves, and
per-vertex error heat maps rendered with faceforge's own rasterizer.

Both return (H, W, 3) uint8 RGB arrays; write them with ``faceforge.io.image.write_image`` (atomic).
Heat maps of ICT-FaceKit meshes are derived from ICT geometry: never commit them to the repository.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from faceforge.errors import UsageError
from faceforge.metrics.landmarks import ErrorCurve

# Okabe-Ito colours (colour-blind friendly), then greys.
CURVE_COLOURS = ((0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0), (86, 180, 233),
                 (0, 0, 0), (120, 120, 120))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def plot_error_curves(
    curves: Mapping[str, ErrorCurve],
    title: str,
    x_label: str,
    x_scale: float = 1.0,
    y_label: str = "share of faces",
    size: tuple[int, int] = (720, 480),
) -> np.ndarray:
    """Cumulative error curves (one line per entry, legend in insertion order).

    Args:
        curves: label -> ErrorCurve (thresholds on x, fractions in [0, 1] on y).
        title, x_label, y_label: texts.
        x_scale: multiply thresholds by this for the axis (100 for NME in %).
        size: (width, height) pixels.
    Returns:
        (H, W, 3) uint8 RGB image.
    """
    if not curves:
        raise UsageError("plot_error_curves: no curve given")
    width, height = size
    img = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font, small = _font(16), _font(13)
    left, right, top, bottom = 70, 20, 40, 55
    x_max = max(float(c.thresholds[-1]) for c in curves.values()) * x_scale
    if not x_max > 0:
        raise UsageError("plot_error_curves: the x range is empty")

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (width - left - right) * x / x_max, height - bottom - (height - top - bottom) * y)

    step = _nice_step(x_max, 8)
    for k in range(int(x_max / step + 1e-9) + 1):
        x = k * step
        draw.line([px(x, 0), px(x, 1)], fill=(225, 225, 225))
        draw.text(px(x, 0), f"{x:g}", fill=(0, 0, 0), font=small, anchor="mt")
    for k in range(11):
        y = k / 10
        draw.line([px(0, y), px(x_max, y)], fill=(225, 225, 225))
        draw.text((left - 6, px(0, y)[1]), f"{y:.1f}", fill=(0, 0, 0), font=small, anchor="rm")
    draw.rectangle([px(0, 1), px(x_max, 0)], outline=(0, 0, 0))
    draw.text((width / 2, 8), title, fill=(0, 0, 0), font=font, anchor="mt")
    draw.text(((left + width - right) / 2, height - 8), x_label, fill=(0, 0, 0), font=font, anchor="mb")
    label_img = Image.new("RGB", (height - top - bottom, 24), (255, 255, 255))
    ImageDraw.Draw(label_img).text((label_img.width / 2, 12), y_label, fill=(0, 0, 0), font=font, anchor="mm")
    img.paste(label_img.rotate(90, expand=True), (4, top))
    for k, curve in enumerate(curves.values()):
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        pts = [px(float(x) * x_scale, float(y)) for x, y in zip(curve.thresholds, curve.fractions, strict=True)]
        draw.line(pts, fill=colour, width=3)
    # Legend in the lower right corner (cumulative curves rise from the left, so it is usually empty there).
    legend_w = max(draw.textlength(label, font=small) for label in curves) + 64
    legend_h = 20 + 22 * (len(curves) - 1)
    x0 = width - right - 8 - legend_w
    y0 = height - bottom - 8 - legend_h
    draw.rectangle([x0, y0, x0 + legend_w, y0 + legend_h], fill=(255, 255, 255), outline=(200, 200, 200))
    for k, label in enumerate(curves):
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        ly = y0 + 10 + 22 * k
        draw.line([(x0 + 8, ly), (x0 + 38, ly)], fill=colour, width=3)
        draw.text((x0 + 46, ly), label, fill=(0, 0, 0), font=small, anchor="lm")
    return np.asarray(img)


def error_colours(values: np.ndarray, vmax: float) -> np.ndarray:
    """Map non-negative errors to colours: 0 = blue, vmax/2 = yellow-green, >= vmax = red (a 5-stop ramp).

    Returns:
        (N, 3) float32 linear-ish RGB in [0, 1].
    """
    if not vmax > 0:
        raise UsageError(f"vmax: expected > 0, got {vmax}")
    stops = np.array([[0.05, 0.15, 0.75], [0.0, 0.65, 0.9], [0.45, 0.85, 0.25], [0.98, 0.75, 0.1],
                      [0.85, 0.1, 0.05]])
    t = np.clip(np.asarray(values, dtype=np.float64) / vmax, 0.0, 1.0) * (len(stops) - 1)
    i = np.minimum(np.floor(t).astype(np.int64), len(stops) - 2)
    f = (t - i)[:, None]
    return ((1 - f) * stops[i] + f * stops[i + 1]).astype(np.float32)


def render_error_heatmap(
    vertices: np.ndarray,
    faces: np.ndarray,
    vertex_errors: np.ndarray,
    vmax: float,
    size: int = 512,
    yaw_deg: Sequence[float] = (0.0, 45.0),
    legend: str = "mm",
) -> np.ndarray:
    """Per-vertex errors painted on a mesh, front and turned views side by side, with a colour bar.

    Args:
        vertices: (V, 3) model-frame positions (an unposed head: +y up, +z out of the face).
        faces: (F, 3) triangles to draw.
        vertex_errors: (V,) error per vertex (NaN = not scored: drawn grey).
        vmax: error shown as full red.
        size: pixels per view (square).
        yaw_deg: camera yaws of the views (positive: towards the subject's left).
    Returns:
        (size + 40, size * len(yaw_deg), 3) uint8 RGB.
    """
    from faceforge.camera.build import look_at_face_camera
    from faceforge.render.encode import to_uint8
    from faceforge.render.gbuffers import render_normals
    from faceforge.render.interpolate import interpolate
    from faceforge.render.rasterize import rasterize
    from faceforge.structures import Mesh

    v = torch.tensor(np.asarray(vertices, dtype=np.float32))[None]
    f = torch.tensor(np.asarray(faces, dtype=np.int64))
    err = np.asarray(vertex_errors, dtype=np.float64)
    if err.shape != (v.shape[1],):
        raise UsageError(f"vertex_errors: expected ({v.shape[1]},), got {err.shape}")
    colours = np.full((len(err), 3), 0.6, dtype=np.float32)
    ok = np.isfinite(err)
    colours[ok] = error_colours(err[ok], vmax)
    mesh = Mesh(v, f)
    used = torch.unique(f)
    views = []
    with torch.no_grad():
        for yaw in yaw_deg:
            cam = look_at_face_camera(v[:, used], size, size, yaw_rad=math.radians(yaw), padding=1.05)
            frags = rasterize(mesh, cam)
            n = render_normals(mesh, cam, frags, frame="camera")
            shade = (0.35 + 0.65 * (-n[..., 2]).clamp(0.0, 1.0))[..., None]  # head-light Lambert
            col = interpolate(torch.tensor(colours)[None], f, frags) * shade
            col = torch.where(frags.mask[..., None], col, torch.ones_like(col))
            views.append(to_uint8(col)[0])
    img = Image.fromarray(np.concatenate(views, axis=1))
    canvas = Image.new("RGB", (img.width, img.height + 40), (255, 255, 255))
    canvas.paste(img, (0, 0))
    draw = ImageDraw.Draw(canvas)
    bar = error_colours(np.linspace(0.0, vmax, 256), vmax)
    x0, x1, y = 60, min(canvas.width - 60, 60 + 400), img.height + 8
    for k in range(x1 - x0):
        c = tuple(int(255 * ch) for ch in bar[int(k * 255 / max(x1 - x0 - 1, 1))])
        draw.line([(x0 + k, y), (x0 + k, y + 14)], fill=c)
    font = _font(13)
    draw.text((x0 - 6, y + 7), "0", fill=(0, 0, 0), font=font, anchor="rm")
    draw.text((x1 + 6, y + 7), f">= {vmax:g} {legend}", fill=(0, 0, 0), font=font, anchor="lm")
    return np.asarray(canvas)
