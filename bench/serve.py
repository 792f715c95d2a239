"""Serving latency and throughput of ``POST /search`` against the bare ONNX encoder, in one run.

    python bench/serve.py [--archs vit_tiny_patch16_224,vit_small_patch16_224] [--load wrk]

For each encoder (a fast and a slow one by default): builds a random-init ViT exported to ONNX and
an index of a synthetic gallery, starts ``uvicorn service.main:app`` on loopback, and measures
/search p50/p95 at 1 and N concurrent keep-alive clients (JPEG uploads), the bare encoder's batch-1
latency and batch-N throughput (in this process while the server is idle, in rounds alternating
with the server's, since the machine's load drifts; each ratio is the median of the rounds'), and
the latency of ``explain=true``.

The load generator is ``wrk`` (C, one thread; ``apt-get install wrk``) where installed, else httpx
on asyncio in this process; the CPU time the clients used is measured either way and reported, so
the ratios describe the server (httpx's clients cost about 1 ms of the same two cores a request).
Goals: p50 at 1 client <= 1.3x the bare forward; throughput at N clients >= 0.8x the encoder's
batch-N throughput, both on each encoder. The last stdout line is JSON.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from bench.common.results import record
from bench.common.serve_table import format_table
from harness.live_server import LiveServer, run_server
from harness.random_model import export_random_model
from harness.search_load import HEADERS, multipart, per_address_caps
from harness.search_load import run_load as search_load
from harness.wrk_load import WrkReport, run_wrk
from indexer.gallery_index import build_index
from lodisc.config import EncoderConfig
from lodisc.data.synthetic import generate_dataset
from lodisc.inference.image_preprocess import preprocess_batch
from lodisc.inference.onnx_encoder import OnnxEncoder

ARCHS = "vit_tiny_patch16_224,vit_small_patch16_224"  # a fast and a slow encoder


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[2])
    parser.add_argument("--archs", default=ARCHS, help="timm ViTs, comma-separated")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--per-class", type=int, default=8, help="gallery images per class")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--load",
        choices=("wrk", "httpx"),
        default=None,
        help="load generator (default: wrk where installed, else httpx)",
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="per round and client level")
    parser.add_argument("--bare-runs", type=int, default=60, help="bare batch-1 runs per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternations server / bare encoder")
    parser.add_argument("--max-batch", type=int, default=8, help="LODISC_MAX_BATCH of the server")
    parser.add_argument("--threads", type=int, default=0, help="LODISC_THREADS of the server")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args(argv)
    if args.load is None:
        args.load = "wrk" if shutil.which("wrk") else "httpx"
    return args


def build_artifacts(
    work: Path, args: argparse.Namespace, arch: str
) -> tuple[Path, Path, list[bytes]]:
    """ONNX model, index folder and JPEG query uploads (the synthetic test split)."""
    data = generate_dataset(
        work / "synthetic", args.classes, args.per_class, args.img_size, seed=0, test_per_class=2
    )
    _, model = export_random_model(EncoderConfig(arch=arch, img_size=args.img_size), work)
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


def run_load(
    args: argparse.Namespace, server: LiveServer, bodies: list[bytes], clients: int
) -> WrkReport:
    """One load level with the chosen load generator (its figures in wrk's form either way)."""
    if args.load == "httpx":  # harness/search_load.py's asyncio clients, their CPU measured
        load = search_load(server, bodies, clients, args.seconds, warmup=0.0)
        if load.errors:
            raise RuntimeError(f"{load.errors} failed requests at {clients} clients")
        cpu_s = load.client_cpu_pct * load.seconds / 100
        return WrkReport(clients, load.requests, load.seconds, load.p50_ms, load.p95_ms,
                         load.p99_ms, load.errors, cpu_s)  # fmt: skip
    url = server.url
    report = run_wrk(f"{url}/search", bodies, HEADERS["content-type"], clients, args.seconds)
    wait_drained(url, bodies[0])
    if report.errors:
        raise RuntimeError(f"{report.errors} failed requests at {clients} clients")
    return report


def wait_drained(url: str, body: bytes, seconds: float = 60.0) -> None:
    """Wait until a search is answered 200: wrk stops with requests in flight, which the server
    still runs (and refuses a client's further ones while they hold its share)."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=seconds, headers=HEADERS) as http:
        while http.post("/search", content=body).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not drain in {seconds:.0f} s")
            time.sleep(0.1)


def ms(seconds: list[float], q: float = 50) -> float:
    """A percentile in milliseconds."""
    return 1000 * float(np.percentile(seconds, q))


def measure(
    server: LiveServer, model: Path, queries: list[bytes], args: argparse.Namespace
) -> dict:
    """Server and bare encoder in alternating rounds (the machine's load drifts); each ratio is
    the median of the rounds' ratios."""
    encoder, arrays = bare_encoder(model, queries, args.threads)
    bodies = [multipart(q) for q in queries]
    n = args.clients
    time_encoder(encoder, arrays, n, 2)
    search_load(server, bodies, 1, 1.0, warmup=0.0)  # warm-up
    rounds: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        bare1 = ms(time_encoder(encoder, arrays, 1, args.bare_runs))
        one = run_load(args, server, bodies, 1)
        bare_n = time_encoder(encoder, arrays, n, max(2, args.bare_runs // n))
        bare_rate = n * len(bare_n) / sum(bare_n)
        many = run_load(args, server, bodies, n)
        rounds.append({"bare1": bare1, "bare_rate": bare_rate, "one": one, "many": many})
    cold = run_explain(server.url, bodies)
    warm = run_explain(server.url, bodies)

    def median(of: Any) -> float:
        return round(statistics.median(of(r) for r in rounds), 3)

    client_cpu = sum(r[k].client_cpu_s for r in rounds for k in ("one", "many"))
    client_wall = sum(r[k].seconds for r in rounds for k in ("one", "many"))
    return {
        "load_generator": args.load,
        "p50_ratio": median(lambda r: r["one"].p50_ms / r["bare1"]),
        "throughput_ratio": median(lambda r: r["many"].requests_per_s / r["bare_rate"]),
        "p50_ratios": [round(r["one"].p50_ms / r["bare1"], 3) for r in rounds],
        "throughput_ratios": [round(r["many"].requests_per_s / r["bare_rate"], 3) for r in rounds],
        "bare_batch1_p50_ms": median(lambda r: r["bare1"]),
        "encoder_batch_images_per_s": median(lambda r: r["bare_rate"]),
        "one_client_ms": [
            median(lambda r: r["one"].p50_ms),
            median(lambda r: r["one"].p95_ms),
        ],
        "many_clients_ms": [
            median(lambda r: r["many"].p50_ms),
            median(lambda r: r["many"].p95_ms),
        ],
        "many_clients_images_per_s": median(lambda r: r["many"].requests_per_s),
        "client_cpu_pct": round(100 * client_cpu / client_wall, 2),
        "explain_cold_ms": cold,
        "explain_warm_ms": warm,
    }


def run_explain(url: str, bodies: list[bytes]) -> list[float]:
    """p50 and p95 ms of one httpx client sending each query once with ``explain=true``."""
    latencies = []
    with httpx.Client(base_url=url, timeout=60, headers=HEADERS) as http:
        for body in bodies:
            start = time.perf_counter()
            http.post("/search", content=body, params={"explain": "true"}).raise_for_status()
            latencies.append(time.perf_counter() - start)
    return [round(ms(latencies), 2), round(ms(latencies, 95), 2)]


def measure_arch(args: argparse.Namespace, arch: str) -> dict[str, Any]:
    """Every figure of one encoder, with its own model, index and server."""
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        model, index_dir, queries = build_artifacts(work, args, arch)
        with run_server(model, index_dir, work, server_env(args)) as server:
            load = os.getloadavg()[0]
            result = measure(server, model, queries, args)
            result["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]
    return {"arch": arch, **result}


def main(argv: list[str] | None = None) -> int:
    """Run every measurement, print a table and the JSON line, record the section."""
    args = parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
    results = [measure_arch(args, arch) for arch in args.archs.split(",")]
    table = format_table(args, results)
    print(table)
    if not args.no_record:
        record("serve", table)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
