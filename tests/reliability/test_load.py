"""A short run of harness/search_load.py against the real server (the 60 s levels run in
``python -m bench.load``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.live_server import LiveServer
from harness.search_load import GOALS, per_address_caps, query_bodies, run_load
from lodisc.config import EncoderConfig
from tests.reliability.live_service import serve_tiny_model

CLIENTS = 16
SECONDS = 5.0
WARMUP_SECONDS = 2.0


@pytest.fixture(scope="module", name="live_server")
def live_server_fixture(
    tiny_encoder_cfg: EncoderConfig, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The service with its per-address caps raised: the load's clients share 127.0.0.1."""
    work = tmp_path_factory.mktemp("load-service")
    with serve_tiny_model(tiny_encoder_cfg, tiny_data, work, per_address_caps(CLIENTS)) as server:
        yield server


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
