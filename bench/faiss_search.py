"""FAISS build time, search latency and recall@10 of ``FaissIndex`` at scale, on clustered vectors.

Builds ``FaissIndex.build(kind="auto")`` on clustered vectors (``bench/common/synthetic_vectors.py``)
at each size, plus ``kind="ivfpq"`` at the largest size, and measures build time, single-query and
64-query batch latency and recall@10 against exact search (``IndexFlatIP``) on held-out queries,
with the library's tuned search parameters and a sweep around them. Latency is measured with one
FAISS thread (the service's default ``search_threads``), with FAISS's default thread count, and with
the BLAS threshold the library sets replaced by ``4 * dim``. Goal: recall@10 >= 0.95 for the chosen
index. A stress set (an isotropic mixture, no low-dimensional structure) is run at one size to show
how recall depends on the data.

    python bench/faiss_search.py [--sizes 10000,100000] [--stress-size 100000] [--no-record]

The last stdout line is JSON; the table is recorded as section "faiss_search" of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from typing import Any

import faiss
import numpy as np

from bench.common.results import report
from bench.common.search_probes import measure_index, probe
from bench.common.synthetic_vectors import DATASETS, clustered_vectors
from bench.common.tables import format_faiss, not_run_note
from lodisc.index_format.vectors import FaissIndex, choose_factory, normalise

GOALS = {"recall_at_10": 0.95}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="vector counts, comma-separated")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--no-ivfpq", action="store_true", help="skip ivfpq at the largest size")
    parser.add_argument(
        "--stress-size", type=int, default=100_000, help="isotropic stress set size (0: skip)"
    )
    parser.add_argument(
        "--what-if-efc",
        default="80",
        help="efConstruction values to also try for HNSW at the largest size (empty: none)",
    )
    parser.add_argument("--section", default="faiss_search", help="RESULTS.md section name")
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def measure_size(
    data_name: str, n: int, with_ivfpq: bool, largest: bool, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Rows for kind auto (and ivfpq where it differs) on ``n`` vectors of ``data_name``."""
    spec = DATASETS[data_name]
    queries = clustered_vectors(args.queries, args.dim, spec, seed=1)
    start = time.perf_counter()
    data = clustered_vectors(n, args.dim, spec, seed=1000 + n)
    gen_s = time.perf_counter() - start
    exact = faiss.IndexFlatIP(args.dim)
    exact.add(normalise(data))
    sims, truth = exact.search(normalise(queries), args.k)
    del exact
    kinds = ["auto"]
    if with_ivfpq and choose_factory(n, args.dim) != choose_factory(n, args.dim, "ivfpq"):
        kinds.append("ivfpq")
    rows = []
    for kind in kinds:
        start = time.perf_counter()
        index = FaissIndex.build(data, np.arange(n, dtype=np.int64), kind)
        build_s = time.perf_counter() - start
        row = {
            "data": data_name,
            "n": n,
            "kind": kind,
            "factory": index.factory,
            "build_s": round(build_s, 2),
            "size_mb": round(faiss.serialize_index(index.index).nbytes / 2**20, 1),
            **measure_index(index, queries, truth, args.k),
            "data_stats": {
                "generate_s": round(gen_s, 1),
                "top1_cos": round(float(sims[:, 0].mean()), 3),
                "top10_cos": round(float(sims[:, -1].mean()), 3),
            },
        }
        del index
        what_if = data_name == "fine" and kind == "auto" and "HNSW" in row["factory"]
        if what_if and largest and args.what_if_efc:
            efcs = [int(v) for v in args.what_if_efc.split(",")]
            row["what_if_efConstruction"] = what_if_hnsw(
                row["factory"], data, queries, truth, args.k, efcs
            )
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def what_if_hnsw(
    factory: str,
    data: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    k: int,
    efcs: list[int],
) -> list[dict[str, float]]:
    """The library's HNSW index built with other ``efConstruction`` values.

    Returns:
        Per value: build seconds and recall@k at efSearch 64 and at the library's value.
    """
    out = []
    ids = np.arange(len(data), dtype=np.int64)
    for efc in efcs:
        start = time.perf_counter()
        index = FaissIndex.build(data, ids, factory, ef_construction=efc)
        build_s = time.perf_counter() - start
        ef = index.search_params()["efSearch"]
        out.append(
            {
                "efConstruction": efc,
                "build_s": round(build_s, 2),
                "recall_ef64": probe(index, queries, truth, k, {"efSearch": 64})[0],
                f"recall_ef{ef}": probe(index, queries, truth, k, {"efSearch": ef})[0],
            }
        )
        del index
    return out


def extrapolate(rows: list[dict[str, Any]], dim: int, target: int = 1_000_000) -> dict[str, int]:
    """Rough build seconds at ``target`` vectors from the largest "fine" size measured."""
    fine = [r for r in rows if r["data"] == "fine"]
    largest = max(r["n"] for r in fine)
    out = {}
    for row in fine:
        n = row["n"]
        if n != largest or n >= target or n < 50_000:
            continue
        if "HNSW" in row["factory"]:
            out["hnsw_build_s"] = round(
                row["build_s"] * target / n * math.log(target) / math.log(n)
            )
        if "IVF" in row["factory"]:
            nlist = int(row["factory"].split("IVF")[1].split(",")[0])
            big = int(choose_factory(target, dim, "ivfpq").split("IVF")[1].split(",")[0])
            # k-means and list assignment cost scale with points x nlist (faiss trains on at most
            # 256 points per centroid); PQ training does not grow, so this is an upper bound.
            scale = min(target, 256 * big) * big / (min(n, 256 * nlist) * nlist)
            out["ivfpq_build_s_upper"] = round(row["build_s"] * scale)
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure every size, print the table and the JSON line, record the section."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    load = os.getloadavg()[0]
    sizes = sorted(int(s) for s in args.sizes.split(","))
    runs = [("fine", n, n == sizes[-1] and not args.no_ivfpq, n == sizes[-1]) for n in sizes]
    if args.stress_size:
        runs.append(("isotropic", args.stress_size, not args.no_ivfpq, False))
    rows = [row for run in runs for row in measure_size(*run, args)]
    result: dict[str, Any] = {"faiss": rows, "faiss_threads": faiss.omp_get_max_threads()}
    if sizes[-1] < 1_000_000:
        result["not_run_1m_estimate_s"] = extrapolate(rows, args.dim)
        result["not_run"] = not_run_note(result["not_run_1m_estimate_s"])
    result["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]
    table = "\n".join(format_faiss(args, result, GOALS["recall_at_10"]))
    return report(table, result, args.section, args.no_record)


if __name__ == "__main__":
    sys.exit(main())
