"""``LODISC_WORKERS=2 python -m service`` against one worker: p50 at 1 client, throughput at 16.

    python bench/replicas.py [--seconds 10] [--no-record]

Both servers are ``python -m service`` on the same model and index; the clients keep their
connections alive (harness/search_load.py), which is where a listening socket without TCP_NODELAY
would add about 44 ms per response (NOTES.md, HTTP).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common.results import record
from harness.live_server import LiveServer, free_port, wait_ready
from harness.random_model import export_random_model
from harness.search_load import per_address_caps, query_bodies, run_load
from indexer.gallery_index import build_index
from lodisc.config import EncoderConfig
from lodisc.data.synthetic import generate_dataset

STOP_SECONDS = 30


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vit_tiny_patch16_224")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="per load level")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


@contextmanager
def run_service(model: Path, index_dir: Path, work: Path, env: dict[str, str]) -> Iterator[Any]:
    """``python -m service`` on a free port, stopped (SIGTERM to the supervisor) afterwards."""
    settings = {k: v for k, v in os.environ.items() if not k.startswith("LODISC_")}
    port = free_port()
    settings |= {"LODISC_MODEL_PATH": str(model), "LODISC_INDEX_DIR": str(index_dir)}
    settings |= {"LODISC_PORT": str(port), **env}
    log = work / f"service-{port}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "service"], cwd=work, env=settings, stdout=sink, stderr=sink
        )
    server = LiveServer(process, f"http://127.0.0.1:{port}", log, model, index_dir)
    try:
        wait_ready(server, 120)
        yield server
    finally:
        process.terminate()
        process.wait(STOP_SECONDS)


def main(argv: list[str] | None = None) -> int:
    """Measure one worker, then ``--workers``; print JSON and record RESULTS.md."""
    args = parse_args(argv)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = generate_dataset(work / "syn", 8, 8, args.img_size, seed=0, test_per_class=2)
        _, model = export_random_model(EncoderConfig(arch=args.arch, img_size=args.img_size), work)
        build_index(model, data / "train", work / "index", "flat", "cpu", workers=0)
        bodies = query_bodies(data / "test")
        for workers in (1, args.workers):
            env = {**per_address_caps(args.clients), "LODISC_WORKERS": str(workers)}
            with run_service(model, work / "index", work, env) as server:
                one = run_load(server, bodies, 1, args.seconds, warmup=2.0)
                many = run_load(server, bodies, args.clients, args.seconds, warmup=2.0)
            rows[workers] = {
                "p50_ms_1_client": one.p50_ms,
                "p95_ms_1_client": one.p95_ms,
                "requests_per_s_1_client": one.requests_per_s,
                f"requests_per_s_{args.clients}_clients": many.requests_per_s,
                f"p50_ms_{args.clients}_clients": many.p50_ms,
                "errors": one.errors + many.errors,
            }
    load_after = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(json.dumps({"load_before": load_before, "load_after": load_after, "rows": rows}))
    if not args.no_record:
        record("replicas", format_table(rows, args, load_before, load_after))
    return 0


def format_table(
    rows: dict[int, dict[str, float]], args: argparse.Namespace, before: str, after: str
) -> str:
    """RESULTS.md text."""
    clients = args.clients
    lines = [
        f"Load average (1, 5, 15 min) before: {before}, after: {after}. {args.arch} at "
        f"{args.img_size} px, keep-alive clients.",
        "",
        f"| workers | 1 client p50 / p95 ms | 1 client req/s | {clients} clients p50 ms "
        f"| {clients} clients req/s | errors |",
        "|---|---|---|---|---|---|",
    ]
    for workers, row in rows.items():
        lines.append(
            f"| {workers} | {row['p50_ms_1_client']} / {row['p95_ms_1_client']} "
            f"| {row['requests_per_s_1_client']} | {row[f'p50_ms_{clients}_clients']} "
            f"| {row[f'requests_per_s_{clients}_clients']} | {row['errors']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
