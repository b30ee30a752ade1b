"""N2FNet input kinds for the Tables 1-2 ablations: normal / uv / uv+normal, with and without the face mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceforge.errors import InputError, UsageError
from faceforge.fit.n2fnet.data import SyntheticSource
from faceforge.fit.n2fnet.infer import N2FNetRegressor, RegressOptions
from faceforge.fit.n2fnet.network import N2FNet, N2FNetConfig, compose_input
from faceforge.fit.n2fnet.train import save_checkpoint
from faceforge.morphable import MorphableModel


def _tiny(model: MorphableModel, **kw) -> N2FNetConfig:
    return N2FNetConfig(image_size=32, num_identity=5, num_expression=model.num_expression, dim=32, depth=1, heads=2,
                        stem_channels=(8, 8, 16), stem_convs=1, head_hidden=32, **kw)


def test_compose_input_channels_and_mask() -> None:
    normals = torch.zeros(1, 4, 4, 3)
    normals[0, :, :2, 2] = -1.0  # surface on the left half
    mask = torch.zeros(1, 4, 4)
    mask[0, :2, :2] = 1.0  # face on the top-left quarter
    uv = torch.full((1, 4, 4, 2), 0.75)
    x = compose_input("uv+normal", True, normals, mask, uv)
    assert x.shape == (1, 5, 4, 4)
    torch.testing.assert_close(x[0, :, 0, 0], torch.tensor([0.5, 0.5, 0.0, 0.0, -1.0]))
    assert float(x[0, :, 2:, :].abs().sum()) == 0.0  # off the face mask
    whole = compose_input("uv", False, normals, mask, uv)
    assert whole.shape == (1, 2, 4, 4)
    assert float(whole[0, :, 3, 0].abs().sum()) > 0 and float(whole[0, :, :, 2:].abs().sum()) == 0.0  # no UV off
    with pytest.raises(UsageError, match="needs a UV map"):
        compose_input("uv", True, normals, mask)
    with pytest.raises(UsageError, match="input_kind"):
        N2FNetConfig(input_kind="depth")


def test_batches_carry_uv_and_whole_head_normals(ict_model: MorphableModel) -> None:
    b = SyntheticSource(ict_model, 32, seed=1, uv=True).batch(0, 2)
    assert b.uv is not None and b.uv.shape == (2, 32, 32, 2) and b.normals_full is not None
    head = b.normals_full.abs().sum(-1) > 0
    assert bool((b.uv.abs().sum(-1) > 0)[head].float().mean() > 0.99)  # the UV map covers the drawn head
    assert int((head & (b.mask == 0)).sum()) > 0  # the whole head is more than the face region
    x = b.network_input("uv+normal", masked=False)
    assert x.shape == (2, 5, 32, 32)
    torch.testing.assert_close(x[:, 2:], b.normals_full.permute(0, 3, 1, 2))
    torch.testing.assert_close(b.network_input("normal", True), b.network_input())


def test_weights_record_the_input_and_inference_refuses_others(synthetic_model: MorphableModel, tmp_path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "uv.npz"
    save_checkpoint(path, N2FNet(_tiny(synthetic_model, input_kind="uv+normal", input_masked=False)),
                    {"model": "synthetic"})
    reg = N2FNetRegressor(synthetic_model, path)
    assert (reg.net.cfg.input_kind, reg.net.cfg.input_masked) == ("uv+normal", False)
    mask = np.zeros((64, 64), dtype=bool)
    mask[16:48, 20:44] = True
    normals = np.zeros((64, 64, 3), dtype=np.float32)
    normals[8:56, 12:52, 2] = -1.0  # the head is larger than the face mask
    with pytest.raises(InputError, match="a UV map is needed"):
        reg.regress(normals, mask)
    uv = np.full((64, 64, 2), 0.5, dtype=np.float32)
    out = reg.regress(normals, mask, RegressOptions(refine_steps=0), uv=uv)
    assert np.isfinite(out.landmarks_68_px).all()
    x = reg.network_input(normals, mask, out.crop_box, uv)
    assert x.shape == (1, 5, 32, 32)
    # Without the mask the input covers the head, not only the face.
    covered = (x[0, 2:].abs().sum(0) > 0).sum()
    assert int(covered) > int(mask.sum() * (32 / out.crop_box[2]) ** 2 * 1.2)
    with pytest.raises(UsageError, match=r"expected shape \(B, 5, 32, 32\)"):
        reg.net.predict(torch.zeros(1, 3, 32, 32))
    plain = tmp_path / "normal.npz"
    save_checkpoint(plain, N2FNet(_tiny(synthetic_model)), {"model": "synthetic"})
    with pytest.raises(InputError, match="normal maps only"):
        N2FNetRegressor(synthetic_model, plain).regress(normals, mask, uv=uv)
