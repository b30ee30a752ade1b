"""Benchmark suite "render": rasterization and differentiable interpolation of normals, ICT face region and head.

Cases, each at 256x256 and 512x512 (``--quick``: 256 only), front view framing the head (``default_camera``):

- ``rasterize``: ``faceforge.render.rasterize`` end to end (projection, z-buffer, barycentric resolve, tensors out).
- ``interpolate normals fwd+bwd``: differentiable barycentrics from the vertex positions, interpolation of given
  per-vertex normals (a leaf tensor), ``sum().backward()``; gradients reach positions and normals.
- ``render_normals fwd+bwd``: the same plus the area-weighted vertex normals computed from the positions
  (``faceforge.geometry.vertex_normals``) and per-pixel renormalization: what a photometric fit pays per step.

"face region" = the triangles of ICT's ``face`` vertex range (18,461), "full head" = every triangle of the model
(52,220, including the eye helper geometry that ``faceforge render`` hides).
"""

from __future__ import annotations

from faceforge.bench.registry import BenchOptions, BenchRow, register_suite, time_case
from faceforge.geometry import vertex_normals
from faceforge.morphable.evaluate import evaluate
from faceforge.render.gbuffers import render_normals
from faceforge.render.interpolate import differentiable_barycentrics, interpolate
from faceforge.render.parts import region_face_indices, select_faces
from faceforge.render.pipeline import default_camera
from faceforge.render.rasterize import rasterize
from faceforge.structures import FaceParams, Mesh


@register_suite("render", "Rendering (ICT-FaceKit, CPU)")
def render_suite(options: BenchOptions) -> list[BenchRow]:
    from faceforge.assets import load_model

    model = load_model()
    params = FaceParams.zeros(1, model.num_identity, model.num_expression)
    full = evaluate(model, params)
    meshes = {
        "face region": select_faces(full, region_face_indices(model, ["face"])),
        "full head": full,
    }
    rows: list[BenchRow] = []
    for size in (256,) if options.quick else (256, 512):
        camera = default_camera(model, meshes["full head"], size, size)
        for label, mesh in meshes.items():
            tris = int(mesh.faces.shape[0])
            frags = rasterize(mesh, camera)
            notes = {"triangles": tris, "size": size, "covered_pixels": int(frags.mask.sum())}
            name = f"{label} ({tris} tris), {size}x{size}"
            rows.append(time_case(f"rasterize, {name}", lambda m=mesh, c=camera: rasterize(m, c), options, notes))
            positions = mesh.vertices.clone().requires_grad_()
            normals = vertex_normals(mesh.vertices, mesh.faces).requires_grad_()

            def interp(m: Mesh = mesh, f=frags, c=camera, p=positions, n=normals) -> None:
                moved = Mesh(p, m.faces)
                out = interpolate(n, m.faces, f, differentiable_barycentrics(moved, c, f))
                out.sum().backward()

            rows.append(time_case(f"interpolate normals fwd+bwd, {name}", interp, options, notes))

            def full_normals(m: Mesh = mesh, f=frags, c=camera, p=positions) -> None:
                moved = Mesh(p, m.faces)
                out = render_normals(moved, c, f, bary=differentiable_barycentrics(moved, c, f))
                out.sum().backward()

            rows.append(time_case(f"render_normals fwd+bwd (with vertex normals), {name}", full_normals, options,
                                  notes))
    return rows
