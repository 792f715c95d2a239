"""Vectorised pivotal-patch mask and retrieval metrics against the reference's loop versions.

(a) ``pixel_mask(keep_mask(scores))`` vs ``loop_pixel_mask`` on random (B, N) scores; the masks
must be equal. (b) ``retrieval_metrics(emb, labels)`` vs ``loop_retrieval(emb, labels, ks)`` (the reference's
evaluation: per-query similarities, argsort and a Python walk down the ranking) on random clustered
embeddings; Rank-K must be equal and mAP within 1e-4. Both times include the similarities.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from bench.common.results import record
from lodisc.evaluation.retrieval_metrics import DEFAULT_KS, retrieval_metrics
from lodisc.method.masking import keep_mask, pixel_mask
from tests.oracles.reference_loops import loop_pixel_mask, loop_retrieval

KEEP_RATIO = 0.3
PATCH = 16
GOALS = {"mask_speedup": 20.0, "eval_speedup": 25.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options (defaults: a ViT-B/16 batch and the CUB-200 test set's size)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--patches", type=int, default=196, help="a square number")
    parser.add_argument("--n", type=int, default=5794, help="gallery size (CUB-200 test: 5794)")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument(
        "--noise", type=float, default=4.0, help="within-class spread (4: Rank-1 about 0.4)"
    )
    parser.add_argument("--vec-runs", type=int, default=5, help="repeats of the vectorised code")
    parser.add_argument("--loop-runs", type=int, default=2, help="repeats of the loop code")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def interleaved(fns: dict[str, Callable[[], Any]], runs: dict[str, int]) -> dict[str, list[float]]:
    """Seconds per call, the variants taking turns until each has its number of runs."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(max(runs.values())):
        for name, fn in fns.items():
            if i < runs[name]:
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return times


def bench_mask(args: argparse.Namespace) -> dict[str, float]:
    """Check equality, then time the vectorised and loop masks."""
    grid = math.isqrt(args.patches)
    if grid * grid != args.patches:
        raise SystemExit(f"--patches must be a square number, got {args.patches}")
    scores = torch.randn(args.batch, args.patches)

    def vec() -> torch.Tensor:
        return pixel_mask(keep_mask(scores, KEEP_RATIO), (grid, grid), (PATCH, PATCH))

    def loop() -> torch.Tensor:
        return loop_pixel_mask(scores, KEEP_RATIO, grid, PATCH)

    if not torch.equal(vec(), loop()):
        raise AssertionError("vectorised pixel mask differs from the loop version")
    # Many fast runs of the vectorised mask per slow loop run; interleaved so noise hits both.
    times = interleaved(
        {"vec": vec, "loop": loop}, {"vec": 10 * args.vec_runs, "loop": args.loop_runs}
    )
    vec_ms = statistics.median(times["vec"]) * 1e3
    loop_ms = statistics.median(times["loop"]) * 1e3
    return {"mask_loop_ms": loop_ms, "mask_vec_ms": vec_ms, "mask_speedup": loop_ms / vec_ms}


def clustered(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """Random class centres plus Gaussian noise; labels cycle over the classes, shuffled."""
    rng = np.random.default_rng(args.seed)
    labels = rng.permutation(np.arange(args.n) % args.classes)
    centres = rng.standard_normal((args.classes, args.dim)).astype(np.float32)
    noise = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    return centres[labels] + args.noise * noise, labels


def bench_eval(args: argparse.Namespace) -> tuple[dict[str, float], dict[str, float]]:
    """Check the metrics agree, then time both; returns timings and the vectorised metrics."""
    emb, labels = clustered(args)
    ks = tuple(DEFAULT_KS)
    times = interleaved(
        {
            "vec": lambda: retrieval_metrics(emb, labels, ks),
            "loop": lambda: loop_retrieval(emb, labels, ks),
        },
        {"vec": args.vec_runs, "loop": args.loop_runs},
    )
    vec, ref = retrieval_metrics(emb, labels, ks), loop_retrieval(emb, labels, ks)
    for k in ks:
        if vec[f"recall@{k}"] != ref[f"recall@{k}"]:
            raise AssertionError(f"recall@{k}: {vec[f'recall@{k}']} != {ref[f'recall@{k}']}")
    if abs(vec["mAP"] - ref["mAP"]) > 1e-4:
        raise AssertionError(f"mAP: {vec['mAP']} vs {ref['mAP']}")
    loop_s, vec_s = statistics.median(times["loop"]), statistics.median(times["vec"])
    timing = {"eval_loop_s": loop_s, "eval_vec_s": vec_s, "eval_speedup": loop_s / vec_s}
    timing["map_diff"] = abs(vec["mAP"] - ref["mAP"])
    return timing, vec


def main(argv: list[str] | None = None) -> int:
    """Run both comparisons, print a table, and print the JSON summary as the last line."""
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    mask = bench_mask(args)
    timing, metrics = bench_eval(args)
    grid = math.isqrt(args.patches)
    ok = {name: (mask | timing)[name] >= goal for name, goal in GOALS.items()}
    lines = [
        "| comparison | loop | vectorised | speed-up | goal |",
        "|---|---:|---:|---:|---|",
        f"| pixel mask, B={args.batch}, {grid}x{grid} patches of {PATCH} px | "
        f"{mask['mask_loop_ms']:.1f} ms | {mask['mask_vec_ms']:.3f} ms | "
        f"**{mask['mask_speedup']:.0f}x** | >= 20x: {'met' if ok['mask_speedup'] else 'MISSED'} |",
        f"| retrieval, N={args.n}, d={args.dim}, {args.classes} classes | "
        f"{timing['eval_loop_s']:.2f} s | {timing['eval_vec_s']:.2f} s | "
        f"**{timing['eval_speedup']:.1f}x** | >= 25x: "
        f"{'met' if ok['eval_speedup'] else 'MISSED'} |",
        "",
        f"Masks equal; Rank-K equal; |mAP difference| = {timing['map_diff']:.2e} "
        f"(Rank-1 {metrics['rank1']:.4f}, mAP {metrics['mAP']:.4f}). Medians of "
        f"{10 * args.vec_runs} / {args.vec_runs} vectorised and {args.loop_runs} loop runs, "
        f"interleaved; both include computing the similarities. "
        f"{torch.get_num_threads()} torch threads.",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        record("mask_eval", table)
    keys = (
        "mask_speedup",
        "eval_speedup",
        "mask_loop_ms",
        "mask_vec_ms",
        "eval_loop_s",
        "eval_vec_s",
    )
    summary = {key: round((mask | timing)[key], 4) for key in keys}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
