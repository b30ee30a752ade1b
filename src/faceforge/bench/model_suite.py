"""Benchmark suite "model": evaluating ICT-FaceKit (blendshapes, eye rig, rigid pose) for a batch of full meshes."""

from __future__ import annotations

import torch

from faceforge.bench.registry import BenchOptions, BenchRow, register_suite, time_case
from faceforge.morphable.evaluate import evaluate
from faceforge.structures import FaceParams


@register_suite("model", "Model evaluation (ICT-FaceKit)")
def model_suite(options: BenchOptions) -> list[BenchRow]:
    """``evaluate`` of full ICT-FaceKit meshes (26,719 vertices) at batch 1 and 64, random identity/expression/pose."""
    from faceforge.assets import load_model

    model = load_model()
    rows = []
    for batch in (1, 64):
        g = torch.Generator().manual_seed(batch)
        params = FaceParams(
            identity=torch.randn(batch, model.num_identity, generator=g),
            expression=torch.rand(batch, model.num_expression, generator=g),
            rotation=(torch.rand(batch, 3, generator=g) - 0.5) * 0.6,
            translation=torch.randn(batch, 3, generator=g),
        )

        def body(params: FaceParams = params) -> None:
            with torch.no_grad():
                evaluate(model, params)

        rows.append(time_case(f"evaluate, batch {batch} (full mesh, {model.num_vertices} vertices)", body, options,
                              {"batch": batch, "vertices": model.num_vertices}))
    return rows
