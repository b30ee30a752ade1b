"""One call from model parameters to a displayable render (what ``faceforge render`` runs).

``render_model(model, params, camera, options)`` evaluates the model, hides the helper geometry
(``parts.DEFAULT_HIDDEN_REGIONS``), optionally spins the head for a turntable, rasterizes and produces one kind of
image: shaded, normal, depth, mask, segmentation, uv or pncc. It returns both the 8-bit picture (encodings in
``faceforge.render.encode``) and the float data behind it, so callers can save either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from faceforge.camera.build import look_at_face_camera
from faceforge.errors import UsageError
from faceforge.geometry import axis_angle_to_matrix
from faceforge.morphable.evaluate import evaluate
from faceforge.morphable.model import MorphableModel
from faceforge.render.encode import (
    depth_to_gray,
    label_palette,
    labels_to_rgb,
    linear_to_srgb,
    normals_to_rgb,
    to_uint8,
)
from faceforge.render.fragments import Fragments
from faceforge.render.gbuffers import (
    face_labels,
    ncc_colors,
    render_mask,
    render_normals,
    render_pncc,
    render_segmentation,
    render_uv,
    vertex_region_labels,
)
from faceforge.render.interpolate import interpolate
from faceforge.render.parts import DEFAULT_HIDDEN_REGIONS, select_faces, visible_face_indices
from faceforge.render.rasterize import rasterize
from faceforge.render.shade import sample_texture, sh_from_directional_light, shade_lambertian
from faceforge.structures import Camera, FaceParams, Mesh

RENDER_KINDS = ("shaded", "normal", "depth", "mask", "segmentation", "uv", "pncc")
# Region labels of a segmentation render, in priority order (names a model lacks are skipped).
SEGMENTATION_REGIONS = (
    "ears", "eyes", "nose", "mouth", "forehead", "cheeks", "chin_jaw", "eyeball_left", "eyeball_right", "teeth",
    "gums_tongue", "mouth_socket", "eye_sockets", "head_neck",
)
SKIN_ALBEDO = (0.78, 0.57, 0.47)
# Per-material albedo for ICT-FaceKit's groups (others use SKIN_ALBEDO).
MATERIAL_ALBEDO = {
    "M_ScleraLeft": (0.85, 0.85, 0.82), "M_ScleraRight": (0.85, 0.85, 0.82),
    "M_IrisLeft": (0.22, 0.13, 0.08), "M_IrisRight": (0.22, 0.13, 0.08),
    "M_GumsTongue": (0.55, 0.22, 0.22), "M_Teeth": (0.9, 0.88, 0.82),
}
PUPIL_ALBEDO = (0.03, 0.03, 0.03)
IRIS_UV_RADIUS = 0.105
PUPIL_UV_RADIUS = 0.04


@dataclass(frozen=True)
class RenderOptions:
    """Options of ``render_model``.

    Attributes:
        what: one of ``RENDER_KINDS``.
        normal_frame: "camera" (OpenCV camera frame) or "world" for ``what="normal"``.
        hidden_regions: model regions whose triangles are not drawn.
        turntable_views: 0 for one view per parameter row; N > 0 renders N views of the first row, the head turned
            about the vertical (world +y) axis through its bounding-box centre by 360 * k / N degrees (positive yaw
            turns the face towards +x, the subject's left).
        light_direction_cam: direction towards the key light in the camera frame (OpenCV: -x left, -y up, -z towards
            the viewer); the default lights from the viewer's upper left. Converted to the world frame per camera.
        ambient, directional: light intensities (see ``sh_from_directional_light``).
        background: shaded background, linear grey level.
    """

    what: str = "shaded"
    normal_frame: str = "camera"
    hidden_regions: tuple[str, ...] = DEFAULT_HIDDEN_REGIONS
    turntable_views: int = 0
    light_direction_cam: tuple[float, float, float] = (-0.4, -0.5, -0.77)
    ambient: float = 0.35
    directional: float = 0.75
    background: float = 0.2


@dataclass(frozen=True)
class RenderResult:
    """A batch of renders.

    Attributes:
        image: (B, H, W, 3) uint8 RGB picture (sRGB for shaded; encodings in ``faceforge.render.encode``).
        data: float/int data behind the picture, or None: normal (B, H, W, 3) float32 unit normals in
            ``normal_frame`` (0 on the background); depth (B, H, W) float32 camera z, model units (+inf on the
            background); uv (B, H, W, 2) float32; segmentation (B, H, W) int64 labels; None for shaded/mask/pncc.
        label_names: for segmentation, the name of every label value (index = label); else empty.
        camera: the camera used (batch 1 or B).
        fragments: the rasterization.
    """

    image: np.ndarray
    data: torch.Tensor | None
    label_names: tuple[str, ...]
    camera: Camera
    fragments: Fragments


def default_camera(model: MorphableModel, mesh: Mesh, width: int, height: int) -> Camera:
    """A front perspective camera (20 degree field of view) framing the head of batch row 0.

    Frames the bounding sphere of the drawn vertices that lie (on the neutral template) no lower than 1 cm under
    the chin landmark (iBUG 8), so the neck and shoulders of ICT-FaceKit do not shrink the face; the sphere keeps
    every yaw of a turntable in the picture.
    """
    drawn = torch.unique(mesh.faces)
    if model.landmark_indices.numel() > 8:
        chin_y = model.template[model.landmark_indices[8], 1]
        head = drawn[model.template[drawn, 1] >= chin_y - 1.0 * _cm(model)]
        drawn = head if head.numel() else drawn
    return look_at_face_camera(mesh.vertices[:1, drawn], width, height, padding=1.02)


def _cm(model: MorphableModel) -> float:
    """One centimetre in model units."""
    return {"cm": 1.0, "m": 0.01, "mm": 10.0}.get(model.units, 1.0)


def vertex_albedo(model: MorphableModel) -> torch.Tensor:
    """(V, 3) per-vertex albedo: skin, with ICT's sclera, iris, gums and teeth materials coloured.

    ICT's sclera mesh is the whole visible eyeball including the (transparent) cornea, drawn over a separate,
    iris-textured inner sphere, so an opaque render would show white eyes. Its UVs are polar about (0.5, 0.5) (UV
    radius grows ~0.0036 per degree away from the gaze axis): vertices within UV radius ``IRIS_UV_RADIUS``
    (~30 degrees, a 12 mm iris on a 12 mm eyeball) are painted as iris, within ``PUPIL_UV_RADIUS`` as pupil.
    """
    albedo = torch.tensor(SKIN_ALBEDO).repeat(model.num_vertices, 1)
    if model.face_groups is None:
        return albedo
    for name, colour in MATERIAL_ALBEDO.items():
        if name in model.group_names:
            albedo[torch.unique(model.faces[model.face_groups == model.group_names.index(name)])] = torch.tensor(colour)
    if model.uv is None or model.uv_faces is None:
        return albedo
    for side in ("Left", "Right"):
        if f"M_Sclera{side}" not in model.group_names:
            continue
        tri = model.face_groups == model.group_names.index(f"M_Sclera{side}")
        corners = model.faces[tri].reshape(-1)
        radius = (model.uv[model.uv_faces[tri].reshape(-1)] - 0.5).norm(dim=-1)
        albedo[corners[radius < IRIS_UV_RADIUS]] = torch.tensor(MATERIAL_ALBEDO[f"M_Iris{side}"])
        albedo[corners[radius < PUPIL_UV_RADIUS]] = torch.tensor(PUPIL_ALBEDO)
    return albedo


def _textured_triangles(model: MorphableModel) -> torch.Tensor:
    """(F,) bool: triangles that take a skin texture (ICT: all but the eye, teeth and gum materials)."""
    out = torch.ones(model.num_faces, dtype=torch.bool)
    if model.face_groups is not None:
        for name in MATERIAL_ALBEDO:
            if name in model.group_names:
                out &= model.face_groups != model.group_names.index(name)
    return out


def spin_about_vertical(vertices: torch.Tensor, yaw_rad: torch.Tensor) -> torch.Tensor:
    """(1, V, 3) vertices turned about the world +y axis through their bounding-box centre -> (K, V, 3)."""
    centre = (vertices.amin(1) + vertices.amax(1)) / 2.0  # (1, 3)
    axis = torch.zeros(yaw_rad.numel(), 3)
    axis[:, 1] = yaw_rad
    rot = axis_angle_to_matrix(axis)  # (K, 3, 3)
    return (vertices - centre[:, None]) @ rot.transpose(1, 2) + centre[:, None]


def _lights(camera: Camera, options: RenderOptions, batch: int) -> torch.Tensor:
    d_cam = torch.tensor(options.light_direction_cam, dtype=torch.float32)
    d_world = (camera.rotation.transpose(1, 2) @ d_cam).expand(batch, 3)
    full = torch.ones(batch, 3)
    return sh_from_directional_light(d_world, full * options.directional, full * options.ambient)


def render_model(
    model: MorphableModel,
    params: FaceParams,
    camera: Camera | None,
    options: RenderOptions = RenderOptions(),
    texture: torch.Tensor | None = None,
    image_size: tuple[int, int] = (512, 512),
) -> RenderResult:
    """Evaluate, rasterize and render one kind of image.

    Args:
        model: the morphable model.
        params: FaceParams, batch B (only row 0 is used for a turntable).
        camera: batch 1 or B; None makes ``default_camera`` of size ``image_size``.
        options: what to render and how.
        texture: (1, Ht, Wt, 3) float albedo texture in [0, 1] (linear) for ``shaded``, sampled at UVs in [0, 1]
            (the face skin's tile for ICT-FaceKit); pixels with UVs outside, and ICT's eye, teeth and gum materials
            (which reuse the first tile), keep the vertex albedo.
        image_size: (width, height) of the default camera.
    Returns:
        RenderResult.
    """
    if options.what not in RENDER_KINDS:
        raise UsageError(f"what: expected one of {', '.join(RENDER_KINDS)}, got {options.what!r}")
    if options.turntable_views < 0:
        raise UsageError(f"turntable_views: expected >= 0, got {options.turntable_views}")
    drawn = visible_face_indices(model, options.hidden_regions)
    mesh = select_faces(evaluate(model, params), drawn)
    if camera is None:
        camera = default_camera(model, mesh, *image_size)
    if options.turntable_views:
        yaw = torch.arange(options.turntable_views, dtype=torch.float32) * (2.0 * math.pi / options.turntable_views)
        mesh = Mesh(spin_about_vertical(mesh.vertices[:1], yaw), mesh.faces, mesh.uv, mesh.uv_faces)
    with torch.no_grad():
        frags = rasterize(mesh, camera)
        return _shade(model, mesh, camera, frags, options, texture, drawn)


def _shade(
    model: MorphableModel,
    mesh: Mesh,
    camera: Camera,
    frags: Fragments,
    options: RenderOptions,
    texture: torch.Tensor | None,
    drawn: torch.Tensor,
) -> RenderResult:
    what = options.what
    mask = render_mask(frags)
    data: torch.Tensor | None = None
    names: tuple[str, ...] = ()
    if what == "normal":
        data = render_normals(mesh, camera, frags, frame=options.normal_frame)
        image = to_uint8(normals_to_rgb(data, options.normal_frame))
    elif what == "depth":
        data = frags.depth
        image = to_uint8(depth_to_gray(data, mask).expand(-1, -1, -1, 3))
    elif what == "mask":
        image = to_uint8(mask[..., None].expand(-1, -1, -1, 3))
    elif what == "segmentation":
        present = tuple(r for r in SEGMENTATION_REGIONS if r in model.regions)
        labels = face_labels(vertex_region_labels(model.regions, present, model.num_vertices), mesh.faces)
        data = render_segmentation(labels, frags)
        names = ("background", "other", *present)  # index = label (LABEL_BACKGROUND 0, LABEL_OTHER 1, then k + 2)
        image = labels_to_rgb(data, label_palette(len(names)))
    elif what == "uv":
        data = render_uv(mesh, frags)
        # u spans UDIM-like tiles on ICT-FaceKit: show the position inside the tile (red) and v (green).
        shown = torch.stack([data[..., 0] - data[..., 0].floor(), data[..., 1], torch.zeros_like(mask)], -1)
        image = to_uint8(shown * mask[..., None])
    elif what == "pncc":
        image = to_uint8(render_pncc(mesh, ncc_colors(model.template), frags))
    else:  # shaded
        albedo = interpolate(vertex_albedo(model)[None], mesh.faces, frags)
        if texture is not None:
            if mesh.uv is None:
                raise UsageError("a texture needs a model with UV coordinates")
            uv = render_uv(mesh, frags)
            textured = _textured_triangles(model)[drawn][frags.face_index.clamp_min(0)]  # (B, H, W)
            in_tile = ((uv >= 0.0) & (uv <= 1.0)).all(-1) & textured
            albedo = torch.where(in_tile[..., None], sample_texture(texture, uv), albedo)
        normals = render_normals(mesh, camera, frags, frame="world")
        linear = shade_lambertian(albedo, normals, _lights(camera, options, frags.batch_size), mask, options.background)
        image = to_uint8(linear_to_srgb(linear))
    return RenderResult(image=image, data=data, label_names=names, camera=camera, fragments=frags)
