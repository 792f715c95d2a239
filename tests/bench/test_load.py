"""bench/load.py: the table and the goals (the load itself is tested in tests/reliability)."""

from __future__ import annotations

from bench.load import format_table, goals_met, parse_args
from harness.search_load import LoadReport


def report(errors: int, growth: float) -> LoadReport:
    """A level's figures with the given errors and RSS growth."""
    return LoadReport(
        clients=16,
        seconds=60.0,
        requests=1000,
        errors=errors,
        statuses={"200": 1000 - errors},
        p50_ms=10.0,
        p95_ms=20.0,
        p99_ms=30.0,
        requests_per_s=16.7,
        client_cpu_pct=10.0,
        server_cpu_pct=150.0,
        rss_before_warmup_mib=190.0,
        rss_start_mib=200.0,
        rss_end_mib=200.0 * (1 + growth / 100),
        rss_growth_pct=growth,
    )


def test_goals_need_no_errors_and_bounded_growth() -> None:
    assert goals_met(report(0, 1.0))
    assert not goals_met(report(1, 1.0)) and not goals_met(report(0, 12.0))


def test_table_has_a_row_per_level() -> None:
    table = format_table(parse_args([]), [report(0, 1.0), report(2, 1.0)], [1.0, 2.0])
    assert table.count("| 16 | 60.0 | 1000 |") == 2
    assert "| met |" in table and "| MISSED |" in table and "load average 1.0 before" in table
