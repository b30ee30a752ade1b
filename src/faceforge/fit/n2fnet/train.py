"""Two-stage N2FNet training (seed 003, III.3 and IV.1) on streamed synthetic faces.

Stage 1 trains the backbone and the model module with the parameter loss (eq. 4); stage 2 freezes them and trains
the camera module with the rendering loss (eq. 5). ``joint=True`` is the paper's baseline ablation: everything
trained together with both losses for the same total number of steps. Adam; every parameter group follows a linear
warm-up then a cosine decay to 0 within its stage. A new batch is rendered at every step, batch ``i`` of the run
being a pure function of (seed, i), and the initialization is seeded, so a run repeats on one machine with the same
thread count (not verified bit for bit by a rerun; floating-point results can differ between CPUs).

Command line (what the shipped weights were made with is recorded beside them)::

    python -m faceforge.fit.n2fnet.train --stage1-steps N --stage2-steps M --seed S --out PATH.npz [--log PATH.jsonl]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from faceforge.fit.n2fnet.data import CropJitter, SyntheticSource, TrainingBatch, data_version, iterate_batches
from faceforge.fit.n2fnet.losses import LossTerms, LossWeights, param_loss, render_loss
from faceforge.fit.n2fnet.network import INPUT_KINDS, N2FNet, N2FNetConfig, N2FNetOutput, translation_from_origin
from faceforge.fit.n2fnet.rendering import FaceParts, model_vertices, render_face
from faceforge.morphable.model import MorphableModel

log = logging.getLogger(__name__)

VALIDATION_SEED_OFFSET = 7919  # validation batches come from seed + this (never a training seed of the same run)


@dataclass(frozen=True)
class TrainOptions:
    """Options of ``train``.

    Attributes:
        stage1_steps, stage2_steps: optimizer steps of each stage (with ``joint``, their sum is run jointly).
        batch_size: faces per step (16 in the paper).
        seed: data and initialization seed.
        image_size: network input size S.
        num_identity: identity modes predicted (K).
        lr: learning rate of the backbone and the model module (the paper: 1e-3 for the module and the first
            convolution, 1e-6 for the pre-trained rest; ours is trained from scratch with one rate: 1e-3 measured
            slower and less stable than 3e-4 over 300-1000 steps).
        lr_camera: learning rate of the camera module (the paper: 1e-4 over 200K steps; our runs are ~100x
            shorter).
        warmup_fraction: share of each stage spent in the linear warm-up.
        joint: the baseline ablation (one stage, L_param + L_render, every part trained).
        workers: 1 = render the next batches in a background process; 0 = in the training process.
        validate_every: steps between validations (the best validated weights are kept, as in the paper).
        validation_size: faces in the fixed validation set.
        weights: loss weights.
        jitter: random moves of the training crops (``data.CropJitter``), also applied to the validation faces.
        input_kind: the network input (``network.INPUT_KINDS``: "normal", "uv", "uv+normal"; seed 003 Table 2).
        input_masked: multiply the input by the face mask (eq. 1); False = the whole head (ablation).
    """

    stage1_steps: int = 2000
    stage2_steps: int = 500
    batch_size: int = 16
    seed: int = 0
    image_size: int = 128
    num_identity: int = 30
    lr: float = 3e-4
    lr_camera: float = 5e-4
    warmup_fraction: float = 0.05
    joint: bool = False
    workers: int = 0
    validate_every: int = 250
    validation_size: int = 64
    weights: LossWeights = LossWeights()
    jitter: CropJitter = CropJitter()
    input_kind: str = "normal"
    input_masked: bool = True


@dataclass(frozen=True)
class TrainResult:
    """The trained network (best validated weights of the last stage) and the log records."""

    net: N2FNet
    history: list[dict]


def warmup_cosine(step: int, total: int, warmup_fraction: float) -> float:
    """Learning-rate factor: linear from 1/w to 1 over the first w steps, then cosine from 1 to 0 at ``total``."""
    w = max(1, int(round(total * warmup_fraction)))
    if step < w:
        return (step + 1) / w
    progress = (step - w) / max(1, total - w)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def pose_from_output(out: N2FNetOutput, focal_px: torch.Tensor, principal_px: torch.Tensor) -> tuple[torch.Tensor,
                                                                                                      torch.Tensor]:
    """(rotation (B, 3, 3), translation (B, 3)) of the head in the camera frame for the given crop intrinsics."""
    return out.rotation, translation_from_origin(out.origin_px, out.scale_px, focal_px, principal_px)


def stage1_loss(out: N2FNetOutput, batch: TrainingBatch, weights: LossWeights) -> LossTerms:
    k = out.identity.shape[1]
    return param_loss(out.identity, out.expression_linear, out.model_rotation, batch.identity[:, :k], batch.expression,
                      batch.rotation, weights)


def stage2_loss(
    model: MorphableModel, parts: FaceParts, out: N2FNetOutput, batch: TrainingBatch, weights: LossWeights,
    shape_grad: bool = False,
) -> LossTerms:
    """Eq. 5 on the predicted face rendered with the crop intrinsics (shape gradients only when ``shape_grad``)."""
    with torch.set_grad_enabled(shape_grad and torch.is_grad_enabled()):
        verts = model_vertices(model, out.identity, out.expression)
    rot, trans = pose_from_output(out, batch.focal, batch.principal)
    r = render_face(parts, verts, rot, trans, batch.focal, batch.principal, batch.normals.shape[1])
    return render_loss(r.normals, r.mask, r.landmarks_px, batch.normals * batch.mask[..., None], batch.mask,
                       batch.landmarks_px, weights)


@torch.no_grad()
def validate(net: N2FNet, model: MorphableModel, parts: FaceParts, batches: list[TrainingBatch],
             weights: LossWeights) -> dict[str, float]:
    """Mean losses and plain errors on fixed batches: identity RMSE, expression MAE, rotation error (deg), landmark
    error (% of the crop side)."""
    was_training = net.training
    net.eval()
    sums: dict[str, float] = {}
    n = 0
    for b in batches:
        out = net.predict(b.network_input(net.cfg.input_kind, net.cfg.input_masked))
        k = out.identity.shape[1]
        p = stage1_loss(out, b, weights)
        r = stage2_loss(model, parts, out, b, weights)
        rel = out.rotation @ b.rotation.transpose(1, 2)
        angle = torch.rad2deg(torch.acos(((rel.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)))
        rot_t = pose_from_output(out, b.focal, b.principal)
        lm = render_face(parts, model_vertices(model, out.identity, out.expression), *rot_t, b.focal,
                         b.principal, b.normals.shape[1], differentiable=False).landmarks_px
        vals = {
            "param_loss": float(p.total), "render_loss": float(r.total), "normal_dcos": float(r.terms["normal"]),
            "mask_l2": float(r.terms["mask"]),
            "identity_rmse": float((out.identity - b.identity[:, :k]).square().mean().sqrt()),
            "expression_mae": float((out.expression - b.expression).abs().mean()),
            "rotation_deg": float(angle.mean()),
            "landmark_err_pct": float((lm - b.landmarks_px).norm(dim=-1).mean() / b.normals.shape[1] * 100),
        }
        for key, v in vals.items():
            sums[key] = sums.get(key, 0.0) + v * b.batch_size
        n += b.batch_size
    net.train(was_training)
    return {k: v / n for k, v in sums.items()}


def _make_optimizer(net: N2FNet, stage: str, options: TrainOptions) -> torch.optim.Adam:
    if stage == "stage1":
        groups = [{"params": list(net.backbone.parameters()) + list(net.model_module.parameters()), "lr": options.lr}]
    elif stage == "stage2":
        groups = [{"params": list(net.camera_module.parameters()), "lr": options.lr_camera}]
    else:
        groups = [
            {"params": list(net.backbone.parameters()) + list(net.model_module.parameters()), "lr": options.lr},
            {"params": list(net.camera_module.parameters()), "lr": options.lr_camera},
        ]
    for g in groups:
        g["base_lr"] = g["lr"]
    return torch.optim.Adam(groups)


def _run_stage(
    stage: str, net: N2FNet, model: MorphableModel, source: SyntheticSource, start: int, steps: int,
    val: list[TrainingBatch], options: TrainOptions, history: list[dict], log_file,
) -> None:
    if steps <= 0:
        return
    opt = _make_optimizer(net, stage, options)
    frozen = stage == "stage2"
    for p in net.parameters():
        p.requires_grad_(True)
    if frozen:
        for m in (net.backbone, net.model_module):
            for p in m.parameters():
                p.requires_grad_(False)
    net.train()
    if frozen:
        net.backbone.eval()
        net.model_module.eval()
    best = (math.inf, None)
    crit = "param_loss" if stage == "stage1" else "render_loss"
    t0 = time.perf_counter()
    for i, batch in enumerate(iterate_batches(source, start, steps, options.batch_size, options.workers)):
        factor = warmup_cosine(i, steps, options.warmup_fraction)
        for g in opt.param_groups:
            g["lr"] = g["base_lr"] * factor
        out = net.predict(batch.network_input(net.cfg.input_kind, net.cfg.input_masked))
        if stage == "stage1":
            loss = stage1_loss(out, batch, options.weights)
        elif stage == "stage2":
            loss = stage2_loss(model, source.parts, out, batch, options.weights)
        else:
            p = stage1_loss(out, batch, options.weights)
            r = stage2_loss(model, source.parts, out, batch, options.weights, shape_grad=True)
            loss = LossTerms(p.total + r.total, {**p.terms, **r.terms})
        opt.zero_grad(set_to_none=True)
        loss.total.backward()
        opt.step()
        rec = {"stage": stage, "step": i + 1, "lr_factor": round(factor, 5), "seconds": round(time.perf_counter() - t0,
               2), **{k: round(v, 6) for k, v in loss.scalars().items()}}
        last = i + 1 == steps
        if (i + 1) % options.validate_every == 0 or last:
            rec["val"] = {k: round(v, 6) for k, v in validate(net, model, source.parts, val,
                                                              options.weights).items()}
            score = rec["val"][crit] if stage != "joint" else rec["val"]["param_loss"] + rec["val"]["render_loss"]
            if score < best[0]:
                best = (score, {k: v.detach().clone() for k, v in net.state_dict().items()})
            log.info("%s step %d: loss %.4f, val %s", stage, i + 1, float(loss.total.detach()), rec["val"])
        history.append(rec)
        if log_file is not None:
            log_file.write(json.dumps(rec) + "\n")
            log_file.flush()
    if best[1] is not None:
        net.load_state_dict(best[1])


def train(model: MorphableModel, options: TrainOptions = TrainOptions(), log_path: Path | None = None,
          config: N2FNetConfig | None = None) -> TrainResult:
    """Train N2FNet from scratch on streamed synthetic faces (module docstring)."""
    torch.manual_seed(options.seed)
    cfg = config or N2FNetConfig(image_size=options.image_size, num_identity=options.num_identity,
                                 num_expression=model.num_expression, input_kind=options.input_kind,
                                 input_masked=options.input_masked)
    net = N2FNet(cfg)
    uv = cfg.input_kind != "normal"
    source = SyntheticSource(model, cfg.image_size, options.seed, options.jitter, uv=uv)
    val_source = SyntheticSource(model, cfg.image_size, options.seed + VALIDATION_SEED_OFFSET, options.jitter, uv=uv)
    vb = min(options.batch_size, options.validation_size)
    val = [val_source.batch(i, vb) for i in range(max(1, options.validation_size // vb))]
    history: list[dict] = []
    log_file = open(log_path, "a") if log_path is not None else None  # noqa: SIM115 - closed below
    try:
        if options.joint:
            _run_stage("joint", net, model, source, 0, options.stage1_steps + options.stage2_steps, val, options,
                       history, log_file)
        else:
            _run_stage("stage1", net, model, source, 0, options.stage1_steps, val, options, history, log_file)
            _run_stage("stage2", net, model, source, options.stage1_steps, options.stage2_steps, val, options,
                       history, log_file)
    finally:
        if log_file is not None:
            log_file.close()
    for p in net.parameters():
        p.requires_grad_(True)
    return TrainResult(net.eval(), history)


CHECKPOINT_FORMAT = "faceforge-n2fnet-1"


def save_checkpoint(path: Path, net: N2FNet, meta: dict, half: bool = True) -> None:
    """Write the network as a pickle-free ``.npz``: ``format``, ``config_json``, ``meta_json`` (strings) and one
    array per state-dict entry under ``w/<name>`` (float16 when ``half``: half the size; the outputs move by ~1e-3
    relative, far below what the network resolves). Written atomically."""
    import io

    import numpy as np

    from faceforge.io.atomic import write_bytes_atomically

    arrays = {"format": np.array(CHECKPOINT_FORMAT), "config_json": np.array(json.dumps(net.cfg.to_dict())),
              "meta_json": np.array(json.dumps(meta, sort_keys=True))}
    for k, v in net.state_dict().items():
        t = v.detach().cpu()
        arrays[f"w/{k}"] = (t.half() if half and t.is_floating_point() else t).numpy()
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes_atomically(Path(path), buf.getvalue())


def training_report(weights: Path, log_path: Path | None, every: int = 250) -> dict:
    """What a weights file holds about its training, plus loss curves from its step log (means over ``every``
    steps) and the network's size: the JSON shipped beside the weights."""
    import platform

    from faceforge.fit.n2fnet.infer import load_network
    from faceforge.fit.n2fnet.network import count_parameters

    net, meta = load_network(weights)
    report = {"weights": Path(weights).name, **meta, "parameters": asdict(count_parameters(net)),
              "config": net.cfg.to_dict(), "machine": {"cpu": _cpu_name(), "python": platform.python_version()}}
    if log_path is not None and Path(log_path).is_file():
        records = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
        curves: dict[str, list[dict]] = {}
        for stage in dict.fromkeys(r["stage"] for r in records):
            rows = [r for r in records if r["stage"] == stage]
            keys = [k for k in rows[0] if k not in ("stage", "step", "lr_factor", "seconds", "val")]
            curves[stage] = [{"steps": f"{chunk[0]['step']}-{chunk[-1]['step']}",
                              **{k: round(sum(r[k] for r in chunk) / len(chunk), 4) for k in keys}}
                             for chunk in (rows[i:i + every] for i in range(0, len(rows), every))]
        report["train_loss_curves"] = curves
        report["validation"] = [{"stage": r["stage"], "step": r["step"], "seconds": r["seconds"], **r["val"]}
                                for r in records if "val" in r]
    return report


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m faceforge.fit.n2fnet.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--stage1-steps", type=int, required=True)
    p.add_argument("--stage2-steps", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="weights file (.npz)")
    p.add_argument("--log", type=Path, help="append one JSON line per step here")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-identity", type=int, default=30)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--lr-camera", type=float, default=5e-4)
    p.add_argument("--joint", action="store_true", help="ablation: one joint stage with both losses")
    p.add_argument("--input", choices=tuple(INPUT_KINDS), default="normal",
                   help="ablation: the network input (the rendered UV map, normals, or both)")
    p.add_argument("--no-mask", action="store_true",
                   help="ablation: the input is not multiplied by the face mask (the whole head)")
    p.add_argument("--workers", type=int, default=0, choices=(0, 1))
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--validate-every", type=int, default=250)
    p.add_argument("--jitter-shift", type=float, default=CropJitter.shift, help="crop shift, fraction of the side")
    p.add_argument("--jitter-scale", type=float, nargs=2, default=(CropJitter.scale_min, CropJitter.scale_max),
                   metavar=("MIN", "MAX"), help="crop side scale range")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    torch.set_num_threads(args.threads)
    from faceforge.assets import load_model

    model = load_model()
    options = TrainOptions(stage1_steps=args.stage1_steps, stage2_steps=args.stage2_steps, batch_size=args.batch_size,
                           seed=args.seed, image_size=args.image_size, num_identity=args.num_identity, lr=args.lr,
                           lr_camera=args.lr_camera, joint=args.joint, workers=args.workers,
                           input_kind=args.input, input_masked=not args.no_mask,
                           validate_every=args.validate_every,
                           jitter=CropJitter(args.jitter_shift, args.jitter_scale[0], args.jitter_scale[1]))
    t0 = time.time()
    result = train(model, options, args.log)
    last_val = next((h["val"] for h in reversed(result.history) if "val" in h), {})
    meta = {
        "command": "python -m faceforge.fit.n2fnet.train " + " ".join(sys.argv[1:] if argv is None else argv),
        "options": asdict(options),
        "data_version": data_version(args.seed, args.image_size, options.jitter, options.input_kind,
                                     options.input_masked), "model": model.name,
        "threads": args.threads,
        "train_seconds": round(time.time() - t0, 1), "torch": str(torch.__version__), "final_validation": last_val,
    }
    from faceforge.fit.n2fnet.infer import crop_calibration

    meta["crop_calibration"] = crop_calibration(model, args.seed + VALIDATION_SEED_OFFSET + 1)
    save_checkpoint(args.out, result.net, meta)
    from faceforge.io.atomic import write_bytes_atomically

    report = training_report(args.out, args.log)
    write_bytes_atomically(args.out.with_suffix(".json"), (json.dumps(report, indent=1) + "\n").encode())
    log.info("saved %s (and its .json) after %.0f s", args.out, time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
