"""FAISS in-process against a Milvus vector store (Milvus Lite here): recall@10 and latency.

    python bench/vector_store.py [--sizes 10000,100000] [--seconds 10] [--milvus-uri URI]

Two parts, one run:
- vectors: clustered "fine" embeddings (bench/common/synthetic_vectors.py) at each size, FAISS
  flat (the exact answer) against a Milvus FLAT collection: recall@10, single-query latency at one
  client and at 16 concurrent clients (threads calling the store's ``search`` as the service's
  threadpool does, each with its own query, back to back for ``--seconds``);
- service: the demo-sized synthetic gallery indexed into each store, ``python -m uvicorn``
  serving it, ``/search`` p50/p95 at 1 and 16 clients (harness/search_load.py) and whether the
  top-10 answers of the two servers agree.

Milvus Lite runs inside the serving process (pure Python over gRPC): its figures are those of the
embedded engine used in tests. ``--milvus-uri milvus://HOST:PORT`` measures a Milvus server as
well, in both parts (on a machine without Docker, the ``milvus`` package's embedded standalone
server: ``pip install milvus`` in its own virtual environment, then
``from milvus import default_server; default_server.start()`` listens on 19530).
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
from bench.common.search_probes import concurrent_queries, percentiles, recall, timed_queries
from bench.common.synthetic_vectors import DATASETS, clustered_vectors
from bench.common.tables import format_vector_stores
from harness.live_server import run_server
from harness.random_model import export_random_model
from harness.search_load import per_address_caps, query_bodies, run_load
from indexer.gallery_index import build_index
from lodisc.config import EncoderConfig
from lodisc.data.synthetic import generate_dataset
from lodisc.index_format.milvus_publish import publish_collection
from lodisc.index_format.milvus_store import MilvusStore, connect
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
    parser.add_argument(
        "--milvus-uri",
        default=None,
        help="also a Milvus server, milvus://HOST:PORT (collections bench_* are made and dropped)",
    )
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def milvus_stores(args: argparse.Namespace, work: Path, name: str) -> dict[str, str]:
    """The Milvus stores measured: Milvus Lite (a file under ``work``), and the server of
    ``--milvus-uri`` when given."""
    stores = {"milvus_lite": str(work / f"{name}.db")}
    if args.milvus_uri:
        stores["milvus_server"] = args.milvus_uri
    return stores


def measure_store(
    store: str, collection: str, data: np.ndarray, queries: np.ndarray, args: argparse.Namespace
) -> tuple[np.ndarray, dict[str, Any]]:
    """Publish ``data`` into a FLAT collection of ``store``, then time single and concurrent
    searches; returns the top-k ids of ``queries`` and the figures. The collection is dropped."""
    ids = np.arange(len(data), dtype=np.int64)
    client = connect(store)
    start = time.perf_counter()
    publish_collection(client, collection, ids, ["k"] * len(data), data, "FLAT")
    publish_s = time.perf_counter() - start
    try:
        milvus = MilvusStore.open(store, collection)
        timed_queries(milvus, queries[:2], K)  # warm-up
        found, one = timed_queries(milvus, queries, K)
        many, rate = concurrent_queries(milvus, queries, K, args.clients, args.seconds)
    finally:
        client.drop_collection(collection)
        client.close()
    figures = {
        "one_ms": percentiles(one),
        "many_ms": percentiles(many) | {"per_s": round(rate, 1)},
        "publish_s": round(publish_s, 1),
    }
    return found, figures


def measure_vectors(size: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """FAISS flat (the exact answer) and each Milvus store's FLAT on ``size`` clustered vectors."""
    data = clustered_vectors(size, args.dim, DATASETS["fine"], seed=0)
    queries = clustered_vectors(args.queries, args.dim, DATASETS["fine"], seed=1)
    faiss.omp_set_num_threads(1)  # as the service searches (LODISC_SEARCH_THREADS=1)
    faiss_index = FaissIndex.build(data, np.arange(size, dtype=np.int64), "flat")
    truth, faiss_ms = timed_queries(faiss_index, queries, K)
    faiss_many, faiss_rate = concurrent_queries(faiss_index, queries, K, args.clients, args.seconds)
    row: dict[str, Any] = {
        "size": size,
        "faiss_flat": {
            "one_ms": percentiles(faiss_ms),
            "many_ms": percentiles(faiss_many) | {"per_s": round(faiss_rate, 1)},
        },
    }
    collection = f"bench_{size}_{os.getpid()}"
    for name, store in milvus_stores(args, work, f"vectors-{size}").items():
        found, figures = measure_store(store, collection, data, queries, args)
        row[name] = figures | {"recall_at_10": round(recall(found, truth, K), 4)}
    return row


def measure_service(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The demo gallery served from FAISS and from Milvus Lite: latency and agreement."""
    data = generate_dataset(
        work / "synthetic", args.classes, args.per_class, args.img_size, seed=0, test_per_class=2
    )
    _, model = export_random_model(EncoderConfig(arch=args.arch, img_size=args.img_size), work)
    build_index(model, data / "train", work / "faiss-index", "flat", "cpu", workers=0)
    served = [("faiss", work / "faiss-index", {})]
    for name, store in milvus_stores(args, work, "service-vectors").items():
        # Built by another process: Milvus Lite opens a file in one process at a time.
        command = [sys.executable, str(REPO / "indexer" / "build_index.py"), "--model", str(model)]
        command += ["--gallery", str(data / "train"), "--out", str(work / f"{name}-index")]
        subprocess.run([*command, "--vector-store", store, "--workers", "0"], check=True)
        served.append((name, work / f"{name}-index", {"LODISC_VECTOR_STORE": store}))
    bodies = query_bodies(data / "test")
    results, answers = {}, {}
    for name, index_dir, extra in served:
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
    exact = answers.pop("faiss")
    results["gallery_items"] = args.classes * args.per_class
    results["queries"] = len(bodies)
    results["agreement"] = {
        name: {
            "identical_top10_share": round(float(np.mean([a == b for a, b in pairs])), 4),
            "recall_at_10_vs_faiss_flat": round(
                float(np.mean([len(set(a) & set(b)) / max(1, len(a)) for a, b in pairs])), 4
            ),
        }
        for name, found in answers.items()
        for pairs in [list(zip(found, exact, strict=True))]
    }
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
    result["milvus_uri"] = args.milvus_uri
    result["service"] = service
    result["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(json.dumps(result))
    if not args.no_record:
        record("vector_store", format_vector_stores(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
