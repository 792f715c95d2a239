"""A short run of harness/search_load.py against the real server (the 60 s levels run in
``python -m bench.load``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.live_server import LiveServer
from harness.search_load import GOALS, query_bodies, run_load
from tests.reliability.live_service import live_server_fixture  # noqa: F401 - live_server

CLIENTS = 16
SECONDS = 5.0
WARMUP_SECONDS = 2.0


@pytest.mark.slow
def test_short_load_has_no_errors_and_bounded_memory(
    live_server: LiveServer, tiny_data: Path
) -> None:
    report = run_load(
        live_server, query_bodies(tiny_data / "test"), CLIENTS, SECONDS, WARMUP_SECONDS
    )
    print(f"\n{report}")
    assert report.requests >= CLIENTS and report.statuses == {"200": report.requests}
    assert report.errors == 0
    assert report.rss_growth_pct < GOALS["rss_growth_pct"]
    assert live_server.process.poll() is None
