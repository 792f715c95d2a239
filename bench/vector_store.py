"""FAISS in-process against a Milvus vector store (Milvus Lite here): recall@10 and latency.

    python bench/vector_store.py [--sizes 10000,100000] [--seconds 10] [--no-record]

Two parts, one run:
- vectors: clustered "fine" embeddings (bench/common/synthetic_vectors.py) at each size, FAISS
  flat (the exact answer) against a Milvus FLAT collection: recall@10 and single-query latency;
- service: the demo-sized synthetic gallery indexed into each store, ``python -m uvicorn``
  serving it, ``/search`` p50/p95 at 1 and 16 clients (harness/search_load.py) and whether the
  top-10 answers of the two servers agree.

Milvus Lite runs inside the serving process (pure Python over gRPC): its figures are those of the
embedded engine used in tests, not of a Milvus server, which is what ``milvus://HOST:PORT`` uses.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import faiss
import httpx
import numpy as np

from bench.common.results import record
from bench.common.synthetic_vectors import DATASETS, clustered_vectors
from harness.live_server import run_server
from harness.random_model import export_random_model
from harness.search_load import per_address_caps, query_bodies, run_load
from indexer.build_index import build_index
from lodisc.config import EncoderConfig
from lodisc.data.synthetic import generate_dataset
from lodisc.index_format.milvus_store import MilvusStore, connect, publish_collection
from lodisc.index_format.vectors import FaissIndex

REPO = Path(__file__).resolve().parents[1]
K = 10


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="vector counts, comma-separated")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=50, help="single queries per size")
    parser.add_argument("--arch", default="vit_tiny_patch16_224")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--classes", type=int, default=12)
    parser.add_argument("--per-class", type=int, default=20, help="gallery images per class")
    parser.add_argument("--seconds", type=float, default=10.0, help="per load level")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def timed_queries(index: Any, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """Top-k ids (Q, K) and milliseconds of each single-query search."""
    found, times = [], []
    for query in queries:
        start = time.perf_counter()
        found.append(index.search(query[None], K)[1][0])
        times.append(1000.0 * (time.perf_counter() - start))
    return np.stack(found), times


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top-k found."""
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def measure_vectors(size: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """FAISS flat and Milvus Lite FLAT on ``size`` clustered vectors."""
    data = clustered_vectors(size, args.dim, DATASETS["fine"], seed=0)
    queries = clustered_vectors(args.queries, args.dim, DATASETS["fine"], seed=1)
    ids = np.arange(size, dtype=np.int64)
    faiss.omp_set_num_threads(1)  # as the service searches (LODISC_SEARCH_THREADS=1)
    faiss_index = FaissIndex.build(data, ids, "flat")
    truth, faiss_ms = timed_queries(faiss_index, queries)
    store = str(work / f"vectors-{size}.db")
    client = connect(store)
    start = time.perf_counter()
    publish_collection(client, "bench", ids, ["k"] * size, data, "FLAT")
    publish_s = time.perf_counter() - start
    client.close()
    milvus = MilvusStore.open(store, "bench")
    timed_queries(milvus, queries[:2])  # warm-up
    found, milvus_ms = timed_queries(milvus, queries)
    return {
        "size": size,
        "faiss_flat_ms": _percentiles(faiss_ms),
        "milvus_lite_ms": _percentiles(milvus_ms),
        "milvus_recall_at_10": round(recall(found, truth), 4),
        "milvus_publish_s": round(publish_s, 1),
    }


def measure_service(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The demo gallery served from FAISS and from Milvus Lite: latency and agreement."""
    data = generate_dataset(
        work / "synthetic", args.classes, args.per_class, args.img_size, seed=0, test_per_class=2
    )
    _, model = export_random_model(EncoderConfig(arch=args.arch, img_size=args.img_size), work)
    build_index(model, data / "train", work / "faiss-index", "flat", "cpu", workers=0)
    store = work / "service-vectors.db"  # built by another process: Milvus Lite is one at a time
    command = [sys.executable, str(REPO / "indexer" / "build_index.py"), "--model", str(model)]
    command += ["--gallery", str(data / "train"), "--out", str(work / "milvus-index")]
    subprocess.run([*command, "--vector-store", str(store), "--workers", "0"], check=True)
    bodies = query_bodies(data / "test")
    results, answers = {}, {}
    for name, index_dir, extra in (
        ("faiss", work / "faiss-index", {}),
        ("milvus_lite", work / "milvus-index", {"LODISC_VECTOR_STORE": str(store)}),
    ):
        env = {**per_address_caps(args.clients), **extra}
        with run_server(model, index_dir, work, env) as server:
            answers[name] = _top10(server.url, bodies)
            levels = {}
            for clients in (1, args.clients):
                report = run_load(server, bodies, clients, args.seconds, warmup=2.0)
                levels[f"{clients}_clients"] = {
                    "p50_ms": report.p50_ms,
                    "p95_ms": report.p95_ms,
                    "requests_per_s": report.requests_per_s,
                    "errors": report.errors,
                }
            results[name] = levels
    agree = np.mean([a == b for a, b in zip(answers["faiss"], answers["milvus_lite"], strict=True)])
    hits = [len(set(a) & set(b)) / max(1, len(a)) for a, b in zip(*answers.values(), strict=True)]
    results["gallery_items"] = args.classes * args.per_class
    results["queries"] = len(bodies)
    results["identical_top10_share"] = round(float(agree), 4)
    results["milvus_recall_at_10_vs_faiss_flat"] = round(float(np.mean(hits)), 4)
    return results


def _top10(url: str, bodies: list[bytes]) -> list[list[int]]:
    """Top-10 ids of each query body through ``/search``."""
    from harness.search_load import HEADERS

    out = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for body in bodies:
            response = client.post("/search", params={"k": K}, content=body, headers=HEADERS)
            response.raise_for_status()
            out.append([hit["id"] for hit in response.json()["results"]])
    return out


def _percentiles(times: list[float]) -> dict[str, float]:
    """p50 and p95 of milliseconds."""
    p50, p95 = np.percentile(times, [50, 95])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2)}


def format_table(result: dict[str, Any]) -> str:
    """RESULTS.md text."""
    lines = [
        f"Load average (1, 5, 15 min) before the run: {result['load_before']}, after: "
        f"{result['load_after']} (2 cores). Milvus Lite is the embedded engine of the tests (pure "
        "Python behind gRPC, inside the serving process), not a Milvus server.",
        "",
        "| vectors (256-d, fine) | FAISS flat p50 / p95 ms | Milvus Lite FLAT p50 / p95 ms "
        "| Milvus recall@10 vs exact |",
        "|---|---|---|---|",
    ]
    for row in result["vectors"]:
        f, m = row["faiss_flat_ms"], row["milvus_lite_ms"]
        lines.append(
            f"| {row['size']:,} | {f['p50']} / {f['p95']} | {m['p50']} / {m['p95']} "
            f"| {row['milvus_recall_at_10']} |"
        )
    service = result["service"]
    lines += [
        "",
        f"Service, demo-sized gallery ({service['gallery_items']} items, {service['queries']} "
        f"JPEG queries): identical top-10 lists {service['identical_top10_share']}, Milvus "
        f"recall@10 against FAISS flat {service['milvus_recall_at_10_vs_faiss_flat']}.",
        "",
        "| /search | 1 client p50 / p95 ms | 16 clients p50 / p95 ms | 16 clients req/s |",
        "|---|---|---|---|",
    ]
    for name in ("faiss", "milvus_lite"):
        one, many = service[name]["1_clients"], service[name][f"{result['clients']}_clients"]
        lines.append(
            f"| {name} | {one['p50_ms']} / {one['p95_ms']} | {many['p50_ms']} / {many['p95_ms']} "
            f"| {many['requests_per_s']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run both parts, print JSON, record RESULTS.md."""
    args = parse_args(argv)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sizes = [int(s) for s in args.sizes.split(",") if s]
        vectors = [measure_vectors(size, args, work) for size in sizes]
        service = measure_service(args, work)
    result = {"load_before": load_before, "clients": args.clients, "vectors": vectors}
    result["service"] = service
    result["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(json.dumps(result))
    if not args.no_record:
        record("vector_store", format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
