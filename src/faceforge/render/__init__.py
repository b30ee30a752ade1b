"""CPU rendering: a Numba z-buffer for visibility, then differentiable torch interpolation and shading.

The whole path reads as::

    fragments = rasterize(mesh, camera)                       # discrete visibility (no gradient)
    bary = differentiable_barycentrics(mesh, camera, fragments)  # only when gradients wrt positions are needed
    normals = render_normals(mesh, camera, fragments, frame="world", bary=bary)
    image = shade_lambertian(albedo, normals, sh_coeffs, render_mask(fragments))

Conventions (pixel centres, coverage, ties, depth) are in ``faceforge.render.fragments``; colour encodings for
PNGs in ``faceforge.render.encode``; SH basis and constants in ``faceforge.render.shade``.
"""

from faceforge.render.fragments import Fragments
from faceforge.render.gbuffers import (
    LABEL_BACKGROUND,
    LABEL_OTHER,
    face_labels,
    ncc_colors,
    render_depth,
    render_mask,
    render_normals,
    render_pncc,
    render_segmentation,
    render_uv,
    vertex_region_labels,
)
from faceforge.render.interpolate import differentiable_barycentrics, interpolate
from faceforge.render.parts import DEFAULT_HIDDEN_REGIONS, region_face_indices, select_faces, visible_face_indices
from faceforge.render.pipeline import RENDER_KINDS, RenderOptions, RenderResult, render_model
from faceforge.render.rasterize import RasterOptions, rasterize
from faceforge.render.reference import rasterize_reference
from faceforge.render.sample import SampleOptions, VertexSamples, sample_image, sample_vertex_colors
from faceforge.render.shade import (
    sample_texture,
    sh_basis,
    sh_from_directional_light,
    sh_shading,
    shade_lambertian,
)

__all__ = [
    "DEFAULT_HIDDEN_REGIONS",
    "LABEL_BACKGROUND",
    "LABEL_OTHER",
    "RENDER_KINDS",
    "Fragments",
    "RasterOptions",
    "RenderOptions",
    "RenderResult",
    "SampleOptions",
    "VertexSamples",
    "differentiable_barycentrics",
    "face_labels",
    "interpolate",
    "ncc_colors",
    "rasterize",
    "rasterize_reference",
    "region_face_indices",
    "render_depth",
    "render_mask",
    "render_model",
    "render_normals",
    "render_pncc",
    "render_segmentation",
    "render_uv",
    "sample_image",
    "sample_texture",
    "sample_vertex_colors",
    "select_faces",
    "sh_basis",
    "sh_from_directional_light",
    "sh_shading",
    "shade_lambertian",
    "vertex_region_labels",
    "visible_face_indices",
]
