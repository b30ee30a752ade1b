"""The N2FNet ablations of seed 003 Tables 1-2, as short equal-budget runs: train, score, tabulate.

    python scripts/n2fnet_ablations.py train --out-dir /tmp/n2fnet_ablations          # ~75 min on one core
    python scripts/n2fnet_ablations.py evaluate --out-dir /tmp/n2fnet_ablations --json docs/n2fnet_ablations.json
    python scripts/n2fnet_ablations.py table --json docs/n2fnet_ablations.json         # markdown for BENCHMARKS.md

Runs (one seed, the same step budget, the same data stream): ``two_stage`` (normal input x face mask, stage 1 then
stage 2: the short baseline), ``joint`` (both losses on every part for the same total steps: Table 1),
``uv`` / ``uv_normal`` (the rendered UV-coordinate map, as Pixel3DMM predicts it, alone or stacked with the normals:
Table 2), ``no_mask`` (the whole head's normals, not multiplied by the face mask: Table 2's segmentation column),
``two_stage_seed1`` (the baseline with another seed: the run-to-run spread).
Every run trains ``python -m faceforge.fit.n2fnet.train`` with ``COMMON`` plus its flags; ``evaluate`` scores each
weights file like the ``n2fnet`` bench suite's "training crop" row (synthetic test faces 0..49, CD / MNE / CR@2mm
after rigid alignment, NME, the forward pass time) and writes one JSON with the commands, the training records
(seconds, final validation) and the scores. The weights stay out of the repository (only the shipped v1 weights are
committed). Run it pinned to one core (``taskset -c 1``, ``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

COMMON = ["--stage1-steps", "800", "--stage2-steps", "200", "--seed", "0", "--workers", "0", "--threads", "1",
          "--validate-every", "200"]
RUNS = {
    "two_stage": ([], "two-stage, normal x face mask (the short baseline)"),
    "no_mask": (["--no-mask"], "two-stage, normal, whole head (no face mask)"),
    "uv": (["--input", "uv"], "two-stage, UV map x face mask"),
    "uv_normal": (["--input", "uv+normal"], "two-stage, UV + normal x face mask"),
    "joint": (["--joint"], "joint (both losses, every part, same total steps)"),
    # The baseline again with another seed (initialization and data stream): how far apart two runs of the same
    # recipe land, the yardstick for the differences above.
    "two_stage_seed1": (["--seed", "1"], "two-stage, normal x face mask, seed 1 (the baseline again)"),
}


def _train(out_dir: Path, runs: list[str]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in runs:
        flags, _ = RUNS[name]
        cmd = [sys.executable, "-m", "faceforge.fit.n2fnet.train", *COMMON, *flags, "--out",
               str(out_dir / f"{name}.npz"), "--log", str(out_dir / f"{name}.jsonl")]
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


def _step_seconds(log: Path) -> dict[str, float] | None:
    """Median seconds per training step of each stage, from the step log (robust to a pause of the run)."""
    import numpy as np

    if not log.is_file():
        return None
    recs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    out = {}
    for stage in dict.fromkeys(r["stage"] for r in recs):
        t = np.array([r["seconds"] for r in recs if r["stage"] == stage])
        if t.size > 1:
            out[stage] = round(float(np.median(np.diff(t))), 3)
    return out


def _evaluate(out_dir: Path, json_path: Path, count: int, runs: list[str]) -> None:
    import torch

    from faceforge.assets import load_model
    from faceforge.bench.n2fnet_suite import evaluate_regressor, summarize
    from faceforge.datasets.synthetic import SYNTHETIC_VERSION
    from faceforge.fit.n2fnet.infer import N2FNetRegressor

    torch.set_num_threads(1)
    model = load_model()
    records = []
    for name in runs:
        path = out_dir / f"{name}.npz"
        if not path.is_file():
            print(f"{path}: missing, skipped", file=sys.stderr)
            continue
        reg = N2FNetRegressor(model, path)
        t0 = time.perf_counter()
        s = summarize(evaluate_regressor(model, reg, count, "crop"))
        meta = reg.meta
        flags, label = RUNS[name]
        records.append({
            "run": name, "label": label, "input": reg.net.cfg.describe_input(),
            "command": "python -m faceforge.fit.n2fnet.train " + " ".join([*COMMON, *flags]),
            "train_seconds": meta.get("train_seconds"), "step_seconds": _step_seconds(out_dir / f"{name}.jsonl"),
            "data_version": meta.get("data_version"),
            "final_validation": meta.get("final_validation"),
            "test": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in s.items()},
            "evaluate_seconds": round(time.perf_counter() - t0, 1),
        })
        print(name, json.dumps(records[-1]["test"]), flush=True)
    doc = {"what": "N2FNet ablations (seed 003 Tables 1-2): short equal-budget runs, one seed",
           "test_faces": f"faceforge.datasets.synthetic v{SYNTHETIC_VERSION}, split test, seed 0, faces 0-{count - 1}, "
                         "the network on the data engine's 128x128 crop (the n2fnet suite's 'training crop' row)",
           "metrics": "CD (mm) / MNE (deg) / CR@2mm after landmark + ICP rigid alignment "
                      "(faceforge.metrics.reconstruction), NME inter-ocular (fraction), ms_median: forward + decode "
                      "per face, batch 1, one thread",
           "command": "python scripts/n2fnet_ablations.py train/evaluate", "runs": records}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(doc, indent=1) + "\n")


def _table(json_path: Path) -> str:
    doc = json.loads(json_path.read_text())
    lines = ["| run | input | CD face | eyes | nose | mouth | ears | MNE (deg) | CR@2mm | NME | val. rotation (deg) | "
             "s / step |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in doc["runs"]:
        t, v = r["test"], r.get("final_validation") or {}
        steps = r.get("step_seconds") or {}
        per_step = " / ".join(f"{x:.2f}" for x in steps.values()) or "-"
        lines.append(f"| {r['label']} | {r['input']} | {t['cd_face_mm']:.2f} | {t['cd_eyes_mm']:.2f} | "
                     f"{t['cd_nose_mm']:.2f} | {t['cd_mouth_mm']:.2f} | {t['cd_ears_mm']:.2f} | "
                     f"{t['mne_face_deg']:.1f} | {t['cr_face']:.3f} | {100 * t['nme_mean']:.1f} % | "
                     f"{v.get('rotation_deg', float('nan')):.1f} | {per_step} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    for name in ("train", "evaluate"):
        q = sub.add_parser(name)
        q.add_argument("--out-dir", type=Path, required=True, help="where the weights and logs go")
        q.add_argument("--runs", nargs="+", choices=tuple(RUNS), default=list(RUNS))
        if name == "evaluate":
            q.add_argument("--json", type=Path, default=Path("docs/n2fnet_ablations.json"))
            q.add_argument("--count", type=int, default=50)
    q = sub.add_parser("table")
    q.add_argument("--json", type=Path, default=Path("docs/n2fnet_ablations.json"))
    args = p.parse_args(argv)
    if args.what == "train":
        _train(args.out_dir, args.runs)
    elif args.what == "evaluate":
        _evaluate(args.out_dir, args.json, args.count, args.runs)
    else:
        print(_table(args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
