"""N2FNet data, rendering, training loop and checkpoints (tiny network, the synthetic model: fast)."""

from __future__ import annotations

import pytest
import torch

from faceforge.fit.n2fnet.data import CropJitter, SyntheticSource
from faceforge.fit.n2fnet.losses import LossWeights
from faceforge.fit.n2fnet.network import N2FNet, N2FNetConfig
from faceforge.fit.n2fnet.rendering import model_vertices, render_face
from faceforge.fit.n2fnet.train import TrainOptions, save_checkpoint, stage1_loss, stage2_loss, train, warmup_cosine
from faceforge.morphable import MorphableModel


def tiny_config(model: MorphableModel) -> N2FNetConfig:
    return N2FNetConfig(image_size=32, num_identity=5, num_expression=model.num_expression, dim=32, depth=1, heads=2,
                        stem_channels=(8, 8, 16), stem_convs=1, head_hidden=32, scale_ref=4.0)


@pytest.fixture(scope="module")
def source(synthetic_model: MorphableModel) -> SyntheticSource:
    return SyntheticSource(synthetic_model, 32, seed=3, jitter=CropJitter())


def test_crop_jitter_moves_only_the_crop(synthetic_model: MorphableModel, source: SyntheticSource) -> None:
    plain = SyntheticSource(synthetic_model, 32, seed=3)
    a, b = source.sample(5), plain.sample(5)
    torch.testing.assert_close(a.scene.params.identity, b.scene.params.identity, rtol=0, atol=0)
    assert not torch.equal(a.scene.camera.principal, b.scene.camera.principal)
    torch.testing.assert_close(a.scene.camera.rotation, b.scene.camera.rotation, rtol=0, atol=0)
    # The jittered box stays within the drawn limits (shift 8 % of the side, scale 0.9-1.15).
    x0, y0, side = b.scene.crop_box
    jx0, jy0, jside = a.scene.crop_box
    assert 0.9 * side <= jside <= 1.15 * side
    centre, jcentre = x0 + side / 2, jx0 + jside / 2
    assert abs(jcentre - centre) <= 0.08 * side + 1e-6
    torch.testing.assert_close(source.sample(5).scene.camera.focal, a.scene.camera.focal, rtol=0, atol=0)


def test_batches_are_deterministic(source: SyntheticSource) -> None:
    a, b = source.batch(2, 3), source.batch(2, 3)
    for name in ("normals", "mask", "landmarks_px", "identity", "rotation", "translation", "focal"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=0, atol=0)
    assert not torch.equal(a.identity, source.batch(3, 3).identity)
    x = a.network_input()
    assert x.shape == (3, 3, 32, 32)
    assert bool((x.permute(0, 2, 3, 1)[a.mask == 0] == 0).all())


def test_render_face_reproduces_the_batch(synthetic_model: MorphableModel, source: SyntheticSource) -> None:
    """The batch's pose (moved into the OpenCV camera frame) and intrinsics render its own landmarks and mask."""
    b = source.batch(0, 3)
    verts = model_vertices(synthetic_model, b.identity, b.expression)
    r = render_face(source.parts, verts, b.rotation, b.translation, b.focal, b.principal, 32)
    torch.testing.assert_close(r.landmarks_px, b.landmarks_px, atol=1e-3, rtol=0)
    iou = ((r.mask > 0) & (b.mask > 0)).sum() / ((r.mask > 0) | (b.mask > 0)).sum()
    assert float(iou) > 0.97
    d = stage2_loss_of_truth(synthetic_model, source, b)
    assert d < 0.05


def stage2_loss_of_truth(model: MorphableModel, source: SyntheticSource, b) -> float:
    from faceforge.fit.n2fnet.losses import render_loss

    verts = model_vertices(model, b.identity, b.expression)
    r = render_face(source.parts, verts, b.rotation, b.translation, b.focal, b.principal, 32)
    return float(render_loss(r.normals, r.mask, r.landmarks_px, b.normals, b.mask, b.landmarks_px).total)


