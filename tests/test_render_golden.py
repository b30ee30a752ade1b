"""Golden images: 64 x 64 renders of the synthetic model compared with tests/golden/*.png.

Regenerate after an intended change with ``pytest tests/test_render_golden.py --regen-golden`` and look at the new
PNGs before committing them. Only the synthetic model is rendered here: ICT-FaceKit renders are derived from ICT data
and must not be committed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceforge.morphable import MorphableModel
from faceforge.render.pipeline import RenderOptions, render_model
from faceforge.structures import FaceParams

GOLDEN = Path(__file__).resolve().parent / "golden"
KINDS = ("normal", "mask", "pncc", "shaded", "segmentation", "depth")
# Rounding may differ across CPUs and library builds: allow a few 8-bit levels on a few pixels, nothing more.
MAX_LEVEL_DIFF = 2
MAX_DIFFERING_FRACTION = 0.005


def _params(model: MorphableModel) -> FaceParams:
    g = torch.Generator().manual_seed(7)
    return FaceParams(
        identity=torch.randn(1, model.num_identity, generator=g),
        expression=torch.tensor([[0.0, 1.0, 0.6, 0.8, 0.0, 0.5]]),
        rotation=torch.tensor([[0.15, 0.45, -0.05]]),
        translation=torch.zeros(1, 3),
    )


@pytest.mark.parametrize("what", KINDS)
def test_golden_render(synthetic_model: MorphableModel, what: str, regen_golden: bool, tmp_path: Path) -> None:
    image = render_model(synthetic_model, _params(synthetic_model), None, RenderOptions(what=what),
                         image_size=(64, 64)).image[0]
    path = GOLDEN / f"synthetic_{what}.png"
    if regen_golden:
        GOLDEN.mkdir(exist_ok=True)
        Image.fromarray(image).save(path)
        pytest.skip(f"regenerated {path}")
    assert path.is_file(), f"{path} is missing: run pytest {Path(__file__).name} --regen-golden"
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert expected.shape == image.shape
    diff = np.abs(expected.astype(np.int16) - image.astype(np.int16))
    bad = diff > MAX_LEVEL_DIFF
    if bad.mean() > MAX_DIFFERING_FRACTION:
        out = tmp_path / f"diff_{what}.png"
        amplified = np.clip(diff * 8, 0, 255).astype(np.uint8)
        Image.fromarray(np.concatenate([expected, image, amplified], axis=1)).save(out)
        pytest.fail(f"{what}: {bad.mean():.2%} of values differ by more than {MAX_LEVEL_DIFF} levels "
                    f"(max {int(diff.max())}); expected | actual | 8x difference written to {out}")
