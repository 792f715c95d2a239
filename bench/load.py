"""Bounded load test of ``POST /search`` on loopback: 16 and 64 concurrent clients, 60 s each.

Generates a synthetic gallery (``lodisc.data.synthetic``), exports a random-init ViT-Tiny to
ONNX, indexes the gallery and starts ``uvicorn service.main:app`` with default settings but the
per-address caps, raised to the largest client count (every client comes from 127.0.0.1). Each
client (harness/search_load.py) is an asyncio task with its own connection that sends JPEG
searches back to back for ``--seconds``, after a warm-up at the same concurrency (arenas, ONNX Runtime buffers and thread
pools reach their working size there, so growth after it is what a leak would show). Reported per
level: requests, errors (anything but 200, or no answer), p50/p95/p99 latency, throughput and the
server's resident memory (VmRSS from /proc) before and after. Goals: no errors, RSS growth < 10%.
Section "reliability_load" of bench/RESULTS.md; the last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from bench.common.results import record
from harness.live_server import run_server
from harness.random_model import export_random_model
from harness.search_load import (
    GOALS,
    REQUEST_TIMEOUT_S,
    LoadReport,
    per_address_caps,
    query_bodies,
    run_load,
)
from indexer.gallery_index import build_index
from lodisc.config import EncoderConfig
from lodisc.data.synthetic import generate_dataset


def build_artifacts(work: Path, args: argparse.Namespace) -> tuple[Path, Path, list[bytes]]:
    """Synthetic gallery, random-init ONNX model, published index and JPEG query bodies."""
    data = generate_dataset(
        work / "synthetic", args.classes, args.per_class, args.img_size, seed=0, test_per_class=4
    )
    cfg = EncoderConfig(arch=args.arch, img_size=args.img_size)
    _, model = export_random_model(cfg, work)
    build_index(model, data / "train", work / "index", "flat", "cpu", workers=0)
    return model, work / "index", query_bodies(data / "test")


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
        "k 10; one uvicorn process with default settings (no LODISC_* but the model, the index "
        f"and the per-address caps, raised to {max(args.clients)}); "
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
        caps = per_address_caps(max(args.clients))
        with run_server(model, index_dir, work, caps) as server:
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
