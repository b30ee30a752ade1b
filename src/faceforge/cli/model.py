"""``faceforge model info``: what the morphable model holds."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from faceforge.assets import load_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("model", help="inspect the morphable model")
    s = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    i = s.add_parser("info", help="vertex/face/component counts and expression names")
    i.add_argument("--model", default="ict-facekit", choices=["ict-facekit", "flame"])
    i.add_argument("--model-path", type=Path, help="FLAME .pkl file (with --model flame)")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.set_defaults(func=_info)


def _info(args: argparse.Namespace) -> int:
    m = load_model(args.model, args.model_path)
    info = {
        "model": m.name,
        "units": m.units,
        "vertices": m.num_vertices,
        "faces": m.num_faces,
        "uv_coordinates": 0 if m.uv is None else int(m.uv.shape[0]),
        "identity_components": m.num_identity,
        "expression_components": m.num_expression,
        "expression_names": list(m.expression_names),
        "landmarks": int(m.landmark_indices.shape[0]),
        "joints": m.num_joints,
        "regions": {k: int(v.numel()) for k, v in sorted(m.regions.items())},
    }
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"{m.name}: {m.num_vertices} vertices, {m.num_faces} triangles, units {m.units}")
    print(f"identity components: {m.num_identity}, expression components: {m.num_expression}, joints: {m.num_joints}")
    print("expressions: " + ", ".join(m.expression_names))
    print("regions: " + ", ".join(f"{k} ({n})" for k, n in info["regions"].items()))
    return 0
