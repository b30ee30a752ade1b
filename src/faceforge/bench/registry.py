"""The benchmark suite registry and the timing helper every suite uses.

A suite is a function ``(BenchOptions) -> list[BenchRow]`` registered under a name with ``@register_suite("name")``;
``faceforge bench --suite name`` runs it and ``faceforge.bench.report`` writes its table into docs/BENCHMARKS.md and
its figures into docs/benchmarks.json. To add one, write a module with a registered function and list the module in
``SUITE_MODULES`` (imported lazily, so a suite's heavy imports cost nothing until it runs).

Timing rule: run the body ``warmup`` times untimed (JIT compilation, caches, allocator), then ``repeats`` times
with ``time.perf_counter``, and report the median (and the minimum) in milliseconds. Threads are fixed by the
runner before any suite starts (``BenchOptions.threads``).
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from faceforge.errors import UsageError

# Modules that register suites when imported; add yours here.
SUITE_MODULES = ("faceforge.bench.model_suite", "faceforge.bench.render_suite", "faceforge.bench.reconstruct_suite",
                 "faceforge.bench.eval_suites", "faceforge.bench.track_suite", "faceforge.bench.n2fnet_suite")


@dataclass(frozen=True)
class BenchOptions:
    """Options of a benchmark run.

    Attributes:
        quick: fewer repeats and only the smaller cases (a smoke run, not for publishing).
        threads: torch intra-op threads (Numba kernels here are single-threaded anyway).
        repeats: timed runs per case (after ``warmup`` untimed runs).
        warmup: untimed runs per case.
        figures_dir: where suites may write PNG figures (plots of metrics), or None to write none.
        renders_dir: where suites may write renders of the model (error heat maps): ICT-derived pictures that are
            never committed (``docs/renders/`` is git-ignored), or None to write none.
    """

    quick: bool = False
    threads: int = 1
    repeats: int = 30
    warmup: int = 3
    figures_dir: Path | None = None
    renders_dir: Path | None = None


@dataclass(frozen=True)
class BenchRow:
    """One measured case.

    Attributes:
        case: what was timed, e.g. "rasterize, full head (52220 tris), 256x256".
        median_ms, min_ms: over ``repeats`` timed runs, milliseconds.
        repeats: timed runs.
        notes: free-form facts about the case (sizes, covered pixels), shown in the table and kept in the JSON.
    """

    case: str
    median_ms: float
    min_ms: float
    repeats: int
    notes: dict[str, float | int | str] = field(default_factory=dict)


Suite = Callable[[BenchOptions], list[BenchRow]]
SUITES: dict[str, Suite] = {}
SUITE_TITLES: dict[str, str] = {}


def register_suite(name: str, title: str = "") -> Callable[[Suite], Suite]:
    """Decorator registering ``fn`` as suite ``name`` (``title`` heads its section in BENCHMARKS.md)."""

    def wrap(fn: Suite) -> Suite:
        SUITES[name] = fn
        SUITE_TITLES[name] = title or name
        return fn

    return wrap


def load_suites() -> dict[str, Suite]:
    """Import every module of ``SUITE_MODULES`` and return the registry."""
    for module in SUITE_MODULES:
        importlib.import_module(module)
    return SUITES


def get_suite(name: str) -> Suite:
    suites = load_suites()
    if name not in suites:
        raise UsageError(f"unknown benchmark suite {name!r}; available: {', '.join(sorted(suites))}")
    return suites[name]


def time_case(
    case: str, body: Callable[[], object], options: BenchOptions, notes: dict[str, float | int | str] | None = None
) -> BenchRow:
    """Time ``body`` by the module's rule and return its row."""
    repeats = max(3, options.repeats // 3) if options.quick else options.repeats
    for _ in range(options.warmup):
        body()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        body()
        times.append((time.perf_counter() - t0) * 1000.0)
    return BenchRow(case, statistics.median(times), min(times), repeats, dict(notes or {}))
