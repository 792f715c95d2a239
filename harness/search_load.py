"""Concurrent ``POST /search`` clients against a live server, and the figures of one load level.

Each client is an asyncio task with its own connection sending JPEG searches back to back; the
bodies are built once (:func:`multipart`), so the clients spend little CPU per request. Used by
bench/load.py (60 s levels) and tests/reliability/ (short runs, load shedding).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from harness.live_server import LiveServer

# What a load run must show: no errors, resident memory growing less than this over the run.
GOALS = {"errors": 0, "rss_growth_pct": 10.0}
REQUEST_TIMEOUT_S = 30.0
BOUNDARY = "lodisc-load-boundary"
HEADERS = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}


@dataclass(frozen=True)
class Outcome:
    """One request: its status (0 when no answer came), seconds and Retry-After header."""

    status: int
    seconds: float
    retry_after: str | None = None


@dataclass
class LoadReport:
    """Figures of one load level."""

    clients: int
    seconds: float
    requests: int
    errors: int
    statuses: dict[str, int]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests_per_s: float
    client_cpu_pct: float
    server_cpu_pct: float
    rss_before_warmup_mib: float
    rss_start_mib: float
    rss_end_mib: float
    rss_growth_pct: float


def per_address_caps(clients: int) -> dict[str, str]:
    """Settings letting ``clients`` concurrent clients share one address (loopback) unrefused.

    The service caps searches and queued images per client address (``max_client_requests``,
    ``max_client_images``); a load run's clients all come from 127.0.0.1 but stand for
    different users.
    """
    return {"LODISC_MAX_CLIENT_REQUESTS": str(clients), "LODISC_MAX_CLIENT_IMAGES": str(clients)}


def multipart(data: bytes) -> bytes:
    """A ready-made ``image`` form body, so the clients spend little CPU per request."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; filename="q.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    return head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()


async def drive(url: str, bodies: list[bytes], clients: int, seconds: float) -> list[Outcome]:
    """``clients`` tasks sending searches back to back until ``seconds`` have passed.

    Args:
        url: the server's base URL.
        bodies: multipart bodies (:func:`multipart`), used in turn.
        clients: concurrent requests in flight.
        seconds: how long new requests are started.

    Returns:
        Every request's outcome.
    """
    deadline = time.monotonic() + seconds
    outcomes: list[Outcome] = []

    async def client(index: int) -> None:
        # One connection per client: a shared pool of 64 costs the client 5x more CPU per request
        # (httpcore scans its connections on every request), and the client shares the cores.
        async with httpx.AsyncClient(
            base_url=url, timeout=REQUEST_TIMEOUT_S, headers=HEADERS
        ) as http:
            sent = 0
            while time.monotonic() < deadline:
                body = bodies[(index + sent * clients) % len(bodies)]
                sent += 1
                start = time.perf_counter()
                try:
                    response = await http.post("/search", content=body)
                except httpx.HTTPError:
                    outcomes.append(Outcome(0, time.perf_counter() - start))
                    continue
                elapsed = time.perf_counter() - start
                retry_after = response.headers.get("retry-after")
                outcomes.append(Outcome(response.status_code, elapsed, retry_after))

    await asyncio.gather(*(client(i) for i in range(clients)))
    return outcomes


def run_load(
    server: LiveServer, bodies: list[bytes], clients: int, seconds: float, warmup: float
) -> LoadReport:
    """Warm up, then measure one load level against a running server."""
    before_warmup = server.rss_bytes()
    asyncio.run(drive(server.url, bodies, clients, warmup))
    start_rss = server.rss_bytes()
    start, start_cpu, start_server = time.perf_counter(), time.process_time(), server.cpu_seconds()
    outcomes = asyncio.run(drive(server.url, bodies, clients, seconds))
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    server_cpu = server.cpu_seconds() - start_server
    end_rss = server.rss_bytes()
    latencies_ms = 1000.0 * np.asarray([o.seconds for o in outcomes])
    p50, p95, p99 = np.percentile(latencies_ms, [50, 95, 99]) if outcomes else (0.0, 0.0, 0.0)
    mib = 1024.0 * 1024.0
    return LoadReport(
        clients=clients,
        seconds=round(wall, 1),
        requests=len(outcomes),
        errors=sum(o.status != 200 for o in outcomes),
        statuses={str(k): v for k, v in sorted(Counter(o.status for o in outcomes).items())},
        p50_ms=round(float(p50), 1),
        p95_ms=round(float(p95), 1),
        p99_ms=round(float(p99), 1),
        requests_per_s=round(len(outcomes) / wall, 1),
        client_cpu_pct=round(100.0 * cpu / wall, 1),
        server_cpu_pct=round(100.0 * server_cpu / wall, 1),
        rss_before_warmup_mib=round(before_warmup / mib, 1),
        rss_start_mib=round(start_rss / mib, 1),
        rss_end_mib=round(end_rss / mib, 1),
        rss_growth_pct=round(100.0 * (end_rss - start_rss) / start_rss, 2),
    )


def query_bodies(folder: Path) -> list[bytes]:
    """The PNG images under ``folder`` as JPEG search bodies (:func:`multipart`)."""
    bodies = []
    for path in sorted(folder.rglob("*.png")):
        buffer = io.BytesIO()
        Image.open(path).convert("RGB").save(buffer, format="JPEG", quality=90)
        bodies.append(multipart(buffer.getvalue()))
    return bodies
