"""The encoder queue cap on a real server: excess requests get 429 with Retry-After, promptly."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import numpy as np

from harness.search_load import REQUEST_TIMEOUT_S, drive, query_bodies
from lodisc.config import EncoderConfig
from tests.reliability.live_service import serve_tiny_model

MAX_QUEUE = 2  # LODISC_MAX_QUEUE: far fewer places than concurrent clients
CLIENTS = 32
SECONDS = 3.0
# A refusal happens before any decoding or encoding; what it waits for is the event loop and the
# threadpool, which a loaded 2-core machine slows down (2.5 s at most measured under a parallel
# training run). "Promptly" is a sixth of the client's timeout, so none comes near timing out.
PROMPT_S = REQUEST_TIMEOUT_S / 6


def test_full_queue_sheds_load_with_prompt_429s(
    tiny_encoder_cfg: EncoderConfig, tiny_data: Path, tmp_path: Path
) -> None:
    env = {"LODISC_MAX_QUEUE": str(MAX_QUEUE)}
    with serve_tiny_model(tiny_encoder_cfg, tiny_data, tmp_path, env) as server:
        bodies = query_bodies(tiny_data / "test")
        outcomes = asyncio.run(drive(server.url, bodies, CLIENTS, SECONDS))
        assert server.process.poll() is None
    statuses = Counter(o.status for o in outcomes)
    refused = [o for o in outcomes if o.status == 429]
    refused_s = np.percentile([o.seconds for o in refused], [50, 100]) if refused else None
    print(f"\nstatuses {dict(statuses)}; 429 p50 and max seconds {refused_s}")
    assert set(statuses) == {200, 429}, statuses  # no timeouts (0), no 5xx, nothing else
    assert statuses[200] >= MAX_QUEUE and statuses[429] >= CLIENTS - MAX_QUEUE
    assert all(o.retry_after is not None and int(o.retry_after) >= 1 for o in refused)
    assert max(o.seconds for o in refused) < PROMPT_S
