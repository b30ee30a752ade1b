"""Shared fixtures: the tiny synthetic model (always) and the real ICT-FaceKit model (installed by bootstrap.sh).

In CI (``CI`` set) a missing ICT model is an error, never a silent skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from faceforge.morphable import MorphableModel, make_synthetic_model

SHARED = Path(__file__).resolve().parents[2] / "shared"
ICT_ARCHIVE = SHARED / "assets" / "ict-facekit" / "ict-facekit-light-facexmodel.tar.xz"
DEV_DATA = SHARED / "data" / "dev"


@pytest.fixture(scope="session")
def synthetic_model() -> MorphableModel:
    return make_synthetic_model()


@pytest.fixture(scope="session")
def ict_model() -> MorphableModel:
    from faceforge.assets import ict_status, load_model

    if not ict_status().installed:
        if os.environ.get("CI"):
            pytest.fail("ICT-FaceKit is not installed in CI: bootstrap.sh must install it from ../shared")
        pytest.skip("ICT-FaceKit not installed (run: bash bootstrap.sh test)")
    return load_model()


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


# --- golden images (tests/test_render_golden.py): ``pytest --regen-golden`` rewrites tests/golden/*.png ---


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--regen-golden", action="store_true", help="rewrite the golden images in tests/golden/")


@pytest.fixture(scope="session")
def regen_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--regen-golden"))
