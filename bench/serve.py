"""Serving latency and throughput of ``POST /search`` against the bare ONNX encoder, in one run.

Builds a random-init ViT exported to ONNX and an index of a synthetic gallery, starts
``uvicorn service.main:app`` on loopback, and measures /search p50/p95 at 1 and N concurrent
clients (httpx on asyncio, JPEG uploads), the bare encoder's batch-1 latency and
batch-N throughput (in this process while the server is idle, in rounds alternating with the
server's, since the machine's load drifts), and the latency of ``explain=true``.
Goals: p50 at 1 client <= 1.3x the bare forward; throughput at N clients >= 0.8x the encoder's
batch-N throughput. The last stdout line is JSON.
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
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from bench.common.results import record
from harness.live_server import run_server
from harness.random_model import export_random_model
from harness.search_load import HEADERS, multipart, per_address_caps
from indexer.build_index import build_index
from lodisc.config import EncoderConfig
from lodisc.data.synthetic import generate_dataset
from lodisc.inference.image_preprocess import preprocess_batch
from lodisc.inference.onnx_encoder import OnnxEncoder

GOALS = {"p50_ratio": 1.3, "throughput_ratio": 0.8}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vit_tiny_patch16_224")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--per-class", type=int, default=8, help="gallery images per class")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=60, help="sequential requests (1 client)")
    parser.add_argument("--per-client", type=int, default=12, help="requests per concurrent client")
    parser.add_argument("--rounds", type=int, default=3, help="alternations server / bare encoder")
    parser.add_argument("--max-batch", type=int, default=8, help="LODISC_MAX_BATCH of the server")
    parser.add_argument("--threads", type=int, default=0, help="LODISC_THREADS of the server")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def build_artifacts(work: Path, args: argparse.Namespace) -> tuple[Path, Path, list[bytes]]:
    """ONNX model, index folder and JPEG query uploads (the synthetic test split)."""
    data = generate_dataset(
        work / "synthetic", args.classes, args.per_class, args.img_size, seed=0, test_per_class=2
    )
    _, model = export_random_model(EncoderConfig(arch=args.arch, img_size=args.img_size), work)
    build_index(model, data / "train", work / "index", "flat", "cpu", workers=0)
    queries = []
    for path in sorted((data / "test").rglob("*.png")):
        buffer = io.BytesIO()
        Image.open(path).convert("RGB").save(buffer, format="JPEG", quality=90)
        queries.append(buffer.getvalue())
    return model, work / "index", queries


def bare_encoder(model: Path, queries: list[bytes], threads: int) -> tuple[OnnxEncoder, np.ndarray]:
    """The encoder in this process (as the server runs it) and the queries (Q, 3, S, S)."""
    encoder = OnnxEncoder(model, "cpu", threads)
    images = [Image.open(io.BytesIO(q)).convert("RGB") for q in queries]
    return encoder, preprocess_batch(images, encoder.preprocessing)


def time_encoder(encoder: OnnxEncoder, arrays: np.ndarray, batch: int, runs: int) -> list[float]:
    """Seconds per ``encoder.run`` of ``batch`` preprocessed images."""
    times = []
    for i in range(runs):
        chosen = arrays[(np.arange(batch) + i * batch) % len(arrays)]
        start = time.perf_counter()
        encoder.run(chosen)
        times.append(time.perf_counter() - start)
    return times


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """The server's settings besides the model and index.

    Every client here comes from 127.0.0.1, so the per-address caps are raised to the number of
    clients: they stand for ``--clients`` different users.
    """
    return {
        "LODISC_MAX_BATCH": str(args.max_batch),
        "LODISC_THREADS": str(args.threads),
        "LODISC_DEVICE": "cpu",
    } | per_address_caps(args.clients)


def run_clients(
    url: str, bodies: list[bytes], clients: int, per_client: int, params: dict[str, Any]
) -> tuple[list[float], float]:
    """``clients`` concurrent clients (asyncio tasks, one thread: the client's CPU use stays
    small next to the server's on the same cores), each sending ``per_client`` searches in turn.

    Returns:
        Latencies in seconds and the wall time of the whole run.
    """

    async def client(http: httpx.AsyncClient, index: int) -> list[float]:
        times = []
        for i in range(per_client):
            body = bodies[(index * per_client + i) % len(bodies)]
            start = time.perf_counter()
            response = await http.post("/search", content=body, params=params)
            times.append(time.perf_counter() - start)
            response.raise_for_status()
        return times

    async def run_all() -> list[list[float]]:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(
            base_url=url, timeout=60, headers=HEADERS, limits=limits
        ) as http:
            return await asyncio.gather(*(client(http, i) for i in range(clients)))

    start = time.perf_counter()
    latencies = [t for times in asyncio.run(run_all()) for t in times]
    return latencies, time.perf_counter() - start


def ms(seconds: list[float], q: float = 50) -> float:
    """A percentile in milliseconds."""
    return 1000 * float(np.percentile(seconds, q))


def measure(url: str, model: Path, queries: list[bytes], args: argparse.Namespace) -> dict:
    """Server and bare encoder in alternating rounds (the machine's load drifts), pooled."""
    encoder, arrays = bare_encoder(model, queries, args.threads)
    queries = [multipart(q) for q in queries]
    time_encoder(encoder, arrays, args.clients, 2)
    run_clients(url, queries, 1, 5, {})  # warm-up
    n, rounds = args.clients, args.rounds
    bare1: list[float] = []
    bare_n: list[float] = []
    one: list[float] = []
    many: list[float] = []
    many_wall = 0.0
    for _ in range(rounds):
        bare1 += time_encoder(encoder, arrays, 1, args.requests // rounds)
        one += run_clients(url, queries, 1, args.requests // rounds, {})[0]
        bare_n += time_encoder(encoder, arrays, n, max(2, args.per_client // rounds))
        latencies, wall = run_clients(url, queries, n, max(1, args.per_client // rounds), {})
        many, many_wall = many + latencies, many_wall + wall
    cold = run_clients(url, queries, 1, len(queries), {"explain": "true"})[0]
    warm = run_clients(url, queries, 1, len(queries), {"explain": "true"})[0]
    encoder_rate = n * len(bare_n) / sum(bare_n)
    return {
        "p50_ratio": round(ms(one) / ms(bare1), 3),
        "throughput_ratio": round(len(many) / many_wall / encoder_rate, 3),
        "bare_batch1_p50_ms": round(ms(bare1), 2),
        "encoder_batch_images_per_s": round(encoder_rate, 2),
        "one_client_ms": [round(ms(one), 2), round(ms(one, 95), 2)],
        "many_clients_ms": [round(ms(many), 2), round(ms(many, 95), 2)],
        "many_clients_images_per_s": round(len(many) / many_wall, 2),
        "explain_cold_ms": [round(ms(cold), 2), round(ms(cold, 95), 2)],
        "explain_warm_ms": [round(ms(warm), 2), round(ms(warm, 95), 2)],
    }


def main(argv: list[str] | None = None) -> int:
    """Run every measurement, print a table and the JSON line, record the section."""
    args = parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        model, index_dir, queries = build_artifacts(work, args)
        with run_server(model, index_dir, work, server_env(args)) as server:
            load = os.getloadavg()[0]
            result = measure(server.url, model, queries, args)
            result["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]
    table = format_table(args, result)
    print(table)
    if not args.no_record:
        record("serve", table)
    print(json.dumps(result))
    return 0


def format_table(args: argparse.Namespace, r: dict[str, Any]) -> str:
    """The RESULTS.md section body."""
    n, bare = args.clients, r["bare_batch1_p50_ms"]
    rows = [
        ("bare encoder, batch 1", [bare], 1000 / bare),
        (f"bare encoder, batch {n}", [], r["encoder_batch_images_per_s"]),
        ("/search, 1 client", r["one_client_ms"], None),
        (f"/search, {n} clients", r["many_clients_ms"], r["many_clients_images_per_s"]),
        ("/search explain=true, 1 client, hits not cached", r["explain_cold_ms"], None),
        ("/search explain=true, 1 client, hits cached", r["explain_warm_ms"], None),
    ]
    lines = ["| what | p50 ms | p95 ms | images/s |", "|---|---:|---:|---:|"]
    for name, times, rate in rows:
        cells = [f"{t:.1f}" for t in times] + [""] * (2 - len(times))
        lines.append(f"| {name} | {' | '.join(cells)} | {'' if rate is None else f'{rate:.1f}'} |")
    p50_ok, rate_ok = (
        r["p50_ratio"] <= GOALS["p50_ratio"],
        r["throughput_ratio"] >= GOALS["throughput_ratio"],
    )
    lines += [
        "",
        f"p50 at 1 client / bare batch-1 forward = **{r['p50_ratio']}** (goal <= 1.3: "
        f"{'met' if p50_ok else 'MISSED'}); throughput at {n} clients / bare batch-{n} = "
        f"**{r['throughput_ratio']}** (goal >= 0.8: {'met' if rate_ok else 'MISSED'}).",
        f"{args.arch} at {args.img_size} px, random init, ONNX Runtime on CPU; flat index of "
        f"{args.classes * args.per_class} synthetic images; {args.img_size}-px JPEG uploads, k 10; "
        f"one uvicorn worker with LODISC_MAX_BATCH={args.max_batch}, LODISC_THREADS="
        f"{args.threads} (0: ONNX Runtime's default), per-address caps raised to {n} (one "
        "address stands for every client); server and bare encoder "
        f"measured in {args.rounds} alternating rounds; the clients share the machine's cores; "
        f"1-minute load average {r['load_average'][0]} before, {r['load_average'][1]} after.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
