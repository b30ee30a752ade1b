"""``faceforge bench``: reproducible speed figures. Suites register in ``faceforge.bench.registry``."""

from faceforge.bench.registry import (
    SUITE_MODULES,
    SUITES,
    BenchOptions,
    BenchRow,
    get_suite,
    load_suites,
    register_suite,
    time_case,
)
from faceforge.bench.report import format_section, machine_info, update_reports

__all__ = [
    "SUITES",
    "SUITE_MODULES",
    "BenchOptions",
    "BenchRow",
    "format_section",
    "get_suite",
    "load_suites",
    "machine_info",
    "register_suite",
    "time_case",
    "update_reports",
]
