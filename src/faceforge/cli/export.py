"""``faceforge export``: parameters (JSON/NPZ) -> a mesh file (GLB with morph targets, OBJ, PLY)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from faceforge.errors import InputError, UsageError
from faceforge.geometry import vertex_normals
from faceforge.io.gltf import GlbOptions, save_glb
from faceforge.io.mesh import save_obj, save_ply
from faceforge.io.params import ParamsRecord, load_params_json, load_params_npz, read_model_name
from faceforge.morphable import MorphableModel, evaluate, make_synthetic_model
from faceforge.structures import FaceParams

log = logging.getLogger(__name__)

FORMATS = (".glb", ".obj", ".ply")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the face of a parameter file as GLB (named morph targets), OBJ or PLY",
        description="Evaluate the model at the parameters and write the mesh. Coordinates are the model frame and "
        "units (cm for ICT-FaceKit) without the rigid head pose unless --posed. A GLB holds the identity mesh with "
        "one morph target per expression and the file's expression weights as default weights; its node scales "
        "model units to metres.",
    )
    p.add_argument("params", type=Path, help="parameter file (.json, or .npz with --frame)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file: .glb, .obj or .ply")
    p.add_argument("--neutral", action="store_true", help="zero expression (GLB: all default weights 0)")
    p.add_argument("--posed", action="store_true", help="apply the rigid head pose (GLB: as the node transform)")
    p.add_argument("--frame", type=int, default=0, help="batch row of an .npz file (default 0)")
    p.add_argument("--texture", type=Path, help="base-colour image in the model's UV layout (GLB and OBJ)")
    p.add_argument("--split-materials", action="store_true",
                   help="GLB: one primitive and material per model face group (nicer in Blender, heavier in three.js)")
    p.add_argument("--no-normal-targets", action="store_true", help="GLB: no NORMAL morph deltas (half the size)")
    p.add_argument("--model-path", type=Path, help="the FLAME .pkl file for FLAME parameters")
    p.set_defaults(func=_run)


def _load_model(name: str, model_path: Path | None) -> MorphableModel:
    if name == "synthetic":
        return make_synthetic_model()
    from faceforge.assets import load_model

    return load_model(name, model_path)


def _read_params(path: Path, model: MorphableModel, frame: int) -> ParamsRecord:
    if path.suffix.lower() == ".npz":
        rec = load_params_npz(path, model)
        if not 0 <= frame < rec.params.batch_size:
            raise UsageError(f"--frame {frame}: {path} holds {rec.params.batch_size} frames")
        return ParamsRecord(rec.params.select(frame), None, rec.model_name)
    if frame != 0:
        raise UsageError("--frame applies to .npz parameter files only")
    return load_params_json(path, model)


def _read_texture(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"{path}: not a readable image ({exc})") from None


def _run(args: argparse.Namespace) -> int:
    out: Path = args.output
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"-o {out}: unknown format {suffix or '(none)'}; use one of {', '.join(FORMATS)}")
    model = _load_model(read_model_name(args.params), args.model_path)
    params = _read_params(args.params, model, args.frame).params
    texture = None if args.texture is None else _read_texture(args.texture)
    if texture is not None and suffix == ".ply":
        raise UsageError("--texture: PLY files hold no texture; export .glb or .obj")
    if texture is not None and model.uv is None:
        raise UsageError(f"--texture: {model.name} has no UV coordinates")
    if args.neutral:
        params = FaceParams(params.identity, torch.zeros_like(params.expression), params.rotation,
                            params.translation, params.joint_rotations)
    if suffix == ".glb":
        if params.joint_rotations is not None:
            log.warning("joint rotations are not exported to GLB (the mesh is in its rest pose)")
        save_glb(
            out, model, params.identity[0], params.expression[0], texture=texture,
            node_rotation=params.rotation[0] if args.posed else None,
            node_translation=params.translation[0] if args.posed else None,
            options=GlbOptions(normal_targets=not args.no_normal_targets, split_materials=args.split_materials),
        )
        return 0
    if not args.posed:
        zeros = torch.zeros_like(params.rotation)
        params = FaceParams(params.identity, params.expression, zeros, zeros, params.joint_rotations)
    with torch.no_grad():
        mesh = evaluate(model, params)
        verts = mesh.vertices[0]
        if suffix == ".obj":
            normals = vertex_normals(mesh.vertices, mesh.faces)[0]
            save_obj(out, verts, mesh.faces, uv=mesh.uv, uv_faces=mesh.uv_faces, texture=texture, normals=normals)
        else:
            save_ply(out, verts, mesh.faces)
    return 0
