"""``faceforge bench``: run benchmark suites, print their tables, update docs/BENCHMARKS.md and docs/benchmarks.json."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from faceforge.bench import BenchOptions, format_section, get_suite, load_suites, machine_info, update_reports
from faceforge.errors import UsageError

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure speed (median ms after warm-up) and update docs/BENCHMARKS.md",
        description="Run benchmark suites on this machine. Each suite's table replaces its own section of "
        "BENCHMARKS.md and its entry in benchmarks.json in --output-dir. Timings are medians of repeated runs after "
        "warm-up, single-threaded by default.",
    )
    p.add_argument("--suite", nargs="+", metavar="NAME", help="suites to run (default: all registered)")
    p.add_argument("--quick", action="store_true", help="fewer repeats and cases (a smoke run)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--output-dir", type=Path, default=Path("docs"), help="where BENCHMARKS.md lives (default docs)")
    p.add_argument("--no-write", action="store_true", help="only print the tables")
    p.add_argument("--list", action="store_true", help="list the registered suites and exit")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import numba
    import torch

    if args.list:
        print("\n".join(sorted(load_suites())))
        return 0
    if args.threads < 1:
        raise UsageError(f"--threads: expected >= 1, got {args.threads}")
    names = args.suite or sorted(load_suites())
    suites = {name: get_suite(name) for name in names}  # validate every name before running anything
    saved = torch.get_num_threads(), numba.get_num_threads()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    figures = None if args.no_write else args.output_dir / "images"
    renders = None if args.no_write else args.output_dir / "renders"
    options = BenchOptions(quick=args.quick, threads=args.threads, figures_dir=figures, renders_dir=renders)
    info = machine_info(options)
    flags = ["--suite", *names] if args.suite else []
    flags += ["--quick"] if args.quick else []
    flags += [f"--threads {args.threads}"] if args.threads != 1 else []
    command = " ".join(["faceforge bench", *flags])
    results = {}
    try:
        for name, suite in suites.items():
            log.info("running suite %s", name)
            results[name] = suite(options)
            print(format_section(name, results[name], info, command))
    finally:  # callers in the same process (tests) get their thread settings back
        torch.set_num_threads(saved[0])
        numba.set_num_threads(saved[1])
    if not args.no_write:
        md, js = update_reports(args.output_dir, results, info, command)
        print(f"updated {md} and {js}")
    return 0
