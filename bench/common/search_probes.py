"""Recall and latency of a vector index against exact search.

A ``FaissIndex`` at its tuned and swept parameters (read and set through
``FaissIndex.search_params`` / ``set_search_params``, so what is measured is the library's own
tuning), and any store with ``search(queries, k)`` (FAISS or Milvus) at 1 and N concurrent clients.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import faiss
import numpy as np

from lodisc.index_format.vectors import FaissIndex

BATCH_QUERIES = 64
SWEEP_QUERIES = 50  # single queries timed per swept value
SWEEP = {
    "efSearch": (16, 32, 64, 128, 256, 512, 1024),
    "nprobe": (8, 16, 32, 64, 128, 256),
    "k_factor": (1, 2, 4, 8, 16, 32, 64),
}
JOINT_IVF = ((128, 16), (128, 32), (256, 64))  # (nprobe, k_factor) pairs for hard data


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean |found top-k ∩ true top-k| / k over the rows of (Q, >=k) id arrays."""
    return float(
        np.mean([len(set(f[:k]) & set(t[:k])) / k for f, t in zip(found, truth, strict=True)])
    )


def single_query_ms(index: FaissIndex, queries: np.ndarray, k: int) -> list[float]:
    """Milliseconds per one-query ``search``."""
    times = []
    for row in queries:
        start = time.perf_counter()
        index.search(row[None, :], k)
        times.append(1000 * (time.perf_counter() - start))
    return times


def batch_ms(index: FaissIndex, queries: np.ndarray, k: int, repeats: int = 5) -> float:
    """Median milliseconds per ``search`` of a 64-query batch."""
    times = []
    for r in range(repeats):
        batch = np.roll(queries, -r * 13, axis=0)[:BATCH_QUERIES]
        start = time.perf_counter()
        index.search(batch, k)
        times.append(1000 * (time.perf_counter() - start))
    return float(np.median(times))


def latency(index: FaissIndex, queries: np.ndarray, k: int) -> dict[str, float]:
    """p50/p95 ms of single queries and ms per 64-query batch, in the current thread setting."""
    single = single_query_ms(index, queries, k)
    return {
        "p50": round(float(np.percentile(single, 50)), 3),
        "p95": round(float(np.percentile(single, 95)), 3),
        "batch64": round(batch_ms(index, queries, k), 2),
    }


def probe(
    index: FaissIndex, queries: np.ndarray, truth: np.ndarray, k: int, params: dict[str, int]
) -> list[float]:
    """[recall@k, mean single-query ms on 50 queries] with ``params`` set (left set)."""
    index.set_search_params(params)
    _, ids = index.search(queries, k)
    ms = float(np.mean(single_query_ms(index, queries[:SWEEP_QUERIES], k)))
    return [round(recall(ids, truth, k), 4), round(ms, 3)]


def sweep(
    index: FaissIndex, queries: np.ndarray, truth: np.ndarray, k: int
) -> dict[str, list[list[Any]]]:
    """Recall@k and single-query ms per value of each parameter (the others as tuned).

    Returns:
        Per parameter name: [value, recall@k, ms] rows; the tuned values are restored.
    """
    base = index.search_params()
    out: dict[str, list[list[Any]]] = {}
    for name in base:
        out[name] = [[v, *probe(index, queries, truth, k, {name: v})] for v in SWEEP[name]]
        index.set_search_params(base)
    if "nprobe" in base and "k_factor" in base:
        out["nprobe,k_factor"] = [
            [f"{p},{f}", *probe(index, queries, truth, k, {"nprobe": p, "k_factor": f})]
            for p, f in JOINT_IVF
        ]
        index.set_search_params(base)
    return out


def measure_index(
    index: FaissIndex, queries: np.ndarray, truth: np.ndarray, k: int
) -> dict[str, Any]:
    """Recall, latencies (1 thread; FAISS default threads; 1 thread with BLAS threshold 4*d), sweep.

    Args:
        index: the index under test, with the library's tuning.
        queries: (Q, D) float32 held-out queries.
        truth: (Q, k) int64 exact top-k ids.
        k: neighbours per query.
    """
    _, ids = index.search(queries, k)
    default_threads = faiss.omp_get_max_threads()
    tuned = index.search_params()
    row: dict[str, Any] = {"recall_at_10": round(recall(ids, truth, k), 4), "tuned": tuned}
    faiss.omp_set_num_threads(1)
    try:
        row["ms_1_thread"] = latency(index, queries, k)
        threshold = faiss.cvar.distance_compute_blas_threshold
        faiss.cvar.distance_compute_blas_threshold = 4 * index.dim
        row["ms_1_thread_blas_4d"] = latency(index, queries, k)
        faiss.cvar.distance_compute_blas_threshold = threshold
        row["sweep"] = sweep(index, queries, truth, k) if tuned else {}
    finally:
        faiss.omp_set_num_threads(default_threads)
    row[f"ms_{default_threads}_threads"] = latency(index, queries, k)
    return row


def timed_queries(index: Any, queries: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    """Top-k ids (Q, K) and milliseconds of each single-query search."""
    found, times = [], []
    for query in queries:
        start = time.perf_counter()
        found.append(index.search(query[None], k)[1][0])
        times.append(1000.0 * (time.perf_counter() - start))
    return np.stack(found), times


def concurrent_queries(
    index: Any, queries: np.ndarray, k: int, clients: int, seconds: float
) -> tuple[list[float], float]:
    """Milliseconds of each single-query search by ``clients`` threads searching back to back for
    ``seconds``, and the searches per second of them all."""

    def client(first: int, deadline: float) -> list[float]:
        times, i = [], first
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            index.search(queries[i % len(queries)][None], k)
            times.append(1000.0 * (time.perf_counter() - start))
            i += clients
        return times

    start = time.perf_counter()
    deadline = start + seconds
    with ThreadPoolExecutor(clients) as pool:
        times = [t for ts in pool.map(client, range(clients), [deadline] * clients) for t in ts]
    return times, len(times) / (time.perf_counter() - start)


def percentiles(times: list[float]) -> dict[str, float]:
    """p50 and p95 of milliseconds."""
    p50, p95 = np.percentile(times, [50, 95])
    return {"p50": round(float(p50), 2), "p95": round(float(p95), 2)}
