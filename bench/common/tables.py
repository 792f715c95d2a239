"""Markdown tables of the indexing and vector-store benchmarks' figures, as in bench/RESULTS.md."""

from __future__ import annotations

import argparse
from typing import Any

from lodisc.index_format.vectors import HNSW_EF_CONSTRUCTION


def load_average_line(load: list[float]) -> str:
    """The note on the machine's load during a run: [1-minute average before, after]."""
    return f"1-minute load average {load[0]} before, {load[1]} after."


def not_run_note(estimate: dict[str, int]) -> str:
    """Why 1M vectors were not run, with the build times scaled from the largest size."""
    parts = []
    if "hnsw_build_s" in estimate:
        parts.append(f"the HNSW build ~{estimate['hnsw_build_s']} s")
    if "ivfpq_build_s_upper" in estimate:
        parts.append(f"the IVF-PQ build up to ~{estimate['ivfpq_build_s_upper']} s")
    return (
        "1M vectors not run by default: scaled from the largest size here, "
        + (" and ".join(parts) or "the builds")
        + " on this machine, beyond the script's ~10-minute budget "
        "(`--sizes 10000,100000,1000000` runs it)."
    )


def format_indexer(args: argparse.Namespace, r: dict[str, Any], goal: float) -> list[str]:
    """The table and notes of bench/indexer_throughput.py; ``goal``: least indexer / encoder."""
    b = r["breakdown"]
    ok = r["index_vs_encoder"] >= goal
    return [
        "| what | images/s |",
        "|---|---:|",
        f"| bare encoder, batch {r['batch_size']}, pre-decoded | {r['encoder_images_per_s']:.1f} |",
        f"| `build_index` end to end, workers {r['workers']} | {r['indexer_images_per_s']:.1f} |",
        f"| decode + preprocess only, workers 0 / {r['workers']} | "
        f"{b['decode_only_images_per_s_workers0']:.1f} / "
        f"{b['decode_only_images_per_s_workers']:.1f} |",
        "",
        f"Indexer / encoder = **{r['index_vs_encoder']}** (goal >= {goal}: "
        f"{'met' if ok else 'MISSED'}; per round {r['round_ratios']}). {r['images']} JPEGs of "
        f"{r['photo_size']} (mean {r['jpeg_kb_mean']} KB), {args.arch} at {args.img_size} px, "
        f"random init, ONNX Runtime CPU, {r['cores']} cores; {args.rounds} alternating rounds, "
        f"each indexer run into a fresh folder (model load, scan + hash, decode, embed, SQLite, "
        f"`{r['index_type']}`, publish).",
        f"Breakdown: encoder {b['encoder_core_ms_per_image']} core-ms per image "
        f"({b['encoder_wall_ms_per_image']} ms wall), decode + preprocess "
        f"{b['decode_core_ms_per_image']} core-ms per image, so with every core busy the indexer "
        f"can reach at most {b['cpu_bound_ceiling']} of the encoder's rate; fixed costs per run "
        f"(session load {b['session_load_s']} s, scan + hash {b['scan_s']} s) cap it at "
        f"{b['fixed_cost_ceiling']} for this gallery; together {b['combined_ceiling']}. "
        f"One instrumented run: {b['instrumented_wall_s']} s = encoder calls "
        f"{b['instrumented_embed_s']} s ({b['instrumented_embed_ms_per_image']} ms per image, bare "
        f"{b['encoder_wall_ms_per_image']}) + waiting for decoded batches "
        f"{b['instrumented_wait_s']} s (of which the first batch {b['instrumented_first_batch_wait_s']}"
        f" s) + the rest {b['instrumented_other_s']} s.",
        load_average_line(r["load_average"]),
    ]


