"""bench/serve.py's RESULTS.md section: one row per encoder, its goals, how it was measured."""

from __future__ import annotations

import argparse
from typing import Any

GOALS = {"p50_ratio": 1.3, "throughput_ratio": 0.8}


def verdict(value: float, goal: str) -> str:
    """``met`` or ``MISSED`` for a ratio against its goal."""
    ok = value <= GOALS[goal] if goal == "p50_ratio" else value >= GOALS[goal]
    return "met" if ok else "MISSED"


def format_table(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    """The RESULTS.md section body: one row per encoder, then how it was measured."""
    n = args.clients
    lines = [
        f"| encoder | bare batch-1 p50 ms | /search 1 client p50 / p95 ms | **p50 ratio** (<= 1.3) "
        f"| bare batch-{n} images/s | /search {n} clients images/s (p50 ms) "
        f"| **throughput ratio** (>= 0.8) | explain p50 ms (hits not cached / cached) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        one, many = r["one_client_ms"], r["many_clients_ms"]
        lines.append(
            f"| {r['arch']} | {r['bare_batch1_p50_ms']:.1f} | {one[0]:.1f} / {one[1]:.1f} "
            f"| **{r['p50_ratio']:.3f}** {verdict(r['p50_ratio'], 'p50_ratio')} "
            f"{r['p50_ratios']} | {r['encoder_batch_images_per_s']:.1f} "
            f"| {r['many_clients_images_per_s']:.1f} ({many[0]:.0f}) "
            f"| **{r['throughput_ratio']:.3f}** {verdict(r['throughput_ratio'], 'throughput_ratio')} "
            f"{r['throughput_ratios']} | {r['explain_cold_ms'][0]:.0f} / "
            f"{r['explain_warm_ms'][0]:.0f} |"
        )
    loads = "; ".join(
        f"{r['arch']}: {r['load_average'][0]} -> {r['load_average'][1]}" for r in results
    )
    cpu = ", ".join(f"{r['client_cpu_pct']}%" for r in results)
    generator = (
        "`wrk` (C, one thread, keep-alive; its CPU time read from the kernel)"
        if args.load == "wrk"
        else "httpx on asyncio in the benchmark process (its CPU time measured)"
    )
    lines += [
        "",
        f"Load generator: {generator}; it used {cpu} of one core over the load runs. "
        f"Each ratio is the median of {args.rounds} rounds (listed) alternating the server "
        f"({args.seconds:g} s per client level) and the bare encoder in this process; random-init "
        f"ViTs at {args.img_size} px in ONNX Runtime on CPU; flat index of "
        f"{args.classes * args.per_class} synthetic images; {args.img_size}-px JPEG uploads, k 10; "
        f"one uvicorn worker with LODISC_MAX_BATCH={args.max_batch}, LODISC_THREADS={args.threads} "
        f"(0: ONNX Runtime's default), per-address caps raised to {n} (one address stands for "
        f"every client); the clients share the machine's cores. Explain latencies: one httpx "
        f"client, each query once. 1-minute load average before -> after: {loads}.",
    ]
    return "\n".join(lines)
