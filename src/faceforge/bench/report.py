"""Benchmark reports: the machine, the versions, and the tables written into docs/BENCHMARKS.md + benchmarks.json.

Each suite owns one section of BENCHMARKS.md between ``<!-- bench:NAME:begin -->`` and ``<!-- bench:NAME:end -->``
(created at the end of the file when missing, replaced in place otherwise; text outside the markers is kept), and one
key of benchmarks.json (other suites' entries are kept). Both files are written atomically.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
from dataclasses import asdict
from pathlib import Path

from faceforge.bench.registry import SUITE_TITLES, BenchOptions, BenchRow
from faceforge.io.atomic import write_files_atomically

HEADER = """# Benchmarks

Measured with `faceforge bench`; every figure is the median of repeated runs after warm-up (see
`faceforge/bench/registry.py`). Rerun a suite with `faceforge bench --suite NAME`: it replaces only its own section
here and its own entry in `benchmarks.json`. Timings depend on the machine and its load: compare rows measured
together.
"""


def machine_info(options: BenchOptions) -> dict[str, str | int]:
    """CPU model (from /proc/cpuinfo), logical cores, threads used, Python/torch/numba/numpy versions, UTC date."""
    import numba
    import numpy
    import torch

    from faceforge import __version__

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cores": os.cpu_count() or 0,
        "threads": options.threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numba": numba.__version__,
        "numpy": numpy.__version__,
        "faceforge": __version__,
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
    }


def _notes(row: BenchRow) -> str:
    return ", ".join(f"{k} {v}" for k, v in row.notes.items())


def format_section(name: str, rows: list[BenchRow], info: dict[str, str | int], command: str) -> str:
    """The markdown section of one suite, markers included."""
    lines = [
        f"<!-- bench:{name}:begin -->",
        f"## {SUITE_TITLES.get(name, name)} (`{name}`)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {info['cpu']}, {info['logical_cores']} logical cores, {info['threads']} thread(s) used  ",
        f"Versions: faceforge {info['faceforge']}, Python {info['python']}, torch {info['torch']}, "
        f"numba {info['numba']}, numpy {info['numpy']}  ",
        f"Date: {info['date_utc']} UTC",
        "",
        "| case | median ms | min ms | runs | notes |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r.case} | {r.median_ms:.2f} | {r.min_ms:.2f} | {r.repeats} | {_notes(r)} |")
    lines.append(f"<!-- bench:{name}:end -->")
    return "\n".join(lines) + "\n"


def update_reports(
    folder: Path, results: dict[str, list[BenchRow]], info: dict[str, str | int], command: str
) -> tuple[Path, Path]:
    """Replace the sections/entries of the suites in ``results`` in BENCHMARKS.md and benchmarks.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md_path, json_path = folder / "BENCHMARKS.md", folder / "benchmarks.json"
    text = md_path.read_text() if md_path.is_file() else HEADER
    try:
        data = json.loads(json_path.read_text()) if json_path.is_file() else {}
    except json.JSONDecodeError:
        data = {}
    for name, rows in results.items():
        section = format_section(name, rows, info, command)
        pattern = re.compile(rf"<!-- bench:{re.escape(name)}:begin -->.*?<!-- bench:{re.escape(name)}:end -->\n?",
                             re.DOTALL)
        if pattern.search(text):
            text = pattern.sub(lambda _m, s=section: s, text)
        else:
            text = text.rstrip("\n") + "\n\n" + section
        data[name] = {"machine": info, "command": command, "rows": [asdict(r) for r in rows]}
    write_files_atomically({
        md_path: text.encode(),
        json_path: (json.dumps(data, indent=1, sort_keys=True) + "\n").encode(),
    })
    return md_path, json_path