def format_faiss(args: argparse.Namespace, r: dict[str, Any], goal: float) -> list[str]:
    """The table and notes of bench/faiss_search.py; ``goal``: least recall@10 of the chosen index."""
    threads = r["faiss_threads"]
    lines = [
        "| data | vectors | kind | factory | build s | MB | recall@10 | tuned | 1 query p50 / p95 ms "
        f"| 64 queries ms | 1 query p50 ms, {threads} threads | 64 queries ms, {threads} threads "
        "| 1 query p50 ms, BLAS thr. 4d |",
        "|---|---:|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in r["faiss"]:
        one, many, blas = (
            row["ms_1_thread"],
            row[f"ms_{threads}_threads"],
            row["ms_1_thread_blas_4d"],
        )
        tuned_text = ", ".join(f"{k} {v}" for k, v in row["tuned"].items()) or "exact"
        lines.append(
            f"| {row['data']} | {row['n']:,} | {row['kind']} | `{row['factory']}` | "
            f"{row['build_s']} | {row['size_mb']} | {row['recall_at_10']} | {tuned_text} | "
            f"{one['p50']} / {one['p95']} | {one['batch64']} | {many['p50']} | {many['batch64']} | "
            f"{blas['p50']} |"
        )
    lines.append("")
    for row in r["faiss"]:
        for name, points in row["sweep"].items():
            cells = "; ".join(f"{v}: {rc} ({ms} ms)" for v, rc, ms in points)
            lines.append(
                f"- {row['data']} {row['n']:,} {row['kind']}, recall@10 (1-query ms) by {name}: "
                f"{cells}"
            )
    for row in r["faiss"]:
        for w in row.get("what_if_efConstruction", []):
            cells = ", ".join(f"{key} {v}" for key, v in w.items() if key != "efConstruction")
            lines.append(
                f"- {row['data']} {row['n']:,} what if HNSW efConstruction were "
                f"{w['efConstruction']} (the library's: {HNSW_EF_CONSTRUCTION}): {cells}"
            )
    miss = [
        f"{row['n']:,}"
        for row in r["faiss"]
        if row["data"] == "fine" and row["kind"] == "auto" and row["recall_at_10"] < goal
    ]
    stats = {row["data"]: (row["n"], row["data_stats"]) for row in r["faiss"]}
    described = "; ".join(
        f"{name} at {n:,}: queries' mean cosine to true top-1 {s['top1_cos']}, top-10 "
        f"{s['top10_cos']}"
        for name, (n, s) in stats.items()
    )
    lines += [
        "",
        f"Recall goal (>= {goal} for the chosen index on the fine data): "
        f"{'MISSED at ' + ', '.join(miss) if miss else 'met'}. d = {args.dim}, inner product on "
        f"L2-normalised vectors, k = {args.k}, {args.queries} held-out queries, exact top-{args.k} "
        f"from `IndexFlatIP`. Builds use FAISS's {threads} threads; latency columns use 1 thread "
        "(the service's `search_threads` default) unless marked; the sweeps' latencies are means "
        "over 50 single queries on 1 thread. Data (see `DATASETS` in "
        "bench/common/synthetic_vectors.py): "
        f"{described}.",
    ]
    if r.get("not_run"):
        lines.append(r["not_run"])
    lines.append(load_average_line(r["load_average"]))
    return lines


STORE_NAMES = {
    "faiss_flat": "FAISS flat",
    "milvus_lite": "Milvus Lite FLAT",
    "milvus_server": "Milvus server FLAT",
}


def format_vector_stores(result: dict[str, Any]) -> str:
    """bench/vector_store.py's RESULTS.md text: FAISS against the Milvus stores."""
    stores = [name for name in STORE_NAMES if name in result["vectors"][0]]
    milvus = [name for name in stores if name != "faiss_flat"]
    lines = [
        f"Load average (1, 5, 15 min) before the run: {result['load_before']}, after: "
        f"{result['load_after']} (2 cores). Milvus Lite is the embedded engine of the tests (pure "
        "Python behind gRPC, inside the serving process). "
        + (
            f"The Milvus server is `{result['milvus_uri']}`, a Milvus standalone server on this "
            "machine (its own process)."
            if result.get("milvus_uri")
            else "No Milvus server was measured (`--milvus-uri`)."
        ),
        "",
        f"Single-query searches at 1 client, and at {result['clients']} threads searching back to "
        "back (p50 / p95 ms, searches per second); recall@10 against FAISS flat (exact).",
        "",
        "| vectors (256-d, fine) | clients | "
        + " | ".join(f"{STORE_NAMES[name]} p50 / p95 ms" for name in stores)
        + " | "
        + " | ".join(f"{STORE_NAMES[name]} recall@10" for name in milvus)
        + " |",
        "|---|---:|" + "---|" * (len(stores) + len(milvus)),
    ]
    for row in result["vectors"]:
        one = [f"{row[n]['one_ms']['p50']} / {row[n]['one_ms']['p95']}" for n in stores]
        many = [
            f"{row[n]['many_ms']['p50']} / {row[n]['many_ms']['p95']} ({row[n]['many_ms']['per_s']}/s)"
            for n in stores
        ]
        recalls = [str(row[n]["recall_at_10"]) for n in milvus]
        lines.append(f"| {row['size']:,} | 1 | {' | '.join(one)} | {' | '.join(recalls)} |")
        lines.append(
            f"| {row['size']:,} | {result['clients']} | {' | '.join(many)} |" + " |" * len(milvus)
        )
    service = result["service"]
    agreement = "; ".join(
        f"{STORE_NAMES[name]}: identical top-10 lists {a['identical_top10_share']}, recall@10 "
        f"against FAISS flat {a['recall_at_10_vs_faiss_flat']}"
        for name, a in service["agreement"].items()
    )
    lines += [
        "",
        f"Service, demo-sized gallery ({service['gallery_items']} items, {service['queries']} "
        f"JPEG queries): {agreement}.",
        "",
        f"| /search | 1 client p50 / p95 ms | {result['clients']} clients p50 / p95 ms "
        f"| {result['clients']} clients req/s |",
        "|---|---|---|---|",
    ]
    for name in ("faiss", *service["agreement"]):
        one, many = service[name]["1_clients"], service[name][f"{result['clients']}_clients"]
        lines.append(
            f"| {name} | {one['p50_ms']} / {one['p95_ms']} | {many['p50_ms']} / {many['p95_ms']} "
            f"| {many['requests_per_s']} |"
        )
    return "\n".join(lines)
