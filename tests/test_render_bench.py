"""``faceforge bench``: the suite registry and the report files (no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceforge.bench import SUITES, BenchOptions, BenchRow, load_suites, machine_info, register_suite, update_reports
from faceforge.bench.registry import SUITE_TITLES, time_case
from faceforge.cli import main


def test_registry_lists_the_builtin_suites_and_times_a_case() -> None:
    assert {"model", "render"} <= set(load_suites())
    calls = []
    row = time_case("noop", lambda: calls.append(1), BenchOptions(repeats=5, warmup=2), {"n": 1})
    assert len(calls) == 7 and row.repeats == 5 and row.case == "noop" and row.notes == {"n": 1}
    assert 0.0 <= row.min_ms <= row.median_ms


def test_reports_replace_only_their_own_section(tmp_path: Path) -> None:
    info = machine_info(BenchOptions())
    assert info["threads"] == 1 and isinstance(info["logical_cores"], int) and info["cpu"]
    md = tmp_path / "BENCHMARKS.md"
    update_reports(tmp_path, {"alpha": [BenchRow("a", 1.0, 0.5, 3)]}, info, "faceforge bench --suite alpha")
    md.write_text(md.read_text() + "\nA note kept by hand.\n")
    update_reports(tmp_path, {"beta": [BenchRow("b", 2.0, 1.5, 3, {"size": 256})]}, info, "faceforge bench")
    update_reports(tmp_path, {"alpha": [BenchRow("a2", 3.25, 3.0, 4)]}, info, "faceforge bench --suite alpha")
    text = md.read_text()
    assert text.startswith("# Benchmarks") and "A note kept by hand." in text
    assert text.count("<!-- bench:alpha:begin -->") == 1 and "| a2 | 3.25 | 3.00 | 4 |  |" in text
    assert "| a | 1.00" not in text and "| b | 2.00 | 1.50 | 3 | size 256 |" in text
    data = json.loads((tmp_path / "benchmarks.json").read_text())
    assert set(data) == {"alpha", "beta"} and data["alpha"]["rows"][0]["median_ms"] == 3.25
    assert data["beta"]["machine"]["cpu"] == info["cpu"]


def test_bench_cli_runs_a_registered_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    @register_suite("unit-test-suite", "A test suite")
    def suite(options: BenchOptions) -> list[BenchRow]:
        return [time_case("sum", lambda: sum(range(100)), options)]

    try:
        assert main(["bench", "--list"]) == 0
        assert "unit-test-suite" in capsys.readouterr().out
        assert main(["bench", "--suite", "unit-test-suite", "--quick", "--output-dir", str(tmp_path)]) == 0
        text = (tmp_path / "BENCHMARKS.md").read_text()
        assert "## A test suite (`unit-test-suite`)" in text
        assert "Command: `faceforge bench --suite unit-test-suite --quick`" in text
        assert main(["bench", "--suite", "nope", "--output-dir", str(tmp_path)]) == 2
        assert "unknown benchmark suite 'nope'" in capsys.readouterr().err
    finally:
        SUITES.pop("unit-test-suite", None)
        SUITE_TITLES.pop("unit-test-suite", None)