def test_warmup_cosine_values() -> None:
    assert warmup_cosine(0, 100, 0.1) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(10, 100, 0.1) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 0.1) == pytest.approx(0.5)
    assert warmup_cosine(100, 100, 0.1) == pytest.approx(0.0, abs=1e-12)


def test_stage1_steps_lower_the_loss_on_a_fixed_batch(synthetic_model: MorphableModel,
                                                      source: SyntheticSource) -> None:
    torch.manual_seed(0)
    net = N2FNet(tiny_config(synthetic_model))
    batch = source.batch(0, 4)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        loss = stage1_loss(net.predict(batch.network_input()), batch, LossWeights())
        losses.append(float(loss.total.detach()))
        opt.zero_grad()
        loss.total.backward()
        opt.step()
    assert losses[-1] < losses[0]


def test_stage2_loss_gradients_reach_the_pose_not_the_shape(synthetic_model: MorphableModel,
                                                            source: SyntheticSource) -> None:
    cfg = tiny_config(synthetic_model)
    net = N2FNet(cfg)
    batch = source.batch(1, 2)
    loss = stage2_loss(synthetic_model, source.parts, net.predict(batch.network_input()), batch, LossWeights())
    loss.total.backward()
    assert float(net.camera_module.mlp[-1].weight.grad.abs().sum()) > 0.0
    head = net.model_module.mlp[-1].weight.grad  # rows: identity, expression, rotation (6)
    shape_rows = cfg.num_identity + cfg.num_expression
    assert float(head[:shape_rows].abs().sum()) == 0.0  # the mesh is detached in stage 2
    assert float(head[shape_rows:].abs().sum()) > 0.0  # the rotation is composed with the camera residual


def test_two_stage_training_freezes_stage1_parts(synthetic_model: MorphableModel, tmp_path) -> None:
    cfg = tiny_config(synthetic_model)
    opts = TrainOptions(stage1_steps=0, stage2_steps=2, batch_size=2, image_size=32, num_identity=5,
                        validate_every=100, validation_size=2, seed=5)
    torch.manual_seed(5)
    initial = N2FNet(cfg).state_dict()
    result = train(synthetic_model, opts, tmp_path / "log.jsonl", config=cfg)
    after = result.net.state_dict()
    assert all(torch.equal(initial[k], after[k]) for k in initial if k.startswith(("backbone.", "model_module.")))
    assert not torch.equal(initial["camera_module.mlp.2.weight"], after["camera_module.mlp.2.weight"])
    assert [h["stage"] for h in result.history] == ["stage2", "stage2"]
    assert "val" in result.history[-1] and (tmp_path / "log.jsonl").read_text().count("\n") == 2


def test_checkpoint_round_trip(synthetic_model: MorphableModel, tmp_path) -> None:
    from faceforge.fit.n2fnet.infer import load_network

    net = N2FNet(tiny_config(synthetic_model)).eval()
    save_checkpoint(tmp_path / "w.npz", net, {"model": "synthetic", "seed": 1})
    loaded, meta = load_network(tmp_path / "w.npz")
    assert meta == {"model": "synthetic", "seed": 1} and loaded.cfg == net.cfg
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, b = net(x), loaded(x)
    # float16 storage: outputs agree to about 1e-3 relative.
    torch.testing.assert_close(a[0], b[0], atol=5e-3, rtol=5e-3)
    torch.testing.assert_close(a[1], b[1], atol=5e-3, rtol=5e-3)


def test_load_network_refuses_bad_files(tmp_path) -> None:
    import numpy as np

    from faceforge.errors import AssetError
    from faceforge.fit.n2fnet.infer import load_network

    (tmp_path / "junk.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(AssetError, match="cannot read N2FNet weights"):
        load_network(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", format=np.array("other"))
    with pytest.raises(AssetError, match="not a faceforge N2FNet weights file"):
        load_network(tmp_path / "other.npz")
    with pytest.raises(AssetError, match="cannot read"):
        load_network(tmp_path / "missing.npz")
