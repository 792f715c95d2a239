"""Bounded load test of ``POST /search`` on loopback: 16 and 64 concurrent clients, 60 s each.

Generates a synthetic gallery (``python -m lodisc.data.synthetic``), exports a random-init ViT-Tiny to
ONNX, indexes the gallery and starts ``uvicorn service.main:app`` with default settings. Each
client is an asyncio task on one shared httpx client that sends JPEG searches back to back for
``--seconds``, after a warm-up at the same concurrency (arenas, ONNX Runtime buffers and thread
pools reach their working size there, so growth after it is what a leak would show). Reported per
level: requests, errors (anything but 200, or no answer), p50/p95/p99 latency, throughput and the
server's resident memory (VmRSS from /proc) before and after. Goals: no errors, RSS growth < 10%.
Section "reliability_load" of bench/RESULTS.md; the last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from bench.live_server import LiveServer, run_server
from bench.results import record
from indexer.build_index import build_index
from lodisc import synthetic
from lodisc.checkpoint import save_checkpoint
from lodisc.config import EncoderConfig
from lodisc.models.encoder import Encoder
from training import export_onnx

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


def build_artifacts(work: Path, args: argparse.Namespace) -> tuple[Path, Path, list[bytes]]:
    """Synthetic gallery, random-init ONNX model, published index and JPEG query bodies."""
    data = work / "synthetic"
    size, classes, per_class = str(args.img_size), str(args.classes), str(args.per_class)
    cli = ["--out", str(data), "--classes", classes, "--per-class", per_class, "--size", size]
    assert synthetic.main([*cli, "--test-per-class", "4"]) == 0
    cfg = EncoderConfig(arch=args.arch, img_size=args.img_size)
    save_checkpoint(work / "model.pt", {"encoder": Encoder(cfg).state_dict()}, cfg)
    model = work / "model.onnx"
    assert export_onnx.main(["--checkpoint", str(work / "model.pt"), "--out", str(model)]) == 0
    build_index(model, data / "train", work / "index", "flat", "cpu", workers=0)
    return model, work / "index", query_bodies(data / "test")


def query_bodies(folder: Path) -> list[bytes]:
    """The PNG images under ``folder`` as JPEG search bodies (:func:`multipart`)."""
    bodies = []
    for path in sorted(folder.rglob("*.png")):
        buffer = io.BytesIO()
        Image.open(path).convert("RGB").save(buffer, format="JPEG", quality=90)
        bodies.append(multipart(buffer.getvalue()))
    return bodies


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time per level")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds per level")
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--arch", default="vit_tiny_patch16_224")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--per-class", type=int, default=8, help="gallery images per class")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def goals_met(report: LoadReport) -> bool:
    """No errors and RSS growth under the goal."""
    return report.errors <= GOALS["errors"] and report.rss_growth_pct < GOALS["rss_growth_pct"]


def format_table(args: argparse.Namespace, reports: list[LoadReport], load: list[float]) -> str:
    """The RESULTS.md section body."""
    lines = [
        "| clients | s | requests | errors | p50 ms | p95 ms | p99 ms | req/s | CPU % server "
        "/ client | RSS start MiB | RSS end MiB | RSS growth | goals |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r.clients} | {r.seconds} | {r.requests} | {r.errors} | {r.p50_ms} | {r.p95_ms} "
            f"| {r.p99_ms} | {r.requests_per_s} | {r.server_cpu_pct} / {r.client_cpu_pct} "
            f"| {r.rss_start_mib} | {r.rss_end_mib} "
            f"| {r.rss_growth_pct}% | {'met' if goals_met(r) else 'MISSED'} |"
        )
    lines += [
        "",
        f"Goals: no errors (any status but 200, or no answer within {REQUEST_TIMEOUT_S:.0f} s) "
        f"and RSS growth < {GOALS['rss_growth_pct']:.0f}% over the measured run. "
        f"{args.arch} at {args.img_size} px, random init, ONNX Runtime on CPU; flat index of "
        f"{args.classes * args.per_class} synthetic images; {args.img_size}-px JPEG uploads, "
        "k 10; one uvicorn process with default settings (no LODISC_* but the model and index); "
        f"{args.warmup:.0f} s unmeasured warm-up per level (RSS before it: "
        + ", ".join(f"{r.rss_before_warmup_mib} MiB" for r in reports)
        + "); the clients are asyncio tasks in one process on the same cores; 1-minute load "
        f"average {load[0]:.1f} before, {load[1]:.1f} after.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Build, serve, load each level, print and record the table; 1 when a goal is missed."""
    args = parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        model, index_dir, bodies = build_artifacts(work, args)
        with run_server(model, index_dir, work) as server:
            reports = [
                run_load(server, bodies, clients, args.seconds, args.warmup)
                for clients in args.clients
            ]
    table = format_table(args, reports, [load_before, os.getloadavg()[0]])
    print(table)
    if not args.no_record:
        record("reliability_load", table)
    print(json.dumps({"levels": [asdict(r) for r in reports]}))
    return 0 if all(goals_met(r) for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
